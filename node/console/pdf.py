"""A message as a PDF a prosecutor can file (``node show ID --format pdf``, the console's
"PDF" button): the request in the form's order with its labels, grouped by the T-CY
template's sections; the sender and its authority; the receipts with their times in the
officer's zone and in UTC and each signature's verdict; the envelope's SHA-256 and the
commands that verify it. Built with fpdf2 (ADR 0009, ADR 0019) from the same
:class:`~node.console.printable.Readable` as the text and HTML views; no I/O but reading
the font file. With the same inputs (``printed_at`` included) the bytes are the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fpdf import FPDF, FontFace

from keys.encoding import format_time, parse_time
from keys.errors import DecodeError
from node.console.pdffont import TRANSLITERATED_NOTE, PdfFont, transliterate
from node.console.present import DisplayRow, in_zone, sectioned_rows
from node.console.printable import Readable
from node.forms import KINDS
from node.forms.mapping import sections_of
from node.forms.registry import fields_for

MEDIA_TYPE = "application/pdf"
# fpdf2 warns about characters its font lacks by quoting them: text of a request must never
# reach a log, so its loggers speak only of errors.
logging.getLogger("fpdf").setLevel(logging.ERROR)
GREY = (235, 235, 235)
MARK = (255, 243, 176)


@dataclass(frozen=True)
class Filing:
    """Who and what the PDF names besides the message itself."""

    sender: str  # party id of the sender
    sender_authority: str  # its authority, from the signed directory ('' if unknown)
    officer_zone: str | None  # IANA zone the times are shown in beside UTC
    printed_at: datetime
    printed_by: str


class Document(FPDF):
    def __init__(self, font: PdfFont, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._font = font
        self._footer_text = footer_text
        if font.path is not None:
            self.add_font(font.name, "", str(font.path))
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(auto=True, margin=18)

    def text_of(self, value: str) -> str:
        return value if self._font.unicode else transliterate(value)

    def use(self, size: float) -> None:
        self.set_font(self._font.name, "", size)

    def para(self, height: float, text: str) -> None:
        """A paragraph across the page; the next one starts below it at the margin."""
        self.multi_cell(0, height, self.text_of(text), align="L", new_x="LMARGIN", new_y="NEXT")

    def footer(self) -> None:
        self.set_y(-13)
        self.use(7)
        self.set_text_color(90, 90, 90)
        note = "" if self._font.unicode else " " + TRANSLITERATED_NOTE
        self.multi_cell(
            0,
            3.2,
            self.text_of(f"{self._footer_text} · page {self.page_no()}/{{nb}}{note}"),
            align="L",
        )
        self.set_text_color(0, 0, 0)


def when(at: str | datetime, zone: str | None) -> tuple[str, str]:
    """(time in ``zone`` or '', time in UTC) for a stored RFC 3339 time."""
    try:
        moment = at if isinstance(at, datetime) else parse_time(at)
    except DecodeError:
        return "", str(at)
    return in_zone(moment, zone), format_time(moment)


def as_pdf(r: Readable, filing: Filing, font: PdfFont) -> bytes:
    """The PDF of ``r``."""
    m = r.msg
    doc = Document(font, f"PoCNet {m.kind} {m.msg_id}")
    doc.set_creation_date(filing.printed_at)
    doc.set_title(doc.text_of(f"{r.title} {m.msg_id}"))
    doc.set_author(doc.text_of(filing.sender))
    doc.set_subject(doc.text_of(f"{m.kind} reference {m.reference or '-'}"))
    doc.set_creator("PoCNet node")
    doc.add_page()
    _heading(doc, r)
    _parties(doc, r, filing)
    _request(doc, r)
    _receipts(doc, r, filing.officer_zone)
    _evidence(doc, r)
    printed_local, printed_utc = when(filing.printed_at, filing.officer_zone)
    doc.ln(4)
    doc.use(8)
    doc.para(
        4,
        f"Printed {printed_local + ' · ' if printed_local else ''}{printed_utc} (UTC) "
        f"by {filing.printed_by}. This printout is recorded in the node's access log.",
    )
    return bytes(doc.output())


def title(doc: Document, text: str, size: float = 12) -> None:
    doc.ln(3)
    doc.use(size)
    doc.set_fill_color(*GREY)
    doc.cell(0, size * 0.6, doc.text_of(text), fill=True, new_x="LMARGIN", new_y="NEXT")
    doc.ln(1)


def _heading(doc: Document, r: Readable) -> None:
    m = r.msg
    doc.use(16)
    doc.para(8, f"{r.title}")
    doc.use(11)
    doc.para(6, f"{m.priority.upper()} · {m.kind}")
    if r.basis:
        doc.use(9)
        doc.para(5, f"Legal basis: {r.basis}")
    template, _ = sections_of(m.kind)
    if template:
        doc.use(9)
        doc.para(5, f"Laid out as: {template}")


def table(doc: Document, widths: tuple[int, ...], line: float = 4.6, **kw: Any) -> Any:
    """A left-aligned table across the page; no heading row unless ``headings_style``."""
    if "headings_style" not in kw:
        kw["first_row_as_headings"] = False
    return doc.table(col_widths=widths, line_height=line, padding=1, text_align="LEFT", **kw)


def pairs(doc: Document, rows: list[tuple[str, str]]) -> None:
    doc.use(9)
    with table(doc, (45, 129)) as t:
        for label, value in rows:
            row = t.row()
            row.cell(doc.text_of(label))
            row.cell(doc.text_of(value))


def _parties(doc: Document, r: Readable, filing: Filing) -> None:
    m = r.msg
    recipient = m.counterpart if m.direction == "out" else "this node"
    local, utc = when(m.created_at, filing.officer_zone)
    sent = f"{utc} (UTC)"
    if local:
        sent += f"\n{local} (officer's zone)"
    if r.sent_sender_zone:
        sent += f"\n{r.sent_sender_zone} (sender's zone)"
    title(doc, "Sender and message")
    pairs(
        doc,
        [
            ("Sender", filing.sender),
            ("Sender's authority", filing.sender_authority or "(not in this node's directory)"),
            ("Recipient", recipient),
            ("Reference", m.reference or "-"),
            ("Sent", sent),
            ("State", m.state),
            ("Message id", m.msg_id),
            ("Conversation", m.conversation_id),
        ],
    )


def _request(doc: Document, r: Readable) -> None:
    m = r.msg
    spec = KINDS.get(m.kind)
    template, sections = sections_of(m.kind)
    groups = sectioned_rows(fields_for(spec) if spec else (), m.body, sections)
    title(doc, "The request" if m.in_reply_to is None else "The answer")
    for section, rows in groups:
        if template:
            name = section_title(section)
            doc.use(10)
            doc.cell(
                0,
                6,
                doc.text_of(name),
                new_x="LMARGIN",
                new_y="NEXT",
            )
        form_table(doc, rows)


def section_title(section: str) -> str:
    """How a template section is named above its fields."""
    if not section:
        return "Other fields"
    if section == "-":
        return "Further particulars"
    if section == "MLA":
        return "Contents of a mutual assistance request"
    return f"Section {section}"


def form_table(doc: Document, rows: list[DisplayRow]) -> None:
    doc.use(9)
    with table(doc, (62, 112)) as t:
        for d in rows:
            style = None
            if d.heading:
                style = FontFace(fill_color=GREY)
            elif d.highlight and d.value:
                style = FontFace(fill_color=MARK)
            row = t.row(style=style)
            row.cell(doc.text_of("    " * d.depth + d.label))
            row.cell(doc.text_of(d.value))


def _receipts(doc: Document, r: Readable, zone: str | None) -> None:
    title(doc, "Timeline of signed receipts")
    doc.use(8)
    local_head = f"Time ({zone})" if zone else "Local time"
    heading = FontFace(emphasis="", fill_color=GREY)
    with table(doc, (22, 12, 44, 42, 16, 38), 4.2, headings_style=heading) as t:
        head = t.row()
        for h in ("Event", "By", local_head, "Time (UTC)", "Signature", "Relay audit log"):
            head.cell(doc.text_of(h))
        for e in r.timeline.entries:
            local, utc = when(e.at, zone)
            row = t.row()
            for v in (e.event, e.issuer, local, utc, e.signature, e.audit_log or ""):
                row.cell(doc.text_of(v))
    verdict = "all valid" if r.timeline.all_signatures_valid else "NOT ALL VALID"
    doc.use(9)
    doc.ln(1)
    doc.para(5, f"Signatures checked when printed: {verdict}.")
    if r.timeline.audit_alarms:
        doc.para(5, f"Audit-log alarms: {len(r.timeline.audit_alarms)} (see node status).")


def _evidence(doc: Document, r: Readable) -> None:
    m = r.msg
    short = m.msg_id[:12]
    title(doc, "Evidence and how to verify it")
    pairs(
        doc,
        [
            ("Envelope SHA-256", m.envelope_sha256),
            ("Message id", m.msg_id),
        ],
    )
    doc.use(9)
    doc.ln(1)
    steps = (
        "The envelope SHA-256 above identifies the exact signed and encrypted message; every "
        "receipt in the timeline names it. To verify independently:",
        f"1. On the node that holds the message: node evidence {short} --fetch --out "
        "evidence.json (the envelope, every signed receipt, the relay's audit-log inclusion "
        "proofs and a signed checkpoint).",
        "2. On any PoCNet node with the parties' keys pinned: node evidence verify "
        "evidence.json (VALID or NOT VALID, check by check); without such a node, "
        "--included-keys checks the bundle against the keys it carries (consistency only).",
        "3. Compare the envelope_sha256 in evidence.json with the one printed here.",
    )
    for step in steps:
        doc.para(4.6, step)
