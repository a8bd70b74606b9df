"""Hostile or broken input and a failing database never produce a 500 (issue 13).

Each table names its cases; after each refusal the audit trail has not moved. The
database faults are injected at the point where the driver opens a connection (what
asyncpg does when PostgreSQL is down: a raw ``ConnectionRefusedError``), and, on
PostgreSQL, for real by refusing connections to the test database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from sqlalchemy import event
from yarl import URL

from relay.config import RelayConfig
from relay.http.routes import AUDIT
from tests.integration.relaykit import AppUnderTest, database, node_receipt, seal, start_app

FAST_READY = RelayConfig(ready_probe_seconds=0, retry_after_seconds=7)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def relay(request: Any, tmp_path: Any, aiohttp_server: Any) -> Any:
    async with database(request.param, tmp_path) as url:
        yield await start_app(aiohttp_server, url, config=FAST_READY)


async def _event_count(relay: AppUnderTest) -> int:
    from sqlalchemy import func, select

    from relay.storage.schema import events

    async with relay.runtime.service.store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(events))).scalar_one())


# Protocol edges --------------------------------------------------------------------------

EDGES: dict[str, tuple[str, str, dict[str, str], int, str]] = {
    # name: (method, path, extra headers, status, error code)
    "wait in Arabic-Indic digits": ("GET", "/v1/inbox?wait=%D9%A1", {}, 400, "invalid_field"),
    "wait in full-width digits": ("GET", "/v1/inbox?wait=%EF%BC%91", {}, 400, "invalid_field"),
    "wait negative": ("GET", "/v1/inbox?wait=-1", {}, 400, "invalid_field"),
    "wait exponent": ("GET", "/v1/inbox?wait=1e3", {}, 400, "invalid_field"),
    "wait nan": ("GET", "/v1/inbox?wait=nan", {}, 400, "invalid_field"),
    "wait twice": ("GET", "/v1/inbox?wait=1&wait=2", {}, 400, "invalid_field"),
    "limit zero": ("GET", "/v1/inbox?limit=0", {}, 400, "invalid_field"),
    "limit fraction": ("GET", "/v1/inbox?limit=1.5", {}, 400, "invalid_field"),
    "limit with a newline": ("GET", "/v1/inbox?limit=1%0A", {}, 400, "invalid_field"),
    "limit huge": ("GET", "/v1/inbox?limit=99999999999999999999", {}, 400, "invalid_field"),
    "limit above the cap": ("GET", "/v1/inbox?limit=100000", {}, 200, ""),
    "gzip body": ("POST", "/v1/inbox/ack", {"Content-Encoding": "gzip"}, 415, ""),
    "deflate body": ("POST", "/v1/inbox/ack", {"Content-Encoding": "deflate"}, 415, ""),
    "identity body": ("POST", "/v1/inbox/ack", {"Content-Encoding": "identity"}, 200, ""),
}


async def test_protocol_edges_table(relay: AppUnderTest) -> None:
    before = await _event_count(relay)
    async with relay.client("FR") as c:
        for name, (method, path, extra, status, code) in EDGES.items():
            body = b'{"ids":[]}' if method == "POST" else b""
            got, err, headers = await c.request(method, path, body, headers=extra)
            assert got == status, (name, err)
            assert headers["Content-Type"].startswith("application/json"), name
            if code:
                assert err["error"] == code, name
            if status == 415:
                assert err["error"] == "unsupported_encoding", name
    assert await _event_count(relay) == before


@pytest.mark.parametrize("header", ["Signature", "Signature-Input", "Content-Digest"])
async def test_duplicate_signature_headers_are_refused(relay: AppUnderTest, header: str) -> None:
    async with relay.client("FR") as c:
        signed = c.sign("GET", "/v1/inbox")
        other = relay.client("DE").sign("GET", "/v1/inbox")
        headers = [(k, v) for k, v in signed.items()] + [(header, other[header])]
        async with (
            aiohttp.ClientSession() as s,
            s.get(c.base_url + "/v1/inbox", headers=headers) as r,
        ):
            assert r.status == 400
            assert (await r.json())["error"] == "duplicate_header"


async def test_405_has_allow_and_every_error_is_json(relay: AppUnderTest) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.delete(relay.url + "/v1/inbox") as r:
            assert r.status == 405
            assert set(r.headers["Allow"].split(",")) >= {"GET"}
            assert (await r.json())["error"] == "method_not_allowed"
        for path in ("/v1/nothing", "/v1/envelopes/%zz/evidence", "/%2e%2e/etc/passwd", "//x"):
            async with s.get(relay.url + path) as r:
                assert r.status in (400, 401, 404), path
                assert r.headers["Content-Type"].startswith("application/json"), path
                assert set(await r.json()) == {"error", "message"}, path


async def test_client_gone_mid_body_is_info_not_500(tmp_path: Any, aiohttp_server: Any) -> None:
    from structlog.testing import capture_logs

    runners: list[web.AppRunner] = []

    async def production_like(app: web.Application) -> Any:
        # As 'relay serve' runs it: handlers are not cancelled when the peer goes away
        # (the test server's default is to cancel them).
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        return SimpleNamespace(make_url=lambda path: URL(f"http://127.0.0.1:{port}{path}"))

    async with database("sqlite", tmp_path) as url:
        relay = await start_app(production_like, url)
        http = runners[0].server
        assert http is not None
        host, port = relay.url.split("//")[1].rstrip("/").split(":")
        with capture_logs() as logs:
            _reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                b"POST /v1/envelopes HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
                b"Content-Type: application/json\r\n\r\n" + b"{" * 100
            )
            await writer.drain()
            for _ in range(1000):  # bounded: until the relay is reading this request
                if http.requests_count >= 1:
                    break
                await asyncio.sleep(0.005)
            writer.close()
            for _ in range(1000):  # bounded: until the relay has logged the request
                if any(e["event"] == "http.request" for e in logs):
                    break
                await asyncio.sleep(0.005)
        requests = [e for e in logs if e["event"] == "http.request"]
        assert requests and (requests[0]["status"], requests[0]["reason"]) == (400, "client_gone")
        assert not [e for e in logs if e["event"] == "http.internal_error"]
        gone = [e for e in logs if e["event"] == "http.client_gone"]
        assert gone and gone[0]["log_level"] == "info" and "exc_info" not in gone[0]
        metrics = relay.runtime.metrics.render().decode()
        assert 'status="500"' not in metrics
        await runners[0].cleanup()


async def test_malformed_http_is_one_rate_limited_warning_without_traceback() -> None:
    from structlog.testing import capture_logs

    from relay.monitoring.protocol_log import ProtocolErrorLog

    ticks = iter([0.0, 1.0, 2.0, 11.0])
    plog = ProtocolErrorLog(every=10.0, clock=lambda: next(ticks))
    with capture_logs() as logs:
        for _ in range(4):
            try:
                raise ValueError("bad chunk")
            except ValueError as e:
                plog.exception("Error handling request from %s", "192.0.2.7", exc_info=e)
        plog.debug("Ignored premature client disconnection")
    assert [(e["event"], e["log_level"], e["peer"], e["error"], e["suppressed"]) for e in logs] == [
        ("http.protocol_error", "warning", "192.0.2.7", "ValueError", 0),
        ("http.protocol_error", "warning", "192.0.2.7", "ValueError", 2),
    ]
    assert all("exc_info" not in e and "exception" not in e for e in logs)


async def test_malformed_http_reaches_no_error_log(relay: AppUnderTest, caplog: Any) -> None:
    host, port = relay.url.split("//")[1].rstrip("/").split(":")
    for raw in (
        b"POST /v1/envelopes HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /v1/inbox HTTP/1.1\r\nHost: x\rY: z\r\n\r\n",
    ):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(raw)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert answer[:8] in (b"HTTP/1.0", b"HTTP/1.1") and answer[9:12] == b"400", answer[:40]
    assert not [r for r in caplog.records if r.name.startswith("aiohttp") and r.levelno >= 40]


# Database faults -------------------------------------------------------------------------

FAULTS = {
    "connection refused (asyncpg, PostgreSQL down)": ConnectionRefusedError(111, "refused"),
    "connection timed out": TimeoutError("timed out"),
    "server starting up": asyncpg.CannotConnectNowError("the database system is starting up"),
    "sqlite disk I/O error": sqlite3.OperationalError("disk I/O error"),
}


@contextlib.contextmanager
def refuse_connections(relay: AppUnderTest, error: BaseException) -> Iterator[None]:
    """Every new database connection of the relay fails with ``error``: the pool's and
    the proof reader's (relay.audit.hotreads)."""
    engine = relay.runtime.service.store.engine.sync_engine
    hot = relay.app[AUDIT].hot
    assert hot is not None

    def connect(*_args: Any) -> None:
        raise error

    async def hot_connect() -> None:
        raise error

    event.listen(engine, "do_connect", connect)
    hot._connect = hot_connect  # type: ignore[method-assign]
    try:
        yield
    finally:
        event.remove(engine, "do_connect", connect)
        del hot._connect


SIGNED_READS = (
    "/v1/inbox",
    "/v1/audit/checkpoint",
    "/v1/audit/proofs/inclusion?index=0&size=1",
    "/v1/audit/proofs/consistency?from=1&to=1",
    "/v1/envelopes/" + "0" * 32 + "/evidence",
)


async def _all_paths(relay: AppUnderTest) -> dict[str, tuple[int, Any, Any]]:
    fr, de = relay.members["FR"], relay.members["DE"]
    out: dict[str, tuple[int, Any, Any]] = {}
    async with relay.client("FR") as c:
        for path in SIGNED_READS:
            out[path] = await c.request("GET", path)
        out["submit"] = await c.request(
            "POST", "/v1/envelopes", seal(fr, de, relay.clock()).to_bytes()
        )
        out["ack"] = await c.request("POST", "/v1/inbox/ack", b'{"ids":["1"]}')
        out["/readyz"] = await c.request("GET", "/readyz", sign=False)
    return out


async def test_every_path_answers_503_with_retry_after_while_the_database_is_down(
    relay: AppUnderTest,
) -> None:
    engine = relay.runtime.service.store.engine
    for name, error in FAULTS.items():
        with refuse_connections(relay, error):
            await engine.dispose()  # the pooled connections go too
            await relay.app[AUDIT].hot.drop()  # and the proof reader's
            answers = await _all_paths(relay)
            async with relay.client("FR") as c:
                health = await c.request("GET", "/healthz", sign=False)
        for path, (status, body, headers) in answers.items():
            assert status == 503, (name, path, body)
            assert body["error"] in ("unavailable", "timeout"), (name, path, body)
            assert headers["Retry-After"] == "7", (name, path)
        assert health[0] == 200, "liveness does not depend on the database"
        answers = await _all_paths(relay)  # recovery without a restart
        assert answers["/readyz"][0] == 200, name
        assert answers["submit"][0] == 201, name
        assert answers["/v1/inbox"][0] == 200, name


@pytest.mark.postgres
async def test_postgres_refusing_connections_for_real(tmp_path: Any, aiohttp_server: Any) -> None:
    from relay.storage.database import make_engine, upgrade
    from tests.integration.relaykit import _asyncpg_dsn, create_pg_database, drop_pg_database

    url = await create_pg_database()
    try:
        engine = make_engine(url)
        await upgrade(engine)
        await engine.dispose()
        relay = await start_app(aiohttp_server, url, config=FAST_READY)
        name = url.rsplit("/", 1)[1]
        admin = await asyncpg.connect(_asyncpg_dsn(url.rsplit("/", 1)[0] + "/postgres"))
        try:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            await relay.runtime.service.store.engine.dispose()
            answers = await _all_paths(relay)
            for path, (status, body, headers) in answers.items():
                assert (status, body["error"]) == (503, "unavailable"), (path, body)
                assert headers["Retry-After"] == "7"
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await admin.close()
        answers = await _all_paths(relay)
        assert answers["/readyz"][0] == 200 and answers["submit"][0] == 201
    finally:
        await drop_pg_database(url)


async def test_readyz_is_503_when_the_disk_is_nearly_full(
    tmp_path: Any, aiohttp_server: Any
) -> None:
    async with database("sqlite", tmp_path) as url:
        full = RelayConfig(ready_probe_seconds=0, ready_min_free_bytes=2**62)
        relay = await start_app(aiohttp_server, url, config=full)
        async with relay.client("FR") as c:
            status, body, headers = await c.request("GET", "/readyz", sign=False)
            assert (status, body["error"]) == (503, "disk_full")
            assert "Retry-After" in headers
            assert (await c.request("GET", "/healthz", sign=False))[0] == 200


async def test_readyz_probe_is_rate_limited(tmp_path: Any, aiohttp_server: Any) -> None:
    async with database("sqlite", tmp_path) as url:
        relay = await start_app(aiohttp_server, url, config=RelayConfig(ready_probe_seconds=3600))
        writer = relay.runtime.service.writer
        async with relay.client("FR") as c:
            assert (await c.request("GET", "/readyz", sign=False))[0] == 200
            before = writer.operations
            for _ in range(20):
                assert (await c.request("GET", "/readyz", sign=False))[0] == 200
        assert writer.operations == before, "a flood of /readyz must not be a flood of writes"
        assert json.dumps({}) == "{}"


async def test_a_node_cannot_contradict_its_own_receipt(relay: AppUnderTest) -> None:
    from keys.receipts import issue_at

    fr, de = relay.members["FR"], relay.members["DE"]
    env = seal(fr, de, relay.clock())
    async with relay.client("FR") as cf, relay.client("DE") as cd:
        assert (await cf.submit(env.to_bytes()))[0] == 201
        await cd.inbox()
        retrieved = node_receipt(de, env, "RETRIEVED", relay.clock())
        assert (await cd.send_receipt(retrieved.to_bytes()))[0] == 201
        before = await _event_count(relay)
        other = issue_at(
            relay.clock(),
            de.key,
            type="REJECTED",
            msg_id=env.header.msg_id,
            envelope_sha256="0" * 64,
            issuer="DE",
            reason="verification_failed",
        )
        status, err = await cd.send_receipt(other.to_bytes())
        assert (status, err["error"]) == (409, "receipt_contradicts")
        assert await _event_count(relay) == before
        acked = node_receipt(de, env, "ACKNOWLEDGED", relay.clock())
        assert (await cd.send_receipt(acked.to_bytes()))[0] == 201
        rejected = node_receipt(de, env, "REJECTED", relay.clock(), reason="x")
        status, err = await cd.send_receipt(rejected.to_bytes())
        assert (status, err["error"]) == (409, "receipt_contradicts")
        _, evidence = await cf.evidence(env.header.msg_id)
        assert other.to_wire() not in evidence["receipts"]
        assert rejected.to_wire() not in evidence["receipts"]
        assert acked.to_wire() in evidence["receipts"]


async def test_a_stale_signature_says_so_with_the_relays_time(relay: AppUnderTest) -> None:
    async with relay.client("FR") as c:
        for offset in (timedelta(minutes=-10), timedelta(minutes=10)):
            status, err, headers = await c.request("GET", "/v1/inbox", now=relay.clock() + offset)
            assert (status, err["error"]) == (401, "stale")
            assert int(headers["Pocnet-Relay-Time"]) == int(relay.clock().timestamp())
        impostor = relay.client("DE")  # DE's key signing as FR: not verified, so nothing said
        headers = impostor.sign("GET", "/v1/inbox", now=relay.clock() - timedelta(minutes=10))
        headers["Signature-Input"] = headers["Signature-Input"].replace('"DE"', '"FR"')
        status, err, answer_headers = await c.request(
            "GET", "/v1/inbox", headers=headers, sign=False
        )
        assert (status, err["error"]) == (401, "unauthenticated")
        assert "Pocnet-Relay-Time" not in answer_headers


async def test_a_part_stuck_at_shutdown_is_named_and_left() -> None:
    from structlog.testing import capture_logs

    from relay.app import _bounded

    never = asyncio.Event()

    async def stuck() -> None:
        await never.wait()

    with capture_logs() as logs:
        await asyncio.wait_for(_bounded("listener", stuck, 0.05)(), 10)
    assert [(e["event"], e["log_level"], e["part"]) for e in logs] == [
        ("relay.shutdown_stuck", "error", "listener")
    ]
