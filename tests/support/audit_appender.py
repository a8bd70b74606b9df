"""A second relay process for audit tests: append events to a relay database, then exit.

``python -m tests.support.audit_appender URL FIRST COUNT FOLDER`` runs its own
:class:`relay.storage.writer.Writer` (so its own kept border) on the database at ``URL``
and appends events ``FIRST`` to ``FIRST + COUNT - 1`` of
:func:`tests.unit.relay.test_audit.make_event`'s history, one transaction each, as fast as
it can: run beside another writer, the two interleave under the audit lock. So that they
do start together, it writes ``FOLDER/ready-FIRST`` once connected and waits (at most 30 s)
for ``FOLDER/go``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from relay.audit.append import append_event
from relay.storage.database import make_engine
from relay.storage.writer import Tx, Writer
from tests.unit.relay.test_audit import make_event


async def append(url: str, first: int, count: int, folder: Path) -> None:
    engine = make_engine(url)
    writer = Writer(engine)
    writer.start()
    try:
        async with engine.connect():
            pass
        (folder / f"ready-{first}").touch()
        deadline = time.monotonic() + 30
        while not (folder / "go").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("no go from the test")
            await asyncio.sleep(0.01)
        for i in range(first, first + count):

            async def op(tx: Tx, i: int = i) -> int:
                return await append_event(tx, make_event(i))

            await writer.run(op)
    finally:
        await writer.close()
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(append(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])))
