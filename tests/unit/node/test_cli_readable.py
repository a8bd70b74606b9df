"""``node inbox`` under headings in the console's order, and ``node show --format
text|html|raw``: the same readable view as the web console."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.forms import KINDS
from tests.unit.node import test_cli

run = test_cli.run
fr = test_cli.fr  # the fixture: an initialised node FR, its relay not running
_reset_logging = test_cli._reset_logging


def _send(fr: Path, capsys: pytest.CaptureFixture[str], priority: str) -> str:
    code, out, _ = run(
        capsys, "send", "--to", "DE", "--kind", "ping", "--priority", priority,
        "--data", str(fr), "--json", "--no-input",
    )  # fmt: skip
    assert code == 0, out
    return str(json.loads(out)["msg_id"])


def test_inbox_has_headings_and_deadlines(fr: Path, capsys: pytest.CaptureFixture[str]) -> None:
    routine = _send(fr, capsys, "routine")
    urgent = _send(fr, capsys, "urgent")
    code, out, _ = run(capsys, "inbox", "--sent", "--data", str(fr))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "OPEN (2)"
    urgent_line = next(line for line in lines if line.strip().startswith(urgent[:12]))
    assert "OVERDUE in" in urgent_line
    routine_line = next(line for line in lines if line.strip().startswith(routine[:12]))
    assert "EXPIRED in" in routine_line
    code, out, _ = run(capsys, "inbox", "--data", str(fr))
    assert out.strip() == "no received messages"


def test_show_reads_as_the_form_in_text_and_html(
    fr: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    msg_id = _send(fr, capsys, "urgent")
    code, text, _ = run(capsys, "show", msg_id[:10], "--data", str(fr))
    assert code == 0
    assert text.startswith(f"{KINDS['ping'].title} (ping), URGENT")
    assert "to DE;" in text and "Timeline of signed receipts:" in text
    assert "Urgency: urgent" in text
    code, page, _ = run(capsys, "show", msg_id[:10], "--format", "html", "--data", str(fr))
    assert code == 0
    assert page.startswith("<!doctype html>") and "<script" not in page
    assert "Timeline of signed receipts" in page and msg_id in page
    code, raw, _ = run(capsys, "show", msg_id[:10], "--format", "raw", "--data", str(fr))
    assert code == 0 and raw.startswith("ping to DE (urgent)")
    code, as_json, _ = run(capsys, "show", msg_id[:10], "--data", str(fr), "--json")
    assert json.loads(as_json)["msg_id"] == msg_id
