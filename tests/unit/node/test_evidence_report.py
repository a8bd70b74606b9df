"""The readable report of an evidence bundle (``node evidence report``): built only from
the file and its verification; what it says follows the checks, never the file's claims."""

from __future__ import annotations

import copy
import io
import json
import re
from datetime import UTC, datetime
from typing import Any

from pypdf import PdfReader

from keys.encoding import b64u_decode, b64u_encode
from node.console.evidence_report import evidence_html, evidence_pdf, evidence_view
from node.console.pdffont import find_font
from node.evidence.bundle import verify_bundle_doc
from tests.unit.node import test_evidence
from tests.unit.node.test_evidence import content_evidence_of, evidence_of

PRINTED = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
exchanged = test_evidence.exchanged  # FR sent a preservation request; DE answered it


def _view(doc: dict[str, Any], pinned: Any = None) -> Any:
    raw = json.dumps(doc).encode()
    return evidence_view(doc, verify_bundle_doc(doc, pinned), raw, "court.json")


def _pdf_text(pdf: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


async def test_report_of_a_bundle_with_content_reads_like_the_request(exchanged: Any) -> None:
    fr, _de, msg_id = exchanged
    doc = await content_evidence_of(fr, msg_id)
    view = _view(doc, fr.peers.key_history)
    assert view.report.valid
    sent = (await fr.store.get_message(msg_id)).body
    html = evidence_html(view, "Europe/Paris", PRINTED)
    assert "<strong>VALID</strong>" in html and "<strong>NOT VALID</strong>" not in html
    assert view.title == "Expedited preservation of stored computer data"
    assert sent["reference"] in html  # the request's own words, as signed
    assert "content signed by FR for this message" in html
    assert sorted(r["type"] for r in view.report.receipts) == sorted(
        ["ACCEPTED", "DELIVERED", "RETRIEVED", "ACKNOWLEDGED"]
    )
    assert "(Europe/Paris)" in html and view.file_sha256 in html
    for k in view.keys:
        assert k["key_id"] in html
    text = _flat(_pdf_text(evidence_pdf(view, "Europe/Paris", PRINTED, find_font())))
    assert f"Evidence of message {msg_id}" in text and "VALID" in text
    assert sent["reference"] in text
    assert "How to verify it independently" in text and view.file_sha256 in text


async def test_report_without_content_says_the_message_stays_encrypted(exchanged: Any) -> None:
    fr, _de, msg_id = exchanged
    view = _view(await evidence_of(fr, msg_id), fr.peers.key_history)
    html = evidence_html(view, None, PRINTED)
    assert "the message stays encrypted" in html and view.sections == []
    text = _flat(_pdf_text(evidence_pdf(view, None, PRINTED, find_font())))
    assert "the message stays encrypted" in text


async def test_a_tampered_bundle_is_reported_not_valid_with_the_failed_check(
    exchanged: Any,
) -> None:
    fr, _de, msg_id = exchanged
    doc = copy.deepcopy(await content_evidence_of(fr, msg_id))
    raw = bytearray(b64u_decode(doc["content"]["message"]))
    raw[10] ^= 1
    doc["content"]["message"] = b64u_encode(bytes(raw))
    view = _view(doc, fr.peers.key_history)
    assert not view.report.valid and view.sections == []  # never the unverified text
    html = evidence_html(view, None, PRINTED)
    assert "<strong>NOT VALID</strong>" in html and "FAIL" in html
    text = _flat(_pdf_text(evidence_pdf(view, None, PRINTED, find_font())))
    assert "NOT VALID" in text and "FAIL content signed by FR for this message" in text


async def test_the_pdf_is_the_same_for_the_same_inputs(exchanged: Any) -> None:
    fr, _de, msg_id = exchanged
    view = _view(await content_evidence_of(fr, msg_id))
    font = find_font()
    assert evidence_pdf(view, None, PRINTED, font) == evidence_pdf(view, None, PRINTED, font)
