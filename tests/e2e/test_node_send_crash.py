"""kill -9 of ``node send`` at named points: nothing confirmed is lost, nothing twice.

A real relay and the FR and DE daemons run on loopback. ``python -m node send`` is started
as a separate process again and again and killed (SIGKILL) at named points
(:mod:`node.cli.faults`: before it has sealed anything, once the sealed envelope is
committed, once it is submitted), never after a delay a loaded machine would stretch.
Then FR's daemon flushes what is queued. For every request FR's database holds, the
relay's ``ACCEPTED`` and DE's ``RETRIEVED`` arrive, and DE holds it exactly once; DE holds
nothing FR does not know it sent; every ``node send`` that printed a msg_id before it died
is among them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.cli.faults import PAUSE_ENV, PAUSE_FILE_ENV
from tests.e2e.nodeproc import LocalNetwork
from tests.support.processes import ROOT, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
POINTS = ("started", "queued", "submitted", "queued", "submitted", "started")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    network = LocalNetwork.create(
        tmp_path_factory.mktemp("crash"),
        ["FR", "DE"],
        relay_limits={"rate_per_second": 1000.0, "rate_burst": 1000.0},
    )
    with network.running("FR", "DE"):
        yield network


def test_kill_9_of_node_send_loses_nothing_and_sends_nothing_twice(
    net: LocalNetwork, tmp_path: Path
) -> None:
    fr, de = net["FR"], net["DE"]
    printed: set[str] = set()
    command = [sys.executable, "-m", "node", "send", "--to", "DE", "--kind", "ping"]
    command += ["--no-input", "--json", "--data", str(fr.data)]
    for attempt, point in enumerate(POINTS):
        marker = tmp_path / f"paused-{attempt}"
        pause = {PAUSE_ENV: point, PAUSE_FILE_ENV: str(marker)}
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **fr.env, **pause},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        wait_for(
            lambda m=marker, p=proc: m.exists() or p.poll() is not None, 120, f"{point} reached"
        )
        assert marker.exists(), f"node send ended before reaching {point}"
        proc.kill()
        out, _ = proc.communicate(timeout=10)
        if '"msg_id"' in out:
            printed.add(json.loads(out.splitlines()[-1])["msg_id"])

    sent = {m.msg_id for m in fr.messages("out")}
    assert sent, "no attempt got as far as committing a request: the test exercised nothing"
    assert printed <= sent, "a request confirmed to the officer is missing from the outbox"
    # The daemon flushes what the killed commands left queued.
    for msg_id in sent:
        wait_for(
            lambda msg_id=msg_id: {"ACCEPTED", "RETRIEVED"} <= set(fr.receipt_types(msg_id)),
            60,
            f"ACCEPTED and RETRIEVED for {msg_id}",
        )
    received = [m.msg_id for m in de.messages("in")]
    assert len(received) == len(set(received)), "a request was delivered twice"
    assert set(received) == sent, "DE holds a request FR does not know it sent, or misses one"
    # Each of FR's requests was submitted and accepted once as far as the relay is concerned.
    accepted = [r.msg_id for r in fr.all_receipts() if r.type == "ACCEPTED"]
    assert len(accepted) == len(set(accepted))
