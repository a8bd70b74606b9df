"""An evidence bundle as a court reads it (``node evidence report FILE``): HTML or PDF.

Built only from the bundle file and its verification (:func:`node.evidence.bundle.
verify_bundle_doc`), never from a node's database: what the report shows is what anyone
can check again from the same file. It gives the verdict and every check, the request as a
person reads it when the bundle carries content (the form's labels and sections, the
attachments' names, sizes and SHA-256, never their keys), the signed receipts with their
times in a chosen zone and in UTC, the audit-log proofs' verdicts, the signing keys'
fingerprints with their validity windows, the SHA-256 of the bundle file itself, and how to
verify it independently.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from fpdf import FontFace

from keys.encoding import format_time
from node.console.pdf import GREY, MARK, Document, form_table, pairs, section_title, table, title
from node.console.pdf import when as times_of
from node.console.pdffont import PdfFont
from node.console.present import DisplayRow, sectioned_rows
from node.evidence.bundle import EvidenceReport
from node.forms import KINDS
from node.forms.mapping import sections_of
from node.forms.registry import fields_for

HERE = Path(__file__).parent
AUDIT_CHECK = "relay's audit log"
ATTACHMENT_SHOWN = ("name", "media_type", "size", "sha256")  # never the key


@dataclass(frozen=True)
class EvidenceView:
    """What the report shows of one bundle and its verification."""

    report: EvidenceReport
    file_name: str
    file_sha256: str
    envelope_sha256: str
    header: dict[str, Any]
    title: str
    basis: str
    template: str
    sections: list[tuple[str, list[DisplayRow]]]
    attachments: list[dict[str, Any]]
    keys: list[dict[str, str]]

    @property
    def audit_checks(self) -> list[dict[str, Any]]:
        return [c for c in self.report.checks if AUDIT_CHECK in c["check"]]

    @property
    def other_checks(self) -> list[dict[str, Any]]:
        return [c for c in self.report.checks if AUDIT_CHECK not in c["check"]]


def evidence_view(
    doc: dict[str, Any], report: EvidenceReport, raw: bytes, file_name: str
) -> EvidenceView:
    """The view of the bundle ``doc`` (read from the bytes ``raw``) as ``report`` judged it."""
    header = doc.get("header") if isinstance(doc.get("header"), dict) else {}
    assert isinstance(header, dict)
    content = report.content  # only ever the verified message
    kind = str(content["kind"]) if content else ""
    spec = KINDS.get(kind) if kind else None
    template, sections = sections_of(kind) if spec else ("", {})
    body = content["body"] if content else {}
    return EvidenceView(
        report=report,
        file_name=file_name,
        file_sha256=hashlib.sha256(raw).hexdigest(),
        envelope_sha256=str(doc.get("envelope_sha256", "")),
        header={k: str(header.get(k, "")) for k in ("msg_id", "sender", "recipient")}
        | {k: str(header.get(k, "")) for k in ("created_at", "expires_at", "priority")},
        title=spec.title if spec else (kind or "Encrypted message"),
        basis=spec.basis if spec else "",
        template=template,
        sections=sectioned_rows(fields_for(spec), body, sections) if spec else [],
        attachments=[
            {k: a.get(k) for k in ATTACHMENT_SHOWN}
            for a in (content.get("attachments") or [] if content else [])
            if isinstance(a, dict)
        ],
        keys=_keys(doc.get("keys")),
    )


def _keys(raw: Any) -> list[dict[str, str]]:
    """The bundle's signing keys, one row per key: party, key id, window, status."""
    rows: list[dict[str, str]] = []
    if not isinstance(raw, dict):
        return rows
    for party in sorted(raw):
        entry = raw[party]
        if isinstance(entry, str):  # version 1: one key, no window
            rows.append({"party": party, "key_id": "(version 1 key)", "window": "", "status": ""})
            continue
        if not isinstance(entry, dict):
            continue
        status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
        assert isinstance(status, dict)
        state = str(status.get("state", ""))
        if status.get("at"):
            state += f" since {status['at']}"
        for key in entry.get("signing_keys") or []:
            if isinstance(key, dict):
                window = f"{key.get('not_before', '')} to {key.get('not_after') or 'open'}"
                rows.append(
                    {
                        "party": party,
                        "key_id": str(key.get("key_id", "")),
                        "window": window,
                        "status": state,
                    }
                )
    return rows


def steps(view: EvidenceView) -> list[str]:
    """How a third party checks the same file again."""
    return [
        f"Check that the file you hold is the one described here: its SHA-256 is "
        f"{view.file_sha256} (sha256sum {view.file_name}).",
        f"On any PoCNet node with the parties' keys pinned: node evidence verify "
        f"{view.file_name} (VALID or NOT VALID, check by check, with the keys that node "
        "trusts: an independent check).",
        "Without such a node: install PoCNet and run node evidence verify FILE "
        "--included-keys, which checks the file against the keys it carries (consistency "
        "only); compare the key fingerprints above with those the secretariat's signed "
        "directory lists.",
        "Where the file carries audit-log proofs, each leads a receipt to a checkpoint signed "
        "by the relay, which every node keeps: ask any node for its checkpoints "
        "(node audit status --json) and compare.",
    ]


def evidence_html(view: EvidenceView, zone: str | None, printed_at: datetime) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["local"] = lambda at: times_of(at, zone)[0]
    css = (HERE / "static" / "console.css").read_text(encoding="utf-8")
    css += (HERE / "static" / "print.css").read_text(encoding="utf-8")
    return env.get_template("evidence_report.html").render(
        v=view,
        r=view.report,
        zone=zone,
        steps=steps(view),
        section_title=section_title,
        css=css,
        printed_at=format_time(printed_at),
    )


def evidence_pdf(
    view: EvidenceView, zone: str | None, printed_at: datetime, font: PdfFont
) -> bytes:
    """The PDF of ``view``; same inputs (``printed_at`` included), same bytes."""
    r = view.report
    h = view.header
    doc = Document(font, f"PoCNet evidence {r.msg_id}")
    doc.set_creation_date(printed_at)
    doc.set_title(doc.text_of(f"Evidence {r.msg_id}"))
    doc.set_creator("PoCNet node")
    doc.add_page()
    doc.use(16)
    doc.para(8, f"Evidence of message {r.msg_id}")
    doc.use(12)
    doc.set_fill_color(*(GREY if r.valid else MARK))
    verdict = "VALID" if r.valid else "NOT VALID"
    doc.para(7, f"{verdict}: every check below {'holds' if r.valid else 'must be read'}")
    doc.use(9)
    keys_from = (
        "the verifier's own directory (an independent check)"
        if r.key_source == "pinned"
        else "the keys inside the file (consistency only)"
    )
    doc.para(5, f"Keys used: {keys_from}.")
    title(doc, "The message")
    sent_local, sent_utc = times_of(h["created_at"], zone)
    pairs(
        doc,
        [
            ("Sender", h["sender"]),
            ("Recipient", h["recipient"]),
            ("Sent", f"{sent_utc} (UTC)" + (f"\n{sent_local} ({zone})" if sent_local else "")),
            ("Priority", h["priority"]),
            ("Message id", h["msg_id"]),
            ("Envelope SHA-256", view.envelope_sha256),
            ("Bundle file SHA-256", view.file_sha256),
        ],
    )
    if r.content is None:
        doc.use(9)
        doc.para(5, "The file carries no content: the message stays encrypted.")
    else:
        title(doc, f"{view.title} (as signed by {h['sender']})")
        if view.basis:
            doc.use(9)
            doc.para(5, f"Legal basis: {view.basis}")
        for section, rows in view.sections:
            if view.template:
                doc.use(10)
                doc.para(6, section_title(section))
            form_table(doc, rows)
        if view.attachments:
            title(doc, "Attachments (signed digests)")
            pairs(
                doc,
                [
                    (str(a["name"]), f"{a['media_type']}, {a['size']} bytes\n{a['sha256']}")
                    for a in view.attachments
                ],
            )
    _receipts(doc, view, zone)
    _checks(doc, "Audit-log proofs", view.audit_checks)
    _checks(doc, "Every check", view.other_checks)
    title(doc, "Signing keys")
    doc.use(8)
    heading = FontFace(emphasis="", fill_color=GREY)
    with table(doc, (16, 58, 70, 30), 4.2, headings_style=heading) as t:
        head = t.row()
        for label in ("Party", "Key id (fingerprint)", "Valid", "Status"):
            head.cell(label)
        for k in view.keys:
            row = t.row()
            for value in (k["party"], k["key_id"], k["window"], k["status"]):
                row.cell(doc.text_of(value))
    title(doc, "How to verify it independently")
    doc.use(9)
    for i, step in enumerate(steps(view), 1):
        doc.para(5, f"{i}. {step}")
    doc.ln(3)
    doc.use(8)
    doc.para(4, f"Report made {format_time(printed_at)} (UTC) from {view.file_name}.")
    return bytes(doc.output())


def _receipts(doc: Document, view: EvidenceView, zone: str | None) -> None:
    title(doc, "Signed receipts")
    doc.use(8)
    heading = FontFace(emphasis="", fill_color=GREY)
    local_head = f"Time ({zone})" if zone else "Local time"
    with table(doc, (28, 18, 48, 48, 32), 4.2, headings_style=heading) as t:
        head = t.row()
        for label in ("Receipt", "By", local_head, "Time (UTC)", "Reason"):
            head.cell(doc.text_of(label))
        for rc in view.report.receipts:
            local, utc = times_of(rc["issued_at"], zone)
            row = t.row()
            for value in (rc["type"], rc["issuer"], local, utc, rc["reason"] or ""):
                row.cell(doc.text_of(str(value)))


def _checks(doc: Document, heading: str, checks: list[dict[str, Any]]) -> None:
    if not checks:
        return
    title(doc, heading)
    doc.use(8)
    with table(doc, (14, 160), 4.2) as t:
        for c in checks:
            row = t.row(style=None if c["ok"] else FontFace(fill_color=MARK))
            row.cell("ok" if c["ok"] else "FAIL")
            note = f" ({c['note']})" if c.get("note") else ""
            row.cell(doc.text_of(f"{c['check']}{note}"))
