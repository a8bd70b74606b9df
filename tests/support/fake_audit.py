"""The fake relay's audit log: an RFC 9162 tree in memory (:mod:`keys.auditlog.merkle`), signed
checkpoints (:mod:`keys.auditlog.checkpoint`), and the ways a dishonest relay could lie with it.

Used by :class:`tests.support.fake_relay.FakeRelayNetwork`. The lies, each caught by
:class:`node.audit.auditor.Auditor`:

- :meth:`FakeAuditLog.rewrite`: change a logged entry (history rewritten: the same size
  with another root, and no consistency proof from the old tree);
- :meth:`FakeAuditLog.copy` then ``rewrite`` on the copy: a *split view*, one history shown
  to one node and another to the rest (see ``FakeRelayNetwork.split_view``);
- :meth:`FakeAuditLog.truncate`: forget the newest entries (a rollback);
- ``skip_types``: receipts issued but their events never logged;
- ``corrupt_proofs``: inclusion proofs that do not lead to the signed root;
- ``evidence_size``: evidence proven against an older checkpoint of this size (honest
  if the log is append-only; a node checks it is a prefix of the tree it trusts).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any

from keys.auditlog import checkpoint as signed_checkpoint
from keys.auditlog import merkle
from keys.auditlog.checkpoint import Checkpoint, origin_for
from keys.auditlog.entry import entry_bytes, parse_entry
from keys.errors import NotFound
from keys.identities import SigningKey
from node.relayapi.auditwire import LeafProof


class FakeAuditLog:
    """An append-only Merkle log of event metadata, and a relay key that signs its heads."""

    def __init__(
        self, key: SigningKey, clock: Callable[[], datetime], *, network: str = "pocnet"
    ) -> None:
        self.key = key
        self.clock = clock
        self.origin = origin_for(network)
        self.entries: list[bytes] = []
        self.store = merkle.DictStore()
        self.skip_types: set[str] = set()
        self.corrupt_proofs = False
        self.evidence_size: int | None = None
        self._last_time: datetime | None = None

    @property
    def size(self) -> int:
        return len(self.entries)

    def append(self, **event: Any) -> int | None:
        """Log an event; its leaf index (None when ``skip_types`` hides its type)."""
        if event["type"] in self.skip_types:
            return None
        entry = entry_bytes(event)
        self.store.apply(merkle.append(self.store, self.size, merkle.leaf_hash(entry)))
        self.entries.append(entry)
        return self.size - 1

    def rewrite(self, index: int, **changes: Any) -> None:
        """Replace entry ``index`` by one with ``changes`` and rebuild the tree."""
        fields = parse_entry(self.entries[index])
        fields.update(changes)
        self.entries[index] = entry_bytes(fields)
        self._rebuild()

    def truncate(self, size: int) -> None:
        """Keep only the first ``size`` entries."""
        del self.entries[size:]
        self._rebuild()

    def _rebuild(self) -> None:
        self.store = merkle.DictStore()
        for i, entry in enumerate(self.entries):
            self.store.apply(merkle.append(self.store, i, merkle.leaf_hash(entry)))

    def copy(self) -> FakeAuditLog:
        """An independent copy (to show one node another history)."""
        other = copy.copy(self)
        other.entries = list(self.entries)
        other.store = merkle.DictStore(self.store.nodes)
        other.skip_types = set(self.skip_types)
        return other

    def checkpoint(self, size: int | None = None) -> bytes:
        """A checkpoint of the log (of its first ``size`` entries) signed now; times never
        go backwards."""
        size = self.size if size is None else size
        now = self.clock()
        if self._last_time is not None and now < self._last_time:
            now = self._last_time
        head = Checkpoint.at(now, self.origin, size, merkle.root(self.store, size))
        self._last_time = head.time
        return signed_checkpoint.sign(head, self.key)

    def _check_size(self, size: int) -> None:
        if size > self.size:
            raise NotFound(f"the audit log has {self.size} entries", code="tree_size_unknown")

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        self._check_size(new_size)
        return merkle.consistency_proof(self.store, old_size, new_size)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        self._check_size(size)
        hashes = merkle.inclusion_proof(self.store, index, size)
        if self.corrupt_proofs and hashes:
            hashes[0] = bytes([hashes[0][0] ^ 1]) + hashes[0][1:]
        return hashes

    def evidence(self, msg_id: str) -> dict[str, Any]:
        """The audit part of an evidence answer: a checkpoint and the message's proofs."""
        size = self.size if self.evidence_size is None else self.evidence_size
        note = self.checkpoint(size)
        proofs = [
            LeafProof(i, entry, tuple(self.inclusion(i, size))).to_wire()
            for i, entry in enumerate(self.entries[:size])
            if parse_entry(entry).get("msg_id") == msg_id
        ]
        return {"checkpoint": note.decode("utf-8"), "proofs": proofs}
