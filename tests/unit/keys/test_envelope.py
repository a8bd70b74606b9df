"""Envelope v1: sealing, opening, and every named rejection (keys/envelope/__init__.py).

Each rejection test asserts the internal ``Rejected.reason`` (what the operator's log
says) and, where the reason is a catch-all such as ``malformed``, the precise cause.
Attacks are built by hand from the primitives, as an attacker would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from keys.encoding import b64u_decode, b64u_encode, canonical, format_time, loads_strict, pae
from keys.envelope import (
    HEADER_FIELDS,
    MESSAGE_FIELDS,
    TYPE_ENVELOPE,
    TYPE_MESSAGE,
    Envelope,
    Header,
    Message,
    Sealed,
    StaticSenderKeys,
    check_times,
    open_at,
    outer_signed_bytes,
    seal_at,
)
from keys.errors import DecodeError, Rejected, TooLarge, ValidationError
from keys.identities import EncryptionPrivateKey, EncryptionPublicKey, SigningKey, VerifyKey
from keys.limits import ProtocolLimits
from keys.receipts import issue_at
from keys.suites import SUITES, get_suite
from tests.support.attachments import sample_attachment

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
BODY = {"case_reference": "FR-2025-0042", "summary_of_facts": "Ransomware; data in DE."}


@dataclass(frozen=True)
class Party:
    name: str
    signing: SigningKey
    enc: EncryptionPrivateKey


def _party(name: str, suite: str = "x25519") -> Party:
    def seed(label: str, n: int) -> bytes:
        return hashlib.shake_256(f"{name} {label}".encode()).digest(n)

    return Party(
        name,
        SigningKey(seed("sign", 32)),
        EncryptionPrivateKey(suite, seed("enc", SUITES[suite].private_key_len)),
    )


FR, DE, IT = _party("FR"), _party("DE"), _party("IT")
DE_HYBRID = _party("DE", "mlkem768-x25519")
DIRECTORY = StaticSenderKeys({p.name: p.signing.public for p in (FR, DE, IT)})


def seal(sender: Party = FR, recipient: Party = DE, now: datetime = NOW, **kw: Any) -> Sealed:
    kw.setdefault("kind", "preservation_request")
    kw.setdefault("body", BODY)
    return seal_at(
        now,
        signing_key=sender.signing,
        recipient_key=recipient.enc.public,
        sender=sender.name,
        recipient=recipient.name,
        **kw,
    )


def open_as(
    me: Party,
    data: bytes | Envelope,
    now: datetime = NOW,
    *,
    seen: Callable[[str], bool] = lambda _m: False,
    limits: ProtocolLimits | None = None,
    sender_keys: StaticSenderKeys = DIRECTORY,
) -> Message:
    extra: dict[str, Any] = {"limits": limits} if limits else {}
    return open_at(
        now,
        data,
        me=me.name,
        sender_keys=sender_keys,
        decryption_keys={me.enc.public.key_id: me.enc},
        seen=seen,
        **extra,
    )


def reason_of(fn: Callable[[], object]) -> Rejected:
    with pytest.raises(Rejected) as info:
        fn()
    return info.value


# --- an attacker's toolbox -------------------------------------------------------------


def inner(signer: SigningKey, message_bytes: bytes) -> bytes:
    """The HPKE plaintext: inner signature || message bytes."""
    return signer.sign(pae(TYPE_MESSAGE, message_bytes)) + message_bytes


def message_dict(sealed: Sealed, **changes: Any) -> dict[str, Any]:
    out = sealed.message.to_dict()
    out.update(changes)
    return out


def forge(
    header: dict[str, Any] | bytes,
    plaintext: bytes,
    signer: SigningKey,
    to: EncryptionPublicKey,
    *,
    fix_size: bool = True,
) -> bytes:
    """Encrypt ``plaintext`` under ``header`` to ``to`` and sign the outer layer."""
    if isinstance(header, dict):
        header = dict(header)
        if fix_size:
            header["size"] = len(plaintext) + SUITES[to.suite].overhead
        header["enc_key_id"] = to.key_id
        header["suite"] = to.suite
        header_bytes = canonical(header)
    else:
        header_bytes = header
    ciphertext = SUITES[to.suite].encrypt(plaintext, to.raw, header_bytes)
    sig = signer.sign(outer_signed_bytes(header_bytes, ciphertext))
    return wire(header_bytes, ciphertext, sig)


def wire(header_bytes: bytes, ciphertext: bytes, sig: bytes, v: Any = 1) -> bytes:
    return canonical(
        {
            "v": v,
            "header": b64u_encode(header_bytes),
            "ciphertext": b64u_encode(ciphertext),
            "sig": b64u_encode(sig),
        }
    )


def plaintext_of(sealed: Sealed, holder: Party) -> bytes:
    env = sealed.envelope
    return SUITES[env.header.suite].decrypt(env.ciphertext, holder.enc.secret, env.header_bytes)


# --- sealing and opening ---------------------------------------------------------------


@pytest.mark.parametrize("recipient", [DE, DE_HYBRID], ids=["x25519", "mlkem768-x25519"])
def test_seal_open_round_trip(recipient: Party) -> None:
    att = sample_attachment()
    sealed = seal(recipient=recipient, priority="urgent", language="fr", attachments=(att,))
    message = open_as(recipient, sealed.envelope.to_bytes())
    assert message == sealed.message
    assert message.body == BODY and message.attachments == (att,)
    assert message.sender == "FR" and message.recipient == "DE"
    assert message.conversation_id == message.msg_id and message.in_reply_to is None
    header = sealed.envelope.header
    assert header.suite == recipient.enc.suite
    assert header.enc_key_id == recipient.enc.public.key_id
    assert header.size == len(sealed.envelope.ciphertext)
    assert header.created_at == format_time(NOW) == message.created_at
    assert header.expires == NOW + timedelta(days=30)


def test_open_accepts_a_parsed_envelope_too() -> None:
    sealed = seal()
    assert open_as(DE, Envelope.parse(sealed.envelope.to_bytes())) == sealed.message


def test_reply_threads_and_injected_randomness() -> None:
    first = seal()
    reply = seal(
        DE,
        FR,
        kind="preservation_response",
        conversation_id=first.message.conversation_id,
        in_reply_to=first.message.msg_id,
        rand=lambda n: b"\x07" * n,
    )
    assert reply.message.msg_id == "07" * 16
    opened = open_as(FR, reply.envelope.to_bytes())
    assert opened.in_reply_to == first.message.msg_id
    assert opened.conversation_id == first.message.conversation_id


def test_wire_bytes_are_rfc8785_and_parse_back() -> None:
    env = seal().envelope
    assert env.to_bytes() == canonical(env.to_wire())
    assert env.sha256 == hashlib.sha256(env.to_bytes()).hexdigest()
    again = Envelope.parse(env.to_bytes())
    assert again == env
    assert Envelope.parse(loads_strict(env.to_bytes())) == env


def test_header_is_what_the_relay_sees_and_nothing_more() -> None:
    env = seal().envelope
    header = loads_strict(env.header_bytes)
    assert tuple(sorted(header)) == tuple(sorted(HEADER_FIELDS))
    assert b"Ransomware" not in env.to_bytes()
    assert b"Ransomware" not in b64u_decode(env.to_wire()["header"])


def test_outer_signature_covers_header_and_ciphertext_digest() -> None:
    env = seal().envelope
    statement = canonical(
        {
            "ciphertext_sha256": hashlib.sha256(env.ciphertext).hexdigest(),
            "header": b64u_encode(env.header_bytes),
        }
    )
    assert env.signed_bytes() == pae(TYPE_ENVELOPE, statement)
    assert FR.signing.public.verify(env.signature, env.signed_bytes())
    env.verify_outer(FR.signing.public)
    with pytest.raises(Rejected):
        env.verify_outer(IT.signing.public)


def test_inner_plaintext_is_signature_then_canonical_message() -> None:
    sealed = seal()
    plaintext = plaintext_of(sealed, DE)
    message_bytes = plaintext[64:]
    assert message_bytes == canonical(sealed.message.to_dict())
    assert tuple(sorted(loads_strict(message_bytes))) == tuple(sorted(MESSAGE_FIELDS))
    assert FR.signing.public.verify(plaintext[:64], pae(TYPE_MESSAGE, message_bytes))


def test_rotated_keys_still_open_old_envelopes() -> None:
    old = seal()
    new_key = EncryptionPrivateKey.generate("x25519")
    keys = {DE.enc.public.key_id: DE.enc, new_key.public.key_id: new_key}
    for env in (
        old.envelope,
        seal_at(
            NOW,
            signing_key=FR.signing,
            recipient_key=new_key.public,
            sender="FR",
            recipient="DE",
            kind="ping",
            body={},
        ).envelope,
    ):
        msg = open_at(NOW, env.to_bytes(), me="DE", sender_keys=DIRECTORY, decryption_keys=keys)
        assert msg.msg_id == env.header.msg_id


@pytest.mark.parametrize(
    "changes",
    [
        {"sender": "france"},
        {"recipient": "de"},
        {"kind": "Preservation"},
        {"priority": "immediate"},
        {"language": "French"},
        {"conversation_id": "not-an-id"},
        {"in_reply_to": "12"},
        {"ttl": timedelta(0)},
        {"ttl": timedelta(days=91)},
        {"body": ["not", "an", "object"]},
        {"msg_id": "0" * 31},
    ],
    ids=lambda c: next(iter(c)),
)
def test_seal_refuses_invalid_fields(changes: dict[str, Any]) -> None:
    kw: dict[str, Any] = {
        "signing_key": FR.signing,
        "recipient_key": DE.enc.public,
        "sender": "FR",
        "recipient": "DE",
        "kind": "ping",
        "body": {},
    }
    kw.update(changes)
    with pytest.raises(ValidationError):
        seal_at(NOW, **kw)


def test_seal_refuses_oversized_and_too_deep_messages() -> None:
    with pytest.raises(TooLarge):
        seal(body={"x": "a" * 2000}, limits=ProtocolLimits(max_message_bytes=1000))
    deep: dict[str, Any] = {}
    for _ in range(20):
        deep = {"d": deep}
    with pytest.raises(DecodeError) as info:
        seal(body=deep)
    assert info.value.code == "too_deep"


# --- named rejections ------------------------------------------------------------------


def test_rejected_is_opaque_to_the_peer() -> None:
    error = reason_of(lambda: open_as(IT, seal().envelope.to_bytes()))
    assert error.reason == "wrong_recipient"
    assert str(error) == "rejected"
    assert error.to_wire() == {"error": "rejected", "message": "rejected"}
    assert "wrong_recipient" not in str(error.to_wire())


def test_wrong_recipient() -> None:
    assert reason_of(lambda: open_as(IT, seal().envelope.to_bytes())).reason == "wrong_recipient"


def test_sender_swapped_in_the_header() -> None:
    env = seal().envelope
    header = loads_strict(env.header_bytes)
    header["sender"] = "IT"
    data = wire(canonical(header), env.ciphertext, env.signature)
    assert reason_of(lambda: open_as(DE, data)).reason == "outer_signature"


def test_sender_swapped_and_resigned_by_the_new_sender() -> None:
    # IT takes FR's envelope, claims it as its own and signs the outer layer itself:
    # the header is HPKE's info, so the ciphertext no longer decrypts.
    env = seal().envelope
    header = loads_strict(env.header_bytes)
    header["sender"] = "IT"
    header_bytes = canonical(header)
    sig = IT.signing.sign(outer_signed_bytes(header_bytes, env.ciphertext))
    data = wire(header_bytes, env.ciphertext, sig)
    assert reason_of(lambda: open_as(DE, data)).reason == "decrypt"


def test_surreptitious_forwarding_is_rejected() -> None:
    # DE takes FR's signed inner message and re-encrypts it to IT under a new header
    # signed by DE. The inner signature is FR's, over a message naming DE as recipient.
    sealed = seal()
    plaintext = plaintext_of(sealed, DE)
    header = loads_strict(sealed.envelope.header_bytes)
    header.update(sender="DE", recipient="IT")
    data = forge(header, plaintext, DE.signing, IT.enc.public)
    assert reason_of(lambda: open_as(IT, data)).reason == "inner_signature"
    # And what was signed names DE as the recipient, not IT:
    assert loads_strict(plaintext[64:])["recipient"] == "DE"


def test_header_disagreeing_with_the_signed_message() -> None:
    # A sender that signs a message to DE but addresses the envelope to IT.
    sealed = seal()
    plaintext = inner(FR.signing, canonical(sealed.message.to_dict()))
    header = loads_strict(sealed.envelope.header_bytes)
    header["recipient"] = "IT"
    data = forge(header, plaintext, FR.signing, IT.enc.public)
    assert reason_of(lambda: open_as(IT, data)).reason == "header_mismatch"


@pytest.mark.parametrize("field", ["msg_id", "created_at", "priority"])
def test_each_shared_field_must_match(field: str) -> None:
    sealed = seal()
    value = {"msg_id": "ab" * 16, "created_at": "2025-03-01T09:29:00.000Z", "priority": "emergency"}
    msg = message_dict(sealed, **{field: value[field]})
    data = forge(
        loads_strict(sealed.envelope.header_bytes),
        inner(FR.signing, canonical(msg)),
        FR.signing,
        DE.enc.public,
    )
    assert reason_of(lambda: open_as(DE, data)).reason == "header_mismatch"


def test_replayed_msg_id() -> None:
    data = seal().envelope.to_bytes()
    seen: set[str] = set()
    seen.add(open_as(DE, data, seen=seen.__contains__).msg_id)
    assert reason_of(lambda: open_as(DE, data, seen=seen.__contains__)).reason == "replay"


def test_created_in_the_future_beyond_the_skew_window() -> None:
    data = seal(now=NOW + timedelta(minutes=5, milliseconds=1)).envelope.to_bytes()
    assert reason_of(lambda: open_as(DE, data)).reason == "future"
    at_limit = seal(now=NOW + timedelta(minutes=5)).envelope.to_bytes()
    assert open_as(DE, at_limit)


def test_expired() -> None:
    data = seal(ttl=timedelta(hours=1)).envelope.to_bytes()
    assert open_as(DE, data, NOW + timedelta(minutes=59, seconds=59))
    later = NOW + timedelta(hours=1)
    assert reason_of(lambda: open_as(DE, data, later)).reason == "expired"


def test_lifetime_beyond_the_limit() -> None:
    sealed = seal()
    header = loads_strict(sealed.envelope.header_bytes)
    header["expires_at"] = format_time(NOW + timedelta(days=91))
    data = forge(header, plaintext_of(sealed, DE), FR.signing, DE.enc.public)
    assert reason_of(lambda: open_as(DE, data)).reason == "lifetime"


def test_oversized_envelope() -> None:
    data = seal(body={"x": "a" * 3000}).envelope.to_bytes()
    limits = ProtocolLimits(max_envelope_bytes=len(data) - 1)
    assert reason_of(lambda: open_as(DE, data, limits=limits)).reason == "too_large"
    assert open_as(DE, data, limits=ProtocolLimits(max_envelope_bytes=len(data)))


def test_oversized_inner_message() -> None:
    sealed = seal(body={"x": "a" * 3000})
    limits = ProtocolLimits(max_message_bytes=2000)
    error = reason_of(lambda: open_as(DE, sealed.envelope.to_bytes(), limits=limits))
    assert error.reason == "inner_malformed"
    assert isinstance(error.__cause__, TooLarge)


def test_nested_too_deep_on_the_wire() -> None:
    data = b'{"v":1,"header":' + b"[" * 40 + b"]" * 40 + b"}"
    error = reason_of(lambda: open_as(DE, data))
    assert error.reason == "malformed"
    assert isinstance(error.__cause__, DecodeError) and error.__cause__.code == "too_deep"


def test_nested_too_deep_inside_the_signed_message() -> None:
    sealed = seal()
    deep: dict[str, Any] = {}
    for _ in range(20):
        deep = {"d": deep}
    msg = canonical(message_dict(sealed, body=deep))
    data = forge(
        loads_strict(sealed.envelope.header_bytes),
        inner(FR.signing, msg),
        FR.signing,
        DE.enc.public,
    )
    error = reason_of(lambda: open_as(DE, data))
    assert error.reason == "inner_malformed"
    assert isinstance(error.__cause__, DecodeError) and error.__cause__.code == "too_deep"


def test_duplicate_json_keys_on_the_wire() -> None:
    good = seal().envelope.to_bytes()
    data = good.replace(b'"v":1}', b'"v":1,"v":1}')
    error = reason_of(lambda: open_as(DE, data))
    assert error.reason == "malformed"
    assert isinstance(error.__cause__, DecodeError) and error.__cause__.code == "duplicate_key"


def test_duplicate_json_keys_in_the_signed_header() -> None:
    sealed = seal()
    header_bytes = sealed.envelope.header_bytes.replace(b'"v":1}', b'"v":1,"v":1}')
    data = forge(header_bytes, plaintext_of(sealed, DE), FR.signing, DE.enc.public)
    error = reason_of(lambda: open_as(DE, data))
    assert error.reason == "malformed"
    assert isinstance(error.__cause__, DecodeError) and error.__cause__.code == "duplicate_key"


def test_duplicate_json_keys_in_the_signed_message() -> None:
    sealed = seal()
    msg = canonical(sealed.message.to_dict()).replace(b'"v":1}', b'"v":1,"v":1}')
    data = forge(
        loads_strict(sealed.envelope.header_bytes),
        inner(FR.signing, msg),
        FR.signing,
        DE.enc.public,
    )
    error = reason_of(lambda: open_as(DE, data))
    assert error.reason == "inner_malformed"
    assert isinstance(error.__cause__, DecodeError) and error.__cause__.code == "duplicate_key"


@pytest.mark.parametrize("version", [b"2", b"0", b"true", b"1.0", b'"1"', b"null"])
def test_unknown_version_on_the_wire(version: bytes) -> None:
    data = seal().envelope.to_bytes()
    assert data.endswith(b'"v":1}')
    data = data[: -len(b"1}")] + version + b"}"
    assert reason_of(lambda: open_as(DE, data)).reason == "version"


def test_unknown_version_in_the_signed_header() -> None:
    sealed = seal()
    header = loads_strict(sealed.envelope.header_bytes)
    header["v"] = 2
    data = forge(header, plaintext_of(sealed, DE), FR.signing, DE.enc.public)
    assert reason_of(lambda: open_as(DE, data)).reason == "version"


def test_unknown_version_in_the_signed_message() -> None:
    sealed = seal()
    msg = canonical(message_dict(sealed, v=2))
    data = forge(
        loads_strict(sealed.envelope.header_bytes),
        inner(FR.signing, msg),
        FR.signing,
        DE.enc.public,
    )
    error = reason_of(lambda: open_as(DE, data))
    assert error.reason == "inner_malformed"
    assert isinstance(error.__cause__, ValidationError)
    assert error.__cause__.code == "bad_version"


def test_truncated_ciphertext() -> None:
    env = seal().envelope
    data = wire(env.header_bytes, env.ciphertext[:-1], env.signature)
    error = reason_of(lambda: open_as(DE, data))
    assert error.reason == "malformed"
    assert isinstance(error.__cause__, ValidationError) and error.__cause__.code == "bad_size"


def test_truncated_ciphertext_with_a_matching_resigned_header() -> None:
    sealed = seal()
    env = sealed.envelope
    header = loads_strict(env.header_bytes)
    header["size"] -= 1
    header_bytes = canonical(header)
    ct = env.ciphertext[:-1]
    data = wire(header_bytes, ct, FR.signing.sign(outer_signed_bytes(header_bytes, ct)))
    assert reason_of(lambda: open_as(DE, data)).reason == "decrypt"


def test_ciphertext_shorter_than_the_suite_overhead() -> None:
    sealed = seal()
    header = loads_strict(sealed.envelope.header_bytes)
    header["size"] = 10
    header_bytes = canonical(header)
    ct = b"\x00" * 10
    data = wire(header_bytes, ct, FR.signing.sign(outer_signed_bytes(header_bytes, ct)))
    assert reason_of(lambda: open_as(DE, data)).reason == "truncated"


def test_plaintext_shorter_than_a_signature() -> None:
    sealed = seal()
    data = forge(loads_strict(sealed.envelope.header_bytes), b"short", FR.signing, DE.enc.public)
    assert reason_of(lambda: open_as(DE, data)).reason == "inner_malformed"


def test_inner_signature_by_another_key() -> None:
    sealed = seal()
    msg = canonical(sealed.message.to_dict())
    data = forge(
        loads_strict(sealed.envelope.header_bytes),
        inner(IT.signing, msg),
        FR.signing,
        DE.enc.public,
    )
    assert reason_of(lambda: open_as(DE, data)).reason == "inner_signature"


def test_inner_signature_over_another_type_tag() -> None:
    sealed = seal()
    msg = canonical(sealed.message.to_dict())
    plaintext = FR.signing.sign(pae(TYPE_ENVELOPE, msg)) + msg
    data = forge(loads_strict(sealed.envelope.header_bytes), plaintext, FR.signing, DE.enc.public)
    assert reason_of(lambda: open_as(DE, data)).reason == "inner_signature"


def test_non_canonical_header() -> None:
    sealed = seal()
    header_bytes = sealed.envelope.header_bytes.replace(b",", b", ", 1)
    data = forge(header_bytes, plaintext_of(sealed, DE), FR.signing, DE.enc.public)
    error = reason_of(lambda: open_as(DE, data))
    assert error.reason == "malformed"
    assert isinstance(error.__cause__, DecodeError) and error.__cause__.code == "not_canonical"


def test_non_canonical_inner_message() -> None:
    sealed = seal()
    msg = canonical(sealed.message.to_dict()).replace(b",", b" ,", 1)
    data = forge(
        loads_strict(sealed.envelope.header_bytes),
        inner(FR.signing, msg),
        FR.signing,
        DE.enc.public,
    )
    assert reason_of(lambda: open_as(DE, data)).reason == "inner_malformed"


def test_outer_signature_by_the_wrong_key() -> None:
    data = seal().envelope.to_bytes()
    directory = StaticSenderKeys({"FR": IT.signing.public})
    assert reason_of(lambda: open_as(DE, data, sender_keys=directory)).reason == "outer_signature"


def test_unknown_sender() -> None:
    data = seal().envelope.to_bytes()
    directory = StaticSenderKeys({"IT": IT.signing.public})
    assert reason_of(lambda: open_as(DE, data, sender_keys=directory)).reason == "unknown_sender"


def test_unknown_encryption_key() -> None:
    data = seal().envelope.to_bytes()
    with pytest.raises(Rejected) as info:
        open_at(NOW, data, me="DE", sender_keys=DIRECTORY, decryption_keys={})
    assert info.value.reason == "unknown_enc_key"
    # A key registered under the right id but for another suite is not used either.
    wrong = {DE.enc.public.key_id: DE_HYBRID.enc}
    with pytest.raises(Rejected) as info:
        open_at(NOW, data, me="DE", sender_keys=DIRECTORY, decryption_keys=wrong)
    assert info.value.reason == "unknown_enc_key"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"[]",
        b'{"v":1}',
        b'{"v":1,"header":"","ciphertext":"","sig":""}',
        b'{"v":1,"header":"W10","ciphertext":"","sig":"' + b"A" * 86 + b'"}',
    ],
    ids=["empty", "text", "array", "fields-missing", "empty-fields", "array-header"],
)
def test_garbage_is_malformed(data: bytes) -> None:
    assert reason_of(lambda: open_as(DE, data)).reason == "malformed"


def test_extra_field_on_the_wire() -> None:
    obj = seal().envelope.to_wire()
    obj["note"] = "x"
    assert reason_of(lambda: open_as(DE, canonical(obj))).reason == "malformed"


def test_checks_run_in_the_documented_order() -> None:
    # Expired AND replayed: the replay check comes first.
    data = seal(ttl=timedelta(minutes=1)).envelope.to_bytes()
    later = NOW + timedelta(hours=1)
    assert reason_of(lambda: open_as(DE, data, later, seen=lambda _m: True)).reason == "replay"
    # Addressed to someone else AND badly signed: recipient is checked before signatures.
    env = seal(recipient=IT).envelope
    bad = wire(env.header_bytes, env.ciphertext, bytes(64))
    assert reason_of(lambda: open_as(DE, bad)).reason == "wrong_recipient"
    # Badly signed AND expired: the signature is checked before the clock.
    env = seal(ttl=timedelta(minutes=1)).envelope
    bad = wire(env.header_bytes, env.ciphertext, bytes(64))
    assert reason_of(lambda: open_as(DE, bad, later)).reason == "outer_signature"


# --- header and message validation -----------------------------------------------------


def test_header_from_dict_requires_exact_fields() -> None:
    header = loads_strict(seal().envelope.header_bytes)
    assert Header.from_dict(header).to_dict() == header
    with pytest.raises(ValidationError):
        Header.from_dict({**header, "subject": "x"})
    missing = dict(header)
    del missing["size"]
    with pytest.raises(ValidationError):
        Header.from_dict(missing)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expires_at", "2025-03-01T09:30:00.000Z"),
        ("size", -1),
        ("size", True),
        ("enc_key_id", "x25519"),
        ("suite", "rsa"),
        ("priority", "low"),
        ("created_at", "yesterday"),
        ("v", True),
    ],
)
def test_header_field_rules(field: str, value: Any) -> None:
    header = loads_strict(seal().envelope.header_bytes)
    header[field] = value
    with pytest.raises(ValidationError):
        Header.from_dict(header)


def test_message_attachment_limit() -> None:
    msg = seal().message.to_dict()
    msg["attachments"] = [sample_attachment(label=str(i)).to_dict() for i in range(3)]
    assert len(Message.from_dict(msg).attachments) == 3
    with pytest.raises(ValidationError):
        Message.from_dict(msg, ProtocolLimits(max_attachments=2))


@pytest.mark.parametrize(
    "change",
    [
        {"name": "../etc/passwd"},
        {"name": ""},
        {"media_type": "text"},
        {"size": -1},
        {"sha256": "0" * 63},
        {"key": "AAAA"},
        {"chunk_size": 1000},
        {"chunk_size": 512},
        {"chunks": 2},
        {"digest": "0" * 65},
        {"id": "0" * 31},
        {"extra": 1},
    ],
    ids=[
        "slash",
        "empty-name",
        "media-type",
        "size",
        "sha256",
        "key",
        "chunk-size-not-power",
        "chunk-size-small",
        "chunks",
        "digest",
        "id",
        "extra",
    ],
)
def test_attachment_rules(change: dict[str, Any]) -> None:
    msg = seal().message.to_dict()
    msg["attachments"] = [{**sample_attachment().to_dict(), **change}]
    with pytest.raises(ValidationError):
        Message.from_dict(msg)


def test_check_times_boundaries() -> None:
    header = seal(ttl=timedelta(hours=1)).envelope.header
    check_times(header, NOW)
    check_times(header, NOW - timedelta(minutes=5))
    with pytest.raises(Rejected):
        check_times(header, NOW - timedelta(minutes=5, milliseconds=1))
    with pytest.raises(Rejected):
        check_times(header, NOW + timedelta(hours=1))


# --- from the security review of keys/ (findings 5, 13, 16) ----------

DE_ENC = EncryptionPrivateKey("x25519", hashlib.sha256(b"review DE enc").digest())
DE_SIGN = SigningKey(hashlib.sha256(b"review DE").digest())
REVIEW_FR = SigningKey(hashlib.sha256(b"review FR").digest())


# --- 5. Plaintext and signature values in reprs (which reach logs and tracebacks) ---------


def _sealed(body: dict[str, Any]) -> Any:
    return seal_at(
        NOW,
        signing_key=REVIEW_FR,
        recipient_key=DE_ENC.public,
        sender="FR",
        recipient="DE",
        kind="assistance_request",
        body=body,
        attachments=(sample_attachment("suspect-list.pdf", 10),),
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
            signing_key=REVIEW_FR,
            recipient_key=EncryptionPublicKey(suite, raw),
            sender="FR",
            recipient="DE",
            kind="ping",
            body={},
        )
    assert info.value.code == "bad_key"


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
        sample_attachment(name, 1)


@pytest.mark.parametrize("name", ["timeline.pdf", "procès-verbal (1).pdf", ".hidden", "a..b"])
def test_attachment_names_that_are_fine(name: str) -> None:
    assert sample_attachment(name, 1).name == name


def test_an_envelope_with_a_bad_attachment_name_is_inner_malformed() -> None:
    sealed = _sealed({"question": "q"})
    msg = sealed.message.to_dict()
    msg["attachments"][0]["name"] = ".."
    message_bytes = canonical(msg)
    plaintext = REVIEW_FR.sign(pae(TYPE_MESSAGE, message_bytes)) + message_bytes
    h = sealed.envelope.header
    header = replace(h, size=len(plaintext) + get_suite("x25519").overhead)
    hb = canonical(header.to_dict())
    ct = get_suite("x25519").encrypt(plaintext, DE_ENC.public.raw, hb)
    env = Envelope(header, hb, ct, REVIEW_FR.sign(outer_signed_bytes(hb, ct)))
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
        return REVIEW_FR.public
