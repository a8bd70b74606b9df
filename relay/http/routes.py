"""The HTTP transport (aiohttp): read and authenticate, call the service, map the answer.

Handlers parse, call :class:`relay.core.service.RelayService` and turn its result or its
:mod:`keys.errors` error into JSON. One middleware gives each request an id (bound into
every log line it causes), reads the body within its limit (413 before reading when
``Content-Length`` says too much), authenticates ``/v1/`` calls, maps errors to
``{"error", "message"}`` and writes one ``http.request`` log line and the latency metric.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import structlog
from aiohttp import web

from keys.encoding import loads_strict
from keys.errors import PocnetError, Rejected, TooLarge, ValidationError
from keys.httpsig import AuthRejected
from relay.audit.proofs import AuditLog
from relay.config import RelayConfig
from relay.core.auth import Authenticator, Throttled
from relay.core.service import RelayService
from relay.monitoring.logging import get_logger
from relay.monitoring.metrics import CONTENT_TYPE, RelayMetrics
from relay.storage.database import SchemaBehind, Unavailable, check_schema

log = get_logger("relay.http.routes")
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v1/openapi.json"})
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_ITEM_ID_RE = re.compile(r"^[0-9]{1,18}$")
JSON = "application/json"


@dataclass
class Runtime:
    """What the handlers use, built when the app starts (see :mod:`relay.app`)."""

    config: RelayConfig
    service: RelayService
    auth: Authenticator
    metrics: RelayMetrics
    clock: Callable[[], datetime]


RUNTIME = web.AppKey("runtime", Runtime)
AUDIT = web.AppKey("audit", AuditLog)
PARTY = web.RequestKey("party", str)
BODY = web.RequestKey("body", bytes)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8"),
        status=status,
        content_type=JSON,
    )


json_response = _json  # for the handlers of relay.http.audit_routes


def _error(status: int, code: str, message: str) -> web.Response:
    return _json({"error": code, "message": message}, status)


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without holding them.

    Raises:
        TooLarge: ``Content-Length`` or the bytes actually sent exceed ``limit``.
    """
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the body exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _reason(error: PocnetError) -> str:
    reason = getattr(error, "reason", None)
    return reason if isinstance(reason, str) else error.code


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    incoming = request.headers.get("X-Request-Id", "")
    if rt.config.trust_request_id and _REQUEST_ID_RE.match(incoming):
        request_id = incoming
    else:
        request_id = os.urandom(8).hex()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    route = (
        request.match_info.route.resource.canonical if request.match_info.route.resource else "-"
    )
    party: str | None = None
    reason: str | None = None
    try:
        try:
            if request.match_info.http_exception is not None:
                raise request.match_info.http_exception
            limit = (
                rt.config.max_envelope_bytes
                if route == "/v1/envelopes" and request.method == "POST"
                else rt.config.max_request_bytes
            )
            body = await read_body(request, limit)
            request[BODY] = body
            if request.path not in PUBLIC_PATHS:
                verified = rt.auth.authenticate(
                    request.method,
                    "http://relay.invalid" + request.raw_path,
                    request.headers,
                    body,
                    now=rt.clock(),
                    monotonic=time.monotonic(),
                )
                party = request[PARTY] = verified.party
                structlog.contextvars.bind_contextvars(party=party)
            response = await handler(request)
        except web.HTTPException as e:
            code = {404: "not_found", 405: "method_not_allowed"}.get(e.status, "bad_request")
            reason = code
            response = _error(e.status, code, e.reason)
        except PocnetError as e:
            response, reason = _map_error(rt, e)
        except Exception:
            log.exception("http.internal_error", route=route, method=request.method)
            reason = "internal_error"
            response = _error(500, "internal_error", "internal error")
    finally:
        elapsed = time.perf_counter() - started
    rt.metrics.latency.labels(route=route, method=request.method).observe(elapsed)
    response.headers["X-Request-Id"] = request_id
    log.info(
        "http.request",
        method=request.method,
        route=route,
        status=response.status,
        ms=round(elapsed * 1000, 2),
        party=party,
        reason=reason,
    )
    return response


def _map_error(rt: Runtime, e: PocnetError) -> tuple[web.Response, str]:
    reason = _reason(e)
    status = e.http_status
    if status >= 500 and not isinstance(e, Unavailable):
        status, body = 500, {"error": "internal_error", "message": "internal error"}
    else:
        body = e.to_wire()
    rt.metrics.rejected.labels(status=str(status), reason=reason).inc()
    if isinstance(e, AuthRejected) or status in (401, 403):
        log.warning("auth.rejected", status=status, reason=reason)
    elif isinstance(e, Rejected):
        log.warning("request.rejected", status=status, reason=reason)
    else:
        log.info("request.refused", status=status, code=e.code, reason=reason)
    response = _json(body, status)
    if isinstance(e, Throttled):
        response.headers["Retry-After"] = str(e.retry_after)
    if isinstance(e, TooLarge):
        response.force_close()  # the rest of an oversized body is not read
    return response, reason


# Handlers -------------------------------------------------------------------------------


async def submit(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    result = await rt.service.submit(request[PARTY], request[BODY], rt.clock())
    return web.Response(
        body=b'{"receipt":' + result.receipt + b"}",
        status=201 if result.created else 200,
        content_type=JSON,
    )


def _query_number(request: web.Request, name: str, default: float, top: float) -> float:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as e:
        raise ValidationError(f"{name} must be a number", code="invalid_field") from e
    if not 0 <= value <= 1e9:
        raise ValidationError(f"{name} must be a non-negative number", code="invalid_field")
    return min(value, top)


async def inbox(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    cfg = rt.config
    wait = _query_number(request, "wait", 0.0, cfg.longpoll_max_seconds)
    limit = int(_query_number(request, "limit", cfg.inbox_max_items, cfg.inbox_max_items))
    items = await rt.service.inbox(request[PARTY], limit=max(1, limit), wait=wait)
    return _json({"items": items})


def _json_body(request: web.Request) -> dict[str, Any]:
    cfg = request.app[RUNTIME].config
    return loads_strict(request[BODY], max_bytes=cfg.max_request_bytes, max_depth=4)


async def ack(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    doc = _json_body(request)
    ids = doc.get("ids")
    if set(doc) != {"ids"} or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValidationError('the body must be {"ids": ["<item id>", ...]}', code="bad_fields")
    if len(ids) > rt.config.ack_max_ids:
        raise ValidationError(f"at most {rt.config.ack_max_ids} ids at a time", code="too_many_ids")
    numeric = sorted({int(i) for i in ids if _ITEM_ID_RE.match(i)})
    result = await rt.service.ack(request[PARTY], numeric, rt.clock())
    return _json({"acked": result.acked, "unknown": len(ids) - result.acked})


async def post_receipt(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    stored = await rt.service.add_receipt(request[PARTY], request[BODY], rt.clock())
    return _json({"stored": True}, 201 if stored else 200)


async def evidence(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    msg_id = request.match_info["msg_id"]
    doc = await rt.service.evidence(request[PARTY], msg_id)  # 404 unless sender or recipient
    doc.update(await request.app[AUDIT].evidence(msg_id, rt.clock()))
    return _json(doc)


async def directory(request: web.Request) -> web.Response:
    # The signed directory file exactly as installed ({"payload", "signatures"}), or the
    # members folder's bundles while no directory is installed.
    body = request.app[RUNTIME].service.members.directory_file()
    return web.Response(body=body, content_type=JSON)


async def openapi(request: web.Request) -> web.Response:
    text = resources.files("relay.http").joinpath("openapi.json").read_bytes()
    return web.Response(body=text, content_type=JSON)


async def healthz(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    try:
        revision = await check_schema(rt.service.store.engine)
    except (Unavailable, SchemaBehind) as e:
        return _json({"status": "unavailable", "error": e.code, "message": e.message}, 503)
    return _json({"status": "ready", "schema": revision})


async def metrics(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    try:
        depths = await rt.service.store.queue_depths()
        oldest = await rt.service.store.oldest_pending()
        rt.metrics.set_queues(depths, oldest, rt.clock())
    except Exception as e:  # the counters are still worth serving
        log.warning("metrics.queue_query_failed", error=type(e).__name__)
    return web.Response(body=rt.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/envelopes", submit)
    app.router.add_get("/v1/inbox", inbox)
    app.router.add_post("/v1/inbox/ack", ack)
    app.router.add_post("/v1/receipts", post_receipt)
    app.router.add_get("/v1/envelopes/{msg_id}/evidence", evidence)
    app.router.add_get("/v1/directory", directory)
    app.router.add_get("/v1/openapi.json", openapi)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
