"""The published contract says what the relay serves: relay/http/openapi.json and
docs/relay-api.md against the routes registered in the aiohttp app, both ways.

A route added to ``relay/http/routes.py`` or ``relay/http/audit_routes.py`` without its
documentation, or a documented route the relay no longer serves, fails here. So do a signed route
documented as unsigned (or the reverse), a dangling ``$ref``, and an evidence answer
whose members differ from the documented ones.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from keys.identities import SigningKey
from relay.app import AppParts, create_app
from relay.config import RelayConfig
from relay.http.routes import PUBLIC_PATHS
from tests.integration.relaykit import AppUnderTest, database, seal, start_app

ROOT = Path(__file__).resolve().parents[3]
SPEC = json.loads((ROOT / "relay" / "http" / "openapi.json").read_text(encoding="utf-8"))
API_DOC = (ROOT / "docs" / "relay-api.md").read_text(encoding="utf-8")
METHODS = {"get", "post", "put", "patch", "delete"}


def served_routes() -> set[tuple[str, str]]:
    """(METHOD, path) of every route the relay app registers (HEAD is aiohttp's own)."""
    parts = AppParts(
        config=RelayConfig(),
        database_url="sqlite+aiosqlite:///unused.db",
        signing_key=SigningKey.generate(),
        load_members=lambda: None,  # type: ignore[arg-type, return-value]
    )
    app = create_app(parts)  # routes are registered here; nothing starts
    routes = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        assert isinstance(path, str), info
        routes.add((route.method, path))
    return routes


def documented_routes() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, ops in SPEC["paths"].items()
        for method in ops
        if method in METHODS
    }


SERVED = served_routes()


def test_openapi_documents_every_route_and_nothing_else() -> None:
    assert SERVED, "no route found: the app is not built as expected"
    assert documented_routes() - SERVED == set(), "documented but not served"
    assert SERVED - documented_routes() == set(), "served but not in relay/http/openapi.json"


@pytest.mark.parametrize(("method", "path"), sorted(SERVED))
def test_relay_api_md_describes_the_route(method: str, path: str) -> None:
    pattern = re.compile(rf"`{method} {re.escape(path)}[`?]")
    assert pattern.search(API_DOC), f"docs/relay-api.md does not describe `{method} {path}`"


@pytest.mark.parametrize(("method", "path"), sorted(SERVED))
def test_signed_routes_say_so(method: str, path: str) -> None:
    op = SPEC["paths"][path][method.lower()]
    signed = bool(op.get("security"))
    assert signed == (path not in PUBLIC_PATHS), f"{method} {path}: security is wrong"
    assert op.get("operationId") and op.get("summary") and op.get("responses")


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_ref_resolves_and_operation_ids_are_unique() -> None:
    for ref in _refs(SPEC):
        assert ref.startswith("#/"), ref
        node: Any = SPEC
        for part in ref[2:].split("/"):
            assert part in node, f"dangling {ref}"
            node = node[part]
    ids = [op["operationId"] for ops in SPEC["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


@pytest.fixture
async def relay(tmp_path: Any, aiohttp_server: Any) -> Any:
    async with database("sqlite", tmp_path) as url:
        yield await start_app(aiohttp_server, url)


def _schema(path: str, method: str, status: str) -> dict[str, Any]:
    op = SPEC["paths"][path][method]
    schema: dict[str, Any] = op["responses"][status]["content"]["application/json"]["schema"]
    return schema


async def test_answers_have_the_documented_members(relay: AppUnderTest) -> None:
    env = seal(relay.members["FR"], relay.members["DE"], relay.clock())
    async with relay.client("FR") as c:
        assert (await c.submit(env.to_bytes()))[0] == 201
        _, evidence = await c.evidence(env.header.msg_id)
        _, checkpoint, _ = await c.request("GET", "/v1/audit/checkpoint")
    schema = _schema("/v1/envelopes/{msg_id}/evidence", "get", "200")
    assert set(evidence) == set(schema["properties"]) == set(schema["required"])
    assert evidence["stored_envelope"] in schema["properties"]["stored_envelope"]["enum"]
    schema = _schema("/v1/audit/checkpoint", "get", "200")
    assert set(checkpoint) == set(schema["required"])
