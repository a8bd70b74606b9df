"""The relay's signed directory: install rules (a table of named cases), the audit record,
and the members it yields (who may send, with which key, to whom).

Install cases run on SQLite and, when POCNET_TEST_POSTGRES_URL is set, on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from keys.directory import SignedDirectory, edit, sign_directory
from keys.errors import ConfigError, Rejected
from keys.identities import SigningKey
from keys.keystore import verify_bundle
from relay.core.members_directory import DirectoryMembers
from relay.directory.installed import latest, latest_version
from relay.storage.database import make_engine
from relay.storage.schema import directories, events
from tests.integration.directorykit import (
    DAY,
    World,
    admin_root,
    directory_database,
    install_file,
    make_world,
)
from tests.integration.relaykit import make_member

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
DB = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DB)
async def db(request: Any, tmp_path: Path) -> Any:
    async with directory_database(request.param, tmp_path) as url:
        yield url


async def _rows(url: str, table: Any) -> list[dict[str, Any]]:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(select(table))]
    finally:
        await engine.dispose()


# -- install: the rules, as named cases ------------------------------------------------------

Steps = Callable[[World], list[bytes]]


def _renewed(w: World, signers: tuple[int, ...] = (0, 1)) -> bytes:
    w.change(lambda d: d, NOW)
    return w.signed(signers=signers)


def _rollback(w: World) -> list[bytes]:
    v2 = _renewed(w)
    return [_renewed(w), v2]


def _version_reused(w: World) -> list[bytes]:
    first = _renewed(w)
    other = dataclasses.replace(w.directory, expires=w.directory.expires + DAY)
    return [first, w.signed(other)]


def _expired(w: World) -> list[bytes]:
    w.change(lambda d: d, NOW - 200 * DAY, validity=180 * DAY)
    return [w.signed()]


def _new_root(w: World, signers: str) -> list[bytes]:
    new_keys, new_root = admin_root(first=4)
    w.change(lambda d: edit.set_root(d, new_root), NOW)
    keys = {"old": w.admins[:2], "new": new_keys[:2], "both": w.admins[:2] + new_keys[:2]}
    files = [sign_directory(w.directory, keys[signers]).to_bytes()]
    if signers == "both":  # then the old administrators alone can no longer sign
        w.change(lambda d: d, NOW)
        files.append(w.signed(signers=(0, 1)))
    return files


def _tampered(w: World) -> list[bytes]:
    signed = SignedDirectory.from_bytes(_renewed(w))
    other = dataclasses.replace(w.directory, expires=w.directory.expires + DAY).to_payload()
    return [SignedDirectory(other, signed.signatures).to_bytes()]


def _stranger(w: World) -> list[bytes]:
    w.change(lambda d: d, NOW)
    return [sign_directory(w.directory, [w.admins[0], SigningKey.generate()]).to_bytes()]


CASES: dict[str, tuple[Steps, str]] = {
    "accepted 2 of 3": (lambda w: [_renewed(w)], "installed"),
    "accepted 3 of 3": (lambda w: [_renewed(w, (0, 1, 2))], "installed"),
    "the same file again": (lambda w: [w.signed()], "unchanged"),
    "under threshold": (lambda w: [_renewed(w, (2,))], "threshold_not_met"),
    "one admin twice": (lambda w: [_renewed(w, (1, 1))], "threshold_not_met"),
    "a stranger's signature": (_stranger, "threshold_not_met"),
    "payload changed after signing": (_tampered, "threshold_not_met"),
    "rollback": (_rollback, "rollback"),
    "version reused": (_version_reused, "version_reused"),
    "expired": (_expired, "expired"),
    "root rotation signed only by the new keys": (
        lambda w: _new_root(w, "new"),
        "threshold_not_met",
    ),
    "root rotation signed only by the old keys": (
        lambda w: _new_root(w, "old"),
        "new_root_threshold_not_met",
    ),
    "after a root rotation, the old keys alone": (
        lambda w: _new_root(w, "both"),
        "threshold_not_met",
    ),
    "not a directory": (lambda w: [b'{"payload": "e30", "sig": "x"}'], "directory_malformed"),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_install_rules(db: str, name: str) -> None:
    steps, expected = CASES[name]
    w = make_world(T0)
    v1 = w.signed()
    first = await install_file(db, v1, NOW, w, pin=True)
    assert first.changed and first.directory.version == 1 and first.previous is None
    files = steps(w)
    for earlier in files[:-1]:
        assert (await install_file(db, earlier, NOW, w, pin=False)).changed
    before = await _rows(db, directories)
    if expected in ("installed", "unchanged"):
        done = await install_file(db, files[-1], NOW, w, pin=False)
        assert done.changed is (expected == "installed")
    else:
        with pytest.raises(Rejected) as info:
            await install_file(db, files[-1], NOW, w, pin=False)
        assert info.value.reason == expected
        assert await _rows(db, directories) == before, "a refused file changes nothing"


async def test_install_records_version_digest_and_audit_leaf(db: str) -> None:
    w = make_world(T0)
    done = await install_file(db, w.signed(), NOW, w, pin=True)
    w.change(lambda d: edit.suspend(d, "DE", at=NOW, reason="audit"), NOW)
    done2 = await install_file(db, w.signed(), NOW + DAY, w, pin=False)
    assert [d.version for d in (done.directory, done2.directory)] == [1, 2]
    assert done2.previous is not None and done2.previous.version == 1

    rows = sorted(await _rows(db, directories), key=lambda r: r["version"])
    logged = [e for e in await _rows(db, events) if e["type"] == "directory_installed"]
    assert [e["directory_version"] for e in logged] == ["1", "2"]
    assert [r["leaf_index"] for r in rows] == [e["seq"] for e in logged]
    assert rows[1]["payload_sha256"] == w.directory.payload_sha256
    assert rows[1]["installed_at"] == NOW + DAY and rows[1]["expires"] == w.directory.expires
    # What is stored is the signed file as accepted: it is served and re-verified as is.
    engine = make_engine(db, pool_size=1)
    try:
        stored = await latest(engine)
        assert await latest_version(engine) == 2
    finally:
        await engine.dispose()
    assert stored is not None and stored.file == w.signed()


async def test_install_refusals_that_are_the_operators_to_fix(db: str) -> None:
    w = make_world(T0)
    with pytest.raises(ConfigError) as info:
        await install_file(db, w.signed(), NOW, w, pin=False)
    assert info.value.code == "no_trusted_root"

    other_relay = dataclasses.replace(w, relay=make_member("relay").keystore)
    with pytest.raises(ConfigError) as info:
        await install_file(db, w.signed(), NOW, other_relay, pin=True)
    assert info.value.code == "relay_key_mismatch"

    no_relay = dataclasses.replace(w.directory, relay=None)
    with pytest.raises(ConfigError) as info:
        await install_file(db, w.signed(no_relay), NOW, w, pin=True)
    assert info.value.code == "relay_key_mismatch"
    assert await _rows(db, directories) == []

    await install_file(db, w.signed(), NOW, w, pin=True)
    _, stranger_root = admin_root()
    with pytest.raises(Rejected) as refused:
        await install_file(
            db, w.signed(), NOW, dataclasses.replace(w, root=stranger_root), pin=True
        )
    assert refused.value.reason == "root_mismatch"
    assert len(await _rows(db, directories)) == 1


async def test_install_refuses_a_first_file_not_signed_by_the_pinned_root(db: str) -> None:
    w = make_world(T0)
    _, pinned = admin_root()  # the root the operator checked by phone is not this file's
    with pytest.raises(Rejected) as info:
        await install_file(db, w.signed(), NOW, dataclasses.replace(w, root=pinned), pin=True)
    assert info.value.reason == "threshold_not_met"


# -- the members a directory yields ------------------------------------------------------------

CHANGED = T0 + 5 * DAY
BEFORE, AFTER = T0 + 4 * DAY, T0 + 6 * DAY


@pytest.fixture(scope="module")
def members() -> tuple[World, DirectoryMembers, Any]:
    """FR revoked, DE suspended and IT's signing key replaced, all at CHANGED."""
    w = make_world(T0, parties=("FR", "DE", "IT", "ES"))
    it_new = make_member("IT", now=T0)
    w.change(lambda d: edit.revoke(d, "FR", at=CHANGED, reason="key compromise"), T0)
    w.change(lambda d: edit.suspend(d, "DE", at=CHANGED, reason="audit"), T0)
    w.change(
        lambda d: edit.rotate_signing_key(d, "IT", verify_bundle(it_new.bundle), at=CHANGED), T0
    )
    return w, DirectoryMembers(w.directory, w.signed()), it_new


SUBMISSIONS = {
    # name: (party, created, now, expected key owner or reason)
    "active sender": ("ES", AFTER, AFTER, "ES"),
    "before a revocation": ("FR", BEFORE, BEFORE, "FR"),
    "revoked sender, new envelope": ("FR", AFTER, AFTER, "sender_inactive"),
    "revoked sender, backdated envelope": ("FR", BEFORE, AFTER, "sender_inactive"),
    "suspended sender": ("DE", AFTER, AFTER, "sender_inactive"),
    "rotated key, backdated into the old window": ("IT", BEFORE, AFTER, "signing_key_retired"),
    "rotated key, the new key": ("IT", AFTER, AFTER, "IT-new"),
    "unknown sender": ("GB", AFTER, AFTER, "unknown_sender"),
}


@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_submission_key(members: Any, name: str) -> None:
    w, m, it_new = members
    party, created, now, expected = SUBMISSIONS[name]
    keys = {p: x.key.public for p, x in w.members.items()} | {"IT-new": it_new.key.public}
    if expected in keys:
        assert m.submission_key(party, created, now) == keys[expected]
    else:
        with pytest.raises(Rejected) as info:
            m.submission_key(party, created, now)
        assert info.value.reason == expected


RECIPIENTS = {
    "active recipient": ("ES", "ES", AFTER, None),
    "revoked recipient": ("FR", "FR", AFTER, "recipient_inactive"),
    "suspended recipient": ("DE", "DE", AFTER, "recipient_inactive"),
    "before the suspension": ("DE", "DE", BEFORE, None),
    "unknown recipient": ("GB", "ES", AFTER, "unknown_recipient"),
    "sealed to another party's key": ("ES", "FR", AFTER, "unknown_encryption_key"),
}


@pytest.mark.parametrize("name", list(RECIPIENTS))
def test_check_recipient(members: Any, name: str) -> None:
    w, m, _ = members
    party, key_of, now, expected = RECIPIENTS[name]
    key_id = w.members[key_of].keystore.current_encryption_key.public.key_id
    if expected is None:
        m.check_recipient(party, key_id, now)
    else:
        with pytest.raises(Rejected) as info:
            m.check_recipient(party, key_id, now)
        assert info.value.reason == expected


def test_request_keys_follow_windows_and_status_is_separate(members: Any) -> None:
    w, m, it_new = members
    fr = w.members["FR"].key.public
    assert m.signing_key("FR", AFTER) == fr and not m.is_active("FR", AFTER)
    assert m.is_active("FR", BEFORE) and m.is_active("ES", AFTER)
    assert m.signing_key("IT", BEFORE) == w.members["IT"].key.public
    assert m.signing_key("IT", AFTER) == it_new.key.public
    assert m.signing_key("GB", AFTER) is None and not m.is_active("GB", AFTER)
    assert m.version == str(w.directory.version) == "4"
    assert m.parties() == ["DE", "ES", "FR", "IT"]
    assert m.directory_file() == w.signed()


def test_relay_key_must_be_the_one_listed_now(members: Any) -> None:
    w, m, _ = members
    m.check_relay_key(w.relay.signing_key.public, AFTER)
    with pytest.raises(ConfigError) as info:
        m.check_relay_key(SigningKey.generate().public, AFTER)
    assert info.value.code == "relay_key_mismatch" and w.relay.signing_key.public.key_id in str(
        info.value
    )
    with pytest.raises(ConfigError):
        m.check_relay_key(w.relay.signing_key.public, T0 - DAY)  # before its window
