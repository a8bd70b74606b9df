"""A node cannot contradict its own receipt: the pure rule, as a table of named cases."""

from __future__ import annotations

import pytest

from relay.core.receipt_rules import contradiction

A, B = "a" * 64, "b" * 64

CASES: dict[str, tuple[str, str, list[tuple[str, str]], bool]] = {
    # name: (new type, new digest, earlier receipts of other types, contradicts?)
    "first receipt": ("RETRIEVED", A, [], False),
    "acknowledged after retrieved": ("ACKNOWLEDGED", A, [("RETRIEVED", A)], False),
    "rejected after retrieved, same bytes": ("REJECTED", A, [("RETRIEVED", A)], False),
    "retrieved after rejected, same bytes": ("RETRIEVED", A, [("REJECTED", A)], False),
    "rejected naming other bytes after retrieved": ("REJECTED", B, [("RETRIEVED", A)], True),
    "retrieved naming other bytes after rejected": ("RETRIEVED", A, [("REJECTED", B)], True),
    "rejected after acknowledged": ("REJECTED", A, [("ACKNOWLEDGED", A)], True),
    "acknowledged after rejected": ("ACKNOWLEDGED", A, [("REJECTED", A)], True),
    "acknowledged after retrieved and rejected": (
        "ACKNOWLEDGED",
        A,
        [("REJECTED", A), ("RETRIEVED", A)],
        True,
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_contradiction(name: str) -> None:
    new_type, digest, earlier, expected = CASES[name]
    assert (contradiction(new_type, digest, earlier) is not None) is expected
