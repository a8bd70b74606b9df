"""Audit log maths: appends and proofs at 10^4, 10^5 and 10^6 entries.

Two stores of complete-subtree hashes, the layout the relay will use:

- ``dict``: :class:`keys.auditlog.merkle.DictStore` in memory;
- ``sqlite``: a table ``nodes(level, idx, hash)`` with primary key ``(level, idx)`` in a
  WAL-mode SQLite file (stdlib ``sqlite3``), read either one node per ``SELECT`` (the
  :class:`keys.auditlog.merkle.HashStore` protocol as is) or with one ``SELECT`` per proof: the
  proof's plan (:func:`keys.auditlog.merkle.inclusion_nodes`) names its nodes, they are fetched
  together and the proof is computed over a :class:`~keys.auditlog.merkle.DictStore` of them, which
  is how an async relay calls the pure code.

Measured in the same run: the append rate, the time to generate an inclusion and a
consistency proof (mean over random indices), the time to verify one, and baselines: one
SHA-256 of 64 bytes, one dict lookup, one primary-key ``SELECT``. Proof costs should grow
like log2(n) (reads and hashes per proof), not like n. Target: a proof in under 1 ms at
10^6 entries.

Run: ``make bench`` or ``python -m tests.bench merkle``.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from keys.auditlog import merkle
from keys.auditlog.merkle import DictStore, Plan, Write

SIZES = (10**4, 10**5, 10**6)
PROOFS = 2000
APPENDS = 5000
TARGET_SECONDS = 1e-3


def per_call(fn: Callable[[], object], count: int, rounds: int = 3) -> float:
    """Best mean seconds per call of ``fn`` over ``rounds`` runs of ``count`` calls."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(count):
            fn()
        best = min(best, (time.perf_counter() - started) / count)
    return best


class SqliteStore:
    """A HashStore over the ``nodes`` table: one ``SELECT`` per node."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def get(self, level: int, index: int) -> bytes:
        row = self.db.execute(
            "SELECT hash FROM nodes WHERE level = ? AND idx = ?", (level, index)
        ).fetchone()
        if row is None:
            raise merkle.MissingNode(f"no node {level}/{index}")
        value: bytes = row[0]
        return value

    def fetch(self, plan: Plan) -> DictStore:
        """Every node of ``plan`` in one query."""
        nodes = merkle.plan_nodes(plan)
        if not nodes:
            return DictStore()
        # An OR of key lookups: SQLite plans it as one index search per node. (A row-value
        # "(level, idx) IN (VALUES ...)" scans the whole table: O(n), not O(log n).)
        where = " OR ".join("(level = ? AND idx = ?)" for _ in nodes)
        args = [v for node in nodes for v in node]
        rows = self.db.execute(f"SELECT level, idx, hash FROM nodes WHERE {where}", args)
        return DictStore({(level, idx): value for level, idx, value in rows})

    def insert(self, writes: Iterable[Write]) -> None:
        self.db.executemany("INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)", writes)


def open_sqlite(path: Path, nodes: dict[tuple[int, int], bytes], size: int) -> sqlite3.Connection:
    """A fresh SQLite file holding the nodes of the tree of ``size`` leaves."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
        " PRIMARY KEY (level, idx)) WITHOUT ROWID"
    )
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO nodes VALUES (?, ?, ?)",
        (
            (level, idx, value)
            for (level, idx), value in nodes.items()
            if (idx + 1) << level <= size
        ),
    )
    db.execute("COMMIT")
    return db


def leaf(i: int) -> bytes:
    return merkle.leaf_hash(b'{"seq":%d}' % i)


def bench_proofs(
    label: str,
    size: int,
    inclusion: Callable[[int, int], list[bytes]],
    consistency: Callable[[int, int], list[bytes]],
    rng: random.Random,
) -> tuple[float, float]:
    indices = [rng.randrange(size) for _ in range(PROOFS)]
    olds = [rng.randrange(1, size) for _ in range(PROOFS)]
    it_i, it_c = iter(indices * 3), iter(olds * 3)
    t_inc = per_call(lambda: inclusion(next(it_i), size), PROOFS)
    t_con = per_call(lambda: consistency(next(it_c), size), PROOFS)
    print(f"  {label:<26} inclusion {t_inc * 1e6:8.1f} us   consistency {t_con * 1e6:8.1f} us")
    return t_inc, t_con


class CountingStore:
    """Counts reads, to show the work per proof apart from memory effects."""

    def __init__(self, inner: DictStore) -> None:
        self.inner, self.reads = inner, 0

    def get(self, level: int, index: int) -> bytes:
        self.reads += 1
        return self.inner.get(level, index)


def reads_per_proof(store: DictStore, size: int, rng: random.Random) -> float:
    """Mean store reads of an inclusion and a consistency proof at ``size``."""
    counting = CountingStore(store)
    for _ in range(500):
        merkle.inclusion_proof(counting, rng.randrange(size), size)
        merkle.consistency_proof(counting, rng.randrange(1, size), size)
    return counting.reads / 1000


def bench_size(size: int, store: DictStore, tmp: Path, rng: random.Random) -> dict[str, float]:
    """Grow ``store`` to ``size`` leaves and measure everything at that size."""
    built = _leaves(store)
    started = time.perf_counter()
    for i in range(built, size):
        store.apply(merkle.append(store, i, leaf(i)))
    rate = (size - built) / (time.perf_counter() - started)
    root = merkle.root(store, size)
    print(f"\nn = {size:,}  (log2 n = {size.bit_length() - 1}; {len(store):,} stored nodes)")
    print(f"  dict append                {rate:10,.0f} /s  ({1e6 / rate:.1f} us each)")
    r = {"append_dict": 1 / rate}
    keys = [(0, rng.randrange(size)) for _ in range(4096)]
    it_k = iter(keys * 200)
    r["lookup"] = per_call(lambda: store.nodes[next(it_k)], 4096 * 50)
    r["reads"] = reads_per_proof(store, size, rng)
    print(
        f"  per proof: {r['reads']:.1f} node reads on average;"
        f" a random lookup in this dict {r['lookup'] * 1e6:.3f} us"
    )
    r["inc_dict"], r["con_dict"] = bench_proofs(
        "dict",
        size,
        lambda i, n: merkle.inclusion_proof(store, i, n),
        lambda o, n: merkle.consistency_proof(store, o, n),
        rng,
    )
    index = size // 3
    proof, lh = merkle.inclusion_proof(store, index, size), leaf(index)
    t_verify = per_call(lambda: merkle.verify_inclusion(lh, index, size, proof, root), 5000)
    print(f"  verify one inclusion proof {t_verify * 1e6:8.1f} us")

    started = time.perf_counter()
    db = open_sqlite(tmp / f"n{size}.db", store.nodes, size)
    print(f"  sqlite table built in {time.perf_counter() - started:.1f} s (executemany)")
    sq = SqliteStore(db)
    r["select"] = per_call(lambda: sq.get(0, size // 2), 20_000)
    print(f"  baseline: one SELECT by key {r['select'] * 1e6:7.1f} us")
    r["inc_sql"], r["con_sql"] = bench_proofs(
        "sqlite, SELECT per node",
        size,
        lambda i, n: merkle.inclusion_proof(sq, i, n),
        lambda o, n: merkle.consistency_proof(sq, o, n),
        rng,
    )
    r["inc_sql1"], r["con_sql1"] = bench_proofs(
        "sqlite, one SELECT/proof",
        size,
        lambda i, n: merkle.inclusion_proof(sq.fetch(merkle.inclusion_nodes(i, n)), i, n),
        lambda o, n: merkle.consistency_proof(sq.fetch(merkle.consistency_nodes(o, n)), o, n),
        rng,
    )
    assert merkle.inclusion_proof(sq, index, size) == proof
    # Appends against SQLite: read the siblings, insert the rows; one transaction.
    db.execute("BEGIN")
    started = time.perf_counter()
    for i in range(size, size + APPENDS):
        sq.insert(merkle.append(sq, i, leaf(i)))
    r["append_sql"] = (time.perf_counter() - started) / APPENDS
    db.execute("COMMIT")
    each = r["append_sql"] * 1e6
    print(f"  sqlite append              {1 / r['append_sql']:10,.0f} /s  ({each:.1f} us each)")
    grown = merkle.root(sq, size + APPENDS)
    extension = merkle.consistency_proof(sq, size, size + APPENDS)
    merkle.verify_consistency(size, size + APPENDS, root, grown, extension)
    db.close()
    return r


def _leaves(store: DictStore) -> int:
    """Number of leaves in ``store`` (its level-0 nodes)."""
    return sum(1 for level, _ in store.nodes if level == 0)


def main() -> None:
    rng = random.Random(2025)
    block = os.urandom(64)
    t_sha = per_call(lambda: hashlib.sha256(block).digest(), 200_000)
    table = {(i, i): block for i in range(1000)}
    t_dict = per_call(lambda: table[(500, 500)], 500_000)
    print("baselines (same run):")
    print(f"  one SHA-256 of 64 bytes     {t_sha * 1e6:8.3f} us")
    print(f"  one dict lookup             {t_dict * 1e6:8.3f} us")

    store = DictStore()
    with tempfile.TemporaryDirectory(prefix="bench-merkle-") as tmp:
        results = {size: bench_size(size, store, Path(tmp), rng) for size in SIZES}

    small, big = results[SIZES[0]], results[SIZES[-1]]
    log_ratio = (SIZES[-1].bit_length() - 1) / (SIZES[0].bit_length() - 1)
    print(f"\ngrowth from 10^4 to 10^6 entries (log2 n grows x{log_ratio:.2f}, n grows x100):")
    for key, name in [
        ("reads", "node reads per proof"),
        ("lookup", "one random dict lookup"),
        ("inc_dict", "dict inclusion"),
        ("con_dict", "dict consistency"),
        ("inc_sql", "sqlite inclusion"),
        ("inc_sql1", "sqlite inclusion, 1 query"),
        ("con_sql1", "sqlite consistency, 1 query"),
    ]:
        print(f"  {name:<28} x{big[key] / small[key]:.2f}")
    print("ratios at 10^6:")
    print(f"  dict inclusion proof        = {big['inc_dict'] / t_sha:6.1f} SHA-256 of 64 bytes")
    print(f"  sqlite inclusion proof      = {big['inc_sql'] / big['select']:6.1f} keyed SELECTs")
    worst = max(v for k, v in big.items() if k.startswith(("inc", "con")))
    verdict = "met" if worst < TARGET_SECONDS else "MISSED"
    print(f"target: a proof under 1 ms at 10^6 entries: {verdict} (slowest {worst * 1e6:.0f} us)")


if __name__ == "__main__":
    main()
