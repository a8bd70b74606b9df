"""The attachment endpoints: upload a chunk, say which chunks are stored, download one.

Authenticated like the rest of ``/v1`` (the middleware of :mod:`relay.http.routes`, which
also bounds a chunk's body by ``attachment_max_chunk_bytes``). Handlers parse the path and
query strictly and call :class:`relay.core.attachments.AttachmentService`. See
docs/relay-api.md and docs/protocol.md section 18.
"""

from __future__ import annotations

import base64
import hashlib
import re

from aiohttp import web

from keys.errors import ValidationError
from relay.core.attachments import AttachmentService, Upload
from relay.http.audit_routes import query_size
from relay.http.routes import BODY, CHUNK_ROUTE, PARTY, RUNTIME, json_response

_ID_RE = re.compile(r"^[0-9a-f]{32}\Z")
_INDEX_RE = re.compile(r"^(0|[1-9][0-9]{0,8})\Z")
OCTETS = "application/octet-stream"


def _service(request: web.Request) -> AttachmentService:
    service = request.app[RUNTIME].service.attachments
    assert service is not None  # wired in relay.app
    return service


def _att_id(request: web.Request) -> str:
    value = request.match_info["att_id"]
    if not _ID_RE.match(value):
        raise ValidationError("an attachment id is 32 lower-case hex digits", code="bad_id")
    return value


def _index(request: web.Request) -> int:
    value = request.match_info["idx"]
    if not _INDEX_RE.match(value):
        raise ValidationError("a chunk index is a whole number", code="bad_chunk_index")
    return int(value)


async def put_chunk(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    body = request[BODY]
    up = Upload(
        caller=request[PARTY],
        att_id=_att_id(request),
        idx=_index(request),
        file_size=query_size(request, "size"),
        file_chunks=query_size(request, "chunks"),
        body_len=len(body),
        sha256=hashlib.sha256(body).digest(),
    )
    created = await _service(request).put_chunk(up, body, rt.clock())
    return json_response({"stored": True}, 201 if created else 200)


async def status(request: web.Request) -> web.Response:
    return json_response(await _service(request).status(request[PARTY], _att_id(request)))


async def get_chunk(request: web.Request) -> web.Response:
    data = await _service(request).chunk(request[PARTY], _att_id(request), _index(request))
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
    return web.Response(
        body=data, content_type=OCTETS, headers={"Content-Digest": f"sha-256=:{digest}:"}
    )


def add_attachment_routes(app: web.Application) -> None:
    app.router.add_put(CHUNK_ROUTE, put_chunk)
    app.router.add_get(CHUNK_ROUTE, get_chunk)
    app.router.add_get("/v1/attachments/{att_id}", status)
