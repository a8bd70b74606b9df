"""``relay serve --workers N``: N relay processes on one port, under a small supervisor.

The supervisor (this process) has read the configuration and unlocked the keystore; it
forks N workers, each a full relay (:func:`relay.cli.serve.serve`) listening on the same
address with ``SO_REUSEPORT``, so the kernel spreads new connections over them. The
workers share one PostgreSQL (SQLite allows one writing process: refused before this
runs); which of them signs checkpoints and handles deadlines is settled by the leader lock
(:mod:`relay.tasks.leader`).

The supervisor only watches:

- a worker that exits is started again after :func:`after_exit`'s delay (at once after a
  long healthy run; doubling up to ``max_delay`` while it keeps dying young), except a
  worker that fails its very first start with a configuration error (exit 8: port in use,
  schema behind, database unreachable at start): then every worker is stopped and the
  supervisor exits 8 too, as a single ``relay serve`` would;
- SIGTERM or SIGINT: SIGTERM to every worker (each shuts down gracefully), SIGKILL to any
  still running after the grace time, exit 0;
- SIGHUP: passed on to every worker (each re-reads the members);
- the supervisor itself killed (SIGKILL): on Linux each worker gets SIGTERM from the kernel
  (``PR_SET_PDEATHSIG``) and shuts down gracefully; none is left serving unsupervised.

Log lines: ``workers.started`` (pid and slot of each start), ``workers.exited`` (exit code,
seconds it ran, restart delay), ``workers.giving_up``, ``workers.stopping``.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.process import BaseProcess

from keys.host.command import EXIT_CONFIG
from relay.monitoring.logging import get_logger

log = get_logger("relay.cli.workers")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
HANDLED = (*STOP_SIGNALS, signal.SIGHUP)
PR_SET_PDEATHSIG = 1  # Linux prctl(2)


def stop_with_parent(parent: int) -> None:
    """Linux: have the kernel send this process SIGTERM when the supervisor dies (even by
    SIGKILL), so no worker outlives it; if it is already gone, stop now."""
    if sys.platform == "linux":
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError) as e:  # no prctl: the supervisor's stop still works
            log.warning("workers.no_parent_death_signal", error=type(e).__name__)
    if os.getppid() != parent:
        raise SystemExit(0)


@dataclass(frozen=True)
class RestartPolicy:
    """When a dead worker is started again.

    Attributes:
        first_delay: the delay after a worker died young (ran less than ``healthy_after``).
        max_delay: the longest delay (the doubling stops there).
        healthy_after: seconds of running after which a death is not a crash loop (the
            next start is immediate and the doubling starts over).
    """

    first_delay: float = 0.5
    max_delay: float = 30.0
    healthy_after: float = 30.0


@dataclass(frozen=True)
class Slot:
    """What the supervisor remembers of one worker slot across its restarts.

    Attributes:
        starts: how many times a worker was started in it.
        young_deaths: consecutive deaths before ``healthy_after`` (the crash-loop count).
    """

    starts: int = 0
    young_deaths: int = 0


@dataclass(frozen=True)
class Exit:
    """The decision after a worker's exit: restart after ``delay`` seconds, or give up
    (``delay`` None) and exit with ``code``."""

    slot: Slot
    delay: float | None
    code: int = 0


def after_exit(slot: Slot, exit_code: int, ran_for: float, policy: RestartPolicy) -> Exit:
    """What to do when the worker of ``slot`` exited with ``exit_code`` after ``ran_for`` s.

    A pure function of its arguments (tested by a table in tests/unit/relay/test_workers.py).
    """
    if slot.starts <= 1 and exit_code == EXIT_CONFIG and ran_for < policy.healthy_after:
        return Exit(slot, None, EXIT_CONFIG)  # configuration to fix: restarting cannot help
    if ran_for >= policy.healthy_after:
        return Exit(replace(slot, young_deaths=0), 0.0)
    deaths = slot.young_deaths + 1
    delay = min(policy.first_delay * 2 ** (deaths - 1), policy.max_delay)
    return Exit(replace(slot, young_deaths=deaths), delay)


Worker = Callable[[int], None]


class Supervisor:
    """Starts ``count`` workers (``run(slot)`` in a forked child), restarts them, stops them.

    ``grace`` is how long workers get to stop after SIGTERM before SIGKILL; ``on_exit(pid)``
    is called when a worker has exited (its metrics' live gauges are dropped).
    """

    def __init__(
        self,
        count: int,
        run: Worker,
        *,
        grace: float,
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        self._count = count
        self._run = run
        self._grace = grace
        self._policy = policy or RestartPolicy()
        self._clock = clock
        self._on_exit = on_exit
        self._context = multiprocessing.get_context("fork")
        self._slots = [Slot() for _ in range(count)]
        self._procs: list[BaseProcess | None] = [None] * count
        self._started_at = [0.0] * count
        self._due = [0.0] * count  # when an empty slot's worker is (re)started
        self._signals: list[int] = []
        self._pipe: tuple[int, int] | None = None

    # -- signals: recorded by the handler, acted on by the loop ---------------------------

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals.append(signum)

    def _install(self) -> None:
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        self._pipe = (read, write)
        signal.set_wakeup_fd(write)
        for sig in HANDLED:
            signal.signal(sig, self._on_signal)

    def _uninstall(self) -> None:
        signal.set_wakeup_fd(-1)
        for sig in HANDLED:
            signal.signal(sig, signal.SIG_DFL)
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None

    def _child(self, slot: int, parent: int) -> None:
        """In the forked worker: the default signal handling back, then the relay."""
        self._uninstall()
        stop_with_parent(parent)
        self._run(slot)

    # -- the loop ------------------------------------------------------------------------

    def _start(self, slot: int) -> None:
        proc = self._context.Process(
            target=self._child, args=(slot, os.getpid()), name=f"relay-worker-{slot}"
        )
        proc.start()
        self._procs[slot] = proc
        self._started_at[slot] = self._clock()
        self._slots[slot] = replace(self._slots[slot], starts=self._slots[slot].starts + 1)
        log.info("workers.started", slot=slot, pid=proc.pid, start=self._slots[slot].starts)

    def _reap(self, slot: int, proc: BaseProcess) -> int | None:
        """Handle the exit of ``slot``'s worker; an exit code if the supervisor gives up."""
        proc.join()
        if self._on_exit is not None and proc.pid is not None:
            self._on_exit(proc.pid)
        code = proc.exitcode if proc.exitcode is not None else 0
        code = 128 - code if code < 0 else code  # killed by a signal: as a shell shows it
        ran = self._clock() - self._started_at[slot]
        decision = after_exit(self._slots[slot], code, ran, self._policy)
        self._slots[slot] = decision.slot
        self._procs[slot] = None
        log.warning(
            "workers.exited",
            slot=slot,
            pid=proc.pid,
            exit_code=code,
            ran_s=round(ran, 3),
            restart_in=decision.delay,
        )
        if decision.delay is None:
            return decision.code
        self._due[slot] = self._clock() + decision.delay
        return None

    def run(self) -> int:
        """Supervise until a stop signal (exit 0) or a worker that cannot start (exit 8)."""
        self._install()
        assert self._pipe is not None
        code = 0
        try:
            while True:
                now = self._clock()
                for slot, proc in enumerate(self._procs):
                    if proc is None and self._due[slot] <= now:
                        self._start(slot)
                waits = [self._due[s] - now for s, p in enumerate(self._procs) if p is None]
                timeout = max(0.0, min(waits)) if waits else None
                live = {p.sentinel: (s, p) for s, p in enumerate(self._procs) if p is not None}
                ready = multiprocessing.connection.wait([*live, self._pipe[0]], timeout)
                if self._pipe[0] in ready:
                    self._drain()
                if self._handle_signals():
                    break
                gave_up = None
                for sentinel in ready:
                    if sentinel in live:
                        gave_up = self._reap(*live[sentinel]) or gave_up
                if gave_up is not None:
                    log.error("workers.giving_up", exit_code=gave_up)
                    code = gave_up
                    break
        finally:
            self._stop_all()
            self._uninstall()
        return code

    def _drain(self) -> None:
        assert self._pipe is not None
        try:
            while os.read(self._pipe[0], 512):
                pass
        except BlockingIOError:
            pass

    def _handle_signals(self) -> bool:
        """Act on signals received; True when told to stop."""
        signals, self._signals = self._signals, []
        for signum in signals:
            if signum in STOP_SIGNALS:
                log.info("workers.stopping", signal=signal.Signals(signum).name)
                return True
            for proc in self._procs:  # SIGHUP: every worker re-reads the members
                if proc is not None and proc.pid is not None:
                    os.kill(proc.pid, signal.SIGHUP)
        return False

    def _stop_all(self) -> None:
        """SIGTERM every live worker, wait up to ``grace``, SIGKILL the rest."""
        live = [p for p in self._procs if p is not None and p.is_alive()]
        for proc in live:
            proc.terminate()
        deadline = self._clock() + self._grace
        for proc in live:
            proc.join(max(0.0, deadline - self._clock()))
        for proc in live:
            if proc.is_alive():
                log.error("workers.kill", pid=proc.pid, after_s=self._grace)
                proc.kill()
                proc.join(5)
        self._procs = [None] * self._count


__all__ = ["Exit", "RestartPolicy", "Slot", "Supervisor", "after_exit"]
