"""``GET /metrics``: the relay's Prometheus text (public, like ``/healthz``: expose it to
the monitoring network only).

Before rendering, the gauges of the shared state are set from the database
(:class:`relay.storage.health.Snapshots`, read at most once per ``every`` seconds) and the
members' last polls are kept to the current membership. If the database does not answer,
the counters are served anyway and the failure is counted (``database_errors{where=
"metrics"}``).
"""

from __future__ import annotations

import time

from aiohttp import web

from relay.http.routes import RUNTIME
from relay.monitoring.logging import get_logger
from relay.monitoring.metrics import CONTENT_TYPE
from relay.storage.database import database_failure
from relay.storage.health import Snapshots

log = get_logger("relay.http.metrics_route")
SNAPSHOTS = web.AppKey("snapshots", Snapshots)


async def metrics(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    now = rt.clock()
    try:
        state = await request.app[SNAPSHOTS].read(time.monotonic())
    except Exception as e:  # the counters are still worth serving
        log.warning("metrics.queue_query_failed", error=type(e).__name__)
        if database_failure(e) is not None:
            rt.metrics.database_errors.labels(where="metrics").inc()
    else:
        rt.metrics.set_queues(state.pending, state.oldest_pending, now)
        rt.metrics.set_state(
            now=now,
            schema=state.schema,
            overdue=state.overdue,
            checkpoint_size=state.checkpoint_size,
            checkpoint_at=state.checkpoint_at,
            directory_version=state.directory_version,
            directory_expires=state.directory_expires,
            members=rt.service.members.parties(),
            disk_free=rt.readiness.disk_free(),
        )
    return web.Response(body=rt.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


def add_metrics_route(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
