"""Shared log redaction (keys/redaction.py) in the node's and the relay's logs, including
what libraries log through the standard library and the daemon's loop failures."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from keys import redaction
from keys.encoding import b64u_encode
from keys.redaction import REDACTED, SECRET_FIELDS, clean, mask, redact_event
from node import logs as node_logs
from node.daemon.loop import Daemon
from node.forms import validate_form
from relay.monitoring import logging as relay_logging
from tests.support.fake_relay import FakeRelayNetwork, fake_node

SECRET = b64u_encode(bytes(range(7, 55)))  # 64 characters, looks like a key or signature
DIGEST = "9f" * 32


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        pytest.param(f"bad sig {SECRET}", f"bad sig {REDACTED}", id="base64url"),
        pytest.param("k: " + "Ab1+/" * 10, "k: " + REDACTED, id="base64-std"),
        pytest.param(DIGEST, DIGEST, id="hex-digest"),
        pytest.param("A" * 60, "A" * 60, id="one-case"),
        pytest.param("Ab1" * 13, "Ab1" * 13, id="39-chars"),
        pytest.param("/var/lib/pocnet/data/members/bundle-FR.json", None, id="path"),
    ],
)
def test_mask_known_answers(text: str, masked: str | None) -> None:
    assert mask(text) == (text if masked is None else masked)


@given(st.binary(min_size=30, max_size=200))
def test_random_bytes_in_base64_never_survive(raw: bytes) -> None:
    b64 = b64u_encode(raw)
    out = mask(f"error: {b64!r} rejected")
    mixed = all(any(test(c) for c in b64) for test in (str.isupper, str.islower, str.isdigit))
    assert (b64 not in out) if mixed else (out == f"error: {b64!r} rejected")


def test_redact_event_drops_fields_and_cleans_the_rest() -> None:
    event = {
        "event": f"boom {SECRET}",
        "Signature": "x",
        "nested": {"token": "t", "list": [SECRET, b"\x00\x01"]},
        "msg_id": "ab" * 16,
    }
    out = redact_event(dict(event), frozenset({"signature", "token"}))
    assert out["event"] == f"boom {REDACTED}" and out["Signature"] == REDACTED
    assert out["nested"] == {"token": REDACTED, "list": [REDACTED, "<2 bytes>"]}
    assert out["msg_id"] == event["msg_id"]
    assert clean(7, frozenset()) == 7


def test_node_redaction_masks_base64_in_any_field() -> None:
    event = node_logs.redact(None, "error", {"event": "x", "error": f"ValueError('{SECRET}')"})
    assert SECRET not in json.dumps(event) and REDACTED in event["error"]


def _stdlib_lines(configure: object) -> list[dict[str, object]]:
    stream = io.StringIO()
    configure(stream)  # type: ignore[operator]
    try:
        raise ValueError(f"cannot decode {SECRET}")
    except ValueError:
        logging.getLogger("aiohttp.server").exception("Error handling request %s", SECRET)
    logging.getLogger("sqlalchemy.engine").info("not shown: below warning")
    structlog.get_logger().error("own.line", detail=f"x {SECRET}")
    assert SECRET not in stream.getvalue()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(
    "configure",
    [
        pytest.param(lambda s: node_logs.configure_logging(fmt="json", stream=s), id="node"),
        pytest.param(lambda s: relay_logging.configure_logging(stream=s, pretty=False), id="relay"),
    ],
)
def test_library_logging_goes_through_the_redaction(configure: object) -> None:
    lines = _stdlib_lines(configure)
    events = [line["event"] for line in lines]
    assert events == [f"Error handling request {REDACTED}", "own.line"]
    library = lines[0]
    assert library["level"] == "error" and library["logger"] == "aiohttp.server"
    assert "ValueError" in str(library["exception"]) and REDACTED in str(library["exception"])


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(
    "configure",
    [
        pytest.param(lambda s: node_logs.configure_logging(fmt="json", stream=s), id="node"),
        pytest.param(lambda s: relay_logging.configure_logging(stream=s, pretty=False), id="relay"),
    ],
)
def test_configuring_twice_replaces_the_handler(configure: object) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure(first)  # type: ignore[operator]
    ours = set(logging.getLogger().handlers)
    configure(second)  # type: ignore[operator]
    assert len(set(logging.getLogger().handlers) - ours) == 1
    assert len(ours - set(logging.getLogger().handlers)) == 1
    logging.getLogger("asyncpg").warning("pool.exhausted")
    assert first.getvalue() == "" and "pool.exhausted" in second.getvalue()


# The two lists that drifted apart before keys/redaction.py held the only one.
RELAY_FIELDS_BEFORE = {
    *("authorization", "body", "ciphertext", "envelope", "key", "nonce", "passphrase"),
    *("payload", "private_key", "secret", "seed", "sig", "signature", "signature_input"),
    "token",
}
NODE_FIELDS_BEFORE = {
    *("body", "content", "plaintext", "message", "form", "passphrase", "password", "secret"),
    *("seed", "private_key", "signature", "sig", "token", "authorization", "envelope"),
    *("ciphertext", "payload"),
}
SIDES = [
    pytest.param(lambda s: node_logs.configure_logging(fmt="json", stream=s), id="node"),
    pytest.param(lambda s: relay_logging.configure_logging(stream=s, pretty=False), id="relay"),
]


def test_one_list_of_secret_fields_for_both_sides() -> None:
    assert SECRET_FIELDS == RELAY_FIELDS_BEFORE | NODE_FIELDS_BEFORE
    assert node_logs.SECRET_FIELDS is relay_logging.SECRET_FIELDS is SECRET_FIELDS
    assert node_logs.redact is relay_logging.redact is redaction.redact
    assert list(relay_logging.processors())[-1] is redaction.redact
    assert redaction.chain(node_logs.EDGE)[-1] is redaction.redact


def _one_line(configure: object, emit: object) -> dict[str, object]:
    stream = io.StringIO()
    configure(stream)  # type: ignore[operator]
    emit()  # type: ignore[operator]
    (line,) = stream.getvalue().splitlines()
    out: dict[str, object] = json.loads(line)
    assert isinstance(out.pop("timestamp"), str)
    return out


def _own_line() -> None:
    fields = {name: f"{name} {SECRET}" for name in sorted(SECRET_FIELDS)}
    fields |= {n.upper(): "shouted" for n in ("token", "Key")}
    structlog.get_logger().warning(
        f"envelope.rejected {SECRET}",
        msg_id=DIGEST,
        detail=f"bad {SECRET}",
        nested={"signature": "s", "ok": [SECRET, b"\x00"]},
        **fields,
    )


def _library_line() -> None:
    try:
        raise ValueError(f"cannot decode {SECRET}")
    except ValueError:
        logging.getLogger("aiohttp.server").exception("Error handling request %s", SECRET)


@pytest.mark.usefixtures("restore_logging")
def test_relay_and_node_logs_give_identical_redacted_lines() -> None:
    """The same event through the relay's and the node's configuration: the same line, every
    listed field redacted, the rest masked."""
    node_side, relay_side = (_one_line(configure.values[0], _own_line) for configure in SIDES)
    assert node_side == relay_side
    for name in SECRET_FIELDS:
        assert node_side[name] == REDACTED, name
    assert node_side["TOKEN"] == node_side["KEY"] == REDACTED
    assert node_side["event"] == f"envelope.rejected {REDACTED}"
    assert node_side["detail"] == f"bad {REDACTED}" and node_side["msg_id"] == DIGEST
    assert node_side["nested"] == {"signature": REDACTED, "ok": [REDACTED, "<1 bytes>"]}
    assert node_side["level"] == "warning" and node_side["request_id"] == "-"
    assert SECRET not in json.dumps(node_side)


@pytest.mark.usefixtures("restore_logging")
def test_relay_and_node_give_identical_library_lines() -> None:
    node_side, relay_side = (_one_line(configure.values[0], _library_line) for configure in SIDES)
    assert node_side == relay_side
    assert node_side["logger"] == "aiohttp.server" and node_side["request_id"] == "-"
    assert SECRET not in json.dumps(node_side)


async def test_daemon_loop_failure_logs_type_and_code_only(tmp_path: Path) -> None:
    net = FakeRelayNetwork()
    clock = lambda: datetime.now(UTC)  # noqa: E731 - the daemon runs in real time here
    fr = await fake_node(net, tmp_path / "fr", "FR", clock=clock, log=structlog.get_logger())
    de = await fake_node(net, tmp_path / "de", "DE", clock=clock, log=structlog.get_logger())

    async def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError(f"cannot open envelope {SECRET}")

    de.inbox.handle = boom  # type: ignore[method-assign]
    try:
        await fr.peers.refresh(fr.transport, fr.clock())
        msg = await fr.outbox.queue("DE", validate_form("ping", {}, now=clock()), fr.clock())
        await fr.outbox.submit(msg, fr.clock())
        with capture_logs() as logs, pytest.raises(RuntimeError):
            await asyncio.wait_for(Daemon(de).run(asyncio.Event()), 5)
    finally:
        await fr.close()
        await de.close()
    (line,) = [e for e in logs if e["event"] == "daemon.loop_failed"]
    assert (line["loop"], line["error_type"], line["error"]) == ("inbox", "RuntimeError", None)
    assert SECRET not in json.dumps(logs, default=str)
