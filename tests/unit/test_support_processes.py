"""The test helpers' child processes: bounded waits, and what is started is stopped."""

from __future__ import annotations

import random
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import ServiceProcess, free_port, run_module, wait_for


@dataclass
class HttpServer(ServiceProcess):
    """``python -m http.server`` on loopback: ready once it says it is serving."""

    port: int = 0

    def start(self, timeout: float = 20.0) -> None:
        self.launch("http", "http.server", str(self.port), "--bind", "127.0.0.1")
        self.wait_ready(lambda: "Serving HTTP" in self.output(), timeout, "not serving")


@dataclass
class Exits(ServiceProcess):
    """A "service" that fails at once."""

    def start(self, timeout: float = 20.0) -> None:
        self.launch("exits", "json.tool", str(self.data / "missing.json"))
        self.wait_ready(lambda: False, timeout, "never ready")


@dataclass
class NeverReady(HttpServer):
    def start(self, timeout: float = 20.0) -> None:
        self.launch("never", "http.server", str(self.port), "--bind", "127.0.0.1")
        self.wait_ready(lambda: False, timeout, "never ready")


UNBUFFERED = {"PYTHONUNBUFFERED": "1"}


def test_a_service_starts_logs_and_stops_on_sigterm(tmp_path: Path) -> None:
    server = HttpServer(tmp_path, port=free_port(), env=UNBUFFERED)
    with server.running():
        assert server.proc is not None and server.proc.poll() is None
        assert server.log_path is not None and server.log_path.parent == tmp_path
        assert "Serving HTTP on 127.0.0.1" in server.output()
        proc = server.proc
    assert server.proc is None and proc.returncode == -signal.SIGTERM
    assert server.stop() == 0  # stopping what is not running is harmless


def test_a_service_that_exits_at_once_is_reported_with_its_output(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="Exits exited 2") as info:
        Exits(tmp_path).start(timeout=20)
    assert "missing.json" in str(info.value)


def test_a_service_never_ready_is_killed_after_the_timeout(tmp_path: Path) -> None:
    server = NeverReady(tmp_path, port=free_port(), env=UNBUFFERED)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"never ready within 0\.5 s"):
        server.start(timeout=0.5)
    assert time.monotonic() - started < 10
    assert server.proc is None  # killed, not left behind


def test_wait_for_returns_the_value_or_times_out() -> None:
    values = iter([0, None, "done"])
    assert wait_for(lambda: next(values), timeout=5, what="a value") == "done"
    with pytest.raises(TimeoutError, match="waiting for nothing"):
        wait_for(lambda: False, timeout=0.1, what="nothing")


def test_run_module_runs_from_the_repository_root_with_added_variables() -> None:
    code = "import os, pathlib; print(pathlib.Path.cwd(), os.environ['POCNET_PROBE'])"
    done = run_module("timeit", "-n", "1", "-s", code, "pass", env={"POCNET_PROBE": "x1"})
    root = Path(__file__).resolve().parents[2]
    assert done.returncode == 0 and done.stdout.startswith(f"{root} x1\n"), done


@pytest.mark.parametrize(("worker", "count", "first", "last"), [
    ("", "", 10_000, 29_999),
    ("gw0", "2", 10_000, 19_999),
    ("gw1", "2", 20_000, 29_999),
    ("gw3", "4", 25_000, 29_999),
])  # fmt: skip
def test_free_port_is_in_this_workers_slice_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch, worker: str, count: str, first: int, last: int
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", count)
    ports = {free_port() for _ in range(50)}
    assert all(first <= p <= last for p in ports), sorted(ports)
    assert len(ports) > 1  # drawn at random, not the same port every time


def test_free_port_skips_a_port_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    held = socket.socket()
    held.bind(("127.0.0.1", free_port()))
    held.listen()
    taken = held.getsockname()[1]
    draws = iter([taken, taken, taken + 1 if taken < 29_999 else taken - 1])
    monkeypatch.setattr(random, "randrange", lambda _a, _b: next(draws))
    try:
        assert free_port() != taken
    finally:
        held.close()
