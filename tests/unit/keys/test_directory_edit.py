"""The secretariat's edits (pure) and the diff administrators read before signing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from keys.directory import Contact, Directory, Status, diff, edit
from keys.errors import NotFound, Rejected, ValidationError
from keys.identities import EncryptionPrivateKey, SigningKey
from keys.keystore import PublicBundle
from tests.unit.keys.test_directory_support import (
    ADMIN_KEYS,
    DAY,
    PARTY_ENC,
    PARTY_SIGNING,
    T0,
    contact,
    directory,
    root,
)

WHEN = "2026-01-01T00:00:00.000Z"


def _bundle(pid: str, signing: SigningKey | None = None, enc: int = 0x40) -> PublicBundle:
    key = signing or PARTY_SIGNING.get(pid) or SigningKey(b"\x30" * 32)
    return PublicBundle(
        pid, key.public, (EncryptionPrivateKey("x25519", bytes([enc]) * 32).public,), WHEN
    )


def _admin_bundle(i: int, name: str | None = None) -> PublicBundle:
    enc = EncryptionPrivateKey("x25519", bytes([0x90 + i]) * 32).public
    return PublicBundle(name or f"XX-A{i}", ADMIN_KEYS[i].public, (enc,), WHEN)


def _empty() -> Directory:
    return edit.new_directory(root([0, 1, 2], 2), T0)


def test_new_directory_and_next_version() -> None:
    d = _empty()
    assert (d.version, d.expires, d.relay, d.parties) == (1, T0 + edit.DEFAULT_VALIDITY, None, ())
    later = edit.next_version(d, d, T0 + DAY, timedelta(days=30))
    assert (later.version, later.expires) == (2, T0 + 31 * DAY)
    with pytest.raises(ValidationError):
        edit.next_version(d, d, T0, timedelta(0))


def test_root_from_admin_bundles() -> None:
    r = edit.root_from_bundles(2, [_admin_bundle(0), _admin_bundle(1), _admin_bundle(2)])
    assert r == root([0, 1, 2], 2)
    with pytest.raises(ValidationError) as info:
        edit.root_from_bundles(1, [_bundle("FR")])
    assert info.value.code == "not_admin_bundle"
    with pytest.raises(ValidationError) as info:
        edit.root_from_bundles(3, [_admin_bundle(0), _admin_bundle(1)])
    assert info.value.code == "bad_threshold"
    with pytest.raises(ValidationError) as info:
        edit.root_from_bundles(1, [_admin_bundle(0), _admin_bundle(0, "XX-B0")])
    assert info.value.code == "duplicate_key"


def test_add_party_uses_the_bundle_keys_from_now() -> None:
    d = edit.add_party(
        _empty(), _bundle("FR"), authority="OCLCTIC", contact=contact(), now=T0 + DAY
    )
    fr = d.party("FR")
    assert fr.signing_keys[0].key == PARTY_SIGNING["FR"].public
    assert fr.signing_keys[0].not_before == T0 + DAY
    assert fr.encryption_keys[0].key == PARTY_ENC["FR"].public
    assert fr.status == Status()


ADD_REFUSALS: dict[str, tuple[PublicBundle, str]] = {
    "party already listed": (_bundle("FR"), "party_exists"),
    "the relay's bundle": (
        PublicBundle("relay", SigningKey(b"\x31" * 32).public, (), WHEN),
        "relay_bundle",
    ),
    "a key already used by another party": (
        _bundle("IT", PARTY_SIGNING["FR"], enc=0x70),
        "key_in_use",
    ),
    "an administrator's key": (_bundle("IT", ADMIN_KEYS[0], enc=0x71), "key_in_use"),
    "an id reserved for administrators": (
        _bundle("XX-A9", SigningKey(b"\x32" * 32), enc=0x72),
        "bad_party_id",
    ),
}


@pytest.mark.parametrize("name", list(ADD_REFUSALS))
def test_add_party_refuses(name: str) -> None:
    bundle, code = ADD_REFUSALS[name]
    d = edit.add_party(_empty(), _bundle("FR"), authority="OCLCTIC", contact=contact(), now=T0)
    with pytest.raises(ValidationError) as info:
        edit.add_party(d, bundle, authority="x", contact=contact(), now=T0)
    assert info.value.code == code


def test_update_party() -> None:
    d = directory()
    new = edit.update_party(d, "FR", phone="+33 9 99 99 99 99", languages=("fr",))
    assert new.contact("FR") == Contact(
        "+33 9 99 99 99 99", "poc@example.fr", "Europe/Paris", ("fr",)
    )
    assert new.party("FR").authority == d.party("FR").authority
    with pytest.raises(ValidationError) as info:
        edit.update_party(d, "FR", email="poc@example.fr")
    assert info.value.code == "nothing_to_change"
    with pytest.raises(NotFound):
        edit.update_party(d, "IT", email="a@b.it")
    with pytest.raises(ValidationError) as info:
        edit.update_party(d, "FR", timezone="Paris")
    assert info.value.code == "bad_timezone"


# (edits applied in order, expected final state or refusal code)
STATUS_CASES: dict[str, tuple[list[str], str]] = {
    "suspend an active party": (["suspend"], "suspended"),
    "reinstate a suspended party": (["suspend", "reinstate"], "active"),
    "revoke a suspended party": (["suspend", "revoke"], "revoked"),
    "revoke an active party": (["revoke"], "revoked"),
    "suspend twice": (["suspend", "suspend"], "not_active"),
    "reinstate an active party": (["reinstate"], "not_suspended"),
    "reinstate a revoked party": (["revoke", "reinstate"], "not_suspended"),
    "revoke twice": (["revoke", "revoke"], "already_revoked"),
    "suspend a revoked party": (["revoke", "suspend"], "not_active"),
}


@pytest.mark.parametrize("name", list(STATUS_CASES))
def test_status_transitions(name: str) -> None:
    steps, expected = STATUS_CASES[name]
    d = directory()
    try:
        for step in steps:
            if step == "reinstate":
                d = edit.reinstate(d, "FR")
            else:
                d = getattr(edit, step)(d, "FR", at=T0 + DAY, reason="test")
    except ValidationError as e:
        assert e.code == expected
    else:
        assert d.party("FR").status.state == expected


def test_rotate_encryption_key_refuses_a_foreign_bundle() -> None:
    d = directory()
    stranger = _bundle("FR", SigningKey(b"\x33" * 32), enc=0x73)
    with pytest.raises(ValidationError) as info:
        edit.rotate_encryption_key(d, "FR", stranger, now=T0 + DAY, overlap=DAY)
    assert info.value.code == "bundle_signer_mismatch"
    with pytest.raises(ValidationError) as info:
        edit.rotate_encryption_key(d, "FR", _bundle("DE"), now=T0 + DAY, overlap=DAY)
    assert info.value.code == "bundle_party_mismatch"
    with pytest.raises(ValidationError) as info:
        edit.rotate_encryption_key(d, "FR", _bundle("FR"), now=T0 + DAY, overlap=DAY)
    assert info.value.code == "key_already_listed"
    with pytest.raises(ValidationError) as info:
        edit.rotate_encryption_key(d, "FR", _bundle("FR", enc=0x74), now=T0 + DAY, overlap=-DAY)
    assert info.value.code == "bad_overlap"


def test_rotate_encryption_key_twice_drops_keys_whose_window_ended() -> None:
    d = directory()
    d = edit.rotate_encryption_key(d, "FR", _bundle("FR", enc=0x74), now=T0 + DAY, overlap=DAY)
    d = edit.rotate_encryption_key(d, "FR", _bundle("FR", enc=0x75), now=T0 + 5 * DAY, overlap=DAY)
    entries = d.party("FR").encryption_keys
    assert [e.key for e in entries] == [
        EncryptionPrivateKey("x25519", bytes([0x74]) * 32).public,
        EncryptionPrivateKey("x25519", bytes([0x75]) * 32).public,
    ]
    assert entries[0].not_after == T0 + 6 * DAY and entries[1].not_after is None


def test_rotate_encryption_key_with_a_shorter_overlap_shortens_earlier_windows() -> None:
    d = directory()
    d = edit.rotate_encryption_key(d, "FR", _bundle("FR", enc=0x74), now=T0 + DAY, overlap=30 * DAY)
    d = edit.rotate_encryption_key(d, "FR", _bundle("FR", enc=0x75), now=T0 + 2 * DAY, overlap=DAY)
    assert [e.not_after for e in d.party("FR").encryption_keys] == [
        T0 + 3 * DAY,
        T0 + 3 * DAY,
        None,
    ]


def test_rotate_signing_key_and_relay() -> None:
    d = directory()
    new_key = SigningKey(b"\x34" * 32)
    d2 = edit.rotate_signing_key(d, "FR", _bundle("FR", new_key, enc=0x76), at=T0 + DAY)
    assert [(e.key, e.not_after) for e in d2.party("FR").signing_keys] == [
        (PARTY_SIGNING["FR"].public, T0 + DAY),
        (new_key.public, None),
    ]
    with pytest.raises(ValidationError) as info:
        edit.rotate_signing_key(d2, "FR", _bundle("FR", new_key, enc=0x76), at=T0 + 2 * DAY)
    assert info.value.code == "key_already_listed"
    with pytest.raises(ValidationError) as info:
        edit.rotate_signing_key(d, "FR", _bundle("FR", new_key, enc=0x76), at=T0 - DAY)
    assert info.value.code == "bad_window"
    relay_bundle = PublicBundle("relay", SigningKey(b"\x35" * 32).public, (), WHEN)
    d3 = edit.set_relay(d, relay_bundle, at=T0 + DAY)
    assert d3.relay_key == relay_bundle.signing_key
    with pytest.raises(ValidationError) as info:
        edit.set_relay(d, _bundle("FR"), at=T0)
    assert info.value.code == "not_relay_bundle"
    first = edit.set_relay(_empty(), relay_bundle, at=T0)
    assert first.relay is not None and len(first.relay.signing_keys) == 1


def test_set_root() -> None:
    d = directory()
    assert edit.set_root(d, root([0, 1, 3], 2)).root == root([0, 1, 3], 2)
    with pytest.raises(ValidationError) as info:
        edit.set_root(d, root([2, 1, 0], 2))
    assert info.value.code == "nothing_to_change"


def test_diff_names_each_change() -> None:
    old = directory()
    new = edit.revoke(old, "DE", at=T0 + DAY, reason="key compromise")
    new = edit.update_party(new, "FR", phone="+33 9 99 99 99 99")
    new = edit.rotate_encryption_key(new, "FR", _bundle("FR", enc=0x77), now=T0 + DAY, overlap=DAY)
    new = edit.set_root(new, root([0, 1, 3], 2))
    new = edit.next_version(new, old, T0)
    changes = {(c.op, c.path): (c.old, c.new) for c in diff(old, new)}
    old_enc = PARTY_ENC["FR"].public.key_id
    new_enc = EncryptionPrivateKey("x25519", bytes([0x77]) * 32).public.key_id
    assert changes[("changed", "version")] == ("1", "2")
    assert changes[("changed", "parties.DE.status.state")] == ("active", "revoked")
    assert changes[("added", "parties.DE.status.reason")] == (None, "key compromise")
    assert changes[("changed", "parties.FR.contact.phone")] == (
        "+33 1 23 45 67 89",
        "+33 9 99 99 99 99",
    )
    assert changes[("changed", f"parties.FR.encryption_keys.{old_enc}.not_after")] == (
        "null",
        "2026-01-03T00:00:00.000Z",
    )
    assert ("added", f"parties.FR.encryption_keys.{new_enc}") in changes
    assert changes[("removed", f"root.keys.{ADMIN_KEYS[2].public.key_id}")] == ("XX-A2", None)
    assert changes[("added", f"root.keys.{ADMIN_KEYS[3].public.key_id}")] == (None, "XX-A3")
    assert not [c for c in diff(old, new) if c.path.startswith("parties.FR.signing_keys")]
    assert diff(old, old) == []


def test_diff_of_added_party_and_relay_is_one_line_each() -> None:
    old = _empty()
    new = edit.add_party(old, _bundle("FR"), authority="OCLCTIC", contact=contact(), now=T0)
    relay_key = SigningKey(b"\x36" * 32).public
    new = edit.set_relay(new, PublicBundle("relay", relay_key, (), WHEN), at=T0)
    lines = [c.describe() for c in diff(old, new)]
    assert "+ parties.FR: OCLCTIC" in lines
    assert f"+ relay.signing_keys: {relay_key.key_id}" in lines
    assert len(lines) == 2


# --- from the security review of keys/ (findings 2) ----------

# --- 2. Revoking a suspended party re-opened its suspension window -------------------------


def test_revoking_a_suspended_party_keeps_the_suspension_time() -> None:
    d = edit.suspend(directory(), "FR", at=T0 + DAY, reason="suspected key compromise")
    with pytest.raises(Rejected):
        d.signing_key_for("FR", T0 + 2 * DAY)
    d = edit.revoke(d, "FR", at=T0 + 3 * DAY, reason="compromise confirmed")
    # A message backdated into the suspension must stay refused once the party is revoked.
    with pytest.raises(Rejected) as info:
        d.signing_key_for("FR", T0 + 2 * DAY)
    assert info.value.reason == "sender_inactive"
    assert d.party("FR").status == Status("revoked", T0 + DAY, "compromise confirmed")


def test_revoking_a_suspended_party_from_an_earlier_time_takes_the_earlier_time() -> None:
    d = edit.suspend(directory(), "FR", at=T0 + 5 * DAY, reason="suspected key compromise")
    d = edit.revoke(d, "FR", at=T0 + 2 * DAY, reason="compromised since day 2")
    assert d.party("FR").status.at == T0 + 2 * DAY
