"""The node trusts the signed directory: acceptance rules, persistence, key-change warnings.

Each named case offers the node a directory file through the fake relay and checks what it
does: a refused file leaves the version in force (also after a restart) and is logged at
error level as ``directory.rejected`` with its reason; an accepted one is kept in the store.
The kit at the top (:class:`World`) is shared with ``test_node_directory_keys.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from keys.directory import Contact, Directory, RootKey, RootKeys, edit, sign_directory
from keys.encoding import b64u_decode, b64u_encode, canonical, format_time, loads_strict
from keys.errors import NotFound, Rejected
from keys.identities import EncryptionPrivateKey, SigningKey
from keys.keystore import Keystore, StoredEncryptionKey, make_bundle, verify_bundle
from node.forms import validate_form
from node.runtime import Node, open_node
from node.trust.directory import DirectoryPeers, DirectoryUnusable
from tests.support.fake_relay import FakeClock, FakeRelayNetwork, fake_node

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
BEFORE = T0 - timedelta(hours=1)  # when the parties were listed
DAY = timedelta(days=1)
PHONES = {"FR": "+33 1 40 00 00 01", "DE": "+49 30 5555 0100", "IT": "+39 06 4000 0001"}


def keystore(party: str, at: datetime = BEFORE) -> Keystore:
    key = StoredEncryptionKey(EncryptionPrivateKey.generate("x25519"), format_time(at))
    return Keystore(party, SigningKey.generate(), (key,))


def admins(n: int, threshold: int, first: int = 1) -> tuple[list[SigningKey], RootKeys]:
    keys = [SigningKey.generate() for _ in range(n)]
    names = [f"XX-ADMIN{first + i}" for i in range(n)]
    return keys, RootKeys(
        threshold, tuple(RootKey(m, k.public) for m, k in zip(names, keys, strict=True))
    )


@dataclass
class World:
    """A 2-of-3 secretariat, a fake relay and the parties' keystores.

    ``directory`` is the newest version made; :meth:`publish` signs a version and makes the
    relay serve it.
    """

    clock: FakeClock
    relay: FakeRelayNetwork
    admins: list[SigningKey]
    root: RootKeys
    keystores: dict[str, Keystore]
    directory: Directory
    files: dict[int, bytes] = field(default_factory=dict)

    def sign(self, d: Directory | None = None, signers: Sequence[SigningKey] = ()) -> bytes:
        return sign_directory(d or self.directory, signers or self.admins[:2]).to_bytes()

    def publish(self, d: Directory | None = None, signers: Sequence[SigningKey] = ()) -> bytes:
        data = self.sign(d, signers)
        self.files[(d or self.directory).version] = data
        self.relay.directory_file = data
        return data

    def change(
        self, fn: Callable[[Directory], Directory], validity: timedelta = 180 * DAY
    ) -> Directory:
        self.directory = edit.next_version(
            fn(self.directory), self.directory, self.clock(), validity
        )
        return self.directory

    @property
    def root_file(self) -> bytes:
        return canonical(self.root.to_file())

    async def node(self, tmp_path: Path, party: str, **kw: Any) -> Node:
        return await fake_node(
            self.relay,
            tmp_path / party.lower(),
            party,
            clock=self.clock,
            log=structlog.get_logger(),
            keystore=kw.pop("keystore", self.keystores[party]),
            root=self.root_file,
            **kw,
        )


def make_world(parties: Sequence[str] = ("FR", "DE", "IT")) -> World:
    clock = FakeClock(T0)
    relay = FakeRelayNetwork(clock)
    keys, root = admins(3, 2)
    stores = {p: keystore(p) for p in parties}
    d = edit.new_directory(root, BEFORE)
    d = edit.set_relay(d, verify_bundle(relay.bundles["relay"]), at=BEFORE)
    for p in parties:
        contact = Contact(PHONES[p], f"poc@{p.lower()}.example.org", "Europe/Paris", ("en",))
        raw = make_bundle(stores[p], BEFORE)
        relay.register(raw)  # a member of the fake relay too (it routes by bundle)
        bundle = verify_bundle(raw)
        d = edit.add_party(d, bundle, authority=f"{p} 24/7 PoC", contact=contact, now=BEFORE)
    world = World(clock, relay, keys, root, stores, d)
    world.publish()
    return world


async def ping(sender: Node, to: str, clock: FakeClock) -> str:
    form = validate_form("ping", {}, now=clock())
    msg = await sender.outbox.queue(to, form, clock())
    assert await sender.outbox.submit(msg, clock()) == "accepted"
    return msg.msg_id


def peers(node: Node) -> DirectoryPeers:
    assert isinstance(node.peers, DirectoryPeers)
    return node.peers


# -- the acceptance rules -------------------------------------------------------------------


def _rollback(w: World) -> bytes:
    w.change(lambda d: d)
    w.publish()
    return w.files[min(w.files)]


def _expired(w: World) -> bytes:
    w.clock.advance(days=-2)
    w.change(lambda d: d, validity=DAY)  # expires a day before T0
    w.clock.advance(days=2)
    return w.sign()


def _under_threshold(w: World) -> bytes:
    w.change(lambda d: d)
    return w.sign(signers=w.admins[2:])


def _tampered(w: World) -> bytes:
    w.change(lambda d: d)
    doc = loads_strict(w.sign())
    payload = bytearray(b64u_decode(doc["payload"]))
    payload[payload.index(b'"FR"') + 1] = ord("X")  # FR becomes XR: signatures break
    doc["payload"] = b64u_encode(bytes(payload))
    return canonical(doc)


def _version_reused(w: World) -> bytes:
    changed = edit.update_party(w.directory, "FR", phone="+33 9 99 99 99 99")
    return w.sign(changed)  # same version number as the one in force, other content


NEW_ADMINS = admins(3, 2, first=4)


def _root_new_only(w: World) -> bytes:
    w.change(lambda d: edit.set_root(d, NEW_ADMINS[1]))
    return w.sign(signers=NEW_ADMINS[0][:2])


def _root_old_only(w: World) -> bytes:
    w.change(lambda d: edit.set_root(d, NEW_ADMINS[1]))
    return w.sign(signers=w.admins[:2])


def _root_both(w: World) -> bytes:
    w.change(lambda d: edit.set_root(d, NEW_ADMINS[1]))
    return w.sign(signers=[*w.admins[:2], *NEW_ADMINS[0][1:]])


def _next_signed_by_two(w: World) -> bytes:
    w.change(lambda d: edit.update_party(d, "IT", phone="+39 06 4000 0002"))
    return w.sign(signers=[w.admins[0], w.admins[2]])


RULES = [
    # name, what the relay serves, reason it is refused (None: accepted)
    ("next_version_2_of_3", _next_signed_by_two, None),
    ("rollback", _rollback, "rollback"),
    ("expired", _expired, "expired"),
    ("under_threshold", _under_threshold, "threshold_not_met"),
    ("payload_altered", _tampered, "threshold_not_met"),
    ("same_version_other_content", _version_reused, "version_reused"),
    ("root_rotation_signed_by_new_keys_only", _root_new_only, "threshold_not_met"),
    ("root_rotation_signed_by_old_keys_only", _root_old_only, "new_root_threshold_not_met"),
    ("root_rotation_signed_by_both", _root_both, None),
]


@pytest.mark.parametrize(("name", "offer", "reason"), RULES, ids=[r[0] for r in RULES])
async def test_directory_rules(
    tmp_path: Path, name: str, offer: Callable[[World], bytes], reason: str | None
) -> None:
    w = make_world()
    fr = await w.node(tmp_path, "FR")
    if name == "rollback":  # the node must have seen the newer version first
        data = offer(w)
        await fr.peers.refresh(fr.transport, w.clock())
        w.relay.directory_file = data
    else:
        await fr.peers.refresh(fr.transport, w.clock())
        w.relay.directory_file = offer(w)
    before = peers(fr).current
    assert before is not None
    with capture_logs() as logs:
        report = await fr.peers.refresh(fr.transport, w.clock())
    rejected = [e for e in logs if e["event"] == "directory.rejected"]
    after = peers(fr).current
    assert after is not None
    if reason is None:
        assert report.rejected is None and not rejected
        assert after.version == w.directory.version > before.version
    else:
        assert report.rejected == reason
        assert [(e["log_level"], e["reason"]) for e in rejected] == [("error", reason)]
        assert after.payload_sha256 == before.payload_sha256  # the old one stays in force
    stored = await fr.store.latest_directory()
    assert stored is not None and stored.payload_sha256 == after.payload_sha256
    await fr.close()
    again = await w.node(tmp_path, "FR")  # a restart keeps what was accepted
    restored = peers(again).current
    assert restored is not None and restored.payload_sha256 == after.payload_sha256
    await again.close()


async def test_root_rotation_then_only_the_new_administrators_count(tmp_path: Path) -> None:
    w = make_world()
    fr = await w.node(tmp_path, "FR")
    await fr.peers.refresh(fr.transport, w.clock())
    w.relay.directory_file = _root_both(w)
    assert (await fr.peers.refresh(fr.transport, w.clock())).rejected is None
    assert peers(fr).state.root == NEW_ADMINS[1] != peers(fr).pinned_root
    w.change(lambda d: edit.update_party(d, "IT", phone="+39 06 4000 0003"))
    w.relay.directory_file = w.sign(signers=w.admins[:2])  # the old administrators: no longer
    assert (await fr.peers.refresh(fr.transport, w.clock())).rejected == "threshold_not_met"
    w.relay.directory_file = w.sign(signers=NEW_ADMINS[0][:2])
    assert (await fr.peers.refresh(fr.transport, w.clock())).rejected is None
    await fr.close()


async def test_catch_up_across_a_root_rotation_with_files(tmp_path: Path) -> None:
    """A node that missed a root change gets the versions in between by hand."""
    w = make_world()
    fr = await w.node(tmp_path, "FR")
    await fr.peers.refresh(fr.transport, w.clock())
    middle = _root_both(w)
    w.change(lambda d: edit.update_party(d, "IT", phone="+39 06 4000 0009"))
    last = w.sign(signers=NEW_ADMINS[0][:2])
    w.relay.directory_file = last
    assert (await fr.peers.refresh(fr.transport, w.clock())).rejected == "threshold_not_met"
    report = await peers(fr).apply_files([middle, last], w.clock())
    assert report.rejected is None and report.version == w.directory.version
    chain = [v.version for v in await fr.store.directory_chain()]
    assert chain == [w.directory.version - 2, w.directory.version - 1, w.directory.version]
    await fr.close()


async def test_relay_serving_bundles_is_refused(tmp_path: Path) -> None:
    w = make_world()
    fr = await w.node(tmp_path, "FR")
    w.relay.directory_file = None  # a relay without a directory installed
    report = await fr.peers.refresh(fr.transport, w.clock())
    assert report.rejected == "not_signed_directory"
    assert peers(fr).current is None and fr.peers.unusable(w.clock()) == "no_directory"
    with pytest.raises(DirectoryUnusable) as e:
        fr.peers.encryption_key_for("DE", w.clock())
    assert e.value.code == "no_directory"
    await fr.close()


# -- what the node takes from the directory -------------------------------------------------


async def test_queries_come_from_the_directory(tmp_path: Path) -> None:
    w = make_world()
    fr = await w.node(tmp_path, "FR", contacts={"DE": "+49 1 0000 0000", "PT": "+351 1 000 0000"})
    await fr.peers.refresh(fr.transport, w.clock())
    now = w.clock()
    assert fr.peers.parties() == ["DE", "FR", "IT", "relay"]
    de_key = w.keystores["DE"].current_encryption_key.public
    assert fr.peers.encryption_key_for("DE", now) == de_key
    assert fr.peers.verify_key_for("DE", now) == w.keystores["DE"].signing_key.public
    assert fr.peers.key_for("relay") == w.relay.relay_key.public
    # The directory's 24/7 phone wins; [contacts] only for parties it does not list.
    assert fr.peers.contact_phone("DE") == PHONES["DE"]
    assert fr.peers.contact_phone("PT") == "+351 1 000 0000"
    assert fr.peers.decryption_key_ids("FR", now) == {
        w.keystores["FR"].current_encryption_key.public.key_id
    }
    with pytest.raises(NotFound):
        fr.peers.encryption_key_for("PT", now)
    with pytest.raises(Rejected) as e:
        fr.peers.verify_key_for("PT", now)
    assert e.value.reason == "unknown_sender"
    await fr.close()


async def test_expired_directory_in_force_stops_sealing(tmp_path: Path) -> None:
    w = make_world()
    w.change(lambda d: d, validity=2 * DAY)
    w.publish()
    fr = await w.node(tmp_path, "FR")
    await fr.peers.refresh(fr.transport, w.clock())
    assert fr.peers.unusable(w.clock()) is None
    w.clock.advance(days=3)
    assert fr.peers.unusable(w.clock()) == "directory_expired"
    with capture_logs() as logs:
        report = await fr.peers.refresh(fr.transport, w.clock())
    rejected = [e["reason"] for e in logs if e["event"] == "directory.rejected"]
    assert report.rejected == "expired" and rejected == ["expired"]
    with pytest.raises(DirectoryUnusable) as e:
        fr.peers.encryption_key_for("DE", w.clock())
    assert e.value.code == "directory_expired" and "expired" in e.value.message
    await fr.close()


async def test_revoked_recipient_cannot_be_sealed_to(tmp_path: Path) -> None:
    w = make_world()
    fr = await w.node(tmp_path, "FR")
    w.change(lambda d: edit.revoke(d, "IT", at=w.clock(), reason="key compromise"))
    w.publish()
    await fr.peers.refresh(fr.transport, w.clock())
    with pytest.raises(DirectoryUnusable) as e:
        fr.peers.encryption_key_for("IT", w.clock())
    assert e.value.code == "recipient_inactive" and "revoked" in e.value.message
    await fr.close()


# -- key changes between versions -------------------------------------------------------------


def _rotate_signing(w: World, party: str) -> None:
    new = Keystore(party, SigningKey.generate(), w.keystores[party].encryption_keys)
    bundle = verify_bundle(make_bundle(new, w.clock()))
    w.change(lambda d: edit.rotate_signing_key(d, party, bundle, at=w.clock()))


def _rotate_encryption(w: World, party: str) -> None:
    ks = w.keystores[party].with_new_encryption_key(
        EncryptionPrivateKey.generate("x25519"), w.clock()
    )
    bundle = verify_bundle(make_bundle(ks, w.clock()))
    w.change(lambda d: edit.rotate_encryption_key(d, party, bundle, now=w.clock(), overlap=DAY))


KEY_CHANGES = [
    # name, change, party changed, warned (FR exchanged messages with DE only)
    ("signing_key_of_known_party", _rotate_signing, "DE", True),
    ("encryption_key_of_known_party", _rotate_encryption, "DE", True),
    ("signing_key_of_unknown_party", _rotate_signing, "IT", False),
]


@pytest.mark.parametrize(
    ("name", "change", "party", "warned"), KEY_CHANGES, ids=[k[0] for k in KEY_CHANGES]
)
async def test_key_change_of_a_known_party_is_warned(
    tmp_path: Path, name: str, change: Callable[[World, str], None], party: str, warned: bool
) -> None:
    w = make_world()
    fr = await w.node(tmp_path, "FR")
    await fr.peers.refresh(fr.transport, w.clock())
    await ping(fr, "DE", w.clock)
    w.clock.advance(hours=1)
    change(w, party)
    w.publish()
    with capture_logs() as logs:
        report = await fr.peers.refresh(fr.transport, w.clock())
    changed = [e for e in logs if e["event"] == "peers.key_changed"]
    rows = await fr.store.key_changes()
    if warned:
        assert report.key_changes == [party]
        [event] = changed
        assert event["log_level"] == "error" and event["party"] == party
        assert event["signing_key_changed"] is (change is _rotate_signing)
        assert [(r["party"], r["accepted"]) for r in rows] == [(party, True)]
        assert rows[0]["old_key_ids"] != rows[0]["new_key_ids"]
    else:
        assert report.key_changes == [] and changed == [] and rows == []
    # The same version again changes nothing and warns nothing.
    with capture_logs() as logs:
        await fr.peers.refresh(fr.transport, w.clock())
    assert not [e for e in logs if e["event"] == "peers.key_changed"]
    assert len(await fr.store.key_changes()) == len(rows)
    await fr.close()


async def test_a_version_stored_by_another_process_is_taken_up(tmp_path: Path) -> None:
    """``node directory refresh`` while the daemon runs: the daemon syncs from the store."""
    w = make_world()
    daemon = await w.node(tmp_path, "FR")
    await daemon.peers.refresh(daemon.transport, w.clock())
    w.change(lambda d: edit.revoke(d, "IT", at=w.clock(), reason="left the network"))
    w.publish()
    cli = await open_node(
        daemon.config,
        w.keystores["FR"],
        transport=daemon.transport,
        clock=w.clock,
        log=structlog.get_logger(),
    )
    await cli.peers.refresh(cli.transport, w.clock())
    await cli.close()

    def version() -> int:
        current = peers(daemon).current
        assert current is not None
        return current.version

    assert version() == w.directory.version - 1
    assert await daemon.peers.sync() is True and not await daemon.peers.sync()
    assert version() == w.directory.version
    await daemon.close()


async def test_self_problems_are_reported(tmp_path: Path) -> None:
    w = make_world()
    stranger = keystore("FR")  # keys the directory does not list for FR
    fr = await w.node(tmp_path, "FR", keystore=stranger)
    with capture_logs() as logs:
        report = await fr.peers.refresh(fr.transport, w.clock())
    assert report.problems == ["self_key_mismatch", "keystore_key_missing"]
    assert {e["problem"] for e in logs if e["event"] == "directory.self_problem"} == set(
        report.problems
    )
    await fr.close()
