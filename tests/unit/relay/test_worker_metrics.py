"""The workers' shared metrics (ADR 0013), with forked processes standing in for workers.

Each child switches to the multiprocess files as a worker does, counts and polls, and
exits; another child answers a scrape: sums over the workers, the newest poll, its own
start for a member that polled none, former members left out, one start time per worker
until an exited one is marked dead. The test process's own metrics stay in memory.
"""

from __future__ import annotations

import multiprocessing
import os
import stat
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

from relay.monitoring.metrics import RelayMetrics
from relay.monitoring.multiprocess import ENV, join_metric_files, metric_files, worker_exited
from tests.unit.relay.test_operator_metrics import samples

T0 = datetime(2026, 1, 1, tzinfo=UTC)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _worker(path: str, accepts: int, polls: dict[str, int]) -> None:
    """A worker's life in a forked child: accepts, polls, exit."""
    join_metric_files()
    metrics = RelayMetrics(version="9.9", started=T0, shared_dir=path)
    for _ in range(accepts):
        metrics.accepted.inc()
        metrics.responded(201)
    for party, second in polls.items():
        metrics.polled(party, T0 + timedelta(seconds=second))
    os._exit(0)  # skip the parent's pytest teardown in the fork


def _run(path: str, accepts: int, polls: dict[str, int]) -> int:
    proc = multiprocessing.get_context("fork").Process(target=_worker, args=(path, accepts, polls))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0 and proc.pid is not None
    return proc.pid


def _scrape(path: str, members: list[str], send: Connection) -> None:
    """A third worker answers a scrape: the database's figures, then every worker's."""
    join_metric_files()
    here = RelayMetrics(version="9.9", started=T0 + timedelta(seconds=1), shared_dir=path)
    here.set_queues({"DE": 3}, None, T0 + timedelta(seconds=60))
    here.set_state(
        now=T0 + timedelta(seconds=60),
        schema="0004",
        overdue={},
        checkpoint_size=2,
        checkpoint_at=T0,
        directory_version=None,
        directory_expires=None,
        members=members,
        disk_free=None,
    )
    send.send_bytes(here.render())
    os._exit(0)


def _render(path: str, members: list[str]) -> tuple[int, Samples]:
    """The scraping worker's pid and what it served."""
    receive, send = multiprocessing.Pipe(duplex=False)
    proc = multiprocessing.get_context("fork").Process(target=_scrape, args=(path, members, send))
    proc.start()
    assert receive.poll(60), "no page from the scraping worker"
    text = receive.recv_bytes().decode()
    proc.join(60)
    assert proc.pid is not None
    return proc.pid, samples(text)


def test_one_render_sums_every_worker_and_keeps_to_members() -> None:
    assert ENV not in os.environ
    with metric_files() as path:
        assert os.environ[ENV] == path
        assert stat.S_IMODE(Path(path).stat().st_mode) == 0o700
        first = _run(path, 3, {"DE": 10, "XX": 20})
        second = _run(path, 4, {"DE": 30, "FR": 5})
        third, got = _render(path, ["DE", "FR", "IT"])
        assert got[("pocnet_relay_envelopes_accepted_total", ())] == 7
        assert got[("pocnet_relay_http_responses_total", (("code_class", "2xx"),))] == 7
        last = "pocnet_relay_member_last_poll_timestamp_seconds"
        polls = {k[1][0][1]: v for k, v in got.items() if k[0] == last}
        assert polls == {
            "DE": (T0 + timedelta(seconds=30)).timestamp(),  # the newest over workers
            "FR": (T0 + timedelta(seconds=5)).timestamp(),
            "IT": (T0 + timedelta(seconds=1)).timestamp(),  # the scraped one's start
        }  # XX is no member any more: left out
        assert got[("pocnet_relay_queue_depth", (("recipient", "DE"),))] == 3
        assert got[("pocnet_relay_checkpoint_tree_size", ())] == 2
        started = "pocnet_relay_started_timestamp_seconds"
        pids = {int(dict(k[1])["pid"]) for k in got if k[0] == started}
        assert pids == {first, second, third}
        for pid in (first, third):
            worker_exited(pid, path)
        fourth, got = _render(path, ["DE"])
        assert {int(dict(k[1])["pid"]) for k in got if k[0] == started} == {second, fourth}
        assert got[("pocnet_relay_envelopes_accepted_total", ())] == 7  # still counted
    assert ENV not in os.environ
    assert not Path(path).exists()
