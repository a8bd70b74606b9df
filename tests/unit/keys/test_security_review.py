"""Security review of the pure core (keys/): one test, or a table of named cases, per finding.

Each section names the finding it pins down. The tests were written to fail against the
code as it stood before the review, and pass once the fix is in; a few (marked "decision")
pin a documented choice rather than a defect.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from keys.directory import RootKey, RootKeys, SignedDirectory, TrustedDirectory, edit
from keys.directory.document import Directory
from keys.directory.model import SigningKeyEntry, Status
from keys.encoding import b64u_encode, canonical, format_time, loads_strict, pae
from keys.envelope import (
    TYPE_MESSAGE,
    Attachment,
    Envelope,
    Header,
    check_times,
    open_at,
    outer_signed_bytes,
    seal_at,
)
from keys.errors import DecodeError, KeystoreError, Rejected, ValidationError
from keys.host import passphrase
from keys.host.files import read_keystore, write_private, write_public
from keys.httpsig import AuthRejected, sign_request, verify_request
from keys.identities import EncryptionPrivateKey, EncryptionPublicKey, SigningKey, VerifyKey
from keys.keystore import TYPE_BUNDLE, Keystore, StoredEncryptionKey, verify_bundle
from keys.limits import DEFAULT_LIMITS
from keys.receipts import issue_at
from keys.receipts import verify as verify_receipt
from keys.suites import get_suite
from tests.unit.keys.test_directory_support import (
    ADMIN_KEYS,
    DAY,
    PARTY_SIGNING,
    T0,
    directory,
    party,
    root,
    signed,
)

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
FR = SigningKey(hashlib.sha256(b"review FR").digest())
DE_ENC = EncryptionPrivateKey("x25519", hashlib.sha256(b"review DE enc").digest())
DE_SIGN = SigningKey(hashlib.sha256(b"review DE").digest())

# --- 1. Ed25519 public keys of small order verify forged signatures -----------------------
#
# OpenSSL's Ed25519 verification (used by `cryptography`) accepts a public key of small
# order. With A = the identity point, R = the identity and S = 0, the verification equation
# [S]B = R + [h]A holds for EVERY message: anyone can "sign" as the holder of such a key.
# A party or the relay that registers one can later deny everything it signed; an
# administrator who registers one lowers the directory threshold for everybody.

IDENTITY = bytes([1]) + bytes(31)
FORGERY = IDENTITY + bytes(32)
SMALL_ORDER = {
    "identity (order 1)": IDENTITY.hex(),
    "order 2": "ec" + "ff" * 30 + "7f",
    "order 4": "00" * 32,
    "order 4, sign bit": "00" * 31 + "80",
    "order 8 (a)": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "order 8 (b)": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "order 8 (c)": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "order 8 (d)": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "identity, non-canonical y = p + 1": "ee" + "ff" * 30 + "7f",
}


def test_the_identity_key_accepts_no_universal_forgery() -> None:
    key = VerifyKey(IDENTITY)
    assert not key.verify(FORGERY, b"a request FR never sent")
    assert not key.verify(FORGERY, b"another one")


@pytest.mark.parametrize("raw_hex", SMALL_ORDER.values(), ids=list(SMALL_ORDER))
def test_small_order_and_non_canonical_keys_are_not_keys(raw_hex: str) -> None:
    key = VerifyKey(bytes.fromhex(raw_hex))
    with pytest.raises(ValidationError) as info:
        key.crypto_key()
    assert info.value.code == "bad_key"
    assert not key.verify(FORGERY, b"x")


def test_genuine_keys_still_verify() -> None:
    sig = FR.sign(b"hello")
    assert FR.public.verify(sig, b"hello")
    assert not FR.public.verify(sig, b"hullo")


def test_a_signature_with_s_beyond_the_group_order_is_refused() -> None:
    """Guard for protocol.md section 3.1: S + L is the same signature mathematically, and a
    verifier that took it would let anyone change an envelope's digest without its key."""
    order = 2**252 + 27742317777372353535851937790883648493
    sig = FR.sign(b"hello")
    s_plus_l = (int.from_bytes(sig[32:], "little") + order).to_bytes(32, "little")
    assert not FR.public.verify(sig[:32] + s_plus_l, b"hello")


def _bundle_bytes(signing_raw: bytes, sig: bytes, **changes: Any) -> bytes:
    enc = DE_ENC.public
    statement: dict[str, Any] = {
        "format": "pocnet-bundle",
        "v": 1,
        "party": "FR",
        "created_at": "2025-03-01T09:30:00.000Z",
        "signing_key": {"key": b64u_encode(signing_raw), "key_id": VerifyKey(signing_raw).key_id},
        "encryption_keys": [{"suite": enc.suite, "key": enc.to_b64(), "key_id": enc.key_id}],
    }
    statement.update(changes)
    payload = canonical(statement)
    if not sig:
        sig = FR.sign(pae(TYPE_BUNDLE, payload))
    return canonical({"payload": b64u_encode(payload), "sig": b64u_encode(sig)})


def test_a_bundle_with_a_small_order_signing_key_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        verify_bundle(_bundle_bytes(IDENTITY, FORGERY))
    assert info.value.code == "bad_key"


def test_a_request_signed_for_a_small_order_key_is_refused() -> None:
    headers = sign_request(
        "POST", "https://relay.example/v1/envelopes", b"{}", key=FR, party="FR", now=NOW
    )
    headers["Signature"] = "pocnet=:" + base64.b64encode(FORGERY).decode() + ":"
    with pytest.raises(AuthRejected) as info:
        verify_request(
            "POST",
            "https://relay.example/v1/envelopes",
            headers,
            b"{}",
            lookup={"FR": VerifyKey(IDENTITY)}.get,
            now=NOW,
            window=timedelta(minutes=5),
        )
    assert info.value.reason == "bad_key"


def _weak_root_file() -> dict[str, Any]:
    weak = {"name": "XX-WEAK", "key_id": VerifyKey(IDENTITY).key_id, "key": b64u_encode(IDENTITY)}
    good = RootKey("XX-A0", ADMIN_KEYS[0].public).to_dict()
    return {"format": "pocnet-directory-root", "v": 1, "threshold": 2, "keys": [good, weak]}


def test_a_small_order_administrator_key_cannot_enter_a_root() -> None:
    with pytest.raises(ValidationError):
        RootKeys.from_file(_weak_root_file())
    with pytest.raises(ValidationError):
        RootKey("XX-WEAK", VerifyKey(IDENTITY))


def test_a_stored_directory_whose_root_holds_a_small_order_key_is_refused() -> None:
    # One real administrator signature plus the universal forgery under the weak key: before
    # the fix this met a 2-of-2 threshold that only one person controlled.
    payload_obj = directory(root_keys=root([0], 1)).to_dict()
    payload_obj["root"] = {
        "threshold": 2,
        "keys": sorted(_weak_root_file()["keys"], key=lambda k: k["key_id"]),
    }
    payload = canonical(payload_obj)
    file = SignedDirectory(payload)
    sigs = [
        {
            "keyid": ADMIN_KEYS[0].public.key_id,
            "sig": b64u_encode(
                ADMIN_KEYS[0].sign(pae("application/vnd.pocnet.directory+json;v=1", payload))
            ),
        },
        {"keyid": VerifyKey(IDENTITY).key_id, "sig": b64u_encode(FORGERY)},
    ]
    data = canonical({"payload": b64u_encode(file.payload), "signatures": sigs})
    with pytest.raises(Rejected) as info:
        TrustedDirectory.from_stored(data)
    assert info.value.reason == "directory_malformed"


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


# --- 4. RFC 9421: a created or expires beyond datetime's range crashed the verifier -------

URL = "https://relay.example/v1/envelopes?dry_run=0"
SF_MAX = 999_999_999_999_999  # RFC 8941 integers have at most 15 digits
NONCE = "bm9uY2Utb2YtMTYtYnl0ZXM"


def _hand_signed(created: int, expires: int | None = None) -> dict[str, str]:
    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(b"{}").digest()).decode() + ":"
    params = f'("@method" "@path" "@query" "content-digest");created={created}'
    if expires is not None:
        params += f";expires={expires}"
    params += f';keyid="FR";alg="ed25519";nonce="{NONCE}";tag="pocnet-v1"'
    base = "\n".join(
        [
            '"@method": POST',
            '"@path": /v1/envelopes',
            '"@query": ?dry_run=0',
            f'"content-digest": {digest}',
            f'"@signature-params": {params}',
        ]
    )
    sig = base64.b64encode(FR.sign(base.encode())).decode()
    return {
        "Content-Digest": digest,
        "Signature-Input": f"pocnet={params}",
        "Signature": f"pocnet=:{sig}:",
    }


def _verify_hand_signed(headers: dict[str, str]) -> object:
    return verify_request(
        "POST",
        URL,
        headers,
        b"{}",
        lookup={"FR": FR.public}.get,
        now=NOW,
        window=timedelta(minutes=5),
    )


def test_hand_signed_request_is_well_formed() -> None:
    assert _verify_hand_signed(_hand_signed(int(NOW.timestamp()))).party == "FR"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("created", "expires"),
    [
        (SF_MAX, None),  # the largest structured-field integer: year 31,690,708
        (-SF_MAX, None),
        (253402300800, None),  # the first second of year 10000
        (int(NOW.timestamp()), SF_MAX),
        (int(NOW.timestamp()), -SF_MAX),
    ],
)
def test_out_of_range_times_are_stale_not_a_crash(created: int, expires: int | None) -> None:
    with pytest.raises(AuthRejected) as info:
        _verify_hand_signed(_hand_signed(created, expires))
    assert info.value.reason == "stale"


# --- 5. Plaintext and signature values in reprs (which reach logs and tracebacks) ---------


def _sealed(body: dict[str, Any]) -> Any:
    return seal_at(
        NOW,
        signing_key=FR,
        recipient_key=DE_ENC.public,
        sender="FR",
        recipient="DE",
        kind="assistance_request",
        body=body,
        attachments=(Attachment("suspect-list.pdf", "application/pdf", 10, "ab" * 32),),
        rand=lambda n: b"\x01" * n,
    )


def test_reprs_carry_no_plaintext_and_no_signature() -> None:
    sealed = _sealed({"question": "SECRET-FACTS-OF-THE-CASE"})
    for text in (repr(sealed), repr(sealed.message), str(sealed.message)):
        assert "SECRET-FACTS" not in text
        assert "suspect-list" not in text
    assert sealed.message.msg_id in repr(sealed.message)
    env = sealed.envelope
    for text in (repr(env), repr(sealed)):
        assert repr(env.signature) not in text
        assert b64u_encode(env.signature) not in text
        assert repr(env.ciphertext[:16])[2:-1] not in text
    assert env.header.msg_id in repr(env)
    receipt = issue_at(
        NOW,
        DE_SIGN,
        type="RETRIEVED",
        msg_id=env.header.msg_id,
        envelope_sha256=env.sha256,
        issuer="DE",
    )
    assert repr(receipt.signature) not in repr(receipt)
    assert "RETRIEVED" in repr(receipt)


# --- 6. Node-issued receipts may not claim an audit leaf ----------------------------------


@pytest.mark.parametrize("type_", ["RETRIEVED", "ACKNOWLEDGED", "REJECTED"])
def test_node_receipts_carry_no_leaf_index(type_: str) -> None:
    with pytest.raises(ValidationError):
        issue_at(
            NOW,
            DE_SIGN,
            type=type_,
            msg_id="00" * 16,
            envelope_sha256="ab" * 32,
            issuer="DE",
            reason="decrypt",
            leaf_index=7,
        )


def test_a_signed_node_receipt_claiming_a_leaf_is_rejected() -> None:
    statement = {
        "v": 1,
        "type": "RETRIEVED",
        "msg_id": "00" * 16,
        "envelope_sha256": "ab" * 32,
        "issuer": "DE",
        "issued_at": "2025-03-01T09:30:00.000Z",
        "leaf_index": 7,
    }
    payload = canonical(statement)
    sig = DE_SIGN.sign(pae("application/vnd.pocnet.receipt+json;v=1", payload))
    wire = canonical({"payload": b64u_encode(payload), "sig": b64u_encode(sig)})
    with pytest.raises(Rejected) as info:
        verify_receipt(wire, DE_SIGN.public)
    assert info.value.reason == "receipt_malformed"


def test_relay_receipts_still_carry_a_leaf_index() -> None:
    r = issue_at(
        NOW,
        DE_SIGN,
        type="ACCEPTED",
        msg_id="00" * 16,
        envelope_sha256="ab" * 32,
        issuer="relay",
        leaf_index=7,
    )
    assert r.receipt.leaf_index == 7


# --- 7. A bundle's created_at was not checked ---------------------------------------------


@pytest.mark.parametrize(
    "created_at", [12, None, "yesterday", "2025-03-01T09:30:00Z\n", "\x1b[2J2025", True]
)
def test_a_bundle_needs_a_time_in_created_at(created_at: Any) -> None:
    with pytest.raises(ValidationError) as info:
        verify_bundle(_bundle_bytes(FR.public.raw, b"", created_at=created_at))
    assert info.value.code == "bad_bundle"


def test_a_well_formed_bundle_still_verifies() -> None:
    assert verify_bundle(_bundle_bytes(FR.public.raw, b"")).party == "FR"


# --- 8. Directory free text: bidi controls and line separators ----------------------------
#
# Administrators review `keys directory show` and `diff` before they sign. A right-to-left
# override in an authority name reorders the rest of the line on their terminal (the status
# printed after it, for one).

BAD_TEXT = {
    "right-to-left override": "Police \u202e]evitca[",
    "left-to-right isolate": "Police \u2066x",
    "pop directional isolate": "Police \u2069x",
    "right-to-left mark": "Police \u200f",
    "arabic letter mark": "Police \u061c",
    "line separator": "Police\u2028Nationale",
    "paragraph separator": "Police\u2029Nationale",
    "byte order mark": "\ufeffPolice",
}
GOOD_TEXT = {
    "accents and dash": "Office anti-cybercriminalité – OFAC",
    "german": "Bundeskriminalamt (BKA)",
    "zero-width non-joiner (Persian)": "پلیس\u200cفتا",
    "greek": "Διεύθυνση Δίωξης Ηλεκτρονικού Εγκλήματος",
}


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=list(BAD_TEXT))
def test_directory_text_refuses_bidi_controls(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        party("FR", authority=text)
    assert info.value.code == "bad_text"
    with pytest.raises(ValidationError):
        Status("revoked", T0, text)


@pytest.mark.parametrize("text", GOOD_TEXT.values(), ids=list(GOOD_TEXT))
def test_directory_text_still_takes_real_names(text: str) -> None:
    assert party("FR", authority=text).authority == text


# --- 9. Public files followed a planted symlink; private temp names could collide ----------


def test_write_public_does_not_follow_a_planted_temp_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"original")
    os.chmod(victim, 0o600)
    target = tmp_path / "directory.json"
    (tmp_path / f".directory.json.tmp{os.getpid()}").symlink_to(victim)
    write_public(target, b"public")
    assert victim.read_bytes() == b"original"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert not target.is_symlink()
    assert target.read_bytes() == b"public"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_write_private_survives_a_stale_temp_file(tmp_path: Path) -> None:
    stale = tmp_path / f".keystore.json.tmp{os.getpid()}"
    stale.write_bytes(b"left by a crash")
    target = tmp_path / "keystore.json"
    write_private(target, b"secret")
    assert target.read_bytes() == b"secret"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".keystore")] == [stale.name]


def test_write_public_mode_ignores_a_strict_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_public(tmp_path / "bundle.json", b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "bundle.json").stat().st_mode) == 0o644


def test_read_keystore_refuses_a_huge_file_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "keystore.json"
    write_private(path, b" " * (1 << 20))
    with pytest.raises(KeystoreError):
        read_keystore(path, None)


# --- 10. Passphrase files: the first line, as documented, and nothing exotic --------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"secret\n", "secret"),
        (b"secret\r\n", "secret"),
        (b"secret", "secret"),
        (b"secret\nsecond line\n", "secret"),
        (b"pass\x0cword\n", "pass\x0cword"),
        ("pass\u2028word\n".encode(), "pass\u2028word"),
        ("pass\x85word\n".encode(), "pass\x85word"),
        (b"pass\x1eword\n", "pass\x1eword"),
        (b" spaced \n", " spaced "),
    ],
)
def test_passphrase_file_first_line(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "pass"
    path.write_bytes(content)
    assert passphrase.resolve(path, env={}) == expected.encode()


@pytest.mark.parametrize(
    "content", [b"\xff\xfe\n", b"secret\xc3\n", b"x" * (1 << 20)], ids=["latin", "cut", "huge"]
)
def test_passphrase_file_that_is_not_a_passphrase(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "pass"
    path.write_bytes(content)
    with pytest.raises(KeystoreError) as info:
        passphrase.resolve(path, env={})
    assert "\\xff" not in info.value.message and "xxxx" not in info.value.message


# --- 11. Keystore KDF parameters accepted strings, floats and booleans --------------------

PASS = b"correct horse battery staple"


@pytest.fixture(scope="module")
def encrypted() -> dict[str, Any]:
    ks = Keystore(
        "FR",
        FR,
        (StoredEncryptionKey(DE_ENC, "2025-03-01T09:30:00.000Z"),),
    )
    return json.loads(ks.to_bytes(PASS))  # type: ignore[no-any-return]


@pytest.mark.parametrize("field", ["opslimit", "memlimit"])
@pytest.mark.parametrize("spell", [str, float, lambda v: [v]], ids=["string", "float", "list"])
def test_kdf_parameters_must_be_integers(encrypted: dict[str, Any], field: str, spell: Any) -> None:
    doc = json.loads(json.dumps(encrypted))
    doc["kdf"][field] = spell(doc["kdf"][field])
    with pytest.raises(KeystoreError) as info:
        Keystore.from_bytes(json.dumps(doc).encode(), PASS)
    assert info.value.code == "keystore_error"


def test_kdf_parameters_as_written_still_open(encrypted: dict[str, Any]) -> None:
    assert Keystore.from_bytes(json.dumps(encrypted).encode(), PASS).party == "FR"


# --- 12. A pinned root file accepted "v": true and "v": 1.0 ------------------------------


@pytest.mark.parametrize("v", [True, 1.0, "1", None])
def test_root_file_version_must_be_the_integer_one(v: Any) -> None:
    doc = root([0, 1], 2).to_file()
    doc["v"] = v
    with pytest.raises(ValidationError) as info:
        RootKeys.from_file(doc)
    assert info.value.code == "bad_root_file"


# --- 13. Sealing to an unusable encryption key raised a bare ValueError -------------------

UNUSABLE = {
    "x25519 all zero (small order)": ("x25519", bytes(32)),
    "x25519 order 8 point": (
        "x25519",
        bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    ),
    "ml-kem key out of range": ("mlkem768-x25519", b"\xff" * 1184 + DE_ENC.public.raw),
}


@pytest.mark.parametrize(("suite", "raw"), UNUSABLE.values(), ids=list(UNUSABLE))
def test_sealing_to_an_unusable_key_is_a_validation_error(suite: str, raw: bytes) -> None:
    with pytest.raises(ValidationError) as info:
        seal_at(
            NOW,
            signing_key=FR,
            recipient_key=EncryptionPublicKey(suite, raw),
            sender="FR",
            recipient="DE",
            kind="ping",
            body={},
        )
    assert info.value.code == "bad_key"


# --- 14. loads_strict on a str with a lone surrogate raised UnicodeEncodeError -------------


def test_loads_strict_refuses_lone_surrogates_in_text() -> None:
    with pytest.raises(DecodeError):
        loads_strict('{"a":"\ud800"}')


# --- 15. Private keys compared their secrets in variable time -----------------------------


def test_private_key_equality_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import keys.identities

    calls: list[tuple[bytes, bytes]] = []
    real = keys.identities.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys.identities.hmac, "compare_digest", spy)
    assert SigningKey(FR.seed) == FR
    assert FR != DE_SIGN
    assert EncryptionPrivateKey("x25519", DE_ENC.secret) == DE_ENC
    assert len(calls) == 3
    assert {FR: 1}[SigningKey(FR.seed)] == 1  # still hashable, equal keys hash alike


# --- 16. Attachment names: no path parts, no control characters ---------------------------

BAD_NAMES = {
    "parent": "..",
    "self": ".",
    "backslash path": "..\\..\\etc\\passwd",
    "NUL": "report\x00.pdf",
    "escape sequence": "\x1b[2Jreport.pdf",
    "newline": "report\n.pdf",
    "C1 control": "report\x9b.pdf",
    "bidi override": "report\u202efdp.exe",
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=list(BAD_NAMES))
def test_attachment_names_refuse_path_parts_and_controls(name: str) -> None:
    with pytest.raises(ValidationError):
        Attachment(name, "application/pdf", 1, "ab" * 32)


@pytest.mark.parametrize("name", ["timeline.pdf", "procès-verbal (1).pdf", ".hidden", "a..b"])
def test_attachment_names_that_are_fine(name: str) -> None:
    assert Attachment(name, "application/pdf", 1, "ab" * 32).name == name


def test_an_envelope_with_a_bad_attachment_name_is_inner_malformed() -> None:
    sealed = _sealed({"question": "q"})
    msg = sealed.message.to_dict()
    msg["attachments"][0]["name"] = ".."
    message_bytes = canonical(msg)
    plaintext = FR.sign(pae(TYPE_MESSAGE, message_bytes)) + message_bytes
    h = sealed.envelope.header
    header = replace(h, size=len(plaintext) + get_suite("x25519").overhead)
    hb = canonical(header.to_dict())
    ct = get_suite("x25519").encrypt(plaintext, DE_ENC.public.raw, hb)
    env = Envelope(header, hb, ct, FR.sign(outer_signed_bytes(hb, ct)))
    with pytest.raises(Rejected) as info:
        open_at(
            NOW,
            env.to_bytes(),
            me="DE",
            sender_keys=_Static(),
            decryption_keys={DE_ENC.public.key_id: DE_ENC},
        )
    assert info.value.reason == "inner_malformed"


class _Static:
    def verify_key_for(self, party: str, at: datetime) -> VerifyKey:
        return FR.public


def test_signed_helper_still_counts_admins() -> None:
    """Guard: the weak-key change must not disturb ordinary threshold counting."""
    r = root([0, 1, 2], 2)
    assert len(signed(directory(), [0, 1]).valid_signers(r)) == 2
