"""Which directory to trust: the rules, as a small state machine. No I/O.

A :class:`TrustedDirectory` holds the root keys a reader trusts (pinned at installation,
then those of each directory it accepts) and the current directory. The caller fetches
bytes and reads the clock; this module only decides. Modelled on python-tuf's
``TrustedMetadataSet``.

Rules for a new directory file, checked in this order (each failure is
:class:`keys.errors.Rejected` with the ``reason`` shown):

1. ``directory_too_large`` / ``too_many_signatures`` / ``directory_malformed``: the file's
   shape is checked (size, strict JSON, base64url, signature entries) -- not its payload;
2. ``threshold_not_met``: valid signatures by at least *threshold* distinct keys of the
   trusted root over ``PAE(TYPE_DIRECTORY, payload)``. A key counts once however many
   entries name it; signatures by other keys count for nothing;
3. ``directory_malformed``: only now is the payload parsed (verify before parse);
4. ``new_root_threshold_not_met``: if the payload's root differs from the trusted one (new
   keys or a new threshold), it must also be signed by the new root's threshold: a root
   change needs both the old and the new administrators;
5. ``rollback``: the version is lower than the current one; ``version_reused``: the same
   version with a different payload (two histories). The same payload again changes
   nothing;
6. ``expired``: ``expires`` is not after ``now`` (no freeze).

An update either succeeds completely or changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from keys.directory.document import Directory
from keys.directory.limits import DEFAULT_DIRECTORY_LIMITS, DirectoryLimits
from keys.directory.model import RootKeys
from keys.directory.signed import SignedDirectory
from keys.errors import Rejected, TooLarge, ValidationError


@dataclass(frozen=True)
class Accepted:
    """A directory whose signatures were checked, with the exact file it came from."""

    directory: Directory
    signed: SignedDirectory


def verify_signed(
    data: bytes, root: RootKeys, limits: DirectoryLimits = DEFAULT_DIRECTORY_LIMITS
) -> Accepted:
    """Check a file's signatures against ``root`` (rules 1 to 4); no version or expiry check.

    Raises:
        Rejected: see the module docstring for the reasons.
    """
    try:
        signed = SignedDirectory.from_bytes(data, limits)
    except TooLarge as e:
        raise Rejected("directory_too_large") from e
    except ValidationError as e:
        reason = "too_many_signatures" if e.code == "too_many_signatures" else "directory_malformed"
        raise Rejected(reason) from e
    if len(signed.valid_signers(root)) < root.threshold:
        raise Rejected("threshold_not_met")
    try:
        directory = Directory.from_payload(signed.payload, limits)
    except TooLarge as e:
        raise Rejected("directory_too_large") from e
    except ValidationError as e:
        raise Rejected("directory_malformed") from e
    if directory.root != root and len(signed.valid_signers(directory.root)) < (
        directory.root.threshold
    ):
        raise Rejected("new_root_threshold_not_met")
    return Accepted(directory, signed)


class TrustedDirectory:
    """The reader's trusted state: root keys and the current directory.

    Create it from pinned root keys (``TrustedDirectory(root)``) and feed it files with
    :meth:`update`, or restore it from a file stored earlier with :meth:`from_stored`.
    """

    def __init__(self, root: RootKeys, limits: DirectoryLimits = DEFAULT_DIRECTORY_LIMITS) -> None:
        self._pinned = root
        self._limits = limits
        self._current: Accepted | None = None

    @classmethod
    def from_stored(
        cls, data: bytes, limits: DirectoryLimits = DEFAULT_DIRECTORY_LIMITS
    ) -> TrustedDirectory:
        """Restore from a file this reader accepted before and kept on its own disk.

        The file is the source of trust, so it is checked against its own root only, and
        not for expiry (an expired one still guards against rollback; :meth:`is_expired`
        tells whether it is usable).

        Raises:
            Rejected: the file does not meet its own root's threshold, or is malformed.
        """
        try:
            root = SignedDirectory.from_bytes(data, limits).unverified_directory(limits).root
        except TooLarge as e:
            raise Rejected("directory_too_large") from e
        except ValidationError as e:
            raise Rejected("directory_malformed") from e
        state = cls(root, limits)
        state._current = verify_signed(data, root, limits)
        return state

    @property
    def root(self) -> RootKeys:
        """The root keys new files are checked against."""
        return self._current.directory.root if self._current is not None else self._pinned

    @property
    def current(self) -> Directory | None:
        """The current directory, or None before the first successful update."""
        return None if self._current is None else self._current.directory

    @property
    def current_file(self) -> bytes | None:
        """The current directory's file, as accepted (to store or to serve)."""
        return None if self._current is None else self._current.signed.to_bytes()

    def is_expired(self, now: datetime) -> bool:
        """True if there is no current directory or it has expired at ``now``."""
        return self._current is None or self._current.directory.is_expired(now)

    def _next(self, current: Accepted | None, data: bytes, now: datetime, final: bool) -> Accepted:
        root = current.directory.root if current is not None else self._pinned
        accepted = verify_signed(data, root, self._limits)
        if current is not None:
            new_version = accepted.directory.version
            if new_version < current.directory.version:
                raise Rejected("rollback")
            if new_version == current.directory.version:
                if accepted.signed.payload != current.signed.payload:
                    raise Rejected("version_reused")
                accepted = current
        if final and accepted.directory.is_expired(now):
            raise Rejected("expired")
        return accepted

    def update(self, data: bytes, now: datetime) -> Directory:
        """Check a new directory file against the rules; make it current if it passes.

        Args:
            data: the file's bytes, as fetched.
            now: the time to judge expiry by.

        Returns:
            The current directory (the same one if ``data`` carries the same payload).

        Raises:
            Rejected: a rule failed (see the module docstring); nothing changed.
        """
        self._current = self._next(self._current, data, now, final=True)
        return self._current.directory

    def update_chain(self, files: Sequence[bytes], now: datetime) -> Directory:
        """Apply several newer versions in order, e.g. to catch up across root rotations.

        Only the last one must be unexpired (as python-tuf treats intermediate roots).

        Raises:
            Rejected: a rule failed for one of them; nothing changed.
            ValueError: ``files`` is empty.
        """
        if not files:
            raise ValueError("no directory files given")
        state = self._current
        for i, data in enumerate(files):
            state = self._next(state, data, now, final=i == len(files) - 1)
        self._current = state
        assert state is not None
        return state.directory
