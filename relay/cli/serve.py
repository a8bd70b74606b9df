"""``relay serve``: run the app until SIGTERM or SIGINT, then shut down gracefully.

On a stop signal the listening socket closes, waiting long-polls are released, in-flight
requests get ``shutdown_timeout_seconds`` to finish (their transactions commit whole or
not at all), then the writer drains and the database closes. SIGHUP re-reads the members.

:func:`run_serve` runs one such relay in this process, or (``workers`` > 1) several under
the supervisor of :mod:`relay.cli.workers`, each listening with ``SO_REUSEPORT`` and
writing its metrics to the supervisor's folder of multiprocess files, so that any of them
serves the whole relay's ``/metrics``.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import ssl
from collections.abc import Callable
from dataclasses import replace

import structlog
from aiohttp import web

from keys.errors import ConfigError, PocnetError
from keys.host.command import exit_code_for
from relay.app import CLOSE_SECONDS, AppParts, create_app, reload_members
from relay.cli.workers import Supervisor
from relay.http.connections import ConnectionLimits, guard
from relay.monitoring.logging import get_logger
from relay.monitoring.multiprocess import join_metric_files, metric_files, worker_exited
from relay.storage.database import Unavailable

log = get_logger("relay.cli.serve")


def _ssl_context(cert: str, key: str) -> ssl.SSLContext | None:
    if not cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


async def serve(parts: AppParts, *, reuse_port: bool = False) -> None:
    """Serve until a stop signal (``reuse_port``: share the port with other workers)."""
    cfg = parts.config
    app = create_app(parts)
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=cfg.shutdown_timeout_seconds
    )
    await runner.setup()
    guard(
        runner.server,
        ConnectionLimits(
            max_per_address=cfg.max_connections_per_address,
            header_timeout=cfg.header_timeout_seconds,
            retry_after=cfg.retry_after_seconds,
        ),
    )
    # Everything loaded so far lives as long as the process: keep the collector off it.
    gc.collect()
    gc.freeze()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reloads: set[asyncio.Task[bool]] = set()

    def _reload() -> None:
        task = loop.create_task(reload_members(app))
        reloads.add(task)
        task.add_done_callback(_reloaded)

    def _reloaded(task: asyncio.Task[bool]) -> None:
        reloads.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("members.reload_failed", error=type(error).__name__, detail=str(error)[:300])
        else:
            log.info("members.reloaded", changed=task.result())

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reload)
    try:
        site = web.TCPSite(
            runner,
            cfg.host,
            cfg.port,
            ssl_context=_ssl_context(cfg.tls_cert, cfg.tls_key),
            reuse_port=reuse_port or None,
        )
        await site.start()
        log.info("relay.listening", host=cfg.host, port=cfg.port, tls=bool(cfg.tls_cert))
        await stop.wait()
        log.info("relay.signal", action="graceful shutdown")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await runner.cleanup()


LoopFactory = Callable[[], asyncio.AbstractEventLoop] | None


def serve_here(parts: AppParts, loop_factory: LoopFactory, *, reuse_port: bool = False) -> None:
    """Run one relay in this process until a stop signal.

    Raises:
        ConfigError: the database is unavailable at start, or the port cannot be listened on.
    """
    cfg = parts.config
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(serve(parts, reuse_port=reuse_port))
    except Unavailable as e:
        raise ConfigError(e.message, code=e.code) from e
    except OSError as e:
        raise ConfigError(f"cannot listen on {cfg.host}:{cfg.port}: {e.strerror}") from e


def run_serve(parts: AppParts, loop_factory: LoopFactory) -> int:
    """``relay serve``: one relay here, or ``workers`` of them under a supervisor; the exit
    code.

    Raises:
        ConfigError: (one worker) as :func:`serve_here`.
    """
    cfg = parts.config
    if cfg.workers == 1:
        serve_here(parts, loop_factory)
        return 0

    grace = cfg.shutdown_timeout_seconds + 2 * CLOSE_SECONDS
    with metric_files() as path:  # one /metrics for every worker (ADR 0013)
        log.info("workers.metrics_folder", folder=path)

        def worker(slot: int) -> None:
            structlog.contextvars.bind_contextvars(worker=slot)
            join_metric_files()
            try:
                serve_here(replace(parts, metrics_dir=path), loop_factory, reuse_port=True)
            except PocnetError as e:  # the supervisor decides from the exit code
                log.error("relay.worker_failed", error=e.code, detail=e.message)
                raise SystemExit(exit_code_for(e)) from e

        def exited(pid: int) -> None:
            worker_exited(pid, path)

        return Supervisor(cfg.workers, worker, grace=grace, on_exit=exited).run()
