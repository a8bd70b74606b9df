"""Test helpers for the relay's signed directory: administrators, parties, signed versions,
and an in-process relay app that authenticates against an installed directory.

Administrators' keys are made in memory here (no Argon2id: fast); the end-to-end test makes
them with the ``keys directory`` command instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from keys.directory import Contact, Directory, RootKey, RootKeys, edit, sign_directory
from keys.identities import EncryptionPrivateKey, SigningKey
from keys.keystore import Keystore, make_bundle, verify_bundle
from tests.integration.relaykit import (
    AppUnderTest,
    FakeClock,
    Member,
    database,
    make_member,
    make_relay_keystore,
    serve_app,
)

CONTACT = Contact("+33 1 23 45 67 89", "poc@example.org", "Europe/Paris", ("en", "fr"))
DAY = timedelta(days=1)


def admin_root(n: int = 3, threshold: int = 2, first: int = 1) -> tuple[list[SigningKey], RootKeys]:
    """``n`` administrators' keys (XX-ADMIN<first>…) and their root, ``threshold`` of ``n``."""
    keys = [SigningKey.generate() for _ in range(n)]
    root = RootKeys(
        threshold,
        tuple(RootKey(f"XX-ADMIN{first + i}", k.public) for i, k in enumerate(keys)),
    )
    return keys, root


@dataclass
class World:
    """A network: 2-of-3 administrators, a relay, parties, and the latest directory edited.

    ``directory`` is the newest version made (signed or not); :meth:`change` makes the next.
    """

    admins: list[SigningKey]
    root: RootKeys
    relay: Keystore
    relay_bundle: bytes
    members: dict[str, Member]
    directory: Directory
    start: datetime
    files: dict[int, bytes] = field(default_factory=dict)

    def signed(self, directory: Directory | None = None, signers: Sequence[int] = (0, 1)) -> bytes:
        """The file of ``directory`` (default: the newest) signed by the admins at ``signers``."""
        d = directory or self.directory
        return sign_directory(d, [self.admins[i] for i in signers]).to_bytes()

    def change(
        self,
        edit_fn: Callable[[Directory], Directory],
        now: datetime,
        validity: timedelta = 180 * DAY,
    ) -> Directory:
        """The next version: ``edit_fn`` applied to the newest, version bumped."""
        self.directory = edit.next_version(edit_fn(self.directory), self.directory, now, validity)
        return self.directory

    def rotate_encryption_key(self, party: str, now: datetime, overlap: timedelta) -> Member:
        """Give ``party`` a new encryption key (kept with the old one) and list it."""
        old = self.members[party]
        ks = old.keystore.with_new_encryption_key(EncryptionPrivateKey.generate("x25519"), now)
        member = Member(party, ks, make_bundle(ks, now))
        self.change(
            lambda d: edit.rotate_encryption_key(
                d, party, verify_bundle(member.bundle), now=now, overlap=overlap
            ),
            now,
        )
        self.members[party] = member
        return member


def make_world(
    start: datetime,
    parties: Sequence[str] = ("FR", "DE", "IT"),
    *,
    relay: Keystore | None = None,
    validity: timedelta = 180 * DAY,
) -> World:
    """Version 1 at ``start``: root 2 of 3, the relay's key (``relay``'s, or a new one),
    ``parties`` active, expiring ``validity`` after ``start``."""
    admins, root = admin_root()
    if relay is None:
        relay_ks, relay_bundle = make_relay_keystore(start)
    else:
        relay_ks, relay_bundle = relay, make_bundle(relay, start)
    members = {p: make_member(p, now=start) for p in parties}
    d = edit.new_directory(root, start, validity)
    d = edit.set_relay(d, verify_bundle(relay_bundle), at=start)
    for p in parties:
        d = edit.add_party(
            d, verify_bundle(members[p].bundle), authority=f"{p} PoC", contact=CONTACT, now=start
        )
    return World(admins, root, relay_ks, relay_bundle, members, d, start)


async def clear_directories(url: str) -> None:
    """Remove every installed directory (the shared PostgreSQL test database)."""
    from relay.storage.database import make_engine
    from relay.storage.schema import directories

    engine = make_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(delete(directories))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def directory_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated relay database of ``kind`` (:func:`tests.integration.relaykit.database`)
    with no directory installed, before and after."""
    async with database(kind, tmp_path) as url:
        await clear_directories(url)
        try:
            yield url
        finally:
            await clear_directories(url)


async def install_file(url: str, data: bytes, now: datetime, world: World, *, pin: bool) -> Any:
    """``relay directory install`` in-process: :func:`relay.directory.installed.install`."""
    from relay.directory.installed import install
    from relay.storage.database import make_engine

    engine = make_engine(url, pool_size=1)
    try:
        return await install(
            engine,
            data,
            now,
            relay_key=world.relay.signing_key.public,
            trusted_root=world.root if pin else None,
        )
    finally:
        await engine.dispose()


async def start_directory_app(
    aiohttp_server: Any,
    database_url: str,
    world: World,
    clock: FakeClock,
    *,
    config: Any = None,
    signing_key: SigningKey | None = None,
) -> AppUnderTest:
    """A relay app on ``database_url`` (a directory installed in it) with ``world``'s key."""
    from relay.app import AppParts
    from relay.config import RelayConfig
    from relay.core.members import StaticMembers

    key = signing_key or world.relay.signing_key
    parts = AppParts(
        config=config or RelayConfig(),
        database_url=database_url,
        signing_key=key,
        load_members=lambda: StaticMembers({}, world.relay_bundle),
        clock=clock,
    )
    return await serve_app(aiohttp_server, parts, clock, world.members)
