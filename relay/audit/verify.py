"""``relay audit verify``: recompute the whole audit log from the database and compare.

From the ``events`` table alone, in ``seq`` order, a few thousand rows at a time, it
rebuilds every entry (:meth:`relay.audit.append.Event.entry`), every leaf hash and every complete
subtree hash, and compares them with the stored ``merkle_nodes`` rows; it checks that
``seq`` has no gap, that no stored row lies beyond the log, and, at each stored checkpoint's
size, the checkpoint's signature (the relay's key, the configured origin), that its
columns say what its signed note says, that its root is the recomputed root of that many
entries, and that checkpoint times never go backwards.

It stops after the chunk where it finds a problem and reports the *earliest* one, by
position in the log, with the entry it concerns (seq, type, msg_id). Which change each
kind of problem reveals:

- ``event_missing`` / ``event_invalid``: an event row was deleted, or changed into
  something no relay writes;
- ``leaf_mismatch``: an event row (or its stored leaf hash) was changed;
- ``node_mismatch`` / ``node_missing`` / ``node_extra``: the stored tree was changed;
- ``checkpoint_root``: events were changed *and* the tree rebuilt to match: only the
  signed checkpoints still remember the original; the entries concerned lie between the
  last checkpoint that matches and this one;
- ``checkpoint_signature`` / ``checkpoint_row`` / ``checkpoint_time`` /
  ``checkpoint_beyond_log``: a checkpoint row was changed, or events were removed from
  the end of the log.

Memory stays small: only the tree's border (at most 63 hashes) is kept between chunks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from keys.auditlog import checkpoint as signed_checkpoint
from keys.auditlog import merkle
from keys.errors import Rejected
from keys.identities import VerifyKey
from relay.audit import append as audit
from relay.audit.checkpoints import StoredCheckpoint
from relay.storage.schema import checkpoints, events, merkle_nodes

CHUNK = 5000
_CHECKPOINT_PAGE = 1000


@dataclass(frozen=True)
class Problem:
    """The first thing found wrong, and the entry it concerns."""

    kind: str
    message: str
    seq: int | None = None
    type: str | None = None
    msg_id: str | None = None
    checkpoint_id: int | None = None
    node: tuple[int, int] | None = None


@dataclass(frozen=True)
class Report:
    """What ``relay audit verify`` found."""

    entries: int
    nodes: int
    checkpoints: int
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_json(self) -> dict[str, Any]:
        problem = None if self.problem is None else asdict(self.problem)
        return {
            "ok": self.ok,
            "entries": self.entries,
            "nodes_checked": self.nodes,
            "checkpoints_checked": self.checkpoints,
            "problem": problem,
        }


Progress = Callable[[int, int], None]


async def _checkpoints(conn: AsyncConnection) -> AsyncIterator[StoredCheckpoint]:
    """Every stored checkpoint, by size then signing order, a page at a time."""
    after: tuple[int, int] = (-1, -1)
    cols = (
        checkpoints.c.tree_size,
        checkpoints.c.id,
        checkpoints.c.root,
        checkpoints.c.signed_at,
        checkpoints.c.note,
    )
    while True:
        query = (
            select(*cols)
            .where(
                or_(
                    checkpoints.c.tree_size > after[0],
                    and_(checkpoints.c.tree_size == after[0], checkpoints.c.id > after[1]),
                )
            )
            .order_by(checkpoints.c.tree_size, checkpoints.c.id)
            .limit(_CHECKPOINT_PAGE)
        )
        rows: list[Any] = list((await conn.execute(query)).all())
        if not rows:
            return
        for row in rows:
            size, cid, root, signed_at, note = row
            yield StoredCheckpoint(int(cid), int(size), bytes(root), signed_at, bytes(note))
        after = (int(rows[-1][0]), int(rows[-1][1]))


def _chunk_filter(start: int, end: int) -> Any:
    """Stored rows written while appending entries ``[start, end)``: per level, an idx range."""
    terms = []
    level = 0
    while (end >> level) > (start >> level):
        terms.append(
            and_(
                merkle_nodes.c.level == level,
                merkle_nodes.c.idx >= start >> level,
                merkle_nodes.c.idx < end >> level,
            )
        )
        level += 1
    return or_(*terms)


def _beyond_filter(size: int) -> Any:
    """Stored rows that no append of the first ``size`` entries writes."""
    return or_(
        *(
            and_(merkle_nodes.c.level == level, merkle_nodes.c.idx >= size >> level)
            for level in range(64)
        )
    )


class _Verifier:
    def __init__(self, keys: Sequence[VerifyKey], origin: str) -> None:
        self.keys = list(keys)
        self.origin = origin
        self.store = merkle.DictStore()
        self.size = 0
        self.nodes = 0
        self.checked = 0
        self.last_good_size = 0
        self.last_cp: StoredCheckpoint | None = None
        self.problems: list[tuple[tuple[int, int], Problem]] = []

    def problem(self, position: int, order: int, problem: Problem) -> None:
        self.problems.append(((position, order), problem))

    def first(self) -> Problem | None:
        return min(self.problems, key=lambda p: p[0])[1] if self.problems else None

    def open_note(self, cp: StoredCheckpoint) -> signed_checkpoint.Checkpoint:
        reason = "note_unsigned"
        for key in self.keys:
            try:
                return signed_checkpoint.verify(cp.note, key, self.origin)
            except Rejected as e:
                reason = e.reason
        raise Rejected(reason)

    def check_checkpoint(self, cp: StoredCheckpoint) -> None:
        """``cp`` is of the current size: its root is computable from the store."""
        self.checked += 1
        text: str | None = None
        try:
            head = self.open_note(cp)
        except Rejected as e:
            kind, text = "checkpoint_signature", f"does not verify ({e.reason})"
        else:
            if (head.size, head.root_hash, head.time) != (cp.tree_size, cp.root, cp.signed_at):
                kind, text = "checkpoint_row", "its stored size, root or time differ from its note"
            elif head.root_hash != merkle.root(self.store, cp.tree_size):
                kind = "checkpoint_root"
                text = (
                    f"signed another root for the first {cp.tree_size} entries: entries "
                    f"{self.last_good_size} to {cp.tree_size - 1} were changed after it was signed"
                )
            elif self.last_cp is not None and cp.signed_at < self.last_cp.signed_at:
                kind = "checkpoint_time"
                text = (
                    f"was signed before checkpoint {self.last_cp.id} of a smaller or equal "
                    "log: nodes would see a rollback"
                )
        if text is None:
            self.last_cp = cp
            self.last_good_size = cp.tree_size
            return
        seq = cp.tree_size - 1 if cp.tree_size else None
        message = f"checkpoint {cp.id} (size {cp.tree_size}) {text}"
        self.problem(max(cp.tree_size - 1, 0), 2, Problem(kind, message, seq, checkpoint_id=cp.id))


async def verify_log(
    engine: AsyncEngine,
    keys: Sequence[VerifyKey],
    origin: str,
    *,
    progress: Progress | None = None,
    chunk: int = CHUNK,
) -> Report:
    """Recompute the audit log in ``engine``'s database and report the first problem.

    ``keys`` are the relay's checkpoint keys (the current one, and earlier ones after a
    rotation); ``origin`` is the log's (``pocnet.relay/<network>``).
    """
    v = _Verifier(keys, origin)
    async with engine.connect() as conn, engine.connect() as cp_conn:
        total = await audit.committed_size(conn)
        cps = _checkpoints(cp_conn)
        cp = await anext(cps, None)
        while cp is not None and cp.tree_size == 0:
            v.check_checkpoint(cp)
            cp = await anext(cps, None)
        while not v.problems:
            start = v.size
            query = select(events).where(events.c.seq >= start).order_by(events.c.seq).limit(chunk)
            rows = [r._mapping for r in await conn.execute(query)]
            if not rows:
                break
            computed: dict[tuple[int, int], tuple[bytes, Any]] = {}
            for row in rows:
                seq = int(row["seq"])
                if seq != v.size:
                    v.problem(
                        v.size,
                        0,
                        Problem("event_missing", f"there is no event {v.size}", seq=v.size),
                    )
                    break
                try:
                    entry = audit.Event.from_row(row).entry()
                except (ValueError, TypeError) as e:
                    v.problem(
                        seq,
                        0,
                        Problem(
                            "event_invalid",
                            f"event {seq} is not a loggable event: {e}",
                            seq=seq,
                            type=str(row["type"]),
                            msg_id=row["msg_id"],
                        ),
                    )
                    break
                writes = merkle.append(v.store, seq, merkle.leaf_hash(entry))
                v.store.apply(writes)
                for level, idx, value in writes:
                    computed[(level, idx)] = (value, row)
                v.size += 1
                while cp is not None and cp.tree_size == v.size:
                    v.check_checkpoint(cp)
                    cp = await anext(cps, None)
            if v.size > start:
                await _compare_nodes(conn, v, start, computed)
            v.store = merkle.DictStore(
                {node: v.store.get(*node) for node in merkle.root_nodes(v.size)}
            )
            if progress is not None:
                progress(v.size, total)
        if not v.problems:
            await _check_end(conn, v, cp, cps)
    return Report(v.size, v.nodes, v.checked, v.first())


async def _compare_nodes(
    conn: AsyncConnection,
    v: _Verifier,
    start: int,
    computed: dict[tuple[int, int], tuple[bytes, Any]],
) -> None:
    query = select(merkle_nodes.c.level, merkle_nodes.c.idx, merkle_nodes.c.hash).where(
        _chunk_filter(start, v.size)
    )
    result: Any = await conn.execute(query)
    stored = {(int(lv), int(ix)): bytes(h) for lv, ix, h in result}
    for (level, idx), (value, row) in computed.items():
        v.nodes += 1
        found = stored.get((level, idx))
        if found == value:
            continue
        seq = ((idx + 1) << level) - 1  # the entry whose append wrote this row
        about = {"seq": seq, "type": str(row["type"]), "msg_id": row["msg_id"]}
        if found is None:
            kind, text = "node_missing", f"the stored tree lacks node ({level}, {idx})"
        elif level == 0:
            kind, text = "leaf_mismatch", f"event {seq} does not hash to its stored leaf"
        else:
            kind = "node_mismatch"
            text = (
                f"stored node ({level}, {idx}) (entries {idx << level} to {seq}) "
                "is not the hash of its children"
            )
        v.problem(seq, 1, Problem(kind, text, node=(level, idx), **about))


async def _check_end(
    conn: AsyncConnection,
    v: _Verifier,
    cp: StoredCheckpoint | None,
    cps: AsyncIterator[StoredCheckpoint],
) -> None:
    if cp is not None:
        v.problem(
            v.size,
            3,
            Problem(
                "checkpoint_beyond_log",
                f"checkpoint {cp.id} was signed for {cp.tree_size} entries, the log has "
                f"{v.size}: entries were removed from its end",
                checkpoint_id=cp.id,
            ),
        )
        return
    query = select(merkle_nodes.c.level, merkle_nodes.c.idx).where(_beyond_filter(v.size)).limit(1)
    extra = (await conn.execute(query)).first()
    if extra is not None:
        level, idx = int(extra[0]), int(extra[1])
        v.problem(
            v.size,
            3,
            Problem(
                "node_extra",
                f"the stored tree has node ({level}, {idx}) beyond the log's {v.size} entries: "
                "events were removed from its end",
                node=(level, idx),
            ),
        )
