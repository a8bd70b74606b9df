"""Known-answer and named-case tests of keys.auditlog.merkle and keys.auditlog.entry.

Test vectors (facts, not code) come from:

- transparency-dev/merkle, ``proof/verify_test.go``: the eight leaves, the roots of the
  trees of 1 to 8 of them, inclusion and consistency proofs (the data set Google's
  certificate-transparency and trillian libraries use);
- transparency-dev/merkle, ``rfc6962/rfc6962_test.go``: empty tree, empty leaf, leaf and
  node hashes;
- transparency-dev/merkle, ``proof/proof_test.go``: which stored nodes ``(level, index)``
  make up each proof, on RFC 6962's example tree of 7 leaves and a few bigger ones. There, a
  proof element computed from several nodes ("rehash") lists them right to left; here each
  element lists them left to right.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keys.auditlog import merkle
from keys.auditlog.entry import ENTRY_FIELDS, MAX_ENTRY_BYTES, entry_bytes, parse_entry
from keys.auditlog.merkle import DictStore, MissingNode
from keys.errors import DecodeError, Rejected, TooLarge, ValidationError


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# transparency-dev/merkle proof/verify_test.go: `leaves`, `roots`.
LEAVES = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
ROOTS = [
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
# `inclusionProofs` (its leaf numbers are 1-based; these indices are 0-based).
INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
# `consistencyProofs`.
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


@pytest.fixture(scope="module")
def store() -> DictStore:
    s = DictStore()
    for i, data in enumerate(LEAVES):
        s.apply(merkle.append(s, i, merkle.leaf_hash(data)))
    return s


# --- hashing ----------------------------------------------------------------------------


def test_rfc6962_hasher_vectors() -> None:
    # transparency-dev/merkle rfc6962/rfc6962_test.go TestRFC6962Hasher.
    assert h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == (
        merkle.EMPTY_ROOT
    )
    assert merkle.leaf_hash(b"") == h(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert merkle.leaf_hash(b"L123456") == h(
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert merkle.node_hash(b"N123", b"N456") == h(
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_leaf_and_node_are_domain_separated() -> None:
    a, b = merkle.leaf_hash(b"Hello"), merkle.leaf_hash(b"World")
    assert a != b
    assert merkle.node_hash(a, b) != merkle.leaf_hash(a + b)
    assert merkle.node_hash(a, b) != merkle.node_hash(b, a)


# --- roots and proofs from the store, against the vectors -------------------------------


@pytest.mark.parametrize("size", range(1, 9))
def test_root_matches_vector(store: DictStore, size: int) -> None:
    assert merkle.root(store, size) == ROOTS[size - 1]
    assert merkle.mth([merkle.leaf_hash(d) for d in LEAVES[:size]]) == ROOTS[size - 1]


def test_empty_root(store: DictStore) -> None:
    assert merkle.root(store, 0) == merkle.EMPTY_ROOT == merkle.mth([])


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proof_matches_vector(
    store: DictStore, index: int, size: int, proof: list[bytes]
) -> None:
    assert merkle.inclusion_proof(store, index, size) == proof
    leaf = merkle.leaf_hash(LEAVES[index])
    merkle.verify_inclusion(leaf, index, size, proof, ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proof_matches_vector(
    store: DictStore, old: int, new: int, proof: list[bytes]
) -> None:
    assert merkle.consistency_proof(store, old, new) == proof
    merkle.verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


def _inclusion_probes(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> list[tuple[str, tuple[bytes, int, int, list[bytes], bytes]]]:
    """Corruptions of a good inclusion proof (after corruptInclusionProof in verify_test.go)."""
    probes: list[tuple[str, tuple[bytes, int, int, list[bytes], bytes]]] = [
        ("index - 1", (leaf, index - 1, size, proof, root)),
        ("index + 1", (leaf, index + 1, size, proof, root)),
        ("index ^ 2", (leaf, index ^ 2, size, proof, root)),
        ("size * 2", (leaf, index, size * 2, proof, root)),
        ("size // 2", (leaf, index, size // 2, proof, root)),
        ("wrong leaf", (merkle.leaf_hash(b"WrongLeaf"), index, size, proof, root)),
        ("empty root", (leaf, index, size, proof, merkle.EMPTY_ROOT)),
        ("random root", (leaf, index, size, proof, SOME_HASH)),
        ("trailing root", (leaf, index, size, [*proof, root], root)),
        ("preceding root", (leaf, index, size, [root, *proof], root)),
        ("trailing garbage", (leaf, index, size, [*proof, b""], root)),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((f"modified proof[{i}]", (leaf, index, size, bad, root)))
    if proof:
        probes.append(("removed component", (leaf, index, size, proof[:-1], root)))
    if len(proof) > 1:
        bad = [proof[0], SOME_HASH, *proof[1:]]
        probes.append(("inserted component", (leaf, index, size, bad, root)))
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), [c for c in INCLUSION if c[2]])
def test_corrupted_inclusion_proofs_fail(index: int, size: int, proof: list[bytes]) -> None:
    leaf = merkle.leaf_hash(LEAVES[index])
    for name, args in _inclusion_probes(leaf, index, size, proof, ROOTS[size - 1]):
        with pytest.raises(Rejected):
            merkle.verify_inclusion(*args)
            pytest.fail(f"accepted: {name}")


@pytest.mark.parametrize(("old", "new", "proof"), [c for c in CONSISTENCY if c[2]])
def test_corrupted_consistency_proofs_fail(old: int, new: int, proof: list[bytes]) -> None:
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    probes = [
        ("old - 1", (old - 1, new, r1, r2, proof)),
        ("old + 1", (old + 1, new, r1, r2, proof)),
        ("old ^ 2", (old ^ 2, new, r1, r2, proof)),
        ("new * 2", (old, new * 2, r1, r2, proof)),
        ("new // 2", (old, new // 2, r1, r2, proof)),
        ("wrong old root", (old, new, SOME_HASH, r2, proof)),
        ("wrong new root", (old, new, r1, SOME_HASH, proof)),
        ("swapped roots", (old, new, r2, r1, proof)),
        ("empty proof", (old, new, r1, r2, [])),
        ("trailing old root", (old, new, r1, r2, [*proof, r1])),
        ("preceding new root", (old, new, r1, r2, [r2, *proof])),
        ("preceding proof[0]", (old, new, r1, r2, [proof[0], *proof])),
        ("truncated", (old, new, r1, r2, proof[:-1])),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((f"modified proof[{i}]", (old, new, r1, r2, bad)))
    for name, args in probes:
        with pytest.raises(Rejected):
            merkle.verify_consistency(*args)  # type: ignore[arg-type]
            pytest.fail(f"accepted: {name}")


VERIFY_CONSISTENCY_CASES = [
    # (name, old, new, old_root, new_root, proof, accepted)
    ("empty to empty", 0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [], True),
    ("empty to one", 0, 1, merkle.EMPTY_ROOT, ROOTS[0], [], True),
    ("empty with a wrong old root", 0, 1, SOME_HASH, ROOTS[0], [], False),
    ("same size, same root", 1, 1, ROOTS[0], ROOTS[0], [], True),
    ("same size, other root", 1, 1, ROOTS[0], ROOTS[1], [], False),
    ("same size, non-empty proof", 1, 1, ROOTS[0], ROOTS[0], [ROOTS[0]], False),
    ("empty, non-empty proof", 0, 1, merkle.EMPTY_ROOT, ROOTS[0], [ROOTS[0]], False),
    ("time travel", 2, 1, ROOTS[1], ROOTS[0], [], False),
    ("bigger with an empty proof", 1, 2, ROOTS[0], ROOTS[1], [], False),
    ("short old root", 1, 1, b"x", b"x", [], False),
]


@pytest.mark.parametrize(
    ("old", "new", "r1", "r2", "proof", "ok"),
    [c[1:] for c in VERIFY_CONSISTENCY_CASES],
    ids=[c[0] for c in VERIFY_CONSISTENCY_CASES],
)
def test_verify_consistency_edge_cases(
    old: int, new: int, r1: bytes, r2: bytes, proof: list[bytes], ok: bool
) -> None:
    if ok:
        merkle.verify_consistency(old, new, r1, r2, proof)
    else:
        with pytest.raises(Rejected):
            merkle.verify_consistency(old, new, r1, r2, proof)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1)])
def test_verify_inclusion_rejects_garbage(index: int, size: int) -> None:
    # verify_test.go TestVerifyInclusion probes; roots and leaves here are well-sized.
    for leaf, root in [(SOME_HASH, merkle.EMPTY_ROOT), (SOME_HASH, b""), (b"", SOME_HASH)]:
        with pytest.raises(Rejected):
            merkle.verify_inclusion(leaf, index, size, [], root)


def test_single_leaf_tree() -> None:
    leaf = merkle.leaf_hash(b"data")
    merkle.verify_inclusion(leaf, 0, 1, [], leaf)
    with pytest.raises(Rejected):
        merkle.verify_inclusion(leaf, 0, 1, [], merkle.EMPTY_ROOT)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((True, 1), "audit_proof_malformed"),  # bool is not a size
        ((0, -1), "audit_proof_malformed"),
        ((0, merkle.MAX_TREE_SIZE + 1), "audit_proof_malformed"),
        ((3, 3), "audit_proof_malformed"),
    ],
)
def test_verify_inclusion_argument_checks(args: tuple[int, int], reason: str) -> None:
    with pytest.raises(Rejected) as info:
        merkle.verify_inclusion(SOME_HASH, args[0], args[1], [], SOME_HASH)
    assert info.value.reason == reason


def test_proof_of_wrong_length_or_element_size_is_rejected(store: DictStore) -> None:
    proof = merkle.inclusion_proof(store, 0, 8)
    leaf = merkle.leaf_hash(LEAVES[0])
    with pytest.raises(Rejected) as info:
        merkle.verify_inclusion(leaf, 0, 8, [*proof, SOME_HASH], ROOTS[7])
    assert info.value.reason == "audit_proof_length"
    with pytest.raises(Rejected) as info:
        merkle.verify_inclusion(leaf, 0, 8, [proof[0], proof[1], proof[2][:31]], ROOTS[7])
    assert info.value.reason == "audit_proof_malformed"
    with pytest.raises(Rejected) as info:
        merkle.verify_inclusion(leaf, 0, 8, "abc", ROOTS[7])  # type: ignore[arg-type]
    assert info.value.reason == "audit_proof_length"


# --- which stored nodes each operation reads (proof/proof_test.go) ----------------------

Element = tuple[tuple[int, int], ...]

INCLUSION_PLANS: list[tuple[int, int, list[Element]]] = [
    (1, 0, []),
    (2, 0, [((0, 1),)]),
    (2, 1, [((0, 0),)]),
    (3, 1, [((0, 0),), ((0, 2),)]),
    (7, 0, [((0, 1),), ((1, 1),), ((1, 2), (0, 6))]),  # b h l=(i j)
    (7, 1, [((0, 0),), ((1, 1),), ((1, 2), (0, 6))]),  # a h l
    (7, 2, [((0, 3),), ((1, 0),), ((1, 2), (0, 6))]),  # d g l
    (7, 3, [((0, 2),), ((1, 0),), ((1, 2), (0, 6))]),  # c g l
    (7, 4, [((0, 5),), ((0, 6),), ((2, 0),)]),  # f j k
    (7, 5, [((0, 4),), ((0, 6),), ((2, 0),)]),  # e j k
    (7, 6, [((1, 2),), ((2, 0),)]),  # i k
    (4, 2, [((0, 3),), ((1, 0),)]),
    (5, 3, [((0, 2),), ((1, 0),), ((0, 4),)]),
    (6, 3, [((0, 2),), ((1, 0),), ((1, 2),)]),
    (6, 4, [((0, 5),), ((2, 0),)]),
    (15, 10, [((0, 11),), ((1, 4),), ((1, 6), (0, 14)), ((3, 0),)]),
    (31, 24, [((0, 25),), ((1, 13),), ((1, 14), (0, 30)), ((3, 2),), ((4, 0),)]),
    (
        95,
        81,
        [((0, 80),), ((1, 41),), ((2, 21),), ((2, 22), (1, 46), (0, 94)), ((4, 4),), ((6, 0),)],
    ),
]

CONSISTENCY_PLANS: list[tuple[int, int, list[Element]]] = [
    (1, 2, [((0, 1),)]),
    (1, 4, [((0, 1),), ((1, 1),)]),
    (1, 6, [((0, 1),), ((1, 1),), ((1, 2),)]),
    (2, 3, [((0, 2),)]),
    (2, 8, [((1, 1),), ((2, 1),)]),
    (3, 7, [((0, 2),), ((0, 3),), ((1, 0),), ((1, 2), (0, 6))]),  # c d g l
    (4, 7, [((1, 2), (0, 6))]),  # l
    (5, 7, [((0, 4),), ((0, 5),), ((0, 6),), ((2, 0),)]),  # e f j k
    (6, 7, [((1, 2),), ((0, 6),), ((2, 0),)]),  # i j k
    (7, 8, [((0, 6),), ((0, 7),), ((1, 2),), ((2, 0),)]),
    (1, 1, []),
    (5, 5, []),
    (8, 8, []),
    (2, 4, [((1, 1),)]),
    (3, 5, [((0, 2),), ((0, 3),), ((1, 0),), ((0, 4),)]),
    (3, 6, [((0, 2),), ((0, 3),), ((1, 0),), ((1, 2),)]),
    (4, 6, [((1, 2),)]),
    (1, 7, [((0, 1),), ((1, 1),), ((1, 2), (0, 6))]),
    (10, 15, [((1, 4),), ((1, 5),), ((1, 6), (0, 14)), ((3, 0),)]),
    (24, 31, [((3, 2),), ((2, 6), (1, 14), (0, 30)), ((4, 0),)]),
    (
        81,
        95,
        [
            ((0, 80),),
            ((0, 81),),
            ((1, 41),),
            ((2, 21),),
            ((2, 22), (1, 46), (0, 94)),
            ((4, 4),),
            ((6, 0),),
        ],
    ),
]


@pytest.mark.parametrize(("size", "index", "plan"), INCLUSION_PLANS)
def test_inclusion_plan_matches_reference_node_ids(
    size: int, index: int, plan: list[Element]
) -> None:
    assert merkle.inclusion_nodes(index, size) == plan
    assert len(plan) == merkle.inclusion_proof_length(index, size)


@pytest.mark.parametrize(("old", "new", "plan"), CONSISTENCY_PLANS)
def test_consistency_plan_matches_reference_node_ids(
    old: int, new: int, plan: list[Element]
) -> None:
    assert merkle.consistency_nodes(old, new) == plan
    assert len(plan) == merkle.consistency_proof_length(old, new)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (2, 1), (3, 0), (8, 7), (-1, 3)])
def test_inclusion_plan_rejects_bad_ranges(index: int, size: int) -> None:
    with pytest.raises(ValidationError):
        merkle.inclusion_nodes(index, size)


@pytest.mark.parametrize(("old", "new"), [(5, 0), (9, 8), (-1, 2), (1, merkle.MAX_TREE_SIZE + 1)])
def test_consistency_plan_rejects_bad_ranges(old: int, new: int) -> None:
    with pytest.raises(ValidationError):
        merkle.consistency_nodes(old, new)


def test_plans_at_the_largest_size_stay_logarithmic() -> None:
    n = merkle.MAX_TREE_SIZE
    assert len(merkle.plan_nodes(merkle.inclusion_nodes(n - 1, n))) <= 2 * 63
    assert len(merkle.plan_nodes(merkle.consistency_nodes(n // 3, n))) <= 2 * 63
    assert len(merkle.root_nodes(n)) == 63


def test_root_and_append_plans() -> None:
    assert merkle.root_nodes(0) == ()
    assert merkle.root_nodes(7) == ((2, 0), (1, 2), (0, 6))
    assert merkle.root_nodes(8) == ((3, 0),)
    assert merkle.append_nodes(0) == ()
    assert merkle.append_nodes(6) == ()
    assert merkle.append_nodes(7) == ((0, 6), (1, 2), (2, 0))


# --- appends and the store --------------------------------------------------------------


class CountingStore:
    """A store that records every read."""

    def __init__(self, inner: DictStore) -> None:
        self.inner = inner
        self.reads: list[tuple[int, int]] = []

    def get(self, level: int, index: int) -> bytes:
        self.reads.append((level, index))
        return self.inner.get(level, index)


def test_append_writes_leaf_and_completed_subtrees() -> None:
    s = DictStore()
    counting = CountingStore(s)
    for n in range(64):
        counting.reads.clear()
        writes = merkle.append(counting, n, merkle.leaf_hash(b"%d" % n))
        trailing_ones = (n ^ (n + 1)).bit_length() - 1
        assert len(writes) == 1 + trailing_ones
        assert len(counting.reads) == trailing_ones
        assert writes[0] == (0, n, merkle.leaf_hash(b"%d" % n))
        assert [w[:2] for w in writes[1:]] == [
            (level, n >> level) for level in range(1, trailing_ones + 1)
        ]
        s.apply(writes)
    assert len(s) == 2 * 64 - 1
    assert merkle.root(s, 64) == s.get(6, 0)


def test_append_many_equals_appends_and_reads_only_the_old_border() -> None:
    leaves = [merkle.leaf_hash(b"%d" % i) for i in range(40)]
    one_by_one = DictStore()
    for i, leaf in enumerate(leaves):
        one_by_one.apply(merkle.append(one_by_one, i, leaf))
    batched = DictStore()
    for i, leaf in enumerate(leaves[:13]):
        batched.apply(merkle.append(batched, i, leaf))
    counting = CountingStore(batched)
    writes = merkle.append_many(counting, 13, leaves[13:])
    assert set(counting.reads) <= set(merkle.root_nodes(13))
    batched.apply(writes)
    assert batched.nodes == one_by_one.nodes


def test_proof_reads_are_logarithmic() -> None:
    s = DictStore()
    s.apply(merkle.append_many(s, 0, [merkle.leaf_hash(b"%d" % i) for i in range(1000)]))
    counting = CountingStore(s)
    merkle.inclusion_proof(counting, 517, 1000)
    assert len(counting.reads) <= 2 * 10
    counting.reads.clear()
    merkle.consistency_proof(counting, 333, 1000)
    assert len(counting.reads) <= 2 * 10


def test_missing_or_bad_nodes_raise_missing_node() -> None:
    with pytest.raises(MissingNode):
        merkle.root(DictStore(), 3)
    with pytest.raises(MissingNode):
        merkle.root(DictStore({(1, 0): b"short"}), 2)
    with pytest.raises(MissingNode):  # a plain dict is not a HashStore
        merkle.root({(1, 0): SOME_HASH}, 2)  # type: ignore[arg-type]
    with pytest.raises(MissingNode):
        merkle.append(DictStore(), 1, SOME_HASH)


@pytest.mark.parametrize(
    ("size", "leaf"),
    [(-1, SOME_HASH), (True, SOME_HASH), (merkle.MAX_TREE_SIZE, SOME_HASH), (0, b"short")],
)
def test_append_validates_arguments(size: int, leaf: bytes) -> None:
    with pytest.raises(ValidationError):
        merkle.append(DictStore(), size, leaf)


# --- entries ----------------------------------------------------------------------------

EVENT = {
    "type": "accepted",
    "time": "2025-03-01T12:00:00.000Z",
    "msg_id": "0123456789abcdef0123456789abcdef",
    "sender": "FR",
    "recipient": "US-DOJ",
    "envelope_sha256": "ab" * 32,
    "receipt_sha256": "cd" * 32,
    "directory_version": None,
}


def test_entry_bytes_known_answer() -> None:
    assert entry_bytes(EVENT) == (
        b'{"envelope_sha256":"' + b"ab" * 32 + b'","msg_id":"0123456789abcdef0123456789abcdef",'
        b'"receipt_sha256":"' + b"cd" * 32 + b'","recipient":"US-DOJ","sender":"FR",'
        b'"time":"2025-03-01T12:00:00.000Z","type":"accepted"}'
    )
    leaf = merkle.leaf_hash(entry_bytes(EVENT))
    assert leaf == merkle.leaf_hash(entry_bytes({k: v for k, v in EVENT.items() if v}))


def test_entry_time_from_datetime_and_directory_event() -> None:
    event = {
        "type": "directory_installed",
        "time": datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
        "directory_version": 7,
    }
    assert entry_bytes(event) == (
        b'{"directory_version":7,"time":"2025-03-01T12:00:00.123Z","type":"directory_installed"}'
    )
    assert parse_entry(entry_bytes(event)) == {
        "directory_version": 7,
        "time": "2025-03-01T12:00:00.123Z",
        "type": "directory_installed",
    }


def test_entry_directory_version_forms() -> None:
    for version in (0, 7, "7", "ab" * 32):
        event = {"type": "directory_installed", "time": EVENT["time"], "directory_version": version}
        assert parse_entry(entry_bytes(event))["directory_version"] == version


BAD_EVENTS = [
    ("content field", {**EVENT, "body": "the facts of the case"}),
    ("unknown field even when null", {**EVENT, "seq": None}),
    ("missing type", {k: v for k, v in EVENT.items() if k != "type"}),
    ("missing time", {k: v for k, v in EVENT.items() if k != "time"}),
    ("free-text type", {**EVENT, "type": "Suspect is John Doe"}),
    ("long type", {**EVENT, "type": "a" * 33}),
    ("upper-case type", {**EVENT, "type": "ACCEPTED"}),
    ("naive time", {**EVENT, "time": datetime(2025, 3, 1)}),
    ("local time text", {**EVENT, "time": "2025-03-01T12:00:00+01:00"}),
    ("msg_id upper case", {**EVENT, "msg_id": "0123456789ABCDEF0123456789ABCDEF"}),
    ("sender not a party", {**EVENT, "sender": "France"}),
    ("digest too short", {**EVENT, "envelope_sha256": "ab" * 31}),
    ("directory version negative", {**EVENT, "directory_version": -1}),
    ("directory version bool", {**EVENT, "directory_version": True}),
    ("directory version free text", {**EVENT, "directory_version": "version seven"}),
    ("directory version upper-case digest", {**EVENT, "directory_version": "AB" * 32}),
]


@pytest.mark.parametrize("event", [e for _, e in BAD_EVENTS], ids=[n for n, _ in BAD_EVENTS])
def test_entry_bytes_rejects(event: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        entry_bytes(event)


def test_entry_fields_are_the_designed_set() -> None:
    assert set(ENTRY_FIELDS) == {
        "type",
        "time",
        "msg_id",
        "sender",
        "recipient",
        "envelope_sha256",
        "receipt_sha256",
        "directory_version",
    }


def test_parse_entry_round_trip_and_strictness() -> None:
    data = entry_bytes(EVENT)
    assert entry_bytes(parse_entry(data)) == data
    with pytest.raises(DecodeError):
        parse_entry(data.replace(b",", b", ", 1))  # not canonical
    with pytest.raises(DecodeError):
        parse_entry(data[:-1] + b',"type":"X"}')  # duplicate key
    with pytest.raises(ValidationError):
        parse_entry(b'{"type":"accepted","time":"2025-03-01T12:00:00.000Z","body":"x"}')
    with pytest.raises(TooLarge):
        parse_entry(b" " * (MAX_ENTRY_BYTES + 1))
