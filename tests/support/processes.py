"""Child processes for tests: one-off ``python -m MODULE`` commands and long-running services.

:func:`run_module` runs a command to completion. :class:`ServiceProcess` is what a relay
(:class:`tests.integration.relayproc.RelayProcess`) and a node daemon
(:class:`tests.e2e.nodeproc.NodeProcess`) have in common: start ``python -m MODULE ...``
with its output in a log file in its data folder, wait until it is ready, stop it (SIGTERM,
then SIGKILL), read what it wrote. Everything runs from the repository's root, every wait is
bounded, and what is started is stopped.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

ROOT = Path(__file__).resolve().parents[2]
POLL_INTERVAL = 0.05


# Below the kernel's ephemeral range (32768-60999 on Linux), which outgoing connections
# draw from: a port found free here is not taken by a client socket before the service binds.
PORT_RANGE = (10_000, 30_000)


def _worker_slot() -> tuple[int, int]:
    """This pytest-xdist worker's number and the number of workers ((0, 1) without xdist)."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0
    return min(index, count - 1), max(count, 1)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    Drawn at random from this xdist worker's own slice of :data:`PORT_RANGE`: two workers
    of one run never pick the same port, and another run on the machine rarely does (the
    port is checked free by binding it, and another is drawn when it is not).

    Raises:
        RuntimeError: no free port in the slice after many draws.
    """
    index, count = _worker_slot()
    low, high = PORT_RANGE
    span = (high - low) // count
    first = low + index * span
    for _ in range(1_000):  # bounded: a slice has thousands of ports
        port = random.randrange(first, first + span)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free TCP port in {first}-{first + span - 1} on 127.0.0.1")


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy, and return that (bounded).

    Raises:
        TimeoutError: ``check`` was still falsy after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL_INTERVAL)


def run_module(
    module: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m MODULE ARGS`` from the repository's root, ``env`` added to this
    process's environment; its exit code and captured text output (bounded by ``timeout``)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


@dataclass
class ServiceProcess(ABC):
    """A data folder and, while it runs, the service started on it.

    Subclasses say how to start the service (:meth:`launch`, then :meth:`wait_ready`) and
    what it is called in errors (:attr:`label`).

    Attributes:
        data: the service's data folder; its log files are written there.
        env: variables added to this process's environment for the child.
        proc: the running child, or None.
        log_path: the log file of the latest start (stdout and stderr together).
    """

    data: Path
    env: dict[str, str] = field(default_factory=dict, kw_only=True)
    proc: subprocess.Popen[bytes] | None = field(default=None, kw_only=True)
    log_path: Path | None = field(default=None, kw_only=True)

    stop_timeout: ClassVar[float] = 20.0

    @property
    def label(self) -> str:
        """What the service is called in error messages."""
        return type(self).__name__

    @abstractmethod
    def start(self, timeout: float = 20.0) -> None:
        """Start the service (:meth:`launch`) and wait until it is ready (:meth:`wait_ready`)."""

    def launch(self, log_name: str, module: str, *args: str) -> None:
        """Start ``python -m MODULE ARGS``, its output going to a new ``LOG_NAME-<ms>.log``."""
        assert self.proc is None, "already running"
        self.log_path = self.data / f"{log_name}-{int(time.time() * 1000)}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, **self.env},
            )

    def wait_ready(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``ready`` until it is true.

        Raises:
            RuntimeError: the process exited first (its output is in the message).
            TimeoutError: not ready within ``timeout`` seconds; the process is killed.
        """
        assert self.proc is not None, "not started"
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited {self.proc.returncode}:\n{self.output()}")
            if ready():
                return
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"{self.label}: {what} within {timeout} s:\n{self.output()}")
            time.sleep(POLL_INTERVAL)

    def stop(self, timeout: float | None = None) -> int:
        """SIGTERM, wait for a graceful exit (SIGKILL after ``timeout``); the exit code."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(self.stop_timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL: a crash at an arbitrary point."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def output(self) -> str:
        """Everything the latest run wrote so far (its JSON log lines)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    @contextlib.contextmanager
    def running(self) -> Iterator[Self]:
        """Started on the way in, stopped on the way out whatever happens."""
        self.start()
        try:
            yield self
        finally:
            self.stop()
