"""Operator logs: redaction, request ids, and `relay logs` filtering and rendering."""

from __future__ import annotations

import argparse
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from keys.encoding import b64u_encode
from keys.errors import ValidationError
from relay.cli.logs import matches, parse_age, render, show
from relay.monitoring.logging import REDACTED, configure_logging, redact

SECRET = b64u_encode(bytes(range(64)))  # looks like a signature


def test_redact_drops_secret_fields_and_masks_base64_runs() -> None:
    event = {
        "event": "x",
        "signature": "abc",
        "Body": {"a": 1},
        "detail": f"header was pocnet=:{SECRET}:",
        "nested": {"key": "k", "note": [SECRET]},
        "raw": b"\x00" * 10,
        "envelope_sha256": "ab" * 32,
        "msg_id": "0123456789abcdef" * 2,
        "path": "/tmp/pytest-of-root/pytest-3/test_something_long0/data/members",
    }
    out = redact(None, "info", dict(event))
    assert out["signature"] == out["Body"] == REDACTED
    assert SECRET not in json.dumps(out) and REDACTED in out["detail"]
    assert out["nested"] == {"key": REDACTED, "note": [REDACTED]}
    assert out["raw"] == "<10 bytes>"
    assert out["envelope_sha256"] == event["envelope_sha256"]
    assert out["msg_id"] == event["msg_id"] and out["path"] == event["path"]


def test_json_lines_carry_a_request_id_and_are_redacted() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, pretty=False)
    try:
        log = structlog.get_logger("t")
        structlog.contextvars.bind_contextvars(request_id="r1")
        log.info("envelope.accepted", msg_id="a" * 32, sig=SECRET)
        structlog.contextvars.clear_contextvars()
        log.info("relay.started")
    finally:
        structlog.reset_defaults()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["request_id"] for line in lines] == ["r1", "-"]
    assert lines[0]["event"] == "envelope.accepted" and lines[0]["sig"] == REDACTED
    assert all({"timestamp", "level"} <= set(line) for line in lines)


def test_capture_logs_sees_events() -> None:
    with capture_logs() as logs:
        structlog.get_logger().warning("delivery.overdue", msg_id="m")
    assert logs[0]["event"] == "delivery.overdue" and logs[0]["log_level"] == "warning"


ENTRIES = [
    {
        "event": "envelope.accepted",
        "level": "info",
        "sender": "FR",
        "recipient": "DE",
        "timestamp": "2026-03-01T11:55:00Z",
        "request_id": "a",
    },
    {
        "event": "delivery.overdue",
        "level": "warning",
        "sender": "IT",
        "recipient": "FR",
        "timestamp": "2026-03-01T11:58:00Z",
        "request_id": "task:deadlines",
    },
    {
        "event": "http.request",
        "level": "info",
        "party": "DE",
        "status": 200,
        "timestamp": "2026-03-01T11:40:00Z",
        "request_id": "b",
    },
]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, [0, 1, 2]),
        ({"event": "delivery.overdue"}, [1]),
        ({"event": "delivery."}, [1]),
        ({"event": "delivery"}, []),
        ({"party": "FR"}, [0, 1]),
        ({"party": "DE"}, [0, 2]),
        ({"level": "warning"}, [1]),
        ({"since": datetime(2026, 3, 1, 11, 50, tzinfo=UTC)}, [0, 1]),
    ],
)
def test_log_filters(filters: dict, expected: list[int]) -> None:
    assert [i for i, e in enumerate(ENTRIES) if matches(e, **filters)] == expected


def test_parse_age() -> None:
    assert parse_age("10m").total_seconds() == 600
    assert parse_age("2d").total_seconds() == 172800
    with pytest.raises(ValidationError):
        parse_age("ten minutes")


def test_relay_logs_reads_a_file_and_renders_readably(tmp_path: Path) -> None:
    path = tmp_path / "relay.log"
    path.write_text("\n".join(json.dumps(e) for e in ENTRIES) + "\nnot json\n")
    args = argparse.Namespace(
        file=path, follow=False, event=None, party="FR", since="10m", level=None, json=False
    )
    out = io.StringIO()
    assert show(args, out=out, now=NOW) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "envelope.accepted" in lines[0] and "sender=FR" in lines[0]
    assert "[task:deadlines]" in lines[1] and "WARNING" in lines[1]
    assert render(ENTRIES[2]).startswith("2026-03-01 11:40:00")
