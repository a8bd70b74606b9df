"""Property tests for envelope v1: round trips, and no single changed byte gets through."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from keys.encoding import b64u_encode, canonical, check_depth
from keys.envelope import Envelope, StaticSenderKeys, open_at, seal_at
from keys.errors import DecodeError, Rejected
from keys.identities import EncryptionPrivateKey, SigningKey
from keys.suites import SUITES

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
SUITE_NAMES = sorted(SUITES)
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _key(label: str, n: int) -> bytes:
    return hashlib.shake_256(label.encode()).digest(n)


FR = SigningKey(_key("FR", 32))
DIRECTORY = StaticSenderKeys({"FR": FR.public})


@cache
def recipient_key(suite: str) -> EncryptionPrivateKey:
    return EncryptionPrivateKey(suite, _key(f"DE {suite}", SUITES[suite].private_key_len))


def seal(suite: str, body: dict[str, Any]) -> Envelope:
    return seal_at(
        NOW,
        signing_key=FR,
        recipient_key=recipient_key(suite).public,
        sender="FR",
        recipient="DE",
        kind="preservation_request",
        body=body,
        msg_id="0123456789abcdef0123456789abcdef",
    ).envelope


@cache
def sample(suite: str) -> Envelope:
    return seal(suite, {"case_reference": "FR-1", "text": "Preserve the logs of 192.0.2.10."})


def open_as_de(data: bytes, suite: str) -> Any:
    key = recipient_key(suite)
    return open_at(
        NOW, data, me="DE", sender_keys=DIRECTORY, decryption_keys={key.public.key_id: key}
    )


SAFE = 2**53 - 1
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE, max_value=SAFE)
    | st.text(max_size=40)
    | st.floats(allow_nan=False, allow_infinity=False)
)
bodies = st.dictionaries(
    st.text(max_size=12),
    st.recursive(
        leaves,
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=12,
    ),
    max_size=6,
)


@PROPS
@given(suite=st.sampled_from(SUITE_NAMES), body=bodies)
def test_seal_open_round_trip_over_arbitrary_bodies(suite: str, body: dict[str, Any]) -> None:
    try:
        check_depth(body, 14)  # the message and its body add two levels; the limit is 16
    except DecodeError:
        assume(False)
    env = seal(suite, body)
    message = open_as_de(env.to_bytes(), suite)
    # The body comes back as the canonical JSON value of what was sealed.
    assert canonical(message.body) == canonical(body)
    assert message.sender == "FR" and message.recipient == "DE"


def _flip(data: bytes, index: int, mask: int) -> bytes:
    out = bytearray(data)
    out[index % len(out)] ^= mask
    return bytes(out)


def _rebuild(env: Envelope, part: str, index: int, mask: int) -> bytes:
    header, ct, sig = env.header_bytes, env.ciphertext, env.signature
    if part == "header":
        header = _flip(header, index, mask)
    elif part == "ciphertext":
        ct = _flip(ct, index, mask)
    else:
        sig = _flip(sig, index, mask)
    return canonical(
        {
            "v": 1,
            "header": b64u_encode(header),
            "ciphertext": b64u_encode(ct),
            "sig": b64u_encode(sig),
        }
    )


@PROPS
@given(
    suite=st.sampled_from(SUITE_NAMES),
    part=st.sampled_from(["header", "ciphertext", "sig"]),
    index=st.integers(min_value=0, max_value=1 << 16),
    mask=st.integers(min_value=1, max_value=255),
)
def test_flipping_any_byte_of_any_part_is_rejected(
    suite: str, part: str, index: int, mask: int
) -> None:
    data = _rebuild(sample(suite), part, index, mask)
    with pytest.raises(Rejected):
        open_as_de(data, suite)


@PROPS
@given(
    suite=st.sampled_from(SUITE_NAMES),
    index=st.integers(min_value=0, max_value=1 << 16),
    mask=st.integers(min_value=1, max_value=255),
)
def test_flipping_any_byte_of_the_wire_json_is_rejected(suite: str, index: int, mask: int) -> None:
    data = _flip(sample(suite).to_bytes(), index, mask)
    with pytest.raises(Rejected):
        open_as_de(data, suite)


@pytest.mark.parametrize("suite", SUITE_NAMES)
def test_every_header_byte_flip_is_rejected_exhaustively(suite: str) -> None:
    # The header is short: try every position with one mask, not just a sample.
    env = sample(suite)
    for index in range(len(env.header_bytes)):
        with pytest.raises(Rejected):
            open_as_de(_rebuild(env, "header", index, 0x01), suite)


@PROPS
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_are_only_ever_rejected(data: bytes) -> None:
    with pytest.raises(Rejected):
        open_as_de(data, "x25519")


wire_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=3),
    max_leaves=8,
)


@PROPS
@given(
    obj=st.fixed_dictionaries(
        {"v": st.sampled_from([1, 2]), "header": wire_values, "ciphertext": wire_values}
    ),
    sig=st.one_of(st.text(max_size=90), st.just("A" * 86)),
)
def test_arbitrary_wire_objects_are_only_ever_rejected(obj: dict[str, Any], sig: str) -> None:
    obj = {**obj, "sig": sig}
    try:
        data = canonical(obj)
    except Exception:
        return  # not JSON at all (e.g. an integer beyond 2**53)
    with pytest.raises(Rejected):
        open_as_de(data, "x25519")
