"""Opening the node's database: a failed open leaves no aiosqlite worker thread behind.

Each aiosqlite connection has a worker thread; one that is never closed outlives the
event loop, and when it is collected later its thread reports to a closed loop (a warning
in some other test). A database written by a newer version is refused, and its engines
are disposed of before the error goes up.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from node.storage import schema
from node.storage.database import StoreError
from node.storage.store import Store


def _aiosqlite_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}


def _settled(before: set[threading.Thread]) -> set[threading.Thread]:
    """aiosqlite threads started since ``before`` and still alive after a bounded wait."""
    deadline = time.monotonic() + 10
    while (extra := _aiosqlite_threads() - before) and time.monotonic() < deadline:
        time.sleep(0.01)
    return extra


async def test_a_newer_database_is_refused_and_nothing_is_left_open(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    store = await Store.open(path)
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'",
            (str(schema.SCHEMA_VERSION + 1),),
        )
    before = _aiosqlite_threads()
    with pytest.raises(StoreError, match="newer version"):
        await Store.open(path)
    assert _settled(before) == set()


async def test_an_open_and_close_leave_nothing_running(tmp_path: Path) -> None:
    before = _aiosqlite_threads()
    store = await Store.open(tmp_path / "node.db")
    assert (await store.counts()) is not None  # a read and a write engine both used
    await store.close()
    assert _settled(before) == set()
