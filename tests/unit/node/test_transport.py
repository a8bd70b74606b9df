"""The HTTP transport: every request signed, every failure wrapped in PoCNet's errors."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from keys.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PeerError,
    RateLimited,
    Rejected,
    TooLarge,
    Unauthenticated,
    ValidationError,
)
from keys.host.command import EXIT_CONFIG, Unreachable, exit_code_for
from keys.identities import SigningKey
from node.relayapi.misconfig import RelayConfigError, connection_error
from node.relayapi.transport import (
    ClockOff,
    HttpRelayTransport,
    InboxItem,
    RelayRateLimited,
    error_for,
    is_transient,
)
from tests.support.scripted_relay import ScriptedRelay, serving

KEY = SigningKey.generate()


@pytest.fixture
async def relay() -> AsyncIterator[tuple[ScriptedRelay, str]]:
    scripted = ScriptedRelay(KEY, answer=(200, {"items": []}, {}))
    async with serving(scripted) as url:
        yield scripted, url


def transport(url: str, timeout: float = 5.0) -> HttpRelayTransport:
    return HttpRelayTransport(
        url, party="FR", signing_key=KEY, clock=lambda: datetime.now(UTC), timeout=timeout
    )


async def test_requests_are_signed_and_follow_the_contract(
    relay: tuple[ScriptedRelay, str],
) -> None:
    scripted, url = relay
    t = transport(url + "/")
    scripted.answer = (
        200,
        {
            "items": [
                {
                    "id": "1",
                    "type": "receipt",
                    "msg_id": "a" * 32,
                    "receipt": {"payload": "x", "sig": "y"},
                }
            ]
        },
        {},
    )
    [item] = await t.inbox(wait=7, limit=50)
    assert item == InboxItem("1", "receipt", msg_id="a" * 32, receipt={"payload": "x", "sig": "y"})
    scripted.answer = (200, {"acked": 100, "unknown": 0}, {})
    assert await t.ack([str(i) for i in range(150)]) == 200  # two calls of at most 100 ids
    scripted.answer = (201, {"receipt": {"payload": "p", "sig": "s"}}, {})
    result = await t.submit(b'{"v":1}')
    assert result.created and result.receipt == {"payload": "p", "sig": "s"}
    scripted.answer = (200, {"stored": True}, {})
    assert await t.post_receipt(b"{}") is False
    scripted.answer = (200, {"format": "pocnet-bundles", "bundles": []}, {})
    assert (await t.directory())["format"] == "pocnet-bundles"
    await t.close()
    assert [(m, p) for m, p, _ in scripted.seen] == [
        ("GET", "/v1/inbox?wait=7&limit=50"),
        ("POST", "/v1/inbox/ack"),
        ("POST", "/v1/inbox/ack"),
        ("POST", "/v1/envelopes"),
        ("POST", "/v1/receipts"),
        ("GET", "/v1/directory"),
    ]
    assert [len(json.loads(b)["ids"]) for m, p, b in scripted.seen if p == "/v1/inbox/ack"] == [
        100,
        50,
    ]


ERRORS = [
    (400, {"error": "rejected", "message": "rejected"}, Rejected, False),
    (400, {"error": "invalid_field", "message": "bad"}, ValidationError, False),
    # Our own key refused, a path every relay serves missing: configuration, not outages.
    (401, {"error": "unauthenticated", "message": "no"}, RelayConfigError, False),
    (403, {"error": "forbidden", "message": "suspended"}, Forbidden, False),  # this message
    (404, {"error": "not_found", "message": "none"}, RelayConfigError, False),
    (409, {"error": "msg_id_reused", "message": "used"}, Conflict, False),
    (413, {"error": "too_large", "message": "big"}, TooLarge, False),
    (429, {"error": "rate_limited", "message": "slow down"}, RateLimited, True),
    (500, {"error": "internal_error", "message": "oops"}, Unreachable, True),
    (503, {"error": "unavailable", "message": "db down"}, Unreachable, True),
    (418, {"error": "teapot", "message": "?"}, PeerError, False),
]


@pytest.mark.parametrize(
    ("status", "doc", "cls", "transient"), ERRORS, ids=[str(e[0]) + e[1]["error"] for e in ERRORS]
)
async def test_relay_errors_become_pocnet_errors(
    relay: tuple[ScriptedRelay, str],
    status: int,
    doc: dict[str, str],
    cls: type[Exception],
    transient: bool,
) -> None:
    scripted, url = relay
    scripted.answer = (status, doc, {"Retry-After": "7"} if status == 429 else {})
    t = transport(url)
    with pytest.raises(cls) as info:
        await t.submit(b"{}")
    assert is_transient(info.value) is transient  # type: ignore[arg-type]
    if status == 429:
        assert isinstance(info.value, RelayRateLimited) and info.value.retry_after == 7.0
    await t.close()


async def test_connection_refused_is_unreachable() -> None:
    from tests.support.processes import free_port as port

    t = transport(f"http://127.0.0.1:{port()}")
    with pytest.raises(Unreachable, match="did not answer"):
        await t.inbox(wait=0, limit=1)
    await t.close()


async def test_timeout_is_unreachable(relay: tuple[ScriptedRelay, str]) -> None:
    scripted, url = relay
    scripted.delay = 2.0
    t = transport(url, timeout=0.2)
    with pytest.raises(Unreachable):
        await t.submit(b"{}")
    await t.close()


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ((200, "not json", {}), PeerError),
        ((200, {"no": "items"}, {}), PeerError),
        ((200, {"items": [{"id": "1", "type": "gift"}]}, {}), ValidationError),
        ((502, "<html>bad gateway</html>", {}), Unreachable),
    ],
)
async def test_malformed_answers_are_refused(
    relay: tuple[ScriptedRelay, str],
    answer: tuple[int, Any, dict[str, str]],
    error: type[Exception],
) -> None:
    scripted, url = relay
    scripted.answer = answer
    t = transport(url)
    with pytest.raises(error):
        await t.inbox(wait=0, limit=1)
    await t.close()


def test_error_for_unknown_body() -> None:
    assert isinstance(error_for(400, {}), ValidationError)
    assert isinstance(error_for(599, {}), Unreachable)


async def test_a_large_answer_is_read_whole(relay: tuple[ScriptedRelay, str]) -> None:
    """Regression: a 2.5 MB inbox answer arrives in many chunks; all of it is read."""
    scripted, url = relay
    items = [
        {
            "id": str(i),
            "type": "receipt",
            "msg_id": "a" * 32,
            "receipt": {"payload": "x" * 25_000, "sig": "y"},
        }
        for i in range(100)
    ]
    scripted.answer = (200, {"items": items}, {})
    t = transport(url)
    got = await t.inbox(wait=0, limit=100)
    assert len(got) == 100 and got[-1].receipt == {"payload": "x" * 25_000, "sig": "y"}
    await t.close()


async def test_an_answer_beyond_the_limit_is_refused(
    relay: tuple[ScriptedRelay, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import node.relayapi.transport as transport_module

    scripted, url = relay
    monkeypatch.setattr(transport_module, "MAX_RESPONSE_BYTES", 1000)
    scripted.answer = (200, {"items": [], "pad": "z" * 5000}, {})
    t = transport(url)
    with pytest.raises(PeerError, match="exceeds 1000 bytes"):
        await t.inbox(wait=0, limit=1)
    await t.close()


async def test_a_404_is_not_found_where_the_relay_answers_404_itself(
    relay: tuple[ScriptedRelay, str],
) -> None:
    scripted, url = relay
    scripted.answer = (404, {"error": "not_found", "message": "no such message"}, {})
    t = transport(url)
    with pytest.raises(NotFound) as info:
        await t.evidence("a" * 32)
    assert not isinstance(info.value, RelayConfigError)
    with pytest.raises(NotFound):
        await t.post_receipt(b"{}")
    await t.close()


@pytest.mark.parametrize(
    ("status", "code", "setting"),
    [
        (404, "relay_path", "relay.url"),
        (401, "relay_refused_key", "party / keystore.path"),
        (403, "relay_refused_key", "party / keystore.path"),
    ],
)
async def test_configuration_answers_name_the_setting(
    relay: tuple[ScriptedRelay, str], status: int, code: str, setting: str
) -> None:
    scripted, url = relay
    scripted.answer = (status, {"error": "x", "message": "y"}, {})
    t = transport(url + "/wrong-path")
    with pytest.raises(RelayConfigError) as info:
        await t.inbox(wait=0, limit=1)
    assert (info.value.code, info.value.setting) == (code, setting)
    assert exit_code_for(info.value) == EXIT_CONFIG and not is_transient(info.value)
    await t.close()


async def test_tls_to_a_plain_http_relay_is_a_configuration_error(
    relay: tuple[ScriptedRelay, str],
) -> None:
    _, url = relay
    t = transport(url.replace("http://", "https://"))
    with pytest.raises(RelayConfigError) as info:
        await t.directory()
    assert info.value.code == "relay_tls" and "relay.ca_file" in info.value.message
    await t.close()


def test_a_host_that_does_not_resolve_is_a_configuration_error() -> None:
    # Built, not looked up: tests send no DNS query.
    key = SimpleNamespace(host="relay.example.invalid", port=443, ssl=True)
    error = aiohttp.ClientConnectorDNSError(key, socket.gaierror(-2, "Name or service not known"))  # type: ignore[arg-type]
    found = connection_error(error, "https://relay.example.invalid")
    assert found is not None and found.code == "relay_dns" and found.setting == "relay.url"
    assert "relay.example.invalid" in found.message
    refused = aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused"))  # type: ignore[arg-type]
    assert connection_error(refused, "https://relay.example.invalid") is None  # an outage


T = datetime(2026, 3, 1, tzinfo=UTC)
STALE = {"error": "stale", "message": "check this computer's clock"}
CLOCKS: dict[str, tuple[str | None, int | None, str]] = {
    # name: (the relay's time header, offset expected, words in the message)
    "ten minutes behind": (str(int(T.timestamp()) + 600), 600, "600 s behind the relay's"),
    "ten minutes ahead": (str(int(T.timestamp()) - 600), -600, "600 s ahead of the relay's"),
    "no header": (None, None, "clock is off"),
    "not a number": ("soon", None, "clock is off"),
    "non-ASCII digits": ("١٢٣", None, "clock is off"),
    "absurdly long": ("9" * 40, None, "clock is off"),
}


@pytest.mark.parametrize("name", CLOCKS)
def test_stale_answers_say_how_far_the_clock_is_off(name: str) -> None:
    header, offset, words = CLOCKS[name]
    error = error_for(401, STALE, relay_time=header, now=T)
    assert isinstance(error, ClockOff) and isinstance(error, Unauthenticated)
    assert error.offset_seconds == offset and words in error.message
    assert is_transient(error), "a request refused only for time is retried"
    assert not is_transient(error_for(401, {"error": "unauthenticated"}))


async def test_a_stale_answer_through_the_transport(relay: tuple[ScriptedRelay, str]) -> None:
    scripted, url = relay
    fixed = datetime.now(UTC)  # the scripted relay checks the signature's time for real
    scripted.answer = (401, STALE, {"Pocnet-Relay-Time": str(int(fixed.timestamp()) + 42)})
    t = HttpRelayTransport(url, party="FR", signing_key=KEY, clock=lambda: fixed)
    with pytest.raises(ClockOff) as e:
        await t.inbox(wait=0, limit=1)
    assert e.value.offset_seconds == 42
    await t.close()
