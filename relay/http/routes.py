"""The HTTP transport (aiohttp): read and authenticate, call the service, map the answer.

Handlers parse, call :class:`relay.core.service.RelayService` and turn its result or its
:mod:`keys.errors` error into JSON. One middleware gives each request an id (bound into
every log line it causes), refuses what must not be read (a compressed body: 415; two
signature headers of one name: 400; ``Content-Length`` over the limit: 413), reads the
body within its limit, authenticates ``/v1/`` calls (and persists the nonce of a
state-changing one), maps errors to ``{"error", "message"}`` and writes one
``http.request`` log line and the latency metric.

No failure of the database reaches a peer as a 500: whatever
:func:`relay.storage.database.database_failure` recognises becomes 503 ``unavailable``
with ``Retry-After``. A client that goes away mid-body is an ``info`` line (``client_gone``),
not a traceback.
"""

from __future__ import annotations

import asyncio
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
from keys.errors import PeerError, PocnetError, Rejected, TooLarge, ValidationError
from keys.httpsig import AuthRejected
from relay.audit.proofs import AuditLog
from relay.config import RelayConfig
from relay.core.auth import Authenticator, Throttled
from relay.core.handover import hand_over
from relay.core.service import RelayService
from relay.monitoring.logging import get_logger
from relay.monitoring.metrics import RelayMetrics
from relay.storage.database import Unavailable, database_failure
from relay.storage.readiness import Readiness

log = get_logger("relay.http.routes")
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v1/openapi.json"})
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_ITEM_ID_RE = re.compile(r"^[0-9]{1,18}$")
_NUMBER_RE = re.compile(r"[0-9]{1,10}(\.[0-9]{1,6})?")  # ASCII digits only, fullmatch
JSON = "application/json"
CHUNK_ROUTE = "/v1/attachments/{att_id}/chunks/{idx}"
RELAY_TIME_HEADER = "Pocnet-Relay-Time"  # on a 401 stale: the relay's clock, Unix seconds
SIGNATURE_HEADERS = ("Signature", "Signature-Input", "Content-Digest")
_STATUS_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


class DuplicateHeader(PeerError):
    """A signature header appears more than once: a proxy that reads the first and this
    relay (which would read another) could disagree about who is calling."""

    code = "duplicate_header"


class UnsupportedEncoding(PeerError):
    """The body has a ``Content-Encoding`` other than ``identity`` (the digest and the size
    limit apply to the bytes on the wire; nothing is decompressed)."""

    code = "unsupported_encoding"
    http_status = 415


class SlowBody(PeerError):
    """The body did not arrive within ``body_timeout_seconds``."""

    code = "request_timeout"
    http_status = 408


class ClientGone(PeerError):
    """The client closed the connection or broke the framing before its body was read."""

    code = "client_gone"


@dataclass
class Runtime:
    """What the handlers use, built when the app starts (see :mod:`relay.app`)."""

    config: RelayConfig
    service: RelayService
    auth: Authenticator
    metrics: RelayMetrics
    clock: Callable[[], datetime]
    readiness: Readiness


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


async def read_body(request: web.Request, limit: int, timeout: float | None = None) -> bytes:
    """The request body, refusing more than ``limit`` bytes without holding them.

    Raises:
        TooLarge: ``Content-Length`` or the bytes actually sent exceed ``limit``.
        SlowBody: the body took longer than ``timeout`` seconds.
        ClientGone: the connection broke first.
    """
    if timeout:
        try:
            async with asyncio.timeout(timeout):
                return await read_body(request, limit)
        except TimeoutError as e:
            raise SlowBody(f"the body did not arrive within {timeout:g} s") from e
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the body exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"the body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
    except PocnetError:
        raise
    except Exception as e:  # only the connection is read here: a reset, a short body
        raise ClientGone(f"the body could not be read ({type(e).__name__})") from e
    return b"".join(chunks)


def body_limit(config: RelayConfig, route: str, method: str) -> int:
    """The largest body accepted on ``route``: an envelope, a chunk, or anything else."""
    if route == "/v1/envelopes" and method == "POST":
        return config.max_envelope_bytes
    if route == CHUNK_ROUTE and method == "PUT":
        return config.attachment_max_chunk_bytes
    return config.max_request_bytes


def check_headers(request: web.Request) -> None:
    """Refuse what must not be read or could be read two ways.

    Raises:
        UnsupportedEncoding: ``Content-Encoding`` other than ``identity``.
        DuplicateHeader: a signature header given more than once.
    """
    encodings = request.headers.getall("Content-Encoding", [])
    if any(e.strip().lower() not in ("", "identity") for e in encodings):
        raise UnsupportedEncoding("request bodies must not be compressed (Content-Encoding)")
    for name in SIGNATURE_HEADERS:
        if len(request.headers.getall(name, [])) > 1:
            raise DuplicateHeader(f"the {name} header must appear once")


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
            check_headers(request)
            limit = body_limit(rt.config, route, request.method)
            body = await read_body(request, limit, rt.config.body_timeout_seconds)
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
                await rt.auth.persist(request.method, verified, rt.clock())
            response = await handler(request)
        except web.HTTPException as e:
            response, reason = _http_error(e)
        except PocnetError as e:
            response, reason = _map_error(rt, e)
        except Exception as e:
            failure = database_failure(e)
            if failure is not None:
                log.warning("http.database_unavailable", route=route, error=type(e).__name__)
                response, reason = _map_error(rt, failure)
            else:
                log.exception("http.internal_error", route=route, method=request.method)
                reason = "internal_error"
                response = _error(500, "internal_error", "internal error")
    finally:
        elapsed = time.perf_counter() - started
    rt.metrics.latency.labels(route=route, method=request.method).observe(elapsed)
    rt.metrics.responded(response.status)
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


def _http_error(e: web.HTTPException) -> tuple[web.Response, str]:
    """aiohttp's own refusals (no route, wrong method) as the JSON error body."""
    code = _STATUS_CODES.get(e.status, "bad_request")
    response = _error(e.status, code, e.reason)
    allow = e.headers.get("Allow")
    if allow is not None:
        response.headers["Allow"] = allow
    return response, code


def _map_error(rt: Runtime, e: PocnetError) -> tuple[web.Response, str]:
    reason = _reason(e)
    status = e.http_status
    if status >= 500 and not isinstance(e, Unavailable):
        status, body = 500, {"error": "internal_error", "message": "internal error"}
    else:
        body = e.to_wire()
    if isinstance(e, AuthRejected) and e.reason == "stale":
        # Told only to a caller whose signature verified: the node can show its officer
        # how far its clock is off (the relay's time is in a header).
        body = {
            "error": "stale",
            "message": "the request's signature time is outside the relay's window: "
            "check this computer's clock",
        }
    rt.metrics.rejected.labels(status=str(status), reason=reason).inc()
    if isinstance(e, Unavailable) and e.__cause__ is not None:  # the database failed
        rt.metrics.database_errors.labels(where="request").inc()
    if isinstance(e, ClientGone):
        log.info("http.client_gone", reason=e.message)
    elif isinstance(e, AuthRejected) or status in (401, 403):
        log.warning("auth.rejected", status=status, reason=reason)
    elif isinstance(e, Rejected):
        log.warning("request.rejected", status=status, reason=reason)
    else:
        log.info("request.refused", status=status, code=e.code, reason=reason)
    response = _json(body, status)
    if isinstance(e, Throttled):
        response.headers["Retry-After"] = str(e.retry_after)
    if body.get("error") == "stale":
        response.headers[RELAY_TIME_HEADER] = str(int(rt.clock().timestamp()))
    if isinstance(e, Unavailable):
        response.headers["Retry-After"] = str(rt.config.retry_after_seconds)
    if isinstance(e, TooLarge | UnsupportedEncoding | ClientGone | SlowBody):
        response.force_close()  # the rest of the body is not read
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


def query_number(
    query: Any, name: str, default: float, *, low: float, top: float, integer: bool = False
) -> float:
    """The query parameter ``name``: ASCII digits (with a decimal part unless ``integer``),
    at least ``low``; a value above ``top`` is taken as ``top``.

    Raises:
        ValidationError: not such a number, below ``low``, or given twice.
    """
    values = query.getall(name, [])
    if not values:
        return default
    kind = "a whole number" if integer else "a number"
    raw = values[0]
    if len(values) > 1 or not _NUMBER_RE.fullmatch(raw) or (integer and "." in raw):
        raise ValidationError(f"{name} must be {kind} of at least {low:g}", code="invalid_field")
    value = float(raw)
    if value < low:
        raise ValidationError(f"{name} must be {kind} of at least {low:g}", code="invalid_field")
    return min(value, top)


async def inbox(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    cfg = rt.config
    wait = query_number(request.query, "wait", 0.0, low=0, top=cfg.longpoll_max_seconds)
    limit = query_number(
        request.query, "limit", cfg.inbox_max_items, low=1, top=cfg.inbox_max_items, integer=True
    )
    rt.metrics.polled(request[PARTY], rt.clock())
    items = await rt.service.inbox(request[PARTY], limit=int(limit), wait=wait)
    return _json({"items": items})


def _json_body(request: web.Request) -> dict[str, Any]:
    cfg = request.app[RUNTIME].config
    return loads_strict(request[BODY], max_bytes=cfg.max_request_bytes, max_depth=4)


ACK_FIELDS = frozenset({"ids", "receipts", "wait", "limit"})


async def ack(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    doc = _json_body(request)
    ids, given = doc.get("ids"), doc.get("receipts", [])
    if (
        not {"ids"} <= set(doc) <= ACK_FIELDS
        or not isinstance(ids, list)
        or not all(isinstance(i, str) for i in ids)
        or not isinstance(given, list)
    ):
        raise ValidationError(
            'the body must be {"ids": ["<item id>", ...], "receipts": [<receipt>, ...], '
            '"wait": S, "limit": N}',
            code="bad_fields",
        )
    top = rt.config.ack_max_ids
    if len(ids) > top or len(given) > top:
        raise ValidationError(f"at most {top} ids and receipts at a time", code="too_many_ids")
    poll = _poll_of(doc, rt.config)
    numeric = sorted({int(i) for i in ids if _ITEM_ID_RE.match(i)})
    if "receipts" not in doc:
        result = await rt.service.ack(request[PARTY], numeric, rt.clock())
        answer: dict[str, Any] = {"acked": result.acked, "unknown": len(ids) - result.acked}
    else:
        done = await hand_over(rt.service, request[PARTY], given, numeric, rt.clock())
        answer = {
            "acked": done.ack.acked,
            "unknown": len(ids) - done.ack.acked,
            "receipts": [r.to_wire() for r in done.receipts],
        }
    if poll is not None:  # the next items, as GET /v1/inbox would answer them
        wait, limit = poll
        answer["items"] = await rt.service.inbox(request[PARTY], limit=limit, wait=wait)
    return _json(answer)


def _poll_of(doc: dict[str, Any], cfg: RelayConfig) -> tuple[float, int] | None:
    """The long-poll an acknowledgement asks for (``wait`` seconds, at most ``limit``
    items), capped like ``GET /v1/inbox``'s; None if it asks for none.

    Raises:
        ValidationError: ``wait`` or ``limit`` is not a number in range.
    """
    if "wait" not in doc:
        if "limit" in doc:
            raise ValidationError("limit goes with wait", code="bad_fields")
        return None
    wait, limit = doc["wait"], doc.get("limit", cfg.inbox_max_items)
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait < 1e6:
        raise ValidationError("wait must be a number of at least 0", code="invalid_field")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError("limit must be a whole number of at least 1", code="invalid_field")
    return min(float(wait), cfg.longpoll_max_seconds), min(limit, cfg.inbox_max_items)


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
    """Liveness, and the relay's clock and signature window: a node compares its own clock
    (``node doctor``, the daemon) before its signed requests are refused as ``stale``."""
    rt = request.app[RUNTIME]
    return _json(
        {
            "status": "ok",
            "time": round(rt.clock().timestamp(), 3),
            "signature_window_seconds": rt.config.replay_window_seconds,
        }
    )


async def readyz(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    verdict = await rt.readiness.check(rt.clock(), time.monotonic())
    if not verdict.ready:
        response = _json(
            {"status": "unavailable", "error": verdict.code, "message": verdict.message}, 503
        )
        response.headers["Retry-After"] = str(rt.config.retry_after_seconds)
        return response
    return _json({"status": "ready", "schema": verdict.schema})


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
