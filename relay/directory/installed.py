"""The installed signed directory: storage, installation, and pickup by running relays.

- :func:`install` (``relay directory install``): checks a directory file against the
  directory in force (or, the first time, against the secretariat's root the operator
  pins with ``--trust-root``): threshold, root rotation, rollback, expiry
  (:class:`keys.directory.TrustedDirectory`); checks that it lists this relay's key; then,
  in ONE transaction holding the audit lock, stores it in ``directories`` and appends its
  ``directory_installed`` audit event (its version), and on PostgreSQL sends a NOTIFY.
- :class:`MembersSource`: what a relay process authenticates against: the newest
  installed directory (re-checked against its own root, and against the relay's key), or
  the members folder while no directory was ever installed (development).
- :class:`relay.tasks.directory.DirectoryWatcher`: a running relay notices a newly
  installed directory: at once when woken (PostgreSQL NOTIFY, SIGHUP) and otherwise
  within ``directory_check_seconds`` by comparing the stored version with its own (one
  indexed read).

The directory is stored in the database, so it survives restarts and is shared by every
relay process on one PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from keys.directory import (
    DEFAULT_DIRECTORY_LIMITS,
    Directory,
    DirectoryLimits,
    RootKeys,
    TrustedDirectory,
)
from keys.errors import ConfigError, Rejected
from keys.identities import VerifyKey
from relay.audit.append import Event, append_event, lock
from relay.core.members import Members
from relay.core.members_directory import DirectoryMembers
from relay.monitoring.logging import get_logger
from relay.storage.database import WRITE_OPTION, is_postgres
from relay.storage.schema import directories, events
from relay.storage.writer import NOTIFY_CHANNEL, Tx

if TYPE_CHECKING:
    from relay.core.service import RelayService

log = get_logger("relay.directory.installed")
NOTIFY_PREFIX = "directory:"


@dataclass(frozen=True)
class StoredDirectory:
    """One installed version, as stored."""

    version: int
    payload_sha256: str
    expires: datetime
    installed_at: datetime
    leaf_index: int
    file: bytes


@dataclass(frozen=True)
class Installed:
    """What :func:`install` did.

    Attributes:
        directory: the directory now in force.
        previous: the one it replaced (None for the first install).
        changed: False when the file was the version already in force (nothing written).
        leaf_index: the audit leaf of its ``directory_installed`` event.
    """

    directory: Directory
    previous: Directory | None
    changed: bool
    leaf_index: int


_COLUMNS = (
    directories.c.version,
    directories.c.payload_sha256,
    directories.c.expires,
    directories.c.installed_at,
    directories.c.leaf_index,
    directories.c.file,
)


def _row(row: Any) -> StoredDirectory:
    version, sha, expires, installed_at, leaf, file = row
    return StoredDirectory(int(version), str(sha), expires, installed_at, int(leaf), bytes(file))


_LATEST = select(*_COLUMNS).order_by(directories.c.version.desc()).limit(1)


async def latest(engine: AsyncEngine) -> StoredDirectory | None:
    """The directory in force (the newest installed), or None."""
    async with engine.connect() as conn:
        row = (await conn.execute(_LATEST)).first()
    return None if row is None else _row(row)


async def highest_audited_version(engine: AsyncEngine) -> int | None:
    """The highest directory version the audit log records as installed, or None."""
    query = select(events.c.directory_version).where(events.c.type == "directory_installed")
    async with engine.connect() as conn:
        values = [row[0] for row in await conn.execute(query)]
    versions = [int(v) for v in values if isinstance(v, str) and v.isascii() and v.isdigit()]
    return max(versions, default=None)


class DirectoryRollback(ConfigError):
    """The newest directory in the database is older than one the audit log records as
    installed: a row was deleted or the database restored from an old backup."""

    code = "directory_rollback"


async def latest_version(engine: AsyncEngine) -> int | None:
    """The version in force, or None: one indexed read, for the watcher."""
    async with engine.connect() as conn:
        value = (await conn.execute(select(func.max(directories.c.version)))).scalar()
    return None if value is None else int(value)


def trusted_state(
    stored: StoredDirectory, limits: DirectoryLimits = DEFAULT_DIRECTORY_LIMITS
) -> TrustedDirectory:
    """The stored file as trust state, re-checked against its own root's threshold.

    Raises:
        ConfigError: the stored file does not verify (the database was altered).
    """
    try:
        return TrustedDirectory.from_stored(stored.file, limits)
    except Rejected as e:
        raise ConfigError(
            f"the directory stored in the database (version {stored.version}) does not verify "
            f"({e.reason}): the database was altered; install the published file again after "
            "restoring the database",
            code="stored_directory_invalid",
        ) from e


def members_from(stored: StoredDirectory) -> DirectoryMembers:
    """The members of a stored directory (its signatures checked again).

    Raises:
        ConfigError: the stored file does not verify.
    """
    state = trusted_state(stored)
    assert state.current is not None and state.current_file is not None
    return DirectoryMembers(state.current, state.current_file)


async def install(
    engine: AsyncEngine,
    data: bytes,
    now: datetime,
    *,
    relay_key: VerifyKey,
    trusted_root: RootKeys | None = None,
    limits: DirectoryLimits = DEFAULT_DIRECTORY_LIMITS,
) -> Installed:
    """Check ``data`` and make it the directory in force, with its audit event.

    Args:
        data: the signed directory file.
        now: judges expiry, the relay key's window, and stamps the install.
        relay_key: this relay's receipt key; the directory must list it at ``now``.
        trusted_root: the secretariat's root the operator pins. Required for the first
            install; later it must equal the root in force (a root change comes inside a
            directory signed by the old and the new administrators).

    Raises:
        Rejected: a rule failed (``threshold_not_met``, ``new_root_threshold_not_met``,
            ``rollback``, ``version_reused``, ``expired``, ``directory_malformed``,
            ``directory_too_large``, ``too_many_signatures``) or ``root_mismatch``.
        ConfigError: no root pinned yet (``no_trusted_root``), the directory does not list
            this relay's key (``relay_key_mismatch``), or the stored one does not verify.
    """
    async with engine.connect() as raw:
        conn = await raw.execution_options(**{WRITE_OPTION: True})
        async with conn.begin():
            tx = Tx(conn, is_postgres(engine))
            await lock(tx)
            row = (await tx.execute(_LATEST)).first()
            current = None if row is None else _row(row)
            if current is None:
                if trusted_root is None:
                    raise ConfigError(
                        "no directory is installed yet: pin the secretariat's root with "
                        "--trust-root ROOT.json (from 'keys directory export-root'; check its "
                        "fingerprints with the secretariat by phone)",
                        code="no_trusted_root",
                    )
                state = TrustedDirectory(trusted_root, limits)
                previous = None
            else:
                state = trusted_state(current, limits)
                previous = state.current
                if trusted_root is not None and trusted_root != state.root:
                    raise Rejected("root_mismatch")
            directory = state.update(data, now)
            if current is not None and directory.version == current.version:
                return Installed(directory, previous, changed=False, leaf_index=current.leaf_index)
            file = state.current_file
            assert file is not None
            DirectoryMembers(directory, file).check_relay_key(relay_key, now)
            seq = await append_event(
                tx, Event("directory_installed", now, directory_version=str(directory.version))
            )
            tx.add(
                directories,
                {
                    "version": directory.version,
                    "payload_sha256": directory.payload_sha256,
                    "expires": directory.expires,
                    "installed_at": now,
                    "leaf_index": seq,
                    "file": file,
                },
            )
            await tx.flush()
            if tx.postgres:
                await tx.execute(
                    select(func.pg_notify(NOTIFY_CHANNEL, f"{NOTIFY_PREFIX}{directory.version}"))
                )
    return Installed(directory, previous, changed=True, leaf_index=seq)


class MembersSource:
    """Which members a relay process uses: the directory in force, else the folder.

    Args:
        engine: the relay's database.
        folder: loads the members folder (used only while no directory is installed).
        relay_key: this relay's receipt key: a directory that does not list it is refused.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        folder: Callable[[], Members],
        relay_key: VerifyKey,
        on_rollback: Callable[[], None] = lambda: None,
    ) -> None:
        self._engine = engine
        self._folder = folder
        self._relay_key = relay_key
        self._on_rollback = on_rollback

    async def load(self, now: datetime) -> Members:
        """The members to use from now on.

        Raises:
            ConfigError: the stored directory does not verify or does not list this
                relay's key (a relay then refuses to start, or keeps what it has).
            DirectoryRollback: it is older than the highest version the audit log records
                as installed (or none is stored although one was installed).
        """
        stored = await latest(self._engine)
        audited = await highest_audited_version(self._engine)
        if audited is not None and (stored is None or stored.version < audited):
            found = "none" if stored is None else f"version {stored.version}"
            log.error(
                "directory.rollback_refused",
                stored=None if stored is None else stored.version,
                audited=audited,
            )
            self._on_rollback()
            raise DirectoryRollback(
                f"the database's newest directory is {found}, but the audit log records "
                f"version {audited} as installed: the database lost rows or was restored "
                "from an old backup; install the newest published directory again"
            )
        if stored is None:
            return self._folder()
        # Checking a large directory's signatures takes a while: keep the loop serving.
        members = await asyncio.to_thread(members_from, stored)
        members.check_relay_key(self._relay_key, now)
        log.info(
            "directory.loaded",
            version=stored.version,
            payload_sha256=stored.payload_sha256,
            parties=len(members.directory.parties),
        )
        if members.directory.is_expired(now):
            log.warning(
                "directory.expired",
                version=stored.version,
                expires=stored.expires.isoformat(),
                detail="still enforced; the secretariat must publish a renewed version",
            )
        return members

    async def refresh(self, service: RelayService, now: datetime) -> bool:
        """Switch ``service`` to a newer installed directory, if there is one.

        Returns:
            True if the members changed.
        """
        version = await latest_version(self._engine)
        current = service.members.version
        if version is None and not current.isdigit():
            return False  # the members folder, and no directory installed
        if version is not None and str(version) == current:
            return False
        await service.install_members(await self.load(now), now)
        return True
