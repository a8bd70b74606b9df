#!/usr/bin/env python3
"""PoCNet alert hook: e-mail each alert through the local mail transfer agent (SMTP).

Set in node.toml:  [alerts] hook = "/usr/bin/python3 /opt/pocnet/deploy/hooks/alert-mail.py"

The node runs the hook once per alert with the alert as one JSON object on stdin (metadata
only unless alerts.include_content = true). Settings, from the environment:

  POCNET_MAIL_TO     recipients, comma-separated (required), e.g. duty@poc.example
  POCNET_MAIL_FROM   sender (default pocnet@localhost)
  POCNET_SMTP_HOST   the local MTA (default localhost); POCNET_SMTP_PORT (default 25)

The subject carries the alert's stable id, so a mail filter can de-duplicate repetitions
that are the same alert. Exit 0 when the MTA accepted the mail, 1 otherwise (the node logs
alert.hook_failed). Standard library only.
"""

from __future__ import annotations

import json
import os
import smtplib
import sys
from email.message import EmailMessage

MAX_INPUT = 1024 * 1024
ORDER = ("alert", "id", "priority", "counterpart", "kind", "msg_id", "at", "advice", "phone")


def one_line(value: object, limit: int = 200) -> str:
    """A header-safe rendering: no line breaks, bounded length."""
    return " ".join(str(value).split())[:limit]


def compose(alert: dict[str, object], sender: str, recipients: list[str]) -> EmailMessage:
    msg = EmailMessage()
    kind = one_line(alert.get("alert", "alert"), 40)
    who = one_line(alert.get("counterpart") or alert.get("relay") or "", 60)
    msg["Subject"] = one_line(
        f"[PoCNet] {kind} {one_line(alert.get('priority', ''), 12)} {who} ({alert.get('id', '')})"
    )
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    keys = [k for k in ORDER if k in alert] + sorted(k for k in alert if k not in ORDER)
    lines = [f"{k}: {json.dumps(alert[k], ensure_ascii=False)}" for k in keys]
    msg.set_content("\n".join(lines) + "\n")
    return msg


def main() -> int:
    recipients = [r.strip() for r in os.environ.get("POCNET_MAIL_TO", "").split(",") if r.strip()]
    if not recipients:
        print("alert-mail: set POCNET_MAIL_TO", file=sys.stderr)
        return 1
    try:
        alert = json.loads(sys.stdin.buffer.read(MAX_INPUT))
    except ValueError:
        print("alert-mail: the alert on stdin is not JSON", file=sys.stderr)
        return 1
    if not isinstance(alert, dict):
        return 1
    sender = os.environ.get("POCNET_MAIL_FROM", "pocnet@localhost")
    host = os.environ.get("POCNET_SMTP_HOST", "localhost")
    port = int(os.environ.get("POCNET_SMTP_PORT", "25"))
    try:
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            smtp.send_message(compose(alert, sender, recipients))
    except (OSError, smtplib.SMTPException) as e:
        print(f"alert-mail: the MTA at {host}:{port} refused: {type(e).__name__}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
