"""The audit log's HTTP endpoints: the latest checkpoint, the two kinds of proof, and the
entries of several messages with their proofs in one request.

Authenticated like the rest of ``/v1`` (the middleware of :mod:`relay.http.routes`). Handlers
parse the query strictly, call :class:`relay.audit.proofs.AuditLog` and answer JSON; proof
hashes are unpadded base64url strings. See docs/relay-api.md and docs/protocol.md
section 15.
"""

from __future__ import annotations

import re

from aiohttp import web

from keys.auditlog.merkle import MAX_TREE_SIZE
from keys.encoding import b64u_encode
from keys.envelope import validate_id
from keys.errors import ValidationError
from relay.http.routes import AUDIT, PARTY, RUNTIME, json_response

MAX_PROOF_MESSAGES = 50
"""Most messages in one ``GET /v1/audit/proofs/messages``."""
_SIZE_RE = re.compile(r"^(0|[1-9][0-9]{0,18})$")


def query_size(request: web.Request, name: str) -> int:
    """The required query parameter ``name``: a tree size or index (0 to 2^63 - 1).

    Raises:
        ValidationError: missing, not decimal digits without leading zeros, or too big.
    """
    raw = request.query.getall(name, [])
    if len(raw) != 1:
        raise ValidationError(f"give exactly one '{name}' parameter", code="invalid_field")
    if not _SIZE_RE.match(raw[0]) or int(raw[0]) > MAX_TREE_SIZE:
        raise ValidationError(f"{name} must be an integer from 0 to 2^63 - 1", code="invalid_field")
    return int(raw[0])


async def checkpoint(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    stored = await request.app[AUDIT].checkpoint(rt.clock())
    return json_response({"checkpoint": stored.note.decode("utf-8")})


async def inclusion(request: web.Request) -> web.Response:
    index, size = query_size(request, "index"), query_size(request, "size")
    hashes = await request.app[AUDIT].inclusion(index, size)
    return json_response(
        {"leaf_index": index, "tree_size": size, "hashes": [b64u_encode(h) for h in hashes]}
    )


async def consistency(request: web.Request) -> web.Response:
    old, new = query_size(request, "from"), query_size(request, "to")
    hashes = await request.app[AUDIT].consistency(old, new)
    return json_response(
        {"old_size": old, "new_size": new, "hashes": [b64u_encode(h) for h in hashes]}
    )


async def messages(request: web.Request) -> web.Response:
    """``GET /v1/audit/proofs/messages?msg_id=A&msg_id=B``: for each message the caller sent
    or received, its log entries with inclusion proofs, all in one checkpoint's tree."""
    rt = request.app[RUNTIME]
    given = request.query.getall("msg_id", [])
    if not 0 < len(given) <= MAX_PROOF_MESSAGES:
        raise ValidationError(
            f"give 1 to {MAX_PROOF_MESSAGES} 'msg_id' parameters", code="invalid_field"
        )
    ids = [validate_id(m, "msg_id") for m in given]
    stored, proofs = await request.app[AUDIT].messages_proofs(request[PARTY], ids, rt.clock())
    return json_response(
        {
            "checkpoint": stored.note.decode("utf-8"),
            "messages": {m: [p.to_wire() for p in found] for m, found in proofs.items()},
        }
    )


def add_audit_routes(app: web.Application) -> None:
    app.router.add_get("/v1/audit/checkpoint", checkpoint)
    app.router.add_get("/v1/audit/proofs/inclusion", inclusion)
    app.router.add_get("/v1/audit/proofs/consistency", consistency)
    app.router.add_get("/v1/audit/proofs/messages", messages)
