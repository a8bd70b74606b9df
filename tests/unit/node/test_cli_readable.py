"""``node inbox`` under headings in the console's order, and ``node show --format
text|html|raw``: the same readable view as the web console."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pypdf import PdfReader

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


def test_show_writes_a_pdf_to_file_and_records_the_export(
    fr: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    msg_id = _send(fr, capsys, "emergency")
    out = tmp_path / "filed.pdf"
    code, text, _ = run(
        capsys, "show", msg_id[:10], "--format", "pdf", "--out", str(out),
        "--zone", "Europe/Paris", "--data", str(fr), "--json",
    )  # fmt: skip
    assert code == 0, text
    assert json.loads(text)["out"] == str(out)
    assert out.stat().st_mode & 0o777 == 0o600
    pages = PdfReader(io.BytesIO(out.read_bytes())).pages
    printed = " ".join(p.extract_text() for p in pages)
    assert msg_id in printed and "EMERGENCY" in printed and "Time (Europe/Paris)" in printed
    assert "node evidence verify evidence.json" in printed
    code, log, _ = run(capsys, "access", "--data", str(fr), "--json")
    assert code == 0 and f"pdf {out}" in log
    # without --out, or with a zone that does not exist: refused with a usage message
    code, _, err = run(capsys, "show", msg_id[:10], "--format", "pdf", "--data", str(fr))
    assert code != 0 and "--out FILE" in err
    code, _, err = run(
        capsys, "show", msg_id[:10], "--format", "pdf", "--out", str(out), "--zone", "Mars/Base",
        "--data", str(fr),
    )  # fmt: skip
    assert code != 0 and "unknown time zone" in err
