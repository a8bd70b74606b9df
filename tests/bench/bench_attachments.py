"""Sealed attachments on loopback: memory flat in the file's size, and throughput.

Set-up, once per file size (a fresh network each time, so each process's peak is its own):
a real ``relay serve`` (SQLite) and DE's ``node run`` daemon, each its own process; FR's
``node send --attach FILE`` as a third process. The file is generated here (pseudo-random,
not committed).

- **memory** (issue 15): the peak resident memory (``VmHWM``; for ``node send``,
  ``ru_maxrss`` of the exited child) of the sender, the relay and the recipient, for a
  10 MiB file and for a 1 GiB one (256 MiB with ``POCNET_BENCH_QUICK=1``). Goal: the big
  file's peak at most 1.1x the small file's, for each of the three.
- **throughput** (issue 15): the big file from the start of ``node send`` (sealing
  included) to DE's daemon having downloaded, verified and saved it; against a plain
  loopback copy of the same bytes in the same run: one aiohttp ``POST`` streaming the file
  to an aiohttp server in another process that reads and discards it. Goal: at least 0.5.
  Also shown, not judged: the upload alone (``node send`` until ``ACCEPTED``).

Run: ``python -m tests.bench attachments``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from multiprocessing import Process, Queue
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import aiohttp
from aiohttp import web

from node.forms.examples import example
from tests.bench import scoreboard
from tests.e2e.nodeproc import LocalNetwork, NodeProcess
from tests.e2e.test_attachments_e2e import MIB, attachment_states, make_file
from tests.support.processes import ROOT, wait_for

HIGH_RATE = {"rate_per_second": 100000.0, "rate_burst": 100000.0}
QUIET: dict[str, dict[str, Any]] = {"log": {"level": "info"}}
SMALL = 10 * MIB
MEMORY_GOAL = 1.1
THROUGHPUT_GOAL = 0.5


def hwm_kib(pid: int) -> int:
    """Peak resident set size of a running process, in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def _send(node: NodeProcess, path: Path) -> tuple[float, int, str]:
    """``node send --attach`` as a child: (seconds, its peak RSS in KiB, msg_id)."""
    form = node.data / "form.json"
    form.write_text(json.dumps(example("assistance_request", datetime.now(UTC), node.party)))
    args = ["send", "--to", "DE", "--kind", "assistance_request", "--form", str(form)]
    args += ["--no-input", "--attach", str(path), "--data", str(node.data), "--json"]
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "node", *args],
        cwd=ROOT,
        env={**os.environ, **node.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, out
    return elapsed, int(usage.ru_maxrss), json.loads(out)["msg_id"]


def transfer(root: Path, path: Path) -> dict[str, float]:
    """One file FR -> DE on a fresh network: times and the three peaks."""
    net = LocalNetwork.create(root, ["FR", "DE"], relay_limits=HIGH_RATE, options=QUIET)
    with net.running("DE"):
        fr, de = net["FR"], net["DE"]
        assert net.relay.proc and de.proc
        started = time.perf_counter()
        upload_s, sender_kib, msg_id = _send(fr, path)
        wait_for(
            lambda: {a["state"] for a in attachment_states(de, msg_id)} == {"complete"},
            3600,
            "DE verified the file",
        )
        total_s = time.perf_counter() - started
        return {
            "upload_s": upload_s,
            "total_s": total_s,
            "sender": sender_kib,
            "relay": hwm_kib(net.relay.proc.pid),
            "recipient": hwm_kib(de.proc.pid),
        }


def _sink(port_q: Queue) -> None:  # type: ignore[type-arg]
    async def handler(request: web.Request) -> web.Response:
        n = 0
        async for chunk in request.content.iter_chunked(MIB):
            n += len(chunk)
        return web.json_response({"bytes": n})

    async def serve() -> None:
        app = web.Application(client_max_size=0)
        app.router.add_post("/copy", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_q.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(serve())


def plain_copy(path: Path) -> float:
    """Seconds to POST the file's bytes to an aiohttp server in another process."""
    port_q: Queue = Queue()  # type: ignore[type-arg]
    server = Process(target=_sink, args=(port_q,), daemon=True)
    server.start()
    try:
        port = port_q.get(timeout=30)

        async def post() -> float:
            async with aiohttp.ClientSession() as session:
                started = time.perf_counter()
                with open(path, "rb") as f:
                    async with session.post(f"http://127.0.0.1:{port}/copy", data=f) as resp:
                        got = await resp.json()
                elapsed = time.perf_counter() - started
            assert got["bytes"] == path.stat().st_size
            return elapsed

        return asyncio.run(post())
    finally:
        server.terminate()
        server.join(10)


def main() -> None:
    quick = os.environ.get("POCNET_BENCH_QUICK") == "1"
    big = (256 if quick else 1024) * MIB
    with TemporaryDirectory(prefix="bench-att-") as tmp:
        folder = Path(tmp)
        small_file, big_file = folder / "small.bin", folder / "big.bin"
        make_file(small_file, SMALL, "bench small")
        make_file(big_file, big, "bench big")
        small = transfer(folder / "net-small", small_file)
        large = transfer(folder / "net-big", big_file)
        copy_s = plain_copy(big_file)
    label = f"{big // MIB} MiB"
    print(f"peak resident memory, 10 MiB vs {label}:")
    for who in ("sender", "relay", "recipient"):
        ratio = large[who] / small[who]
        print(
            f"  {who:9s} {small[who] / 1024:7.1f} MiB  {large[who] / 1024:7.1f} MiB  x{ratio:.2f}"
        )
        scoreboard.record(
            8,
            f"{who}: {label} vs 10 MiB",
            ratio,
            f"peak RSS x{ratio:.2f} ({large[who] / 1024:.1f} MiB)",
            f"10 MiB: {small[who] / 1024:.1f} MiB",
        )
    rate = big / MIB / large["total_s"]
    copy_rate = big / MIB / copy_s
    ratio = copy_s / large["total_s"]
    print(
        f"throughput of {label}: send -> verified at DE {large['total_s']:.1f} s "
        f"({rate:.1f} MiB/s); upload alone {large['upload_s']:.1f} s "
        f"({big / MIB / large['upload_s']:.1f} MiB/s)"
    )
    print(f"  baseline: a plain aiohttp loopback copy {copy_s:.2f} s ({copy_rate:.1f} MiB/s)")
    scoreboard.record(
        9,
        f"{label} FR -> verified at DE",
        ratio,
        f"{rate:.1f} MiB/s, ratio {ratio:.2f}",
        f"plain aiohttp copy {copy_rate:.1f} MiB/s",
    )
