"""Receipts: issuing, verifying, tampering, wrong keys and field rules (keys/receipts.py)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys import receipts
from keys.encoding import b64u_decode, b64u_encode, canonical, loads_strict, pae
from keys.errors import Rejected, ValidationError
from keys.identities import SigningKey
from keys.receipts import issue_at
from keys.receipts import verify as verify_receipt

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
RELAY = SigningKey(hashlib.sha256(b"relay").digest())
DE = SigningKey(hashlib.sha256(b"DE").digest())
IT = SigningKey(hashlib.sha256(b"IT").digest())
MSG_ID = "0195509a4c807d3a9f1e6b2c8d4e5f60"
DIGEST = hashlib.sha256(b"envelope").hexdigest()


def issue(type: str = "RETRIEVED", key: SigningKey = DE, **kw: Any) -> receipts.SignedReceipt:
    kw.setdefault("issuer", "relay" if type in receipts.RELAY_TYPES else "DE")
    if type == "REJECTED":
        kw.setdefault("reason", "decrypt")
    return receipts.issue_at(NOW, key, type=type, msg_id=MSG_ID, envelope_sha256=DIGEST, **kw)


def reason(data: Any, key: Any = DE.public) -> str:
    with pytest.raises(Rejected) as info:
        receipts.verify(data, key)
    return info.value.reason


@pytest.mark.parametrize("type", sorted(receipts.RECEIPT_TYPES))
def test_issue_and_verify_each_type(type: str) -> None:
    key = RELAY if type in receipts.RELAY_TYPES else DE
    signed = issue(type, key)
    verified = receipts.verify(signed.to_bytes(), key.public)
    assert verified == signed
    assert verified.receipt.type == type
    assert verified.receipt.issued == NOW
    assert receipts.verify(signed.to_wire(), key.public) == signed  # a decoded object too
    assert signed.sha256 == hashlib.sha256(signed.to_bytes()).hexdigest()
    assert signed.to_bytes() == canonical(signed.to_wire())


def test_receipt_signature_covers_pae_of_the_exact_payload() -> None:
    signed = issue()
    assert signed.payload == canonical(signed.receipt.to_dict())
    assert DE.public.verify(signed.signature, pae(receipts.TYPE_RECEIPT, signed.payload))
    assert signed.receipt.to_dict() == loads_strict(signed.payload)


def test_optional_fields_appear_only_when_set() -> None:
    plain = issue("RETRIEVED").receipt.to_dict()
    assert "reason" not in plain and "leaf_index" not in plain
    logged = issue("ACCEPTED", RELAY, leaf_index=0).receipt.to_dict()
    assert logged["leaf_index"] == 0


def test_wrong_key() -> None:
    assert reason(issue().to_bytes(), IT.public) == "receipt_signature"


def test_a_relay_receipt_needs_the_relay_key() -> None:
    signed = issue("ACCEPTED", RELAY)
    assert reason(signed.to_bytes(), DE.public) == "receipt_signature"


@settings(max_examples=80, deadline=None)
@given(index=st.integers(min_value=0, max_value=1 << 12), mask=st.integers(1, 255))
def test_any_payload_byte_flip_is_rejected(index: int, mask: int) -> None:
    signed = issue("ACKNOWLEDGED")
    payload = bytearray(signed.payload)
    payload[index % len(payload)] ^= mask
    data = {"payload": b64u_encode(bytes(payload)), "sig": b64u_encode(signed.signature)}
    assert reason(data) == "receipt_signature"


@settings(max_examples=80, deadline=None)
@given(index=st.integers(min_value=0, max_value=63), mask=st.integers(1, 255))
def test_any_signature_byte_flip_is_rejected(index: int, mask: int) -> None:
    signed = issue()
    sig = bytearray(signed.signature)
    sig[index] ^= mask
    data = {"payload": b64u_encode(signed.payload), "sig": b64u_encode(bytes(sig))}
    assert reason(data) == "receipt_signature"


@settings(max_examples=80, deadline=None)
@given(index=st.integers(min_value=0, max_value=1 << 12), mask=st.integers(1, 255))
def test_any_wire_byte_flip_is_rejected(index: int, mask: int) -> None:
    data = bytearray(issue().to_bytes())
    data[index % len(data)] ^= mask
    with pytest.raises(Rejected):
        receipts.verify(bytes(data), DE.public)


@pytest.mark.parametrize(
    "field",
    ["type", "msg_id", "envelope_sha256", "issuer", "issued_at"],
)
def test_changing_a_field_breaks_the_signature(field: str) -> None:
    signed = issue()
    changed = signed.receipt.to_dict()
    changed[field] = {
        "type": "ACKNOWLEDGED",
        "msg_id": "ab" * 16,
        "envelope_sha256": "0" * 64,
        "issuer": "IT",
        "issued_at": "2025-03-01T09:31:00.000Z",
    }[field]
    data = {"payload": b64u_encode(canonical(changed)), "sig": b64u_encode(signed.signature)}
    assert reason(data) == "receipt_signature"


def _signed_payload(payload: bytes, key: SigningKey = DE) -> dict[str, str]:
    sig = key.sign(pae(receipts.TYPE_RECEIPT, payload))
    return {"payload": b64u_encode(payload), "sig": b64u_encode(sig)}


@pytest.mark.parametrize(
    "data",
    [
        {"payload": "e30"},
        {"payload": "e30", "sig": "", "extra": ""},
        {"payload": "e30=", "sig": b64u_encode(bytes(64))},
        {"payload": "e30", "sig": b64u_encode(bytes(63))},
        {"payload": 5, "sig": b64u_encode(bytes(64))},
        b"[]",
        b'{"payload":"e30","payload":"e30","sig":""}',
        b"x" * 5000,
    ],
    ids=[
        "no-sig",
        "extra",
        "padded",
        "short-sig",
        "int-payload",
        "array",
        "duplicate",
        "too-large",
    ],
)
def test_malformed_wire(data: Any) -> None:
    assert reason(data) == "receipt_malformed"


def test_signed_but_non_canonical_payload_is_malformed() -> None:
    payload = canonical(issue().receipt.to_dict()).replace(b",", b", ", 1)
    assert reason(_signed_payload(payload)) == "receipt_malformed"


def test_signed_payload_with_duplicate_keys_is_malformed() -> None:
    payload = canonical(issue().receipt.to_dict()).replace(b'"v":1}', b'"v":1,"v":1}')
    assert reason(_signed_payload(payload)) == "receipt_malformed"


def test_signed_payload_with_an_unknown_field_is_malformed() -> None:
    obj = issue().receipt.to_dict()
    obj["note"] = "free text"
    assert reason(_signed_payload(canonical(obj))) == "receipt_malformed"


def test_signature_over_another_type_tag_is_rejected() -> None:
    payload = issue().payload
    sig = DE.sign(pae("application/vnd.pocnet.envelope+json;v=1", payload))
    data = {"payload": b64u_encode(payload), "sig": b64u_encode(sig)}
    assert reason(data) == "receipt_signature"


@pytest.mark.parametrize(
    ("type", "changes"),
    [
        ("ACCEPTED", {"issuer": "DE"}),
        ("RETRIEVED", {"issuer": "relay"}),
        ("REJECTED", {"reason": None}),
        ("REJECTED", {"reason": "Could not decrypt!"}),
        ("RETRIEVED", {"leaf_index": -1}),
        ("RETRIEVED", {"leaf_index": True}),
        ("RETRIEVED", {"issuer": "de"}),
    ],
    ids=[
        "relay-type-by-node",
        "node-type-by-relay",
        "rejected-without-reason",
        "free-text-reason",
        "negative-leaf",
        "bool-leaf",
        "bad-issuer",
    ],
)
def test_issue_refuses_invalid_receipts(type: str, changes: dict[str, Any]) -> None:
    kw: dict[str, Any] = {"issuer": "relay" if type in receipts.RELAY_TYPES else "DE"}
    if type == "REJECTED":
        kw["reason"] = "decrypt"
    kw.update(changes)
    with pytest.raises(ValidationError):
        receipts.issue_at(NOW, DE, type=type, msg_id=MSG_ID, envelope_sha256=DIGEST, **kw)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("type", "SEEN"),
        ("type", ["ACCEPTED"]),
        ("v", 2),
        ("v", True),
        ("msg_id", "xyz"),
        ("envelope_sha256", "ABC"),
        ("issued_at", "2025-03-01"),
    ],
)
def test_receipt_field_rules(field: str, value: Any) -> None:
    obj = issue().receipt.to_dict()
    obj[field] = value
    with pytest.raises(ValidationError):
        receipts.Receipt.from_dict(obj)


def test_peek_issuer_reads_without_verifying() -> None:
    assert receipts.peek_issuer(issue().to_bytes()) == "DE"
    assert receipts.peek_issuer(issue("DELIVERED", RELAY).to_wire()) == "relay"
    with pytest.raises(ValidationError):
        receipts.peek_issuer({"payload": b64u_encode(b'{"a":1}'), "sig": b64u_encode(bytes(64))})


def test_parse_wire_returns_exact_bytes() -> None:
    signed = issue()
    payload, sig = receipts.parse_wire(signed.to_bytes())
    assert payload == signed.payload and sig == signed.signature
    assert b64u_decode(signed.to_wire()["payload"]) == payload


# --- from the security review of keys/ (findings 6) ----------

DE_SIGN = SigningKey(hashlib.sha256(b"review DE").digest())


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
