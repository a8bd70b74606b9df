"""Assemble the relay: the aiohttp application and the lifetime of what it runs.

:func:`create_app` wires the parts; a ``cleanup_ctx`` opens the database (refusing a schema
that is behind), starts the writer, the deadline task and the PostgreSQL listener (which
also carries new deadlines between processes), logs the membership in the audit trail, and
on shutdown stops them in order once in-flight requests have finished. ``on_shutdown``
releases waiting long-polls at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web

from keys.host.command import version
from keys.identities import SigningKey
from relay.audit.checkpoints import Signer
from relay.audit.hotreads import HotReader
from relay.audit.proofs import AuditLog
from relay.config import RelayConfig
from relay.core.attachments import AttachmentService
from relay.core.auth import Authenticator, NonceCache, RateLimiter
from relay.core.members import Members
from relay.core.service import RelayService
from relay.directory.installed import MembersSource
from relay.http.attachment_routes import add_attachment_routes
from relay.http.audit_routes import add_audit_routes
from relay.http.metrics_route import SNAPSHOTS, add_metrics_route
from relay.http.routes import AUDIT, RUNTIME, Runtime, add_routes, middleware
from relay.monitoring.logging import get_logger
from relay.monitoring.metrics import RelayMetrics
from relay.monitoring.protocol_log import ProtocolErrorLog
from relay.storage.attachments import AttachmentStore
from relay.storage.database import asyncpg_dsn, check_schema, is_postgres, make_engine
from relay.storage.health import Snapshots
from relay.storage.leadership import LeaderLock
from relay.storage.nonces import NonceStore
from relay.storage.notify import DeadlinePublisher, Notifier
from relay.storage.readiness import Readiness
from relay.storage.store import Store
from relay.storage.writer import Writer
from relay.tasks.checkpoints import CheckpointTask
from relay.tasks.deadlines import DeadlineTask
from relay.tasks.directory import DirectoryWatcher
from relay.tasks.leader import Leadership
from relay.tasks.pglistener import PgListener

log = get_logger("relay.app")


SCRAPE_REUSE_SECONDS = 1.0  # /metrics reads the database at most this often
CLOSE_SECONDS = 10.0  # a background part that has not stopped by then is logged and left


def _bounded(
    name: str, close: Callable[[], Awaitable[None]], seconds: float = CLOSE_SECONDS
) -> Callable[[], Awaitable[None]]:
    """``close``, given at most ``seconds``: a part stuck at shutdown is named in an error
    line (``relay.shutdown_stuck``) instead of holding the process for ever."""

    async def run() -> None:
        try:
            async with asyncio.timeout(seconds):
                await close()
        except TimeoutError:
            log.error("relay.shutdown_stuck", part=name, after_s=seconds)

    return run


def system_clock() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class AppParts:
    """What a relay app is made of; tests swap the clock and the members."""

    config: RelayConfig
    database_url: str
    signing_key: SigningKey
    load_members: Callable[[], Members]
    clock: Callable[[], datetime] = field(default=system_clock)
    metrics_dir: str | None = None  # a worker's: relay.monitoring.multiprocess


PARTS = web.AppKey("parts", AppParts)
DEADLINES = web.AppKey("deadlines", DeadlineTask)
NOTIFIER = web.AppKey("notifier", Notifier)
WRITER = web.AppKey("writer", Writer)
LEADERSHIP = web.AppKey("leadership", Leadership)
SOURCE = web.AppKey("members_source", MembersSource)
LISTENER = web.AppKey("pg_listener", PgListener)  # PostgreSQL only


def create_app(parts: AppParts) -> web.Application:
    """A relay application (started by an aiohttp runner or the test client)."""
    cfg = parts.config
    app = web.Application(
        middlewares=[middleware],
        client_max_size=max(
            cfg.max_envelope_bytes, cfg.max_request_bytes, cfg.attachment_max_chunk_bytes
        )
        + 1024,
        # Bodies are read as sent (a compressed one is refused, 415); aiohttp's own
        # protocol errors are one rate-limited warning line, never a traceback.
        handler_args={
            "auto_decompress": False,
            "logger": ProtocolErrorLog(),
            "keepalive_timeout": cfg.keepalive_timeout_seconds,
        },
    )
    app[PARTS] = parts
    add_routes(app)
    add_audit_routes(app)
    add_metrics_route(app)
    add_attachment_routes(app)
    app.cleanup_ctx.append(_lifetime)
    app.on_shutdown.append(_release_waiters)
    return app


async def _release_waiters(app: web.Application) -> None:
    if NOTIFIER in app:
        app[NOTIFIER].close()


async def _lifetime(app: web.Application) -> AsyncIterator[None]:
    parts = app[PARTS]
    cfg = parts.config
    async with contextlib.AsyncExitStack() as stack:
        engine = make_engine(
            parts.database_url, synchronous=cfg.sqlite_synchronous, pool_size=cfg.pool_size
        )
        stack.push_async_callback(engine.dispose)
        await check_schema(engine)
        metrics = RelayMetrics(
            version=version(), started=parts.clock(), shared_dir=parts.metrics_dir
        )
        notifier = Notifier()
        checkpoints = CheckpointTask(
            lambda now: audit_log.sign(now),
            parts.clock,
            interval=cfg.checkpoint_interval_seconds,
            refresh=cfg.checkpoint_refresh_seconds,
        )
        writer = Writer(
            engine,
            max_batch=cfg.group_commit_max,
            on_commit=notifier.notify,
            on_batch=metrics.group_commit.observe,
            on_append=checkpoints.grown,
        )
        writer.start()
        stack.push_async_callback(
            _bounded("writer", writer.close, cfg.shutdown_timeout_seconds + CLOSE_SECONDS)
        )
        audit_log = AuditLog(
            engine,
            writer,
            Signer(parts.signing_key, cfg.audit_origin),
            refresh=timedelta(seconds=cfg.checkpoint_refresh_seconds),
            hot=HotReader(parts.database_url),
        )
        stack.push_async_callback(audit_log.close)
        app[AUDIT] = audit_log

        # The signed directory once installed, else the members folder (development).
        source = MembersSource(
            engine,
            parts.load_members,
            parts.signing_key.public,
            on_rollback=metrics.directory_rollback.inc,
        )
        service = RelayService(
            store=Store(engine),
            writer=writer,
            members=await source.load(parts.clock()),
            signing_key=parts.signing_key,
            config=cfg,
            notifier=notifier,
            metrics=metrics,
            attachments=AttachmentService(store=AttachmentStore(engine), writer=writer, config=cfg),
        )
        await service.install_members(service.members, parts.clock())

        async def refresh_directory() -> bool:
            changed = await source.refresh(service, parts.clock())
            if changed:  # installed by another process: its audit entry is in the log now
                checkpoints.wake()
            return changed

        watcher = DirectoryWatcher(refresh_directory, cfg.directory_check_seconds)
        watcher.start()
        stack.push_async_callback(_bounded("watcher", watcher.close))
        app[SOURCE] = source
        auth = Authenticator(
            lambda: service.members,
            window=timedelta(seconds=cfg.replay_window_seconds),
            nonces=NonceCache(timedelta(seconds=cfg.replay_window_seconds), cfg.nonce_cache_size),
            limiter=RateLimiter(cfg.rate_per_second, cfg.rate_burst),
            store=NonceStore(engine, writer),
        )
        readiness = Readiness(
            engine,
            writer,
            min_free_bytes=cfg.ready_min_free_bytes,
            every=cfg.ready_probe_seconds,
            timeout=cfg.ready_timeout_seconds,
        )
        publisher = DeadlinePublisher(engine) if is_postgres(engine) else None
        if publisher is not None:
            stack.push_async_callback(_bounded("publisher", publisher.close))
        deadlines = DeadlineTask(
            service, parts.clock, announce=None if publisher is None else publisher.publish
        )
        if is_postgres(engine):  # several processes: the once-only duties in the leader
            leadership = Leadership(
                LeaderLock(asyncpg_dsn(parts.database_url)),
                (checkpoints, deadlines),
                cfg.leader_check_seconds,
            )
            leadership.start()
            stack.push_async_callback(_bounded("leadership", leadership.close))
            app[LEADERSHIP] = leadership
        checkpoints.start()  # signs the first checkpoint now (the leader's, on PostgreSQL)
        stack.push_async_callback(_bounded("checkpoints", checkpoints.close))

        def reconnected() -> None:  # anything committed while not listening: look again
            notifier.notify_all()
            watcher.wake()
            deadlines.wake()

        if is_postgres(engine):
            listener = PgListener(
                asyncpg_dsn(parts.database_url),
                on_inbox=lambda party: notifier.notify([party]),
                on_audit=checkpoints.grown,
                on_reconnect=reconnected,
                on_directory=watcher.wake,
                on_deadline=deadlines.consider,
            )
            listener.start()
            stack.push_async_callback(_bounded("listener", listener.close))
            app[LISTENER] = listener
        deadlines.start()
        stack.push_async_callback(_bounded("deadlines", deadlines.close))
        app[RUNTIME] = Runtime(cfg, service, auth, metrics, parts.clock, readiness)
        app[SNAPSHOTS] = Snapshots(engine, SCRAPE_REUSE_SECONDS)
        app[DEADLINES] = deadlines
        app[NOTIFIER] = notifier
        app[WRITER] = writer
        log.info(
            "relay.started", postgres=is_postgres(engine), members=len(service.members.parties())
        )
        yield
        log.info("relay.stopping")
    log.info("relay.stopped")


async def reload_members(app: web.Application) -> bool:
    """Read the members again (SIGHUP): the newest installed directory, else the members
    folder; True if the membership changed."""
    now, service = app[PARTS].clock(), app[RUNTIME].service
    before = service.members.version
    await service.install_members(await app[SOURCE].load(now), now)
    return service.members.version != before
