"""The example alert hooks in ``deploy/hooks/`` against local test servers on 127.0.0.1:
an SMTP server standing in for the local MTA, and an HTTP server standing in for a webhook."""

from __future__ import annotations

import email
import http.server
import json
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest
import structlog

from node.config import AlertSettings
from node.exchange.alerts import Alert, Alerter
from tests.support.processes import ROOT

HOOKS = ROOT / "deploy" / "hooks"
ALERT = {
    "alert": "reminder",
    "id": "reminder:0190aa:2",
    "msg_id": "0190aa",
    "kind": "emergency_disclosure_request",
    "priority": "emergency",
    "counterpart": "DE",
    "at": "2026-01-10T03:10:00.000Z",
    "advice": "take it in hand with 'node ack 0190aa'",
}


class SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) to accept one message."""

    received: list[tuple[list[str], bytes]]

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 test ESMTP")
        rcpts: list[str] = []
        for _ in range(50):  # bounded conversation
            line = self.rfile.readline(1024).decode().strip()
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 test")
            elif verb == "MAIL":
                self.reply("250 ok")
            elif verb == "RCPT":
                rcpts.append(line.split(":", 1)[1].strip(" <>"))
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go on")
                data = b""
                while not data.endswith(b"\r\n.\r\n") and len(data) < 1_000_000:
                    data += self.rfile.readline(65536)
                self.server.received.append((rcpts, data[:-5]))  # type: ignore[attr-defined]
                self.reply("250 queued")
            elif verb == "QUIT" or not line:
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


@pytest.fixture
def smtp() -> Iterator[Any]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPHandler)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


class WebhookHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = min(int(self.headers.get("Content-Length", "0")), 1_000_000)
        self.server.received.append((dict(self.headers), self.rfile.read(length)))  # type: ignore[attr-defined]
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[Any]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), WebhookHandler)
    server.received = []  # type: ignore[attr-defined]
    server.status = 204  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_hook(name: str, env: dict[str, str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, str(HOOKS / name)],
        input=stdin,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        timeout=30,
    )


def test_mail_hook_sends_through_the_mta(smtp: Any) -> None:
    env = {
        "POCNET_MAIL_TO": "duty@poc.example, backup@poc.example",
        "POCNET_SMTP_HOST": "127.0.0.1",
        "POCNET_SMTP_PORT": str(smtp.server_address[1]),
    }
    result = run_hook("alert-mail.py", env, json.dumps(ALERT).encode())
    assert result.returncode == 0, result.stderr
    [(rcpts, data)] = smtp.received
    assert rcpts == ["duty@poc.example", "backup@poc.example"]
    mail: Message = email.message_from_bytes(data)
    assert mail["Subject"] == "[PoCNet] reminder emergency DE (reminder:0190aa:2)"
    body = mail.get_payload()
    assert isinstance(body, str) and "node ack 0190aa" in body


def test_mail_hook_keeps_line_breaks_out_of_the_subject(smtp: Any) -> None:
    env = {"POCNET_MAIL_TO": "duty@poc.example", "POCNET_SMTP_HOST": "127.0.0.1",
           "POCNET_SMTP_PORT": str(smtp.server_address[1])}  # fmt: skip
    evil = {**ALERT, "counterpart": "DE\r\nBcc: spy@evil.example"}
    assert run_hook("alert-mail.py", env, json.dumps(evil).encode()).returncode == 0
    [(rcpts, data)] = smtp.received
    assert rcpts == ["duty@poc.example"]
    assert email.message_from_bytes(data)["Bcc"] is None


@pytest.mark.parametrize(
    ("env", "stdin"),
    [({}, json.dumps(ALERT)), ({"POCNET_MAIL_TO": "a@b.example"}, "not json")],
    ids=["no recipient", "not json"],
)
def test_mail_hook_fails_clearly(env: dict[str, str], stdin: str) -> None:
    result = run_hook("alert-mail.py", {**env, "POCNET_SMTP_PORT": "9"}, stdin.encode())
    assert result.returncode == 1 and b"alert-mail:" in result.stderr


def test_mail_hook_fails_when_no_mta_answers() -> None:
    from tests.support.processes import free_port

    env = {"POCNET_MAIL_TO": "a@b.example", "POCNET_SMTP_HOST": "127.0.0.1",
           "POCNET_SMTP_PORT": str(free_port())}  # fmt: skip
    result = run_hook("alert-mail.py", env, json.dumps(ALERT).encode())
    assert result.returncode == 1 and b"refused" in result.stderr


async def test_webhook_hook_run_by_the_node_posts_the_alert(
    webhook: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    monkeypatch.setenv("POCNET_WEBHOOK_URL", f"http://127.0.0.1:{webhook.server_address[1]}/h")
    monkeypatch.setenv("POCNET_WEBHOOK_TOKEN_FILE", str(token))
    alerter = Alerter(
        AlertSettings(hook=f"{sys.executable} {HOOKS / 'alert-webhook.py'}"), structlog.get_logger()
    )
    alert = Alert.network("relay_unreachable", "2026-01-10T03:00:00.000Z", "relay_unreachable:x:1",
                          {"relay": "https://relay.example", "minutes": 2.0})  # fmt: skip
    await alerter.raise_alert(alert)
    [(headers, body)] = webhook.received
    sent = json.loads(body)
    assert sent["alert"] == "relay_unreachable" and sent["id"] == "relay_unreachable:x:1"
    assert headers["Idempotency-Key"] == "relay_unreachable:x:1"
    assert headers["Authorization"] == "Bearer s3cret-token"


def test_webhook_hook_fails_on_an_error_answer(webhook: Any) -> None:
    webhook.status = 500
    env = {"POCNET_WEBHOOK_URL": f"http://127.0.0.1:{webhook.server_address[1]}/h"}
    result = run_hook("alert-webhook.py", env, json.dumps(ALERT).encode())
    assert result.returncode == 1 and b"s3cret" not in result.stderr
