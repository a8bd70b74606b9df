"""The directory's bytes: a known-answer vector, round trips, and what parsing refuses."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.directory import (
    TYPE_DIRECTORY,
    Contact,
    Directory,
    DirectoryLimits,
    EncryptionKeyEntry,
    Party,
    RelayInfo,
    RootKey,
    RootKeys,
    SignedDirectory,
    SigningKeyEntry,
    Status,
    verify_signed,
)
from keys.encoding import b64u_encode, canonical, loads_strict
from keys.errors import DecodeError, Rejected, ValidationError
from keys.identities import EncryptionPrivateKey, SigningKey
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

# -- known answer ---------------------------------------------------------------------------

KAT_PAYLOAD = (
    b'{"expires":"2026-01-31T00:00:00.000Z","format":"pocnet-directory","parties":[{"authority":'
    b'"Authority of FR","contact":{"email":"poc@example.fr","languages":["en","fr"],"phone":'
    b'"+33 1 23 45 67 89","timezone":"Europe/Paris"},"encryption_keys":[{"key":'
    b'"17XoHTNuV4sTuNcG6C0GHjA4yWvOZs3PUNVmuW3buhA","key_id":"x25519:929b2c6f5904f39099c4e2471874db47",'
    b'"not_after":null,"not_before":"2026-01-01T00:00:00.000Z","suite":"x25519"}],"id":"FR",'
    b'"signing_keys":[{"key":"XJxt8mHJy4QEdXdqrvzZRLQFMo-rKPmzqV70BJDT3oQ","key_id":'
    b'"ed25519:5bd0186f8a1a4188feb5a409b82e1875","not_after":null,"not_before":'
    b'"2026-01-01T00:00:00.000Z"}],"status":{"state":"active"}}],"relay":null,"root":{"keys":'
    b'[{"key":"tTPYrZ_Pvd4LSBwbM03cPFNBL9YUVk5-Wv0CA2jTgsM","key_id":'
    b'"ed25519:83a1d19649ab82ef7e586bce189a50c1","name":"XX-A0"}],"threshold":1},"v":1,"version":3}'
)
KAT_SIG = "o8pZWmwpQyRLW45pCMsp5CsSwQFIgOkjIaj5CzlTBxyBORc5w6p-7aLKpokYYICszbRb4PilmF2zlZUjV8YYBw"


def _kat_directory() -> Directory:
    return Directory(
        version=3, expires=T0 + 30 * DAY, root=root([0], 1), relay=None, parties=(party("FR"),)
    )


def test_known_answer_payload_and_signature() -> None:
    d = _kat_directory()
    assert d.to_payload() == KAT_PAYLOAD
    file = signed(d, [0])
    assert [s.to_dict() for s in file.signatures] == [
        {"keyid": ADMIN_KEYS[0].public.key_id, "sig": KAT_SIG}
    ]
    assert Directory.from_payload(KAT_PAYLOAD) == d


def test_signature_covers_pae_of_the_type_and_exact_payload() -> None:
    """Checked with ``cryptography`` directly, not through our own verify."""
    pae = b"DSSEv1 %d %s %d %s" % (
        len(TYPE_DIRECTORY),
        TYPE_DIRECTORY.encode(),
        len(KAT_PAYLOAD),
        KAT_PAYLOAD,
    )
    assert TYPE_DIRECTORY == "application/vnd.pocnet.directory+json;v=1"
    public = ed25519.Ed25519PublicKey.from_public_bytes(ADMIN_KEYS[0].public.raw)
    public.verify(base64.urlsafe_b64decode(KAT_SIG + "=="), pae)


def test_wire_form() -> None:
    file = signed(_kat_directory(), [0])
    wire = loads_strict(file.to_bytes())
    assert set(wire) == {"payload", "signatures"}
    assert wire["payload"] == b64u_encode(KAT_PAYLOAD)
    assert SignedDirectory.from_bytes(file.to_bytes()) == file


# -- round trips ------------------------------------------------------------------------------

_times = st.integers(min_value=0, max_value=10_000_000).map(
    lambda s: T0 + timedelta(seconds=s, milliseconds=s % 997)
)
_langs = st.lists(
    st.sampled_from(["en", "fr", "de", "es", "pt-BR", "zh-Hant"]),
    min_size=1,
    max_size=4,
    unique=True,
)
_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF, exclude_categories=("Cc",)),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() != "")


@st.composite
def _party(draw: st.DrawFn, pid: str, index: int) -> Party:
    start = draw(_times)
    signing = SigningKey(bytes([index, 1]) * 16).public
    enc = EncryptionPrivateKey("x25519", bytes([index, 2]) * 16).public
    status = draw(
        st.sampled_from(
            [Status(), Status("suspended", start, "audit"), Status("revoked", start, "lost key")]
        )
    )
    end = draw(
        st.one_of(st.none(), st.integers(1, 10_000).map(lambda s: start + timedelta(seconds=s)))
    )
    return Party(
        id=pid,
        authority=draw(_text),
        contact=Contact(
            "+1 202 555 0100",
            "duty@example.org",
            draw(st.sampled_from(["UTC", "America/New_York", "Asia/Tokyo"])),
            tuple(draw(_langs)),
        ),
        signing_keys=(SigningKeyEntry(signing, start),),
        encryption_keys=(EncryptionKeyEntry(enc, start, end),),
        status=status,
    )


@st.composite
def _directories(draw: st.DrawFn) -> Directory:
    ids = draw(
        st.lists(
            st.sampled_from(["FR", "DE", "IT", "US-DOJ", "JP", "BR-PF"]), max_size=4, unique=True
        )
    )
    keys = draw(st.lists(st.integers(0, 9), min_size=1, max_size=5, unique=True))
    return Directory(
        version=draw(st.integers(1, 2**53 - 1)),
        expires=draw(_times),
        root=root(keys, draw(st.integers(1, len(keys)))),
        relay=draw(
            st.one_of(
                st.none(),
                st.just(RelayInfo((SigningKeyEntry(SigningKey(b"\x77" * 32).public, T0),))),
            )
        ),
        parties=tuple(draw(_party(pid, i + 1)) for i, pid in enumerate(ids)),
    )


@settings(max_examples=60, deadline=None)
@given(_directories())
def test_payload_round_trip(d: Directory) -> None:
    payload = d.to_payload()
    assert payload == canonical(loads_strict(payload))
    assert Directory.from_payload(payload) == d


@settings(max_examples=30, deadline=None)
@given(_directories(), st.data())
def test_signed_round_trip_verifies_against_its_root(d: Directory, data: st.DataObject) -> None:
    signers = data.draw(
        st.permutations([k for k in range(10) if d.root.key(ADMIN_KEYS[k].public.key_id)])
    )
    file = signed(d, signers[: d.root.threshold])
    accepted = verify_signed(file.to_bytes(), d.root)
    assert accepted.directory == d
    assert accepted.signed == file


# -- what parsing refuses -----------------------------------------------------------------------


def _payload_with(**changes: Any) -> bytes:
    obj = directory().to_dict()
    obj.update(changes)
    return canonical(obj)


def _party_with(**changes: Any) -> bytes:
    obj = directory().to_dict()
    obj["parties"][0].update(changes)
    return canonical(obj)


MALFORMED_PAYLOADS: dict[str, bytes] = {
    "not JSON": b"{",
    "a list": b"[]",
    "unknown format": _payload_with(format="pocnet-bundle"),
    "unknown v": _payload_with(v=2),
    "v as a string": _payload_with(v="1"),
    "extra field": _payload_with(comment="hi"),
    "version zero": _payload_with(version=0),
    "version as float": _payload_with(version=1.5),
    "time without milliseconds": _payload_with(expires="2027-01-01T00:00:00Z"),
    "time with an offset": _payload_with(expires="2027-01-01T00:00:00.000+01:00"),
    "threshold above key count": _payload_with(root={**directory().root.to_dict(), "threshold": 4}),
    "threshold zero": _payload_with(root={**directory().root.to_dict(), "threshold": 0}),
    "root key listed twice": _payload_with(
        root={"threshold": 1, "keys": [directory().root.to_dict()["keys"][0]] * 2}
    ),
    "party id not ISO": _party_with(id="France"),
    "party id reserved for administrators": _party_with(id="XX-ADMIN1"),
    "status unknown": _party_with(status={"state": "gone"}),
    "revoked without a time": _party_with(status={"state": "revoked", "reason": "x"}),
    "active with a reason": _party_with(status={"state": "active", "reason": "x"}),
    "no encryption key": _party_with(encryption_keys=[]),
    "no signing key": _party_with(signing_keys=[]),
    "key id does not match key": _party_with(
        signing_keys=[
            {
                **directory().to_dict()["parties"][0]["signing_keys"][0],
                "key_id": "ed25519:" + "0" * 32,
            }
        ]
    ),
    "window ends before it begins": _party_with(
        signing_keys=[
            {
                **directory().to_dict()["parties"][0]["signing_keys"][0],
                "not_after": "2025-01-01T00:00:00.000Z",
            }
        ]
    ),
    "authority with a control character": _party_with(authority="BKA\n"),
    "duplicate key in an object": b'{"v":1,"v":1}',
}


@pytest.mark.parametrize("name", list(MALFORMED_PAYLOADS))
def test_malformed_payload_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        Directory.from_payload(MALFORMED_PAYLOADS[name])


@pytest.mark.parametrize("name", list(MALFORMED_PAYLOADS))
def test_malformed_payload_signed_by_the_threshold_is_rejected_as_malformed(name: str) -> None:
    file = (
        SignedDirectory(MALFORMED_PAYLOADS[name])
        .with_signature(ADMIN_KEYS[0])
        .with_signature(ADMIN_KEYS[1])
    )
    with pytest.raises(Rejected) as info:
        verify_signed(file.to_bytes(), root([0, 1, 2], 2))
    assert info.value.reason == "directory_malformed"


def test_payload_order_must_be_canonical() -> None:
    obj = directory().to_dict()
    obj["parties"].reverse()
    with pytest.raises(DecodeError) as info:
        Directory.from_payload(canonical(obj))
    assert info.value.code == "not_canonical"


MALFORMED_FILES: dict[str, bytes] = {
    "not JSON": b"nope",
    "missing signatures": canonical({"payload": "e30"}),
    "extra field": canonical({"payload": "e30", "signatures": [], "x": 1}),
    "padded base64": canonical({"payload": "e30=", "signatures": []}),
    "signature not 64 bytes": canonical(
        {"payload": "e30", "signatures": [{"keyid": ADMIN_KEYS[0].public.key_id, "sig": "AAAA"}]}
    ),
    "keyid not a key id": canonical(
        {"payload": "e30", "signatures": [{"keyid": "admin", "sig": b64u_encode(bytes(64))}]}
    ),
    "signature entry with extra field": canonical(
        {
            "payload": "e30",
            "signatures": [
                {"keyid": ADMIN_KEYS[0].public.key_id, "sig": b64u_encode(bytes(64)), "x": 1}
            ],
        }
    ),
}


@pytest.mark.parametrize("name", list(MALFORMED_FILES))
def test_malformed_file_rejected(name: str) -> None:
    with pytest.raises(Rejected) as info:
        verify_signed(MALFORMED_FILES[name], root([0, 1, 2], 2))
    assert info.value.reason == "directory_malformed"


def test_limits_file_size_and_signature_count() -> None:
    data = signed(directory(), [0, 1]).to_bytes()
    small = DirectoryLimits(max_bytes=len(data) - 1)
    with pytest.raises(Rejected) as info:
        verify_signed(data, root([0, 1, 2], 2), small)
    assert info.value.reason == "directory_too_large"
    few = DirectoryLimits(max_signatures=1)
    with pytest.raises(Rejected) as info:
        verify_signed(data, root([0, 1, 2], 2), few)
    assert info.value.reason == "too_many_signatures"


def test_limits_party_count() -> None:
    data = signed(directory(), [0, 1]).to_bytes()
    with pytest.raises(Rejected) as info:
        verify_signed(data, root([0, 1, 2], 2), DirectoryLimits(max_parties=1))
    assert info.value.reason == "directory_malformed"


CONTACTS: dict[str, tuple[tuple[str, str, str, tuple[str, ...]], str | None]] = {
    "valid": (("+33 1 23 45 67 89", "poc@example.fr", "Europe/Paris", ("en", "fr")), None),
    "three-level zone": (
        ("+54 11 4000 0000", "a@b.ar", "America/Argentina/Buenos_Aires", ("es",)),
        None,
    ),
    "UTC": (("+1 202 555 0100", "a@b.org", "UTC", ("en",)), None),
    "phone without +": (("01 23 45 67 89", "a@b.fr", "Europe/Paris", ("fr",)), "bad_phone"),
    "phone with letters": (("+33 1 CALL ME", "a@b.fr", "Europe/Paris", ("fr",)), "bad_phone"),
    "phone too many digits": (
        ("+33 1234567890123456", "a@b.fr", "Europe/Paris", ("fr",)),
        "bad_phone",
    ),
    "phone with a trailing newline": (
        ("+33 1 23 45 67 89\n", "a@b.fr", "Europe/Paris", ("fr",)),
        "bad_phone",
    ),
    "e-mail with a trailing newline": (
        ("+33 1 23 45 67 89", "a@b.fr\n", "Europe/Paris", ("fr",)),
        "bad_email",
    ),
    "e-mail without domain": (("+33 1 23 45 67 89", "poc@", "Europe/Paris", ("fr",)), "bad_email"),
    "e-mail without dot": (
        ("+33 1 23 45 67 89", "poc@localhost", "Europe/Paris", ("fr",)),
        "bad_email",
    ),
    "zone abbreviation": (("+33 1 23 45 67 89", "a@b.fr", "CET", ("fr",)), "bad_timezone"),
    "zone offset": (("+33 1 23 45 67 89", "a@b.fr", "+01:00", ("fr",)), "bad_timezone"),
    "no language": (("+33 1 23 45 67 89", "a@b.fr", "Europe/Paris", ()), "bad_language"),
    "language repeated": (
        ("+33 1 23 45 67 89", "a@b.fr", "Europe/Paris", ("fr", "fr")),
        "bad_language",
    ),
    "language name": (("+33 1 23 45 67 89", "a@b.fr", "Europe/Paris", ("French",)), "bad_language"),
}


@pytest.mark.parametrize("name", list(CONTACTS))
def test_contact_validation(name: str) -> None:
    fields, code = CONTACTS[name]
    if code is None:
        assert Contact(*fields).to_dict()["timezone"] == fields[2]
    else:
        with pytest.raises(ValidationError) as info:
            Contact(*fields)
        assert info.value.code == code


def test_a_signing_key_cannot_serve_two_holders() -> None:
    fr = party("FR")
    de_with_fr_key = party("DE", signing_keys=fr.signing_keys)
    with pytest.raises(ValidationError) as info:
        directory(parties=(fr, de_with_fr_key))
    assert info.value.code == "key_in_use"
    admin_as_party = party("FR", signing_keys=(SigningKeyEntry(ADMIN_KEYS[0].public, T0),))
    with pytest.raises(ValidationError) as info:
        directory(parties=(admin_as_party,))
    assert info.value.code == "key_in_use"
    with pytest.raises(ValidationError) as info:
        directory(parties=(fr, party("DE", encryption_keys=fr.encryption_keys)))
    assert info.value.code == "key_in_use"


def test_signing_windows_must_not_overlap() -> None:
    first = SigningKeyEntry(PARTY_SIGNING["FR"].public, T0, T0 + 2 * DAY)
    second = SigningKeyEntry(SigningKey(b"\x99" * 32).public, T0 + DAY)
    with pytest.raises(ValidationError) as info:
        party("FR", signing_keys=(first, second))
    assert info.value.code == "bad_window"
    assert party("FR", signing_keys=(replace(first, not_after=T0 + DAY), second))


def test_root_file_round_trip_and_refusals() -> None:
    r = root([0, 1, 2], 2)
    assert RootKeys.from_file(loads_strict(canonical(r.to_file()))) == r
    with pytest.raises(ValidationError) as info:
        RootKeys.from_file(r.to_dict())
    assert info.value.code == "bad_root_file"


def test_administrator_names() -> None:
    key = ADMIN_KEYS[0].public
    assert RootKey("XX-ADMIN1", key).name == "XX-ADMIN1"
    for bad in ("ADMIN1", "XX-", "XX-admin1", "XX-ADMIN1\n", "XX-ABCDEFGHI", "FR"):
        with pytest.raises(ValidationError) as info:
            RootKey(bad, key)
        assert info.value.code == "bad_admin_name", bad


def test_root_equality_ignores_key_order() -> None:
    assert root([2, 0, 1], 2) == root([0, 1, 2], 2)
    assert root([0, 1, 2], 2) != root([0, 1, 2], 1)


def test_times_are_kept_to_the_millisecond() -> None:
    d = directory(expires=T0 + timedelta(microseconds=123_456))
    assert d.expires == T0 + timedelta(milliseconds=123)
    assert Directory.from_payload(d.to_payload()) == d


# --- from the security review of keys/ (findings 8, 12) ----------

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


# --- 12. A pinned root file accepted "v": true and "v": 1.0 ------------------------------


@pytest.mark.parametrize("v", [True, 1.0, "1", None])
def test_root_file_version_must_be_the_integer_one(v: Any) -> None:
    doc = root([0, 1], 2).to_file()
    doc["v"] = v
    with pytest.raises(ValidationError) as info:
        RootKeys.from_file(doc)
    assert info.value.code == "bad_root_file"
