"""Signed notes, checkpoints, and the node's audit checks (keys.auditlog.checkpoint,
keys.auditlog.check).

Known answers: the PeterNeumann key and note of golang/mod ``sumdb/note/note_test.go``
(``TestNewVerifier``, ``TestSign``, ``TestOpen``), the reference implementation of
c2sp.org/signed-note: Ed25519 is deterministic, so signing its text with its key must give
its note byte for byte, and its verifier key string must be ours.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.auditlog import checkpoint as cp
from keys.auditlog import merkle
from keys.auditlog.check import (
    check_consistency,
    check_entry_inclusion,
    check_fresh,
    check_inclusion,
)
from keys.auditlog.checkpoint import Checkpoint, NoteLimits
from keys.auditlog.entry import entry_bytes
from keys.auditlog.merkle import DictStore
from keys.errors import Rejected, ValidationError
from keys.identities import SigningKey, VerifyKey

# golang/mod sumdb/note/note_test.go
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
    "otpRZb6KE6RyyBwJnAM=\n"
).encode()
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWL"
    "ox33WWd1RvMc+QQ=\n"
).encode()
GO_NOTE = GO_TEXT + b"\n" + PETER_SIG

PETER = SigningKey(base64.b64decode(GO_SKEY.split("+", 4)[4])[1:])  # type byte 0x01, seed
RELAY = SigningKey(bytes(range(32)))
OTHER = SigningKey(bytes(range(1, 33)))
ORIGIN = "pocnet.relay/test"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


# --- signed notes -----------------------------------------------------------------------


def test_go_key_id_and_verifier_key() -> None:
    assert cp.note_key_id("PeterNeumann", PETER.public) == bytes.fromhex("c74f20a3")
    assert cp.verifier_key("PeterNeumann", PETER.public) == GO_VKEY


def test_go_note_signature_is_reproduced() -> None:
    assert cp.sign_note(GO_TEXT, PETER, "PeterNeumann") == GO_NOTE
    assert cp.open_note(GO_NOTE, PETER.public, "PeterNeumann") == GO_TEXT


def test_unknown_signatures_are_ignored() -> None:
    note = GO_TEXT + b"\n" + PETER_SIG + ENOCH_SIG
    assert cp.open_note(note, PETER.public, "PeterNeumann") == GO_TEXT
    with pytest.raises(Rejected) as info:
        cp.open_note(GO_TEXT + b"\n" + ENOCH_SIG, PETER.public, "PeterNeumann")
    assert info.value.reason == "note_unsigned"


def test_invalid_signature_of_the_known_key_rejects_the_note() -> None:
    bad = GO_TEXT + b"\n" + PETER_SIG[:60] + b"ABCD" + PETER_SIG[60:]
    with pytest.raises(Rejected) as info:
        cp.open_note(bad, PETER.public, "PeterNeumann")
    assert info.value.reason == "note_signature"
    # Even next to a good signature line of the same key.
    with pytest.raises(Rejected):
        cp.open_note(bad + PETER_SIG, PETER.public, "PeterNeumann")


GO_BAD_NOTES = [
    ("text only", GO_TEXT),
    ("no signature lines", GO_TEXT + b"\n"),
    ("signature line without newline", GO_TEXT + b"\n" + PETER_SIG[:-1]),
    ("control character", b"\x01" + GO_NOTE),
    ("not UTF-8", b"\xff" + GO_NOTE),
    (
        "space in key name",
        GO_TEXT + b"\n" + PETER_SIG.replace(b"PeterNeumann", b"Bad Name"),
    ),
    ("unexpected line", GO_NOTE + b"Unexpected line.\n"),
    ("too many signatures", GO_TEXT + b"\n" + PETER_SIG * 33),
    ("carriage return", GO_NOTE.replace(b"\n", b"\r\n")),
    ("hyphens for the em dash", GO_NOTE.replace("\u2014".encode(), b"--")),
    ("signature too short", GO_TEXT + "\n\u2014 PeterNeumann AAAA\n".encode()),
    ("non-canonical base64", GO_NOTE.replace(b"AM=\n", b"AN=\n")),
]


@pytest.mark.parametrize("note", [n for _, n in GO_BAD_NOTES], ids=[n for n, _ in GO_BAD_NOTES])
def test_malformed_notes_are_rejected(note: bytes) -> None:
    with pytest.raises(Rejected) as info:
        cp.open_note(note, PETER.public, "PeterNeumann")
    assert info.value.reason == "note_malformed"


def test_note_size_limit() -> None:
    with pytest.raises(Rejected) as info:
        cp.open_note(GO_NOTE, PETER.public, "PeterNeumann", limits=NoteLimits(max_note_bytes=100))
    assert info.value.reason == "note_too_large"
    # Sixteen signature lines must be accepted (c2sp.org/signed-note).
    assert cp.open_note(GO_TEXT + b"\n" + PETER_SIG * 16, PETER.public, "PeterNeumann")


@pytest.mark.parametrize(
    "text", [b"no newline", b"\nleading blank\n", b"blank\n\nline\n", b"tab\there\n", b"\xff\n"]
)
def test_sign_note_refuses_unsignable_text(text: bytes) -> None:
    with pytest.raises(ValidationError):
        cp.sign_note(text, RELAY, ORIGIN)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "é", "x" * 256])
def test_sign_note_refuses_bad_names(name: str) -> None:
    with pytest.raises(ValidationError):
        cp.sign_note(b"text\n", RELAY, name)


# --- checkpoints ------------------------------------------------------------------------

ROOT = bytes(range(32))


def sample() -> Checkpoint:
    return Checkpoint.at(NOW + timedelta(microseconds=123456), ORIGIN, 20852163, ROOT)


def test_checkpoint_body_known_answer() -> None:
    assert sample().body() == (
        b"pocnet.relay/test\n"
        b"20852163\n"
        b"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
        b"time 2025-03-01T12:00:00.123Z\n"
    )
    assert sample().time == datetime(2025, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)


def test_checkpoint_round_trip() -> None:
    note = cp.sign(sample(), RELAY)
    assert note.startswith(sample().body() + "\n\u2014 pocnet.relay/test ".encode())
    assert cp.verify(note, RELAY.public, ORIGIN) == sample()


@settings(max_examples=50, deadline=None)
@given(
    st.integers(0, merkle.MAX_TREE_SIZE),
    st.binary(min_size=32, max_size=32),
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2999, 12, 31),
        timezones=st.just(UTC),
    ),
    st.from_regex(r"[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?", fullmatch=True),
)
def test_checkpoint_round_trip_property(size: int, root: bytes, now: datetime, net: str) -> None:
    origin = cp.origin_for(net)
    checkpoint = Checkpoint.at(now, origin, size, root)
    assert cp.verify(cp.sign(checkpoint, RELAY), RELAY.public, origin) == checkpoint


def test_any_changed_byte_is_rejected() -> None:
    note = cp.sign(sample(), RELAY)
    for position in range(len(note)):
        for mask in (0x01, 0x20, 0x80):
            tampered = bytearray(note)
            tampered[position] ^= mask
            with pytest.raises(Rejected):
                cp.verify(bytes(tampered), RELAY.public, ORIGIN)
                pytest.fail(f"accepted a change at byte {position} (mask {mask:#x})")


def test_wrong_key_is_rejected() -> None:
    note = cp.sign(sample(), OTHER)
    with pytest.raises(Rejected) as info:
        cp.verify(note, RELAY.public, ORIGIN)
    assert info.value.reason == "note_unsigned"


def test_forged_key_id_is_rejected_as_a_bad_signature() -> None:
    # Another key's signature under our key's name and key id: the signature must fail.
    text = sample().body()
    blob = cp.note_key_id(ORIGIN, RELAY.public) + OTHER.sign(text)
    note = text + f"\n\u2014 {ORIGIN} {base64.b64encode(blob).decode()}\n".encode()
    with pytest.raises(Rejected) as info:
        cp.verify(note, RELAY.public, ORIGIN)
    assert info.value.reason == "note_signature"


def test_wrong_origin_is_rejected() -> None:
    note = cp.sign(sample(), RELAY)
    with pytest.raises(Rejected) as info:  # another log name: our key is not there
        cp.verify(note, RELAY.public, "pocnet.relay/other")
    assert info.value.reason == "note_unsigned"
    with pytest.raises(Rejected) as info:  # signed by our key name, for another origin
        cp.verify(note, RELAY.public, "pocnet.relay/other", key_name=ORIGIN)
    assert info.value.reason == "checkpoint_origin"


def test_witness_cosignature_lines_are_ignored() -> None:
    note = cp.sign(sample(), RELAY)
    cosigned = note + b"\xe2\x80\x94 witness.example/w1 " + base64.b64encode(bytes(76)) + b"\n"
    assert cp.verify(cosigned, RELAY.public, ORIGIN) == sample()


ROOT_B64 = base64.b64encode(ROOT)
TIME = b"time 2025-03-01T12:00:00.000Z"


def body(*lines: bytes) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def lines(size: bytes = b"5", root: bytes = ROOT_B64, time: bytes = TIME) -> bytes:
    return body(ORIGIN.encode(), size, root, time)


MALFORMED_BODIES = [
    ("three lines", body(ORIGIN.encode(), b"5", ROOT_B64)),
    ("extra extension line", sample().body() + b"extra line\n"),
    ("size with a leading zero", lines(size=b"05")),
    ("negative size", lines(size=b"-5")),
    ("size too big", lines(size=b"9223372036854775808")),
    ("size with a plus", lines(size=b"+5")),
    ("root of 31 bytes", lines(root=base64.b64encode(ROOT[:31]))),
    ("root unpadded", lines(root=ROOT_B64[:-1])),
    ("root base64url", lines(root=base64.urlsafe_b64encode(b"\xff" * 32))),
    ("root non-canonical", lines(root=ROOT_B64[:42] + b"9=")),
    ("time without milliseconds", lines(time=b"time 2025-03-01T12:00:00Z")),
    ("time with microseconds", lines(time=b"time 2025-03-01T12:00:00.000000Z")),
    ("time not UTC", lines(time=b"time 2025-03-01T12:00:00.000+01:00")),
    ("time label", lines(time=b"Time 2025-03-01T12:00:00.000Z")),
    ("trailing space", lines(size=b"5 ")),
    ("non-ASCII origin", body("pocnet.relay/tést".encode(), b"5", ROOT_B64, TIME)),
]


@pytest.mark.parametrize(
    "body", [b for _, b in MALFORMED_BODIES], ids=[n for n, _ in MALFORMED_BODIES]
)
def test_malformed_checkpoint_lines_are_rejected(body: bytes) -> None:
    note = cp.sign_note(body, RELAY, ORIGIN)  # validly signed: the parser must refuse
    with pytest.raises(Rejected) as info:
        cp.verify(note, RELAY.public, ORIGIN)
    assert info.value.reason == "checkpoint_malformed"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("", 1, ROOT, NOW), "origin"),
        ((ORIGIN, -1, ROOT, NOW), "size"),
        ((ORIGIN, True, ROOT, NOW), "size"),
        ((ORIGIN, 1, ROOT[:31], NOW), "root"),
        ((ORIGIN, 1, ROOT, datetime(2025, 3, 1)), "naive time"),
        ((ORIGIN, 1, ROOT, NOW + timedelta(microseconds=1)), "sub-millisecond time"),
    ],
)
def test_checkpoint_validates_itself(args: tuple[str, int, bytes, datetime], field: str) -> None:
    with pytest.raises(ValidationError):
        Checkpoint(*args)


@pytest.mark.parametrize("network", ["", "UPPER", "-lead", "trail-", "a/b", "a" * 65])
def test_origin_for_validates_the_network_name(network: str) -> None:
    with pytest.raises(ValidationError):
        cp.origin_for(network)


def test_origin_for() -> None:
    assert cp.origin_for("coe-24x7") == "pocnet.relay/coe-24x7"


# --- the node's checks: consistency (fork, rollback) and inclusion ----------------------


def build(entries: list[bytes]) -> DictStore:
    store = DictStore()
    store.apply(merkle.append_many(store, 0, [merkle.leaf_hash(e) for e in entries]))
    return store


def signed_view(store: DictStore, size: int, now: datetime) -> Checkpoint:
    """A checkpoint as a node holds it: signed by the relay, then verified."""
    checkpoint = Checkpoint.at(now, ORIGIN, size, merkle.root(store, size))
    return cp.verify(cp.sign(checkpoint, RELAY), RELAY.public, ORIGIN)


HISTORY = [b"entry %d" % i for i in range(50)]
FORKED = [*HISTORY[:20], b"rewritten", *HISTORY[21:]]


def test_consistent_growth_is_accepted() -> None:
    store = build(HISTORY)
    trusted = signed_view(store, 20, NOW)
    new = signed_view(store, 50, NOW + timedelta(minutes=1))
    proof = merkle.consistency_proof(store, 20, 50)
    assert check_consistency(trusted, new, proof) == new
    assert check_consistency(None, new, []) == new
    assert check_consistency(new, new, []) == new


def test_same_tree_signed_earlier_keeps_the_trusted_checkpoint() -> None:
    store = build(HISTORY)
    trusted = signed_view(store, 30, NOW + timedelta(minutes=1))
    older_copy = signed_view(store, 30, NOW)
    assert check_consistency(trusted, older_copy, []) == trusted


def test_two_trees_of_the_same_size_are_a_fork() -> None:
    honest, forked = build(HISTORY), build(FORKED)
    trusted = signed_view(honest, 50, NOW)
    other = signed_view(forked, 50, NOW + timedelta(minutes=1))
    with pytest.raises(Rejected) as info:
        check_consistency(trusted, other, [])
    assert info.value.reason == "fork"


def test_a_bigger_tree_with_another_history_is_a_fork() -> None:
    honest, forked = build(HISTORY), build(FORKED)
    trusted = signed_view(honest, 30, NOW)
    other = signed_view(forked, 50, NOW + timedelta(minutes=1))
    for proof in (
        merkle.consistency_proof(forked, 30, 50),  # the forked tree's own proof
        merkle.consistency_proof(honest, 30, 50),  # the honest tree's proof
    ):
        with pytest.raises(Rejected) as info:
            check_consistency(trusted, other, proof)
        assert info.value.reason == "fork"


def test_a_fork_after_the_trusted_size_is_not_a_fork() -> None:
    # Entries after the trusted size may be anything: only history is protected.
    honest, forked = build(HISTORY), build(FORKED)
    trusted = signed_view(honest, 20, NOW)
    other = signed_view(forked, 50, NOW + timedelta(minutes=1))
    assert check_consistency(trusted, other, merkle.consistency_proof(forked, 20, 50)) == other


def test_rollback_is_rejected() -> None:
    store = build(HISTORY)
    trusted = signed_view(store, 40, NOW)
    smaller = signed_view(store, 30, NOW + timedelta(minutes=1))
    with pytest.raises(Rejected) as info:
        check_consistency(trusted, smaller, [])
    assert info.value.reason == "rollback"
    bigger_but_earlier = signed_view(store, 50, NOW - timedelta(minutes=1))
    with pytest.raises(Rejected) as info:
        check_consistency(trusted, bigger_but_earlier, merkle.consistency_proof(store, 40, 50))
    assert info.value.reason == "rollback"


def test_malformed_proof_and_other_origin() -> None:
    store = build(HISTORY)
    trusted = signed_view(store, 20, NOW)
    new = signed_view(store, 50, NOW + timedelta(minutes=1))
    with pytest.raises(Rejected) as info:
        check_consistency(trusted, new, merkle.consistency_proof(store, 20, 50)[:-1])
    assert info.value.reason == "audit_proof_length"
    elsewhere = Checkpoint.at(NOW, "pocnet.relay/other", 50, new.root_hash)
    with pytest.raises(Rejected) as info:
        check_consistency(trusted, elsewhere, [])
    assert info.value.reason == "checkpoint_origin"


def test_freshness() -> None:
    checkpoint = signed_view(build(HISTORY), 10, NOW)
    window = {"max_age": timedelta(hours=1), "skew": timedelta(minutes=5)}
    check_fresh(checkpoint, NOW + timedelta(minutes=59), **window)
    check_fresh(checkpoint, NOW - timedelta(minutes=4), **window)
    for now, reason in [
        (NOW + timedelta(hours=2), "checkpoint_stale"),
        (NOW - timedelta(minutes=6), "checkpoint_future"),
    ]:
        with pytest.raises(Rejected) as info:
            check_fresh(checkpoint, now, **window)
        assert info.value.reason == reason


RECEIPT_SHA = "cd" * 32
EVENTS = [
    {
        "type": "accepted" if i % 2 == 0 else "delivered",
        "time": NOW + timedelta(seconds=i),
        "msg_id": f"{i:032x}",
        "sender": "FR",
        "recipient": "DE",
        "envelope_sha256": "ab" * 32,
        "receipt_sha256": RECEIPT_SHA if i == 7 else f"{i:064x}",
    }
    for i in range(12)
]


def test_receipt_inclusion() -> None:
    entries = [entry_bytes(e) for e in EVENTS]
    store = build(entries)
    checkpoint = signed_view(store, 12, NOW + timedelta(minutes=1))
    proof = merkle.inclusion_proof(store, 7, 12)
    fields = check_entry_inclusion(
        entries[7], 7, proof, checkpoint, expect={"receipt_sha256": RECEIPT_SHA, "sender": "FR"}
    )
    assert fields["msg_id"] == f"{7:032x}"
    check_inclusion(merkle.leaf_hash(entries[7]), 7, proof, checkpoint)

    cases = [
        ("wrong receipt", entries[7], 7, proof, {"receipt_sha256": "ee" * 32}, "mismatch"),
        ("other entry", entries[6], 7, proof, None, "audit_inclusion"),
        ("wrong index", entries[7], 6, proof, None, "audit_inclusion"),
        ("not canonical", entries[7].replace(b",", b", "), 7, proof, None, "malformed"),
        ("content", b'{"body":"x"}', 7, proof, None, "audit_entry_malformed"),
        ("beyond checkpoint", entries[7], 12, proof, None, "audit_not_in_checkpoint"),
    ]
    for name, entry, index, bad_proof, expect, reason in cases:
        with pytest.raises(Rejected) as info:
            check_entry_inclusion(entry, index, bad_proof, checkpoint, expect=expect)
        assert reason in info.value.reason, name


def test_receipt_inclusion_against_a_forked_checkpoint_fails() -> None:
    entries = [entry_bytes(e) for e in EVENTS]
    honest = build(entries)
    forked_entries = list(entries)
    forked_entries[3] = entry_bytes({**EVENTS[3], "recipient": "IT"})
    forked = signed_view(build(forked_entries), 12, NOW)
    with pytest.raises(Rejected) as info:
        check_entry_inclusion(entries[7], 7, merkle.inclusion_proof(honest, 7, 12), forked)
    assert info.value.reason == "audit_inclusion"


def test_verify_key_from_public_bytes() -> None:
    # The relay's checkpoint key is the same Ed25519 VerifyKey used for receipts.
    assert isinstance(RELAY.public, VerifyKey)
    assert cp.verifier_key(ORIGIN, RELAY.public).startswith(ORIGIN + "+")


def test_documented_example() -> None:
    """The worked example of docs/protocol.md section 15.7, byte for byte."""
    msg, env = "5f0c2a7e9b1d4c3a8e6f0a1b2c3d4e5f", "3b1f" * 16
    common = {"msg_id": msg, "sender": "FR", "recipient": "DE", "envelope_sha256": env}
    steps = [
        ("accepted", "00.000", "a1"),
        ("delivered", "02.500", "b2"),
        ("retrieved", "03.250", "c3"),
    ]
    entries = [
        entry_bytes(
            {"type": t, "time": f"2025-03-01T12:00:{at}Z", "receipt_sha256": r * 32, **common}
        )
        for t, at, r in steps
    ]
    assert entries[0] == (
        b'{"envelope_sha256":"' + env.encode() + b'","msg_id":"' + msg.encode() + b'",'
        b'"receipt_sha256":"' + b"a1" * 32 + b'","recipient":"DE","sender":"FR",'
        b'"time":"2025-03-01T12:00:00.000Z","type":"accepted"}'
    )
    store = build(entries)
    leaves = [merkle.leaf_hash(e).hex() for e in entries]
    assert leaves == [
        "db28f303362085b15e33241806270e1e4545352ee90cb3ef087c1d60f38002c3",
        "ba40115d35d0a32fcd33ae464f792d5dd8f49945062816f5c2585bbac0a352a9",
        "2eefab176a5fd05f78fc2e1b6bec6af5aed38a5cd56c511d8c346011269603f9",
    ]
    root = merkle.root(store, 3)
    assert root.hex() == "33f937ef45acb485af361302acf3e3055b9586dbf569261aaa0149b4c60e5182"
    assert [p.hex() for p in merkle.inclusion_proof(store, 0, 3)] == leaves[1:]
    assert [p.hex() for p in merkle.consistency_proof(store, 2, 3)] == leaves[2:]
    origin = "pocnet.relay/example"
    note = cp.sign(
        Checkpoint.at(datetime(2025, 3, 1, 12, 0, 5, tzinfo=UTC), origin, 3, root), RELAY
    )
    assert (
        note
        == (
            "pocnet.relay/example\n3\nM/k370WstIWvNhMCrPPjBVuVhtv1aSYaqgFJtMYOUYI=\n"
            "time 2025-03-01T12:00:05.000Z\n\n"
            "\u2014 pocnet.relay/example "
            "HPuSFS18k8qXhmCOfRblAUbrlAainas37+iS+F3pH+tu3gKjpuMYDjkaPf6MIS0Vc1WvQtA9FqZv+X4+xrhsxyOVtwY=\n"
        ).encode()
    )
    assert cp.verifier_key(origin, RELAY.public) == (
        "pocnet.relay/example+1cfb9215+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
    )
