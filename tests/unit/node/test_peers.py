"""Pinned keys: first sight, rotation, a changed signing key (warn or refuse), bad bundles."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from keys.encoding import loads_strict
from keys.errors import NotFound, PeerError, Rejected
from keys.identities import EncryptionPrivateKey, SigningKey
from keys.keystore import Keystore, StoredEncryptionKey, make_bundle
from node.storage.store import Store
from node.trust.peers import PinnedPeers
from tests.support.fake_relay import FakeRelayNetwork

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def member(party: str, signing: SigningKey | None = None, enc: int = 1) -> bytes:
    keys = tuple(
        StoredEncryptionKey(EncryptionPrivateKey.generate("x25519"), "2025-01-01T00:00:00.000Z")
        for _ in range(enc)
    )
    return make_bundle(Keystore(party, signing or SigningKey.generate(), keys), T0)


async def peers_for(tmp_path: Path, policy: str = "warn") -> PinnedPeers:
    store = await Store.open(tmp_path / "n.db")
    return await PinnedPeers(
        store, me="FR", on_key_change=policy, log=structlog.get_logger()
    ).load()


CASES = [
    # name, policy, change, expected report field, key after refresh is the new one
    ("rotation", "warn", "rotate", "rotated", True),
    ("changed_warn", "warn", "replace", "changed", True),
    ("changed_refuse", "refuse", "replace", "refused", False),
    ("unchanged", "warn", "same", None, True),
]


@pytest.mark.parametrize(
    ("name", "policy", "change", "field", "new_key"), CASES, ids=[c[0] for c in CASES]
)
async def test_key_changes(
    tmp_path: Path, name: str, policy: str, change: str, field: str | None, new_key: bool
) -> None:
    net = FakeRelayNetwork(lambda: T0)
    signing = SigningKey.generate()
    net.register(member("DE", signing))
    peers = await peers_for(tmp_path, policy)
    report = await peers.refresh(net.transport("relay"), T0)
    assert sorted(report.pinned) == ["DE", "relay"]
    old_enc = peers.encryption_key_for("DE")
    if change == "rotate":
        net.register(member("DE", signing, enc=2))
    elif change == "replace":
        net.register(member("DE"))
    with capture_logs() as logs:
        report = await peers.refresh(net.transport("relay"), T0)
    if field:
        assert getattr(report, field) == ["DE"]
    changed_key = peers.encryption_key_for("DE") != old_enc
    assert changed_key is (new_key and change != "same")
    events = [e["event"] for e in logs]
    if change == "replace":
        assert events == ["peers.key_changed"]
        assert logs[0]["log_level"] == "error" and logs[0]["accepted"] is (policy == "warn")
        [row] = await peers._store.key_changes()
        assert row["party"] == "DE" and row["accepted"] is (policy == "warn")
    # Pins survive a restart.
    again = await PinnedPeers(peers._store, me="FR", log=structlog.get_logger()).load()
    assert again.encryption_key_for("DE") == peers.encryption_key_for("DE")
    await peers._store.close()


async def test_own_key_is_never_replaced_by_the_directory(tmp_path: Path) -> None:
    net = FakeRelayNetwork(lambda: T0)
    mine = member("FR")
    peers = await peers_for(tmp_path)
    from keys.keystore import verify_bundle

    info = verify_bundle(mine)
    await peers._store.pin("FR", mine, info.signing_key.to_b64(), info.signing_key.key_id, "t")
    await peers.load()
    net.register(member("FR"))  # the relay serves another key for us
    report = await peers.refresh(net.transport("FR"), T0)
    assert report.refused == ["FR"]
    assert peers.key_for("FR") == info.signing_key
    await peers._store.close()


async def test_invalid_bundles_are_skipped(tmp_path: Path) -> None:
    net = FakeRelayNetwork(lambda: T0)
    net.register(member("DE"))
    peers = await peers_for(tmp_path)

    class Tampered:
        async def directory(self) -> dict[str, object]:
            doc = await net.transport("relay").directory()
            bad = loads_strict(member("IT"))
            bad["sig"] = doc["bundles"][0]["sig"]  # a signature that is not IT's
            doc["bundles"].append(bad)
            return doc

    with capture_logs() as logs:
        report = await peers.refresh(Tampered(), T0)  # type: ignore[arg-type]
    assert report.invalid == 1 and not peers.knows("IT") and peers.knows("DE")
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["peers.bundle_invalid"]
    await peers._store.close()


async def test_unknown_directory_format_is_refused(tmp_path: Path) -> None:
    peers = await peers_for(tmp_path)

    class Other:
        async def directory(self) -> dict[str, object]:
            return {"format": "pocnet-directory-v9", "bundles": []}

    with pytest.raises(PeerError, match="not in a format"):
        await peers.refresh(Other(), T0)  # type: ignore[arg-type]
    await peers._store.close()


async def test_lookups_of_unknown_parties(tmp_path: Path) -> None:
    peers = await peers_for(tmp_path)
    with pytest.raises(NotFound, match="unknown party DE"):
        peers.encryption_key_for("DE")
    with pytest.raises(Rejected) as info:
        peers.verify_key_for("DE", T0)
    assert info.value.reason == "unknown_sender"
    with pytest.raises(NotFound, match="relay's receipt key"):
        peers.relay_key()
    assert peers.key_for("DE") is None and peers.contact_phone("DE") is None
    await peers._store.close()
