"""Acceptance rules of TrustedDirectory, as tables of named cases (python-tuf style).

Each case pins a root, then offers directory versions in order; each version names its
root keys (indexes into the fixed admin keys), threshold and signers, and the expected
outcome: accepted, or rejected with a named reason. After a rejection the trusted state
must be exactly what it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from keys.directory import SignedDirectory, TrustedDirectory, verify_signed
from keys.directory.document import Directory
from keys.encoding import b64u_decode, b64u_encode, canonical, loads_strict
from keys.errors import Rejected
from tests.unit.keys.test_directory_support import ADMIN_KEYS, DAY, T0, directory, root, signed


@dataclass(frozen=True)
class Ver:
    """One directory version offered to the reader."""

    keys: list[int]
    threshold: int
    sigs: list[int]
    version: int | None = None  # default: one more than the last accepted
    expires_in_days: int = 365
    reject: str | None = None  # the expected Rejected reason, or None for accepted


@dataclass(frozen=True)
class Case:
    pinned_keys: list[int]
    pinned_threshold: int
    versions: list[Ver] = field(default_factory=list)


NOW = T0 + DAY
MS = timedelta(milliseconds=1)

CASES: dict[str, Case] = {
    "2-of-3 threshold met": Case([0, 1, 2], 2, [Ver([0, 1, 2], 2, [0, 1])]),
    "2-of-3 any two keys": Case(
        [0, 1, 2], 2, [Ver([0, 1, 2], 2, [1, 2]), Ver([0, 1, 2], 2, [2, 0])]
    ),
    "3-of-3 all signed": Case([0, 1, 2], 3, [Ver([0, 1, 2], 3, [2, 1, 0])]),
    "threshold not met": Case([0, 1, 2], 2, [Ver([0, 1, 2], 2, [0], reject="threshold_not_met")]),
    "unsigned": Case([0, 1, 2], 2, [Ver([0, 1, 2], 2, [], reject="threshold_not_met")]),
    "signature by a non-root key ignored": Case(
        [0, 1, 2], 2, [Ver([0, 1, 2], 2, [0, 5], reject="threshold_not_met")]
    ),
    "non-root signatures alongside enough root ones": Case(
        [0, 1, 2], 2, [Ver([0, 1, 2], 2, [5, 0, 6, 1])]
    ),
    "duplicate signatures by one key counted once": Case(
        [0, 1, 2], 2, [Ver([0, 1, 2], 2, [0, 0], reject="threshold_not_met")]
    ),
    "three copies of one key still count once": Case(
        [0, 1, 2], 2, [Ver([0, 1, 2], 2, [1, 1, 1], reject="threshold_not_met")]
    ),
    "a bad signature by a root key does not count": Case(
        [0, 1, 2], 2, [Ver([0, 1, 2], 2, [0, -1], reject="threshold_not_met")]
    ),
    "a bad copy before a good one by the same key": Case(
        [0, 1, 2], 2, [Ver([0, 1, 2], 2, [-1, 1, 0])]
    ),
    "rollback": Case(
        [0, 1, 2],
        2,
        [
            Ver([0, 1, 2], 2, [0, 1], version=5),
            Ver([0, 1, 2], 2, [0, 1], version=4, reject="rollback"),
        ],
    ),
    "version may skip ahead": Case(
        [0, 1, 2], 2, [Ver([0, 1, 2], 2, [0, 1], version=2), Ver([0, 1, 2], 2, [0, 1], version=9)]
    ),
    "same version, other content": Case(
        [0, 1, 2],
        2,
        [
            Ver([0, 1, 2], 2, [0, 1], version=3),
            Ver([0, 1, 2], 2, [0, 1], version=3, expires_in_days=100, reject="version_reused"),
        ],
    ),
    "expired (freeze)": Case(
        [0, 1, 2], 2, [Ver([0, 1, 2], 2, [0, 1], expires_in_days=-1, reject="expired")]
    ),
    "expired later version after a good one": Case(
        [0, 1, 2],
        2,
        [Ver([0, 1, 2], 2, [0, 1]), Ver([0, 1, 2], 2, [0, 1], expires_in_days=0, reject="expired")],
    ),
    "root rotation signed only by the new keys": Case(
        [0, 1, 2], 2, [Ver([3, 4, 5], 2, [3, 4], reject="threshold_not_met")]
    ),
    "root rotation signed only by the old keys": Case(
        [0, 1, 2], 2, [Ver([3, 4, 5], 2, [0, 1], reject="new_root_threshold_not_met")]
    ),
    "root rotation signed by old and new thresholds": Case(
        [0, 1, 2], 2, [Ver([3, 4, 5], 2, [0, 1, 3, 4]), Ver([3, 4, 5], 2, [4, 5])]
    ),
    "after rotation the old keys no longer suffice": Case(
        [0, 1, 2],
        2,
        [Ver([3, 4, 5], 2, [0, 1, 3, 4]), Ver([3, 4, 5], 2, [0, 1], reject="threshold_not_met")],
    ),
    "one key replaced, the two kept keys sign for both": Case(
        [0, 1, 2], 2, [Ver([0, 1, 3], 2, [0, 1]), Ver([0, 1, 3], 2, [1, 3])]
    ),
    "one key replaced, signed by the leaving key and one kept": Case(
        [0, 1, 2], 2, [Ver([0, 1, 3], 2, [0, 2], reject="new_root_threshold_not_met")]
    ),
    "threshold raised 1-of-3 to 2-of-3": Case([0, 1, 2], 1, [Ver([0, 1, 2], 2, [0, 1])]),
    "threshold raise not met by the new threshold": Case(
        [0, 1, 2], 1, [Ver([0, 1, 2], 2, [0], reject="new_root_threshold_not_met")]
    ),
    "threshold lowered 2-of-3 to 1-of-3 needs the old threshold": Case(
        [0, 1, 2], 2, [Ver([0, 1, 2], 1, [0], reject="threshold_not_met")]
    ),
    "threshold lowered with the old threshold, then 1 suffices": Case(
        [0, 1, 2], 2, [Ver([0, 1, 2], 1, [0, 1]), Ver([0, 1, 2], 1, [2])]
    ),
    "a rejected rotation leaves the old root in charge": Case(
        [0, 1, 2],
        2,
        [
            Ver([3, 4, 5], 2, [3, 4], reject="threshold_not_met"),
            Ver([0, 1, 2], 2, [1, 2]),
        ],
    ),
    "1-of-1 key rotation": Case([0], 1, [Ver([1], 1, [1, 0]), Ver([1], 1, [1])]),
}


def _file(ver: Ver, number: int) -> bytes:
    d = directory(
        number, root_keys=root(ver.keys, ver.threshold), expires=NOW + ver.expires_in_days * DAY
    )
    return signed(d, ver.sigs).to_bytes()


@pytest.mark.parametrize("name", list(CASES))
def test_rotation_and_threshold_cases(name: str) -> None:
    case = CASES[name]
    trusted = TrustedDirectory(root(case.pinned_keys, case.pinned_threshold))
    last = 0
    for ver in case.versions:
        number = ver.version if ver.version is not None else last + 1
        data = _file(ver, number)
        before = (trusted.current, trusted.root, trusted.current_file)
        if ver.reject is None:
            accepted = trusted.update(data, NOW)
            assert accepted.version == number
            assert trusted.root == root(ver.keys, ver.threshold)
            assert trusted.current_file == SignedDirectory.from_bytes(data).to_bytes()
            last = number
        else:
            with pytest.raises(Rejected) as info:
                trusted.update(data, NOW)
            assert info.value.reason == ver.reject
            assert (trusted.current, trusted.root, trusted.current_file) == before


def test_same_file_twice_changes_nothing() -> None:
    trusted = TrustedDirectory(root([0, 1, 2], 2))
    data = signed(directory(4), [0, 1]).to_bytes()
    first = trusted.update(data, NOW)
    again = trusted.update(signed(directory(4), [2, 1]).to_bytes(), NOW)
    assert again is first


def test_same_file_after_it_expired_is_reported_expired() -> None:
    trusted = TrustedDirectory(root([0, 1, 2], 2))
    data = signed(directory(2, expires=NOW + DAY), [0, 1]).to_bytes()
    trusted.update(data, NOW)
    with pytest.raises(Rejected) as info:
        trusted.update(data, NOW + 2 * DAY)
    assert info.value.reason == "expired"
    assert trusted.is_expired(NOW + 2 * DAY) and not trusted.is_expired(NOW)


def test_expiry_is_judged_at_the_given_time() -> None:
    data = signed(directory(2, expires=NOW + DAY), [0, 1]).to_bytes()
    assert TrustedDirectory(root([0, 1, 2], 2)).update(data, NOW + DAY - MS).version == 2
    with pytest.raises(Rejected) as info:
        TrustedDirectory(root([0, 1, 2], 2)).update(data, NOW + DAY)
    assert info.value.reason == "expired"


def test_tampered_payload_byte_rejected_at_every_position() -> None:
    data = signed(directory(2), [0, 1]).to_bytes()
    wire = loads_strict(data)
    payload = b64u_decode(wire["payload"])
    trusted = TrustedDirectory(root([0, 1, 2], 2))
    for i in range(len(payload)):
        bad = bytearray(payload)
        bad[i] ^= 0x01
        wire["payload"] = b64u_encode(bytes(bad))
        with pytest.raises(Rejected) as info:
            trusted.update(canonical(wire), NOW)
        assert info.value.reason == "threshold_not_met", i
    assert trusted.current is None


def test_tampered_file_byte_rejected() -> None:
    data = signed(directory(2), [0, 1]).to_bytes()
    trusted = TrustedDirectory(root([0, 1, 2], 2))
    for i in range(0, len(data), 7):
        bad = bytearray(data)
        bad[i] ^= 0x04
        try:
            trusted.update(bytes(bad), NOW)
        except Rejected as e:
            assert e.reason in {"directory_malformed", "threshold_not_met"}
        else:  # flipping a bit in a signature entry of a third key cannot happen here
            raise AssertionError(f"byte {i} flipped and still accepted")
    assert trusted.current is None


def test_signatures_checked_before_the_payload_is_parsed() -> None:
    garbage = b"{not json at all"
    file = SignedDirectory(garbage)
    unsigned = canonical(file.to_wire())
    with pytest.raises(Rejected) as info:
        verify_signed(unsigned, root([0, 1, 2], 2))
    assert info.value.reason == "threshold_not_met"
    both = file.with_signature(ADMIN_KEYS[0]).with_signature(ADMIN_KEYS[1])
    with pytest.raises(Rejected) as info:
        verify_signed(both.to_bytes(), root([0, 1, 2], 2))
    assert info.value.reason == "directory_malformed"


def test_non_canonical_payload_rejected_even_when_signed() -> None:
    pretty = b" " + directory(2).to_payload()
    file = SignedDirectory(pretty).with_signature(ADMIN_KEYS[0]).with_signature(ADMIN_KEYS[1])
    with pytest.raises(Rejected) as info:
        verify_signed(file.to_bytes(), root([0, 1, 2], 2))
    assert info.value.reason == "directory_malformed"


def test_update_chain_catches_up_across_two_root_rotations() -> None:
    v2 = signed(directory(2, root_keys=root([3, 4, 5], 2), expires=NOW - DAY), [0, 1, 3, 4])
    v3 = signed(directory(3, root_keys=root([6, 7, 8], 2), expires=NOW - DAY), [3, 4, 6, 7])
    v4 = signed(directory(4, root_keys=root([6, 7, 8], 2)), [7, 8])
    trusted = TrustedDirectory(root([0, 1, 2], 2))
    with pytest.raises(Rejected) as info:  # the latest alone is not signed by keys we trust
        trusted.update(v4.to_bytes(), NOW)
    assert info.value.reason == "threshold_not_met"
    d = trusted.update_chain([v2.to_bytes(), v3.to_bytes(), v4.to_bytes()], NOW)
    assert d.version == 4 and trusted.root == root([6, 7, 8], 2)


def test_update_chain_is_all_or_nothing() -> None:
    v2 = signed(directory(2, root_keys=root([3, 4, 5], 2)), [0, 1, 3, 4])
    v3 = signed(directory(3, root_keys=root([3, 4, 5], 2), expires=NOW - DAY), [3, 4])
    trusted = TrustedDirectory(root([0, 1, 2], 2))
    with pytest.raises(Rejected) as info:
        trusted.update_chain([v2.to_bytes(), v3.to_bytes()], NOW)
    assert info.value.reason == "expired"
    assert trusted.current is None and trusted.root == root([0, 1, 2], 2)


def test_from_stored_trusts_its_own_root_and_guards_rollback() -> None:
    v5 = signed(directory(5, expires=NOW - DAY), [0, 2])
    restored = TrustedDirectory.from_stored(v5.to_bytes())
    assert restored.current is not None and restored.current.version == 5
    assert restored.is_expired(NOW)
    with pytest.raises(Rejected) as info:
        restored.update(signed(directory(4), [0, 1]).to_bytes(), NOW)
    assert info.value.reason == "rollback"
    assert restored.update(signed(directory(6), [0, 1]).to_bytes(), NOW).version == 6


def test_from_stored_refuses_a_file_under_its_own_threshold() -> None:
    with pytest.raises(Rejected) as info:
        TrustedDirectory.from_stored(signed(directory(5), [0]).to_bytes())
    assert info.value.reason == "threshold_not_met"


def test_rejected_says_only_rejected_to_a_peer() -> None:
    with pytest.raises(Rejected) as info:
        verify_signed(signed(directory(2), [0]).to_bytes(), root([0, 1, 2], 2))
    assert str(info.value) == "rejected"
    assert info.value.to_wire() == {"error": "rejected", "message": "rejected"}


def test_current_is_a_directory() -> None:
    trusted = TrustedDirectory(root([0, 1, 2], 2))
    trusted.update(signed(directory(2), [0, 1]).to_bytes(), NOW)
    assert isinstance(trusted.current, Directory)
