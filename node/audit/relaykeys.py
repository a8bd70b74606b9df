"""Which relay key a checkpoint is checked with: the one that signed it, valid at its time.

The relay's key rotates like any other (``keys directory set-relay --at``): the directory
lists each relay key with a window, and the secretariat may publish the new key before
the relay switches to it. A checkpoint names its signer by the C2SP key id in its
signature line (``SHA-256(origin || 0x0A || 0x01 || public key)[:4]``,
:func:`keys.auditlog.checkpoint.note_key_id`); :func:`verify_checkpoint` tries each relay key the
directory lists (:func:`keys.auditlog.checkpoint.open_note` skips the lines of other key ids without
a signature check) and accepts the checkpoint only if the key that verifies it was the
relay's key at the checkpoint's own time. The newest key alone would refuse every
checkpoint signed before the switch, and the checkpoints of evidence bundles made then.

Pure: no I/O. Used by :mod:`node.audit.checkpoints` (the daemon's checks) and
:mod:`node.evidence.proofs` (bundles, offline).
"""

from __future__ import annotations

from keys.auditlog import checkpoint as signed_checkpoint
from keys.auditlog.checkpoint import Checkpoint
from keys.errors import Rejected
from node.trust.keyhistory import KeyHistory


def verify_checkpoint(note: bytes, relay: KeyHistory, origin: str) -> Checkpoint:
    """Verify the signed checkpoint ``note`` of the log ``origin`` with ``relay``'s keys.

    Returns:
        The checkpoint, signed by the relay key whose window holds the checkpoint's time.

    Raises:
        Rejected: ``note_unsigned`` (no line by any of the relay's keys),
            ``checkpoint_key_window`` (signed by a relay key, but one not valid at the
            checkpoint's time: retired, or not yet in force), or a reason of
            :func:`keys.auditlog.checkpoint.verify` (a line of a relay key that does not verify,
            a malformed note, another origin).
    """
    outside = False
    for entry in relay.signing_keys:
        try:
            head = signed_checkpoint.verify(note, entry.key, origin)
        except Rejected as e:
            if e.reason == "note_unsigned":
                continue  # not signed by this key: try the next
            raise
        try:
            if relay.key_at(head.time) == entry.key:
                return head
        except Rejected:
            pass
        outside = True
    raise Rejected("checkpoint_key_window" if outside else "note_unsigned")
