"""Property tests: the store-based Merkle code against RFC 9162's recursive definitions.

One append-only store of :data:`MAX_LEAVES` leaves serves every tree size up to that
(a tree's nodes never change as it grows). For random sizes, indices and old sizes:

- roots and proofs from the store equal the reference definitions (``mth``, ``PATH``,
  ``PROOF``) and verify;
- a changed leaf, a changed proof element, another index or other sizes fail, except where
  RFC 9162 cannot tell them apart: the verifier takes the tree size from the signed
  checkpoint, and two sizes whose proofs combine the same hashes in the same order (the same
  "shape") give the same root. The tests compute that shape independently (from the plan of
  stored nodes, not from the verifier's bit arithmetic) and require acceptance exactly when
  the shapes agree.
"""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from keys.auditlog import merkle
from keys.auditlog.merkle import DictStore
from keys.errors import Rejected

MAX_LEAVES = 300
LEAVES = [merkle.leaf_hash(b"leaf %d" % i) for i in range(MAX_LEAVES)]
STORE = DictStore()
STORE.apply(merkle.append_many(STORE, 0, LEAVES))
ROOTS = [merkle.root(STORE, n) for n in range(MAX_LEAVES + 1)]
SETTINGS = settings(max_examples=300, deadline=None)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, MAX_LEAVES))
    return size, draw(st.integers(0, size - 1))


@st.composite
def old_and_new(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.integers(0, MAX_LEAVES))
    return draw(st.integers(0, new)), new


def accepts_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    try:
        merkle.verify_inclusion(leaf, index, size, proof, root)
    except Rejected:
        return False
    return True


def accepts_consistency(old: int, new: int, r1: bytes, r2: bytes, proof: list[bytes]) -> bool:
    try:
        merkle.verify_consistency(old, new, r1, r2, proof)
    except Rejected:
        return False
    return True


def flip(value: bytes, byte: int, bit: int) -> bytes:
    out = bytearray(value)
    out[byte % len(out)] ^= 1 << bit
    return bytes(out)


def inclusion_shape(index: int, size: int) -> tuple[bool, ...]:
    """For each proof element, whether it is a left sibling (from the plan of nodes)."""
    return tuple(
        element[0][1] << element[0][0] < index for element in merkle.inclusion_nodes(index, size)
    )


def consistency_shape(old: int, new: int) -> tuple[bool, tuple[bool, ...]]:
    """Whether the old root is itself a node, and for each later element whether it lies
    left of the old boundary (it then feeds both roots) or right of it (the new root only)."""
    plan = merkle.consistency_nodes(old, new)
    pow2 = old & (old - 1) == 0
    rest = plan if pow2 else plan[1:]
    return pow2, tuple(element[0][1] << element[0][0] < old for element in rest)


@SETTINGS
@given(st.integers(0, MAX_LEAVES))
def test_root_equals_reference(size: int) -> None:
    assert ROOTS[size] == merkle.mth(LEAVES[:size])


@SETTINGS
@given(size_and_index(), st.integers(0, 31), st.integers(0, 7))
def test_inclusion_proof_equals_reference_and_tampering_fails(
    case: tuple[int, int], byte: int, bit: int
) -> None:
    size, index = case
    proof = merkle.inclusion_proof(STORE, index, size)
    assert proof == merkle.reference_inclusion_proof(index, LEAVES[:size])
    assert accepts_inclusion(LEAVES[index], index, size, proof, ROOTS[size])
    assert not accepts_inclusion(flip(LEAVES[index], byte, bit), index, size, proof, ROOTS[size])
    assert not accepts_inclusion(LEAVES[index], index, size, proof, flip(ROOTS[size], byte, bit))
    for i in range(len(proof)):
        bad = [*proof[:i], flip(proof[i], byte, bit), *proof[i + 1 :]]
        assert not accepts_inclusion(LEAVES[index], index, size, bad, ROOTS[size])
    if proof:
        assert not accepts_inclusion(LEAVES[index], index, size, proof[:-1], ROOTS[size])
    assert not accepts_inclusion(LEAVES[index], index, size, [*proof, ROOTS[1]], ROOTS[size])


@st.composite
def near(draw: st.DrawFn, value: int, low: int, high: int) -> int:
    """Often a value close to ``value`` (where shapes tend to coincide), else any."""
    if draw(st.booleans()):
        start = min(max(low, value - 4), high)
        return draw(st.integers(start, max(start, min(high, value + 4))))
    return draw(st.integers(low, high))


@SETTINGS
@given(size_and_index(), st.data())
def test_inclusion_at_another_index_or_size_fails_unless_same_shape(
    case: tuple[int, int], data: st.DataObject
) -> None:
    size, index = case
    other_size = data.draw(near(size, 1, MAX_LEAVES))
    other_index = data.draw(near(index, 0, other_size - 1))
    proof = merkle.inclusion_proof(STORE, index, size)
    same = len(proof) == merkle.inclusion_proof_length(other_index, other_size) and (
        inclusion_shape(other_index, other_size) == inclusion_shape(index, size)
    )
    accepted = accepts_inclusion(LEAVES[index], other_index, other_size, proof, ROOTS[size])
    assert accepted == same


def test_same_shape_is_accepted_as_rfc9162_specifies() -> None:
    # Leaf 2 of 3 and leaf 1 of 2 both hash their leaf with one left sibling: the proof of
    # one verifies as the other, so the size and index must come from a signed checkpoint.
    proof = merkle.inclusion_proof(STORE, 2, 3)
    assert accepts_inclusion(LEAVES[2], 1, 2, proof, ROOTS[3])
    assert inclusion_shape(1, 2) == inclusion_shape(2, 3)
    # Likewise the consistency proof from 4 to 5 leaves reads as one from 4 to 6.
    proof = merkle.consistency_proof(STORE, 4, 5)
    assert accepts_consistency(4, 6, ROOTS[4], ROOTS[5], proof)
    assert consistency_shape(4, 6) == consistency_shape(4, 5)


@SETTINGS
@given(old_and_new(), st.integers(0, 31), st.integers(0, 7))
def test_consistency_proof_equals_reference_and_tampering_fails(
    case: tuple[int, int], byte: int, bit: int
) -> None:
    old, new = case
    proof = merkle.consistency_proof(STORE, old, new)
    assert proof == merkle.reference_consistency_proof(old, LEAVES[:new])
    assert len(proof) == merkle.consistency_proof_length(old, new)
    assert accepts_consistency(old, new, ROOTS[old], ROOTS[new], proof)
    if 0 < old < new:
        assert not accepts_consistency(old, new, flip(ROOTS[old], byte, bit), ROOTS[new], proof)
        assert not accepts_consistency(old, new, ROOTS[old], flip(ROOTS[new], byte, bit), proof)
        for i in range(len(proof)):
            bad = [*proof[:i], flip(proof[i], byte, bit), *proof[i + 1 :]]
            assert not accepts_consistency(old, new, ROOTS[old], ROOTS[new], bad)
        assert not accepts_consistency(old, new, ROOTS[old], ROOTS[new], proof[:-1])
        assert not accepts_consistency(old, new, ROOTS[old], ROOTS[new], [*proof, ROOTS[1]])


@SETTINGS
@given(old_and_new(), st.data())
def test_consistency_at_other_sizes_fails_unless_same_shape(
    case: tuple[int, int], data: st.DataObject
) -> None:
    old, new = case
    if not 0 < old < new:
        return
    other_new = data.draw(near(new, 0, MAX_LEAVES))
    other_old = data.draw(near(old, 0, other_new))
    proof = merkle.consistency_proof(STORE, old, new)
    accepted = accepts_consistency(other_old, other_new, ROOTS[old], ROOTS[new], proof)
    if not 0 < other_old < other_new:
        assert not accepted  # these need an empty proof (and equal roots)
        return
    same = len(proof) == merkle.consistency_proof_length(
        other_old, other_new
    ) and consistency_shape(other_old, other_new) == consistency_shape(old, new)
    assert accepted == same


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=70), st.data())
def test_arbitrary_entries_and_forks(entries: list[bytes], data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(e) for e in entries]
    store = DictStore()
    for i, leaf in enumerate(leaves):
        store.apply(merkle.append(store, i, leaf))
    n = len(leaves)
    assert merkle.root(store, n) == merkle.mth(leaves)
    # Rewrite one entry: a tree of the same size with another history.
    changed = data.draw(st.integers(0, n - 1))
    forged = list(leaves)
    forged[changed] = merkle.leaf_hash(entries[changed] + b"!")
    forged_root = merkle.mth(forged)
    assert forged_root != merkle.mth(leaves)
    old = data.draw(st.integers(changed + 1, n))
    proof = merkle.consistency_proof(store, old, n)
    assert not accepts_consistency(old, n, merkle.mth(forged[:old]), merkle.root(store, n), proof)
    index = data.draw(st.integers(0, n - 1))
    inclusion = merkle.inclusion_proof(store, index, n)
    assert not accepts_inclusion(leaves[index], index, n, inclusion, forged_root)


def test_store_size_is_linear() -> None:
    # 2n - popcount(n) complete subtrees for n leaves.
    assert len(STORE) == 2 * MAX_LEAVES - MAX_LEAVES.bit_count()
    assert hashlib.sha256(b"").digest() == ROOTS[0]
