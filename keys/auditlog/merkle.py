"""The audit log's Merkle tree: RFC 9162 hashing, appends, roots and proofs (no I/O).

Hashing is RFC 9162 section 2.1.1: a leaf is ``SHA-256(0x00 || entry)``, an inner node
``SHA-256(0x01 || left || right)``, the empty tree ``SHA-256("")``.

Storage model: the relay keeps the hash of every *complete* subtree, addressed by
``(level, index)``: the hash of leaves ``[index * 2**level, (index + 1) * 2**level)``. Level
0 holds the leaf hashes. Such a node never changes once written, so the table is
append-only. Appending a leaf writes the leaf and every subtree it completes (at most
``log2 n + 1`` rows); a root or a proof reads ``O(log n)`` rows and never rebuilds the tree.

Every operation that reads has two forms:

- a *plan* (:func:`root_nodes`, :func:`append_nodes`, :func:`inclusion_nodes`,
  :func:`consistency_nodes`) naming the ``(level, index)`` rows it needs, so an async caller
  can fetch them in one query and wrap the result in a :class:`DictStore`;
- the operation itself over any :class:`HashStore` (:func:`root`, :func:`append`,
  :func:`inclusion_proof`, :func:`consistency_proof`).

Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 and raises
:class:`keys.errors.Rejected` on any failure. :func:`mth`, :func:`reference_inclusion_proof`
and :func:`reference_consistency_proof` are the RFC's recursive definitions over a list of
leaf hashes, kept as the reference the store-based code is tested (and audited) against.
The entry format (what a leaf contains) lives in :mod:`keys.auditlog.entry`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from keys.errors import LocalError, Rejected, ValidationError

HASH_SIZE = 32
MAX_TREE_SIZE = (1 << 63) - 1
"""Largest tree size (and so index + 1) accepted: a signed 64-bit database integer."""
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]
"""``(level, index)`` of a complete subtree."""
Write = tuple[int, int, bytes]
"""``(level, index, hash)`` of a row to store."""
Plan = list[tuple[NodeId, ...]]
"""Per proof element, left to right, the complete subtrees whose fold is that element."""


class MissingNode(LocalError):
    """The hash store lacks a node it must hold (or holds something that is not a hash)."""

    code = "audit_store_incomplete"


class HashStore(Protocol):
    """Read access to stored complete-subtree hashes.

    ``get`` returns the 32-byte hash of subtree ``(level, index)`` or raises (any error;
    :class:`MissingNode` is the expected one). A plain ``dict`` is *not* a HashStore
    (``dict.get(a, b)`` has another meaning): wrap it in :class:`DictStore`.
    """

    def get(self, level: int, index: int) -> bytes:
        """The hash of complete subtree ``(level, index)``."""
        ...


class DictStore:
    """A :class:`HashStore` over an in-memory mapping ``{(level, index): hash}``."""

    def __init__(self, nodes: Mapping[NodeId, bytes] | None = None) -> None:
        self.nodes: dict[NodeId, bytes] = dict(nodes or {})

    def get(self, level: int, index: int) -> bytes:
        try:
            return self.nodes[(level, index)]
        except KeyError:
            raise MissingNode(f"audit store has no node at level {level} index {index}") from None

    def apply(self, writes: Iterable[Write]) -> None:
        """Store rows returned by :func:`append` or :func:`append_many`."""
        for level, index, value in writes:
            self.nodes[(level, index)] = value

    def __len__(self) -> int:
        return len(self.nodes)


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 leaf hash: ``SHA-256(0x00 || entry)``."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 inner node hash: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


# --- argument checks --------------------------------------------------------------------


def _check_size(value: object, name: str, *, low: int = 0) -> int:
    if type(value) is not int or not low <= value <= MAX_TREE_SIZE:
        raise ValidationError(
            f"{name} must be an integer from {low} to {MAX_TREE_SIZE}", code="bad_tree_range"
        )
    return value


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _get(store: HashStore, node: NodeId) -> bytes:
    value = store.get(*node)
    if not _is_hash(value):
        raise MissingNode(f"audit store node {node} is not a {HASH_SIZE}-byte hash")
    return value


def _fold(store: HashStore, nodes: Sequence[NodeId]) -> bytes:
    """Right fold of complete subtrees, left to right: ``H(n0, H(n1, ... n_last))``."""
    acc = _get(store, nodes[-1])
    for node in reversed(nodes[:-1]):
        acc = node_hash(_get(store, node), acc)
    return acc


# --- plans: which complete subtrees each operation reads --------------------------------


def range_nodes(start: int, end: int) -> tuple[NodeId, ...]:
    """The complete subtrees, left to right, that make up leaves ``[start, end)``.

    Valid for the ranges RFC 9162's recursion produces: ``start`` is a multiple of a power
    of two not smaller than ``end - start``, so the right fold of these subtrees is the
    range's MTH.
    """
    out: list[NodeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        out.append((level, start >> level))
        start += 1 << level
    return tuple(out)


def plan_nodes(plan: Plan) -> list[NodeId]:
    """Every node a plan reads, once each, sorted: what to fetch in one query."""
    return sorted({node for element in plan for node in element})


def root_nodes(size: int) -> tuple[NodeId, ...]:
    """The complete subtrees whose fold is the root of a tree of ``size`` leaves.

    Raises:
        ValidationError: ``size`` out of range.
    """
    return range_nodes(0, _check_size(size, "size"))


def append_nodes(size: int) -> tuple[NodeId, ...]:
    """The left siblings read when leaf number ``size`` is appended (bottom up).

    Raises:
        ValidationError: ``size`` out of range.
    """
    _check_size(size, "size")
    out: list[NodeId] = []
    level = 0
    while (size >> level) & 1:
        out.append((level, (size >> level) - 1))
        level += 1
    return tuple(out)


def _split(width: int) -> int:
    """Largest power of two strictly below ``width`` (``width`` >= 2)."""
    return 1 << ((width - 1).bit_length() - 1)


def inclusion_nodes(index: int, size: int) -> Plan:
    """Plan of the inclusion proof of leaf ``index`` in a tree of ``size`` leaves.

    Follows RFC 9162 section 2.1.3.1 (``PATH``); the proof's elements come leaf first.

    Raises:
        ValidationError: not ``0 <= index < size <= MAX_TREE_SIZE``.
    """
    _check_size(size, "size", low=1)
    _check_size(index, "index")
    if index >= size:
        raise ValidationError("index must be below the tree size", code="bad_tree_range")
    elements: Plan = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            elements.append(range_nodes(lo + k, hi))
            hi = lo + k
        else:
            elements.append(range_nodes(lo, lo + k))
            lo += k
    elements.reverse()
    return elements


def consistency_nodes(old_size: int, new_size: int) -> Plan:
    """Plan of the consistency proof from ``old_size`` to ``new_size`` leaves.

    Follows RFC 9162 section 2.1.4.1 (``SUBPROOF``). Empty when ``old_size`` is 0 or equal
    to ``new_size`` (those trees are consistent by definition).

    Raises:
        ValidationError: not ``0 <= old_size <= new_size <= MAX_TREE_SIZE``.
    """
    _check_size(new_size, "new size")
    _check_size(old_size, "old size")
    if old_size > new_size:
        raise ValidationError("old size must not exceed new size", code="bad_tree_range")
    if old_size in (0, new_size):
        return []
    elements: Plan = []
    lo, hi, whole = 0, new_size, True
    while old_size != hi:
        k = _split(hi - lo)
        if old_size <= lo + k:
            elements.append(range_nodes(lo + k, hi))
            hi = lo + k
        else:
            elements.append(range_nodes(lo, lo + k))
            lo += k
            whole = False
    if not whole:
        elements.append(range_nodes(lo, hi))
    elements.reverse()
    return elements


# --- operations over a store ------------------------------------------------------------


def append(store: HashStore, size: int, leaf: bytes) -> list[Write]:
    """Rows to store when ``leaf`` (a leaf hash) becomes leaf number ``size``.

    Reads the left siblings named by :func:`append_nodes`; returns the leaf row and one row
    per subtree it completes, bottom up. Store them before the next append.

    Raises:
        ValidationError: ``size`` out of range or ``leaf`` not 32 bytes.
        MissingNode: the store lacks a sibling.
    """
    _check_size(size, "size")
    if size >= MAX_TREE_SIZE:
        raise ValidationError("the audit tree is full", code="bad_tree_range")
    if not _is_hash(leaf):
        raise ValidationError(f"a leaf hash is {HASH_SIZE} bytes", code="bad_hash")
    acc = leaf
    writes: list[Write] = [(0, size, acc)]
    for level, index in append_nodes(size):
        acc = node_hash(_get(store, (level, index)), acc)
        writes.append((level + 1, index >> 1, acc))
    return writes


class _Overlay:
    """A store seen through rows not yet written."""

    def __init__(self, base: HashStore) -> None:
        self.base = base
        self.pending: dict[NodeId, bytes] = {}

    def get(self, level: int, index: int) -> bytes:
        found = self.pending.get((level, index))
        return found if found is not None else self.base.get(level, index)


def append_many(store: HashStore, size: int, leaves: Sequence[bytes]) -> list[Write]:
    """Rows to store when ``leaves`` become leaves ``size, size + 1, ...`` (one batch).

    Reads from ``store`` only nodes of the tree of ``size`` leaves (at most those of
    :func:`root_nodes`), so a caller may fetch those, append a whole group commit, and
    write every returned row in the same transaction.

    Raises:
        ValidationError, MissingNode: as :func:`append`.
    """
    overlay = _Overlay(store)
    writes: list[Write] = []
    for offset, leaf in enumerate(leaves):
        rows = append(overlay, size + offset, leaf)
        for level, index, value in rows:
            overlay.pending[(level, index)] = value
        writes.extend(rows)
    return writes


def root(store: HashStore, size: int) -> bytes:
    """The root hash (MTH) of the first ``size`` leaves.

    Raises:
        ValidationError: ``size`` out of range.
        MissingNode: the store lacks a node.
    """
    nodes = root_nodes(size)
    return _fold(store, nodes) if nodes else EMPTY_ROOT


def inclusion_proof(store: HashStore, index: int, size: int) -> list[bytes]:
    """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves.

    Raises:
        ValidationError: not ``0 <= index < size``.
        MissingNode: the store lacks a node.
    """
    return [_fold(store, nodes) for nodes in inclusion_nodes(index, size)]


def consistency_proof(store: HashStore, old_size: int, new_size: int) -> list[bytes]:
    """RFC 9162 consistency proof between the trees of ``old_size`` and ``new_size`` leaves.

    Raises:
        ValidationError: not ``0 <= old_size <= new_size``.
        MissingNode: the store lacks a node.
    """
    return [_fold(store, nodes) for nodes in consistency_nodes(old_size, new_size)]


# --- verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2) -------------------------------


def inclusion_proof_length(index: int, size: int) -> int:
    """Number of hashes in the inclusion proof of ``index`` in a tree of ``size`` leaves."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def consistency_proof_length(old_size: int, new_size: int) -> int:
    """Number of hashes in the consistency proof from ``old_size`` to ``new_size``."""
    if old_size in (0, new_size):
        return 0
    shift = (old_size & -old_size).bit_length() - 1
    index = (old_size - 1) >> shift
    inner = (index ^ ((new_size - 1) >> shift)).bit_length()
    return (1 if index else 0) + inner + (index >> inner).bit_count()


def _proof_hashes(proof: object, expected: int) -> list[bytes]:
    if not isinstance(proof, list | tuple) or len(proof) != expected:
        raise Rejected("audit_proof_length")
    if not all(_is_hash(item) for item in proof):
        raise Rejected("audit_proof_malformed")
    return list(proof)


def _int_arg(value: object, low: int) -> int:
    if type(value) is not int or not low <= value <= MAX_TREE_SIZE:
        raise Rejected("audit_proof_malformed")
    return value


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """Check that ``leaf`` (a leaf hash) is leaf ``index`` of the tree ``root_hash``.

    Raises:
        Rejected: ``audit_proof_malformed`` or ``audit_proof_length`` (arguments or proof of
            the wrong shape), ``audit_inclusion`` (the hashes do not lead to the root).
    """
    size = _int_arg(size, 1)
    index = _int_arg(index, 0)
    if index >= size or not (_is_hash(leaf) and _is_hash(root_hash)):
        raise Rejected("audit_proof_malformed")
    path = _proof_hashes(proof, inclusion_proof_length(index, size))
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise Rejected("audit_inclusion")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or not _same(r, root_hash):
        raise Rejected("audit_inclusion")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``new_root`` of ``new_size`` leaves extends ``old_root``.

    ``old_size == 0`` needs an empty proof and ``old_root`` equal to the empty tree's root;
    ``old_size == new_size`` needs an empty proof and equal roots.

    Raises:
        Rejected: ``audit_proof_malformed``/``audit_proof_length`` (shape),
            ``audit_consistency`` (the hashes do not lead to both roots).
    """
    new_size = _int_arg(new_size, 0)
    old_size = _int_arg(old_size, 0)
    if old_size > new_size or not (_is_hash(old_root) and _is_hash(new_root)):
        raise Rejected("audit_proof_malformed")
    path = _proof_hashes(proof, consistency_proof_length(old_size, new_size))
    if old_size == 0:
        if not _same(old_root, EMPTY_ROOT):
            raise Rejected("audit_consistency")
        return
    if old_size == new_size:
        if not _same(old_root, new_root):
            raise Rejected("audit_consistency")
        return
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise Rejected("audit_consistency")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or not (_same(fr, old_root) & _same(sr, new_root)):
        raise Rejected("audit_consistency")


# --- reference definitions (RFC 9162 section 2.1) over a list of leaf hashes ------------


def mth(leaves: Sequence[bytes], lo: int = 0, hi: int | None = None) -> bytes:
    """RFC 9162 Merkle Tree Hash of leaf hashes ``leaves[lo:hi]``, by its definition."""
    hi = len(leaves) if hi is None else hi
    if hi == lo:
        return EMPTY_ROOT
    if hi - lo == 1:
        return leaves[lo]
    k = _split(hi - lo)
    return node_hash(mth(leaves, lo, lo + k), mth(leaves, lo + k, hi))


def reference_inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 ``PATH(index, D[n])`` by its recursive definition (for tests and audits)."""

    def path(m: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = _split(hi - lo)
        if m < k:
            return [*path(m, lo, lo + k), mth(leaves, lo + k, hi)]
        return [*path(m - k, lo + k, hi), mth(leaves, lo, lo + k)]

    return path(index, 0, len(leaves))


def reference_consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 ``PROOF(m, D[n])`` by its recursive definition (for tests and audits)."""

    def subproof(m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        if m == hi - lo:
            return [] if whole else [mth(leaves, lo, hi)]
        k = _split(hi - lo)
        if m <= k:
            return [*subproof(m, lo, lo + k, whole), mth(leaves, lo + k, hi)]
        return [*subproof(m - k, lo + k, hi, False), mth(leaves, lo, lo + k)]

    if old_size in (0, len(leaves)):
        return []
    return subproof(old_size, 0, len(leaves), True)
