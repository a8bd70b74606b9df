"""Known-answer tests: the code against the committed vectors in tests/vectors/*.json.

Where a value can be recomputed from the primitives alone (key ids, PAE, signatures,
the RFC 9421 signature base) the test does so without going through ``keys/``, so the
vectors also pin the documented formats, not only what the code happens to do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from keys import receipts
from keys.encoding import (
    b64u_decode,
    b64u_encode,
    canonical,
    format_time,
    loads_strict,
    pae,
    parse_time,
)
from keys.envelope import (
    TYPE_ENVELOPE,
    TYPE_MESSAGE,
    Attachment,
    Envelope,
    StaticSenderKeys,
    open_at,
    outer_signed_bytes,
    seal_at,
)
from keys.errors import DecodeError
from keys.httpsig import sign_request, verify_request
from keys.identities import EncryptionPrivateKey, SigningKey, VerifyKey
from keys.keystore import Keystore, make_bundle, verify_bundle
from keys.suites import SUITES
from tests.vectors import generate

VECTORS = Path(generate.__file__).resolve().parent


@cache
def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


def signing_key(entry: dict[str, str]) -> SigningKey:
    key = SigningKey(bytes.fromhex(entry["seed_hex"]))
    assert key.public.raw.hex() == entry["public_hex"]
    return key


def encryption_key(entry: dict[str, str]) -> EncryptionPrivateKey:
    key = EncryptionPrivateKey(entry["suite"], bytes.fromhex(entry["secret_hex"]))
    assert key.public.to_b64() == entry["public_b64u"]
    return key


def test_generator_reproduces_the_committed_files() -> None:
    built = generate.build_all()
    assert sorted(built) == sorted(p.name for p in VECTORS.glob("*.json"))
    for name, data in built.items():
        assert (VECTORS / name).read_bytes() == data, f"run 'make vectors': {name} is stale"


# --- encoding.json ---------------------------------------------------------------------


@pytest.mark.parametrize("case", load("encoding.json")["canonical"], ids=lambda c: c["name"])
def test_canonical_vectors(case: dict[str, str]) -> None:
    assert canonical(loads_strict(case["input"])) == case["canonical"].encode("utf-8")


@pytest.mark.parametrize(
    "case", load("encoding.json")["canonical_rejects"], ids=lambda c: c["name"]
)
def test_canonical_reject_vectors(case: dict[str, str]) -> None:
    with pytest.raises(DecodeError):
        canonical(loads_strict(case["input"]))


@pytest.mark.parametrize("case", load("encoding.json")["strict_rejects"], ids=lambda c: c["name"])
def test_strict_reject_vectors(case: dict[str, str]) -> None:
    with pytest.raises(DecodeError) as info:
        loads_strict(bytes.fromhex(case["input_hex"]))
    assert info.value.code == case["code"]


@pytest.mark.parametrize("case", load("encoding.json")["strict_accepts"], ids=lambda c: c["name"])
def test_strict_accept_vectors(case: dict[str, str]) -> None:
    assert isinstance(loads_strict(bytes.fromhex(case["input_hex"])), dict)


@pytest.mark.parametrize("case", load("encoding.json")["pae"], ids=lambda c: c["name"])
def test_pae_vectors(case: dict[str, str]) -> None:
    body = bytes.fromhex(case["body_hex"])
    expected = bytes.fromhex(case["pae_hex"])
    assert pae(case["type"], body) == expected
    t = case["type"].encode()
    assert expected == b"DSSEv1 " + str(len(t)).encode() + b" " + t + b" " + (
        str(len(body)).encode() + b" " + body
    )


def test_base64url_vectors() -> None:
    doc = load("encoding.json")
    for case in doc["base64url"]:
        data = bytes.fromhex(case["bytes_hex"])
        assert b64u_encode(data) == case["text"]
        assert b64u_decode(case["text"]) == data
        assert case["text"] == base64.urlsafe_b64encode(data).decode().rstrip("=")
    for case in doc["base64url_rejects"]:
        with pytest.raises(DecodeError):
            b64u_decode(case["text"])


def test_time_vectors() -> None:
    doc = load("encoding.json")
    for case in doc["time_format"]:
        assert format_time(datetime.fromisoformat(case["input"])) == case["output"]
        assert parse_time(case["output"]) == datetime.fromisoformat(case["input"]).replace(
            microsecond=datetime.fromisoformat(case["input"]).microsecond // 1000 * 1000
        )
    for text in doc["time_accepts"]:
        assert parse_time(text).tzinfo is UTC
    for text in doc["time_rejects"]:
        with pytest.raises(DecodeError):
            parse_time(text)


# --- identities.json -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(load("identities.json")["keys"]))
def test_key_id_and_fingerprint_vectors(name: str) -> None:
    entry = load("identities.json")["keys"][name]
    if "seed_hex" in entry:
        public = signing_key(entry).public.raw
        kind = "ed25519"
        key = signing_key(entry).public
    else:
        enc = encryption_key(entry)
        public, kind, key = enc.public.raw, entry["suite"], enc.public  # type: ignore[assignment]
    digest = hashlib.sha256(kind.encode() + b"\x00" + public).hexdigest()
    assert entry["key_id"] == f"{kind}:{digest[:32]}" == key.key_id
    fp = hashlib.sha256(b"pocnet-fingerprint-v1\x00" + public).hexdigest().upper()[:32]
    assert entry["fingerprint"] == " ".join(fp[i : i + 4] for i in range(0, 32, 4))
    assert entry["fingerprint"] == key.fingerprint


def test_ed25519_public_keys_match_cryptography() -> None:
    for entry in load("identities.json")["keys"].values():
        if "seed_hex" in entry:
            key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(entry["seed_hex"]))
            assert key.public_key().public_bytes_raw().hex() == entry["public_hex"]


# --- envelope.json ---------------------------------------------------------------------


def _envelope_keys() -> tuple[SigningKey, dict[str, EncryptionPrivateKey]]:
    keys = load("envelope.json")["keys"]
    return signing_key(keys["FR"]), {
        suite: encryption_key(keys[f"DE/{suite}"]) for suite in ("mlkem768-x25519", "x25519")
    }


def _seal_again(suite: str) -> Any:
    inputs = load("envelope.json")["inputs"]
    fr, de = _envelope_keys()
    return seal_at(
        parse_time(inputs["now"]),
        signing_key=fr,
        recipient_key=de[suite].public,
        sender=inputs["sender"],
        recipient=inputs["recipient"],
        kind=inputs["kind"],
        body=inputs["body"],
        priority=inputs["priority"],
        language=inputs["language"],
        conversation_id=inputs["conversation_id"],
        in_reply_to=inputs["in_reply_to"],
        attachments=tuple(Attachment.from_dict(a) for a in inputs["attachments"]),
        ttl=timedelta(seconds=inputs["ttl_seconds"]),
        msg_id=inputs["msg_id"],
    )


ENVELOPE_CASES = load("envelope.json")["cases"]


@pytest.mark.parametrize("case", ENVELOPE_CASES, ids=lambda c: c["suite"])
def test_seal_reproduces_the_deterministic_parts(case: dict[str, Any]) -> None:
    sealed = _seal_again(case["suite"])
    env = sealed.envelope
    assert env.header_bytes == case["header"].encode("utf-8")
    assert canonical(sealed.message.to_dict()) == case["message"].encode("utf-8")
    assert env.header.size == case["plaintext_len"] + SUITES[case["suite"]].overhead
    # The ciphertext is fresh, but it must carry the recorded inner signature.
    _, de = _envelope_keys()
    plaintext = SUITES[case["suite"]].decrypt(
        env.ciphertext, de[case["suite"]].secret, env.header_bytes
    )
    assert len(plaintext) == case["plaintext_len"]
    assert b64u_encode(plaintext[:64]) == case["inner_signature_b64u"]
    assert plaintext[64:] == case["message"].encode("utf-8")


@pytest.mark.parametrize("case", ENVELOPE_CASES, ids=lambda c: c["suite"])
def test_inner_and_outer_signatures_from_first_principles(case: dict[str, Any]) -> None:
    fr, _ = _envelope_keys()
    message = case["message"].encode("utf-8")
    inner_signed = case["inner_signed"].encode("utf-8")
    assert inner_signed == b"DSSEv1 %d %s %d %s" % (
        len(TYPE_MESSAGE),
        TYPE_MESSAGE.encode(),
        len(message),
        message,
    )
    raw = ed25519.Ed25519PrivateKey.from_private_bytes(fr.seed)
    assert b64u_encode(raw.sign(inner_signed)) == case["inner_signature_b64u"]
    # The outer statement names the committed ciphertext's digest and the header.
    wire = case["envelope"]
    ciphertext = b64u_decode(wire["ciphertext"])
    assert hashlib.sha256(ciphertext).hexdigest() == case["ciphertext_sha256"]
    digest, header = case["ciphertext_sha256"], wire["header"]
    statement = f'{{"ciphertext_sha256":"{digest}","header":"{header}"}}'.encode()
    outer = pae(TYPE_ENVELOPE, statement)
    assert outer == case["outer_signed"].encode("utf-8")
    assert outer == outer_signed_bytes(b64u_decode(wire["header"]), ciphertext)
    assert b64u_encode(raw.sign(outer)) == case["outer_signature_b64u"] == wire["sig"]
    assert b64u_decode(wire["header"]) == case["header"].encode("utf-8")


@pytest.mark.parametrize("case", ENVELOPE_CASES, ids=lambda c: c["suite"])
def test_committed_envelope_opens_to_the_recorded_message(case: dict[str, Any]) -> None:
    fr, de = _envelope_keys()
    inputs = load("envelope.json")["inputs"]
    data = canonical(case["envelope"])
    assert hashlib.sha256(data).hexdigest() == case["envelope_sha256"]
    env = Envelope.parse(data)
    assert env.sha256 == case["envelope_sha256"]
    key = de[case["suite"]]
    assert key.public.key_id == case["recipient_enc_key_id"] == env.header.enc_key_id
    message = open_at(
        parse_time(inputs["now"]),
        data,
        me="DE",
        sender_keys=StaticSenderKeys({"FR": fr.public}),
        decryption_keys={key.public.key_id: key},
    )
    assert canonical(message.to_dict()) == case["message"].encode("utf-8")
    assert dict(message.body) == inputs["body"]


@pytest.mark.parametrize("case", ENVELOPE_CASES, ids=lambda c: c["suite"])
def test_committed_ciphertext_decrypts_with_plain_hpke(case: dict[str, Any]) -> None:
    # An independent implementation's view: RFC 9180 base mode, info = header bytes.
    _, de = _envelope_keys()
    spec = SUITES[case["suite"]]
    suite = hpke.Suite(spec.kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
    wire = case["envelope"]
    plaintext = suite.decrypt(
        b64u_decode(wire["ciphertext"]),
        de[case["suite"]].hpke_key(),
        info=b64u_decode(wire["header"]),
    )
    assert plaintext[64:] == case["message"].encode("utf-8")
    assert len(plaintext) == case["plaintext_len"]


# --- receipts.json ---------------------------------------------------------------------


@pytest.mark.parametrize("case", load("receipts.json")["cases"], ids=lambda c: c["type"])
def test_receipt_vectors(case: dict[str, Any]) -> None:
    keys = load("receipts.json")["keys"]
    key = signing_key(keys[case["issuer"]])
    payload = case["payload"].encode("utf-8")
    statement = json.loads(payload)
    issued = receipts.issue_at(
        parse_time(statement["issued_at"]),
        key,
        type=statement["type"],
        msg_id=statement["msg_id"],
        envelope_sha256=statement["envelope_sha256"],
        issuer=statement["issuer"],
        reason=statement.get("reason"),
        leaf_index=statement.get("leaf_index"),
    )
    assert issued.payload == payload
    assert issued.to_bytes() == case["wire"].encode("utf-8")
    assert issued.sha256 == case["wire_sha256"]
    assert pae(receipts.TYPE_RECEIPT, payload) == case["signed"].encode("utf-8")
    raw = ed25519.Ed25519PrivateKey.from_private_bytes(key.seed)
    assert b64u_encode(raw.sign(case["signed"].encode("utf-8"))) == case["sig_b64u"]
    verified = receipts.verify(case["wire"].encode("utf-8"), key.public)
    assert verified.receipt.type == case["type"]


# --- httpsig.json ----------------------------------------------------------------------


def _signature_base(case: dict[str, Any]) -> str:
    url = urlsplit(case["url"])
    params = case["signature_input"].split("=", 1)[1]
    return "\n".join(
        [
            f'"@method": {case["method"]}',
            f'"@path": {url.path}',
            f'"@query": ?{url.query}',
            f'"content-digest": {case["content_digest"]}',
            f'"@signature-params": {params}',
        ]
    )


@pytest.mark.parametrize("case", load("httpsig.json")["cases"], ids=lambda c: c["name"])
def test_httpsig_vectors(case: dict[str, Any]) -> None:
    key = signing_key(load("httpsig.json")["keys"]["FR"])
    body = case["body"].encode("utf-8")
    created = datetime.fromtimestamp(case["created"], UTC)
    headers = sign_request(
        case["method"],
        case["url"],
        body,
        key=key,
        party=case["party"],
        now=created,
        nonce=case["nonce"],
    )
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["content-digest"] == case["content_digest"]
    assert headers["signature-input"] == case["signature_input"]
    assert headers["signature"] == case["signature"]
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert case["content_digest"] == f"sha-256=:{digest}:"
    # The signature base, built from RFC 9421 by hand, is what was signed.
    base = _signature_base(case)
    assert base == case["signature_base"]
    sig = base64.b64decode(case["signature"].split("=:", 1)[1].rstrip(":"))
    ed25519.Ed25519PublicKey.from_public_bytes(key.public.raw).verify(sig, base.encode())
    verified = verify_request(
        case["method"],
        case["url"],
        headers,
        body,
        lookup={"FR": key.public}.get,
        now=created,
        window=timedelta(seconds=300),
    )
    assert verified.party == "FR" and verified.nonce == case["nonce"]


# --- keystore.json ---------------------------------------------------------------------


def _fr_keystore() -> Keystore:
    doc = load("keystore.json")
    return Keystore.from_bytes(doc["unencrypted_keystore"].encode("utf-8"), None)


def test_unencrypted_keystore_vector() -> None:
    doc = load("keystore.json")
    ks = _fr_keystore()
    assert ks.party == "FR"
    assert ks.signing_key.seed.hex() == doc["keys"]["FR"]["seed_hex"]
    assert ks.current_encryption_key.secret.hex() == doc["keys"]["FR/x25519"]["secret_hex"]
    assert ks.to_bytes(None) == doc["unencrypted_keystore"].encode("utf-8")


def test_encrypted_keystore_vector_opens() -> None:
    doc = load("keystore.json")
    opened = Keystore.from_bytes(
        doc["encrypted_keystore"].encode("utf-8"), doc["inputs"]["passphrase"].encode()
    )
    assert opened.to_bytes(None) == doc["unencrypted_keystore"].encode("utf-8")
    kdf = json.loads(doc["encrypted_keystore"])["kdf"]
    assert kdf["alg"] == "argon2id" and len(b64u_decode(kdf["salt"])) == 16


def test_bundle_vector() -> None:
    doc = load("keystore.json")
    ks = _fr_keystore()
    data = doc["bundle"].encode("utf-8")
    assert make_bundle(ks, parse_time(doc["inputs"]["now"])) == data
    bundle = verify_bundle(data)
    assert bundle.signing_key == VerifyKey(bytes.fromhex(doc["keys"]["FR"]["public_hex"]))
    assert bundle.current_encryption_key.key_id == doc["keys"]["FR/x25519"]["key_id"]


# --- an independent RFC 9180 opening of the x25519 vector -------------------------------


def _hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()


def _hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out, counter = out + block, counter + 1
    return out[:length]


def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _hkdf_extract(salt, b"HPKE-v1" + suite_id + label + ikm)


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, n: int) -> bytes:
    return _hkdf_expand(prk, n.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info, n)


def _rfc9180_open_x25519(secret: bytes, ciphertext: bytes, info: bytes) -> bytes:
    """Base mode, DHKEM(X25519, HKDF-SHA256) 0x0020, HKDF-SHA256 0x0001, ChaCha20-Poly1305
    0x0003, empty AAD; ``ciphertext`` is enc (32 bytes) || AEAD ciphertext."""
    enc, sealed = ciphertext[:32], ciphertext[32:]
    sk = x25519.X25519PrivateKey.from_private_bytes(secret)
    dh = sk.exchange(x25519.X25519PublicKey.from_public_bytes(enc))
    kem_id = b"KEM\x00\x20"
    eae_prk = _labeled_extract(kem_id, b"", b"eae_prk", dh)
    kem_context = enc + sk.public_key().public_bytes_raw()
    shared = _labeled_expand(kem_id, eae_prk, b"shared_secret", kem_context, 32)
    suite_id = b"HPKE\x00\x20\x00\x01\x00\x03"
    context = (
        b"\x00"
        + _labeled_extract(suite_id, b"", b"psk_id_hash", b"")
        + _labeled_extract(suite_id, b"", b"info_hash", info)
    )
    key_secret = _labeled_extract(suite_id, shared, b"secret", b"")
    key = _labeled_expand(suite_id, key_secret, b"key", context, 32)
    nonce = _labeled_expand(suite_id, key_secret, b"base_nonce", context, 12)
    return ChaCha20Poly1305(key).decrypt(nonce, sealed, b"")


def test_x25519_vector_opens_with_a_from_scratch_rfc9180_implementation() -> None:
    case = next(c for c in ENVELOPE_CASES if c["suite"] == "x25519")
    secret = bytes.fromhex(load("envelope.json")["keys"]["DE/x25519"]["secret_hex"])
    plaintext = _rfc9180_open_x25519(
        secret,
        b64u_decode(case["envelope"]["ciphertext"]),
        b64u_decode(case["envelope"]["header"]),
    )
    assert plaintext[64:] == case["message"].encode("utf-8")
    assert b64u_encode(plaintext[:64]) == case["inner_signature_b64u"]
