"""The queries relay and node ask of a directory: named cases of time, status and keys."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from keys.directory import (
    Directory,
    EncryptionKeyEntry,
    RelayInfo,
    SigningKeyEntry,
    Status,
    edit,
)
from keys.encoding import format_time
from keys.envelope import Header, SenderKeys, check_times, open_at, seal_at
from keys.errors import NotFound, Rejected
from keys.identities import EncryptionPrivateKey, SigningKey, VerifyKey
from keys.keystore import PublicBundle
from keys.limits import DEFAULT_LIMITS
from tests.unit.keys.test_directory_support import (
    DAY,
    PARTY_ENC,
    PARTY_SIGNING,
    RELAY_KEY,
    T0,
    directory,
    party,
)

REVOKED_AT = T0 + 10 * DAY
SUSPENDED_AT = T0 + 20 * DAY
ROTATED_AT = T0 + 30 * DAY
OVERLAP = timedelta(days=7)
MS = timedelta(milliseconds=1)
NEW_ENC = EncryptionPrivateKey("x25519", b"\x55" * 32)
NEW_SIGNING = SigningKey(b"\x66" * 32)
NEW_RELAY = SigningKey(b"\x78" * 32)


def _bundle(pid: str, signing: SigningKey, enc: EncryptionPrivateKey) -> PublicBundle:
    return PublicBundle(pid, signing.public, (enc.public,), "2026-01-01T00:00:00.000Z")


def _world() -> Directory:
    """FR active with an encryption key rotated at ROTATED_AT; DE revoked at REVOKED_AT;
    US-DOJ suspended from SUSPENDED_AT; the relay key rotated at ROTATED_AT."""
    d = directory(parties=(party("FR"), party("DE"), party("US-DOJ")))
    d = edit.revoke(d, "DE", at=REVOKED_AT, reason="key compromise")
    d = edit.suspend(d, "US-DOJ", at=SUSPENDED_AT, reason="audit")
    fr_new = _bundle("FR", PARTY_SIGNING["FR"], NEW_ENC)
    d = edit.rotate_encryption_key(d, "FR", fr_new, now=ROTATED_AT, overlap=OVERLAP)
    relay_new = PublicBundle("relay", NEW_RELAY.public, (), "2026-01-01T00:00:00.000Z")
    return edit.set_relay(d, relay_new, at=ROTATED_AT)


WORLD = _world()
FR_OLD = PARTY_ENC["FR"].public.key_id
FR_NEW = NEW_ENC.public.key_id

# (party, time) -> expected signing key owner, or the Rejected reason
SIGNING_CASES: dict[str, tuple[str, datetime, str]] = {
    "active party, any time after it was listed": ("FR", T0 + 100 * DAY, "FR"),
    "active party, before it was listed": ("FR", T0 - MS, "sender_inactive"),
    "revoked party, signature made before the revocation": ("DE", REVOKED_AT - MS, "DE"),
    "revoked party, signature made at the revocation time": ("DE", REVOKED_AT, "sender_inactive"),
    "revoked party, signature made after the revocation": (
        "DE",
        REVOKED_AT + DAY,
        "sender_inactive",
    ),
    "suspended party, before the suspension": ("US-DOJ", SUSPENDED_AT - MS, "US-DOJ"),
    "suspended party, while suspended": ("US-DOJ", SUSPENDED_AT + DAY, "sender_inactive"),
    "unknown party": ("IT", T0 + DAY, "unknown_sender"),
    "relay id is not a party": ("relay", T0 + DAY, "unknown_sender"),
}


@pytest.mark.parametrize("name", list(SIGNING_CASES))
def test_signing_key_for(name: str) -> None:
    pid, at, expected = SIGNING_CASES[name]
    if expected in PARTY_SIGNING:
        assert WORLD.signing_key_for(pid, at) == PARTY_SIGNING[expected].public
        assert WORLD.verify_key_for(pid, at) == PARTY_SIGNING[expected].public
    else:
        with pytest.raises(Rejected) as info:
            WORLD.signing_key_for(pid, at)
        assert info.value.reason == expected


ACTIVE_CASES: dict[str, tuple[str, datetime, bool]] = {
    "active": ("FR", T0 + DAY, True),
    "revoked, before": ("DE", REVOKED_AT - MS, True),
    "revoked, after": ("DE", REVOKED_AT, False),
    "suspended, before": ("US-DOJ", SUSPENDED_AT - MS, True),
    "suspended, while": ("US-DOJ", SUSPENDED_AT, False),
    "unknown": ("IT", T0 + DAY, False),
}


@pytest.mark.parametrize("name", list(ACTIVE_CASES))
def test_is_active(name: str) -> None:
    pid, at, expected = ACTIVE_CASES[name]
    assert WORLD.is_active(pid, at) is expected


def test_reinstated_party_is_active_again() -> None:
    d = edit.reinstate(WORLD, "US-DOJ")
    assert d.is_active("US-DOJ", SUSPENDED_AT + DAY)
    assert d.signing_key_for("US-DOJ", SUSPENDED_AT + DAY) == PARTY_SIGNING["US-DOJ"].public


# time -> (key to seal to, key ids valid for decryption)
ENCRYPTION_CASES: dict[str, tuple[datetime, str, frozenset[str]]] = {
    "before the rotation: old key only": (ROTATED_AT - MS, FR_OLD, frozenset({FR_OLD})),
    "at the rotation: seal to new, both decrypt": (
        ROTATED_AT,
        FR_NEW,
        frozenset({FR_OLD, FR_NEW}),
    ),
    "during the overlap: old key still decrypts": (
        ROTATED_AT + OVERLAP - MS,
        FR_NEW,
        frozenset({FR_OLD, FR_NEW}),
    ),
    "at the end of the overlap: old key no longer valid": (
        ROTATED_AT + OVERLAP,
        FR_NEW,
        frozenset({FR_NEW}),
    ),
    "long after: new key only": (ROTATED_AT + 100 * DAY, FR_NEW, frozenset({FR_NEW})),
}


@pytest.mark.parametrize("name", list(ENCRYPTION_CASES))
def test_encryption_key_rotation_with_overlap(name: str) -> None:
    at, seal_to, decrypt_with = ENCRYPTION_CASES[name]
    assert WORLD.encryption_key_for("FR", at).key_id == seal_to
    assert WORLD.decryption_key_ids_valid("FR", at) == decrypt_with


@pytest.mark.parametrize(
    ("pid", "at", "reason"),
    [
        ("IT", T0 + DAY, "unknown_recipient"),
        ("DE", REVOKED_AT, "recipient_inactive"),
        ("US-DOJ", SUSPENDED_AT, "recipient_inactive"),
        ("FR", T0 - DAY, "no_encryption_key"),
    ],
)
def test_encryption_key_for_refuses(pid: str, at: datetime, reason: str) -> None:
    with pytest.raises(Rejected) as info:
        WORLD.encryption_key_for(pid, at)
    assert info.value.reason == reason


def test_relay_key_current_and_by_time() -> None:
    assert WORLD.relay_key == NEW_RELAY.public
    assert WORLD.relay_key_for(ROTATED_AT - MS) == RELAY_KEY.public
    assert WORLD.relay_key_for(ROTATED_AT) == NEW_RELAY.public
    with pytest.raises(Rejected) as info:
        WORLD.relay_key_for(T0 - MS)
    assert info.value.reason == "relay_key_unknown"
    with pytest.raises(NotFound):
        _ = replace(WORLD, relay=None).relay_key


def test_contact_and_party_lookups() -> None:
    assert WORLD.contact("FR").timezone == "Europe/Paris"
    assert WORLD.party("DE").status == Status("revoked", REVOKED_AT, "key compromise")
    assert "FR" in WORLD and "IT" not in WORLD
    assert [p.id for p in WORLD] == ["DE", "FR", "US-DOJ"]
    with pytest.raises(NotFound) as info:
        WORLD.contact("IT")
    assert info.value.code == "unknown_party"
    with pytest.raises(NotFound):
        WORLD.decryption_key_ids_valid("IT", T0)


def test_signing_key_rotation_splits_time() -> None:
    bundle = _bundle("FR", NEW_SIGNING, PARTY_ENC["FR"])
    d = edit.rotate_signing_key(WORLD, "FR", bundle, at=ROTATED_AT)
    assert d.signing_key_for("FR", ROTATED_AT - MS) == PARTY_SIGNING["FR"].public
    assert d.signing_key_for("FR", ROTATED_AT) == NEW_SIGNING.public


def test_directory_is_the_envelope_openers_sender_keys() -> None:
    """A real envelope: verifies before DE's revocation, is refused after it."""
    d: SenderKeys = WORLD
    sealed = seal_at(
        REVOKED_AT - DAY,
        signing_key=PARTY_SIGNING["DE"],
        recipient_key=WORLD.encryption_key_for("FR", REVOKED_AT - DAY),
        sender="DE",
        recipient="FR",
        kind="ping",
        body={},
    )
    keys = {PARTY_ENC["FR"].public.key_id: PARTY_ENC["FR"]}
    message = open_at(
        REVOKED_AT - DAY, sealed.envelope, me="FR", sender_keys=d, decryption_keys=keys
    )
    assert message.sender == "DE"
    late = seal_at(
        REVOKED_AT + DAY,
        signing_key=PARTY_SIGNING["DE"],
        recipient_key=PARTY_ENC["FR"].public,
        sender="DE",
        recipient="FR",
        kind="ping",
        body={},
    )
    with pytest.raises(Rejected) as info:
        open_at(REVOKED_AT + DAY, late.envelope, me="FR", sender_keys=d, decryption_keys=keys)
    assert info.value.reason == "sender_inactive"


def test_entry_windows_are_half_open() -> None:
    entry = SigningKeyEntry(VerifyKey(b"\x01" * 32), T0, T0 + DAY)
    assert not entry.valid_at(T0 - MS)
    assert entry.valid_at(T0)
    assert entry.valid_at(T0 + DAY - MS)
    assert not entry.valid_at(T0 + DAY)
    enc = EncryptionKeyEntry(NEW_ENC.public, T0)
    assert enc.valid_at(T0 + 10_000 * DAY)


def test_relay_info_needs_a_key() -> None:
    from keys.errors import ValidationError

    with pytest.raises(ValidationError):
        RelayInfo(())


# --- from the security review of keys/ (findings 3) ----------

DE_ENC = EncryptionPrivateKey("x25519", hashlib.sha256(b"review DE enc").digest())
NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


# --- 3. Backdated created_at by a holder of a revoked or retired key (decision + helper) ---
#
# The opener judges the sender's key at the envelope's created_at (DESIGN.md section 4) and
# cannot bound its age further: envelopes wait at the relay until the recipient comes online.
# The relay, which sees every envelope as it is submitted, closes the gap: the key must be
# valid at created_at AND at the relay's own clock. Directory.submission_key_for says so.

K1, K2 = PARTY_SIGNING["FR"], SigningKey(b"\x55" * 32)


def _rotated() -> Directory:
    fr = party(
        "FR",
        signing_keys=(
            SigningKeyEntry(K1.public, T0, T0 + 10 * DAY),
            SigningKeyEntry(K2.public, T0 + 10 * DAY),
        ),
    )
    return replace(directory(), parties=(fr, party("DE")))


@dataclass(frozen=True)
class Submit:
    d: Directory
    created: datetime
    now: datetime
    key: SigningKey | None  # expected key, or None when refused
    reason: str | None = None


def _revoked(at: datetime) -> Directory:
    return edit.revoke(directory(), "FR", at=at, reason="key compromise")


SUBMISSIONS: dict[str, Submit] = {
    "fresh, active": Submit(directory(), T0 + DAY, T0 + DAY, K1),
    "sealed offline, submitted later, still active": Submit(
        directory(), T0 + DAY, T0 + 20 * DAY, K1
    ),
    "revoked key backdated before the revocation": Submit(
        _revoked(T0 + 5 * DAY), T0 + 4 * DAY, T0 + 6 * DAY, None, "sender_inactive"
    ),
    "revocation scheduled, not yet in force": Submit(
        _revoked(T0 + 5 * DAY), T0 + 4 * DAY, T0 + 4 * DAY, K1
    ),
    "suspended now": Submit(
        edit.suspend(directory(), "FR", at=T0 + 5 * DAY, reason="audit"),
        T0 + 4 * DAY,
        T0 + 6 * DAY,
        None,
        "sender_inactive",
    ),
    "retired key backdated into its old window": Submit(
        _rotated(), T0 + 9 * DAY, T0 + 11 * DAY, None, "signing_key_retired"
    ),
    "new key after rotation": Submit(_rotated(), T0 + 11 * DAY, T0 + 11 * DAY, K2),
    "unknown party": Submit(directory(parties=(party("DE"),)), T0, T0, None, "unknown_sender"),
}


@pytest.mark.parametrize("case", SUBMISSIONS.values(), ids=list(SUBMISSIONS))
def test_submission_key_for(case: Submit) -> None:
    if case.key is not None:
        assert case.d.submission_key_for("FR", case.created, case.now) == case.key.public
        return
    with pytest.raises(Rejected) as info:
        case.d.submission_key_for("FR", case.created, case.now)
    assert info.value.reason == case.reason


def test_decision_evidence_from_before_a_revocation_keeps_its_value() -> None:
    d = _revoked(T0 + 5 * DAY)
    assert d.signing_key_for("FR", T0 + 4 * DAY) == K1.public  # opener: judged at created_at


@pytest.mark.parametrize("age_days", [91, 120, 365])
def test_decision_the_opener_bounds_created_at_by_the_lifetime(age_days: int) -> None:
    """Whatever expires_at says, an envelope created more than max_lifetime ago is refused
    at opening: the backdating window left to a relay-bypassing key thief is bounded."""
    created = NOW - timedelta(days=age_days)
    for expires in (NOW + timedelta(minutes=1), NOW + timedelta(days=30)):
        header = Header(
            msg_id="00" * 16,
            sender="FR",
            recipient="DE",
            created_at=format_time(created),
            expires_at=format_time(expires),
            priority="routine",
            suite="x25519",
            enc_key_id=DE_ENC.public.key_id,
            size=100,
        )
        with pytest.raises(Rejected) as info:
            check_times(header, NOW, DEFAULT_LIMITS)
        assert info.value.reason == "lifetime"
