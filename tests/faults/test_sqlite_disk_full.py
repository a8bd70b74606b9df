"""SQLite's disk really fills up under load and is freed again; the relay answers 503 and
says it is not ready meanwhile, recovers without a restart, and loses nothing it accepted.

The relay's database lives on a size-limited tmpfs mounted for the test (root only:
skipped, saying why, where mounting is not permitted). A real ``relay serve``, three
members submitting 20 KB envelopes without pause. After 20 ACCEPTED a filler file takes
every free byte of the tmpfs; the test waits for 10 answers of 503 and for ``/readyz``
to say ``disk_full``, deletes the filler, and waits for 20 more ACCEPTED. A write that
still fits in a free page of the database may be accepted while the disk is full: that
is correct, and counted like any other.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.load import Load, probe
from tests.integration.relaykit import make_member
from tests.integration.relayproc import RelayProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]
DISK_BYTES = 24 * 1024 * 1024  # the tmpfs: room for the database and its WAL, soon full
MIN_FREE = 2 * 1024 * 1024  # ready_min_free_bytes for this relay
ENV = {
    "POCNET_RELAY_RATE_PER_SECOND": "100000",
    "POCNET_RELAY_RATE_BURST": "100000",
    "POCNET_RELAY_READY_MIN_FREE_BYTES": str(MIN_FREE),
    "POCNET_RELAY_READY_PROBE_SECONDS": "0",
}
BEFORE, REFUSED, AFTER = 20, 10, 20


@contextlib.contextmanager
def small_disk(folder: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes mounted on ``folder`` (skip when mounting is refused)."""
    folder.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"a real full disk needs a tmpfs mount, refused here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30, check=False)


def fill(path: Path) -> int:
    """Write ``path`` until the disk has no byte left; the bytes written."""
    chunk, written = b"\0" * 65536, 0
    with open(path, "wb", buffering=0) as f:
        for _ in range(1_000_000):  # bounded: far more than any test disk holds
            try:
                written += f.write(chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                chunk = chunk[: len(chunk) // 2]  # the last few pages
                if not chunk:
                    return written
    raise AssertionError("the disk never filled up")


async def test_sqlite_disk_full_under_load(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", DISK_BYTES) as disk:
        db = f"sqlite+aiosqlite:///{disk / 'relay.db'}"
        relay = RelayProcess.create(tmp_path / "relay", database_url=db, env=ENV)
        senders = [make_member(p) for p in ("FR", "IT", "ES")]
        de = make_member("DE")
        for member in [*senders, de]:
            relay.add_member(member.bundle)
        filler = disk / "filler"
        with relay.running():
            load = Load(relay.url, senders, de, body={"text": "x" * 20_000})
            load.start()
            await load.until(lambda: len(load.accepted) >= BEFORE, f"{BEFORE} accepted before")
            filled = fill(filler)
            refused_from = load.statuses[503]
            await load.until(lambda: load.statuses[503] >= refused_from + REFUSED, "503s")
            status, ready, headers = await probe(relay.url, "/readyz")
            assert (status, ready["error"]) == (503, "disk_full"), ready
            assert "Retry-After" in headers
            during = len(load.accepted)
            os.unlink(filler)  # space again
            await load.until(lambda: len(load.accepted) >= during + AFTER, f"{AFTER} after")
            figures = await load.finish(relay)
    print(f"FAULT-SUMMARY sqlite-disk-full filler={filled} {figures}")
    load.check(figures)
