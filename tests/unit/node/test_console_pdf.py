"""The PDF export (``node show --format pdf``, the console's button): generated from a real
store, parsed back with pypdf, and checked for what a prosecutor files: the reference, the
form's fields and labels in template sections, the sender's authority, the receipts with
their times in the officer's zone and UTC, the envelope digest and the verify commands.
Also the font choice (a table of named cases) and the Latin-1 fallback."""

from __future__ import annotations

import hashlib
import io
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient
from pypdf import PdfReader

from node.console.filing import directory_profile, message_pdf
from node.console.pdffont import (
    CORE,
    NOTO_SHA256,
    Candidate,
    PdfFont,
    choose,
    find_font,
    transliterate,
)
from node.exchange.answer import Sender, respond
from node.forms.examples import example
from node.runtime import Node
from tests.support.console import deliver
from tests.support.fake_relay import FakeClock
from tests.unit.node.test_console_app import client, clock, login, pair

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
BUILTIN = PdfFont(CORE, None, "built-in")
__all__ = ["client", "clock", "pair"]  # fixtures shared with test_console_app


async def received(fr: Node, de: Node, clock: FakeClock, **changes: object) -> str:
    return await deliver(fr, de, clock, **changes)


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


async def pdf_of(de: Node, msg_id: str, font: PdfFont | None = None) -> bytes:
    msg = await de.store.get_message(msg_id)
    return await message_pdf(
        de.store,
        de.peers,
        msg,
        own_party="DE",
        officer_zone="Europe/Berlin",
        printed_at=datetime(2026, 3, 1, 4, 30, tzinfo=UTC),
        printed_by="officer:anna",
        font=font,
    )


async def test_the_pdf_holds_what_a_prosecutor_files(
    pair: tuple[Node, Node], clock: FakeClock
) -> None:
    fr, de = pair
    msg_id = await received(fr, de, clock)
    msg = await de.store.get_message(msg_id)
    pdf = await pdf_of(de, msg_id)
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.metadata is not None and msg_id in str(reader.metadata.title)
    text = flat(text_of(pdf))
    body = msg.body
    # the reference, the form's labels and values, the template's sections in order
    assert body["reference"] in text
    for label in ("Summary of facts", "Requesting authority", "Organisation", "Offences"):
        assert label in text, label
    assert body["requesting_authority"]["organisation"] in text
    assert "Laid out as: T-CY(2018)11" in text
    sections = [int(s) for s in re.findall(r"Section (\d+)", text)]
    assert sections and sections == sorted(sections)
    # the sender; its authority: pinned keys only here (see the directory case below)
    assert "Sender FR Sender's authority (not in this node's directory)" in text
    # receipts with times in the officer's zone and in UTC, signatures verdict
    assert "RETRIEVED" in text and "Time (UTC)" in text and "Time (Europe/Berlin)" in text
    assert "2026-03-01 04:00 Europe/Berlin (UTC+0100)" in text  # sent 03:00 UTC
    assert "Signatures checked when printed: all valid" in text
    # the evidence digest and how to verify it
    assert msg.envelope_sha256 in text.replace(" ", "")
    assert f"node evidence {msg_id[:12]} --fetch --out evidence.json" in text
    assert "node evidence verify evidence.json" in text
    assert "Printed 2026-03-01 05:30 Europe/Berlin" in text and "officer:anna" in text


async def test_the_same_inputs_give_the_same_bytes(
    pair: tuple[Node, Node], clock: FakeClock
) -> None:
    fr, de = pair
    msg_id = await received(fr, de, clock)
    assert await pdf_of(de, msg_id) == await pdf_of(de, msg_id)


async def test_names_outside_latin1_print_as_written_with_the_unicode_font(
    pair: tuple[Node, Node], clock: FakeClock
) -> None:
    fr, de = pair
    facts = "Λογαριασμός «Ωμέγα»; аккаунт Łódź — ransomware"
    msg_id = await received(fr, de, clock, summary_of_facts=facts)
    font = find_font()
    assert font.unicode, "no Unicode font found: install fontpkg-noto-sans (a dependency)"
    assert facts in flat(text_of(await pdf_of(de, msg_id, font)))
    # the built-in font: transliterated, and every page says so
    fallback = flat(text_of(await pdf_of(de, msg_id, BUILTIN)))
    assert transliterate(facts) in fallback and "transliterated" in fallback


class _Directory:
    def __contains__(self, party: object) -> bool:
        return party == "FR"

    def party(self, party: str) -> SimpleNamespace:
        return SimpleNamespace(authority="Office central de lutte contre la cybercriminalité")

    def contact(self, party: str) -> SimpleNamespace:
        return SimpleNamespace(timezone="Europe/Paris")


async def test_the_senders_authority_and_zone_come_from_the_signed_directory(
    pair: tuple[Node, Node], clock: FakeClock
) -> None:
    fr, de = pair
    msg_id = await received(fr, de, clock)
    msg = await de.store.get_message(msg_id)
    peers = SimpleNamespace(current=_Directory(), key_at=de.peers.key_at)
    assert directory_profile(peers, "FR") == (  # type: ignore[arg-type]
        "Office central de lutte contre la cybercriminalité",
        "Europe/Paris",
    )
    assert directory_profile(peers, "IT") == ("", None)  # type: ignore[arg-type]
    pdf = await message_pdf(
        de.store, peers, msg, own_party="DE", officer_zone=None,  # type: ignore[arg-type]
        printed_at=clock(), printed_by="officer:anna",
    )  # fmt: skip
    text = flat(text_of(pdf))
    assert "Sender's authority Office central de lutte contre la cybercriminalité" in text


async def test_characters_the_font_lacks_never_reach_a_log(
    pair: tuple[Node, Node], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fr, de = pair
    msg_id = await received(fr, de, clock, summary_of_facts="secret 中文 עברית 😀")
    caplog.set_level(logging.DEBUG)
    pdf = await pdf_of(de, msg_id)
    assert "secret" in flat(text_of(pdf))
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "中" not in logged and "ע" not in logged and "😀" not in logged


def test_transliteration_keeps_latin1_and_drops_what_it_cannot_show() -> None:
    assert transliterate("Zürich café") == "Zürich café"
    assert transliterate("Łódź Kraków — “x” …") == '?ódz Kraków - "x" ...'
    assert transliterate("Ωμέγα Straße") == "????? Straße"


@pytest.mark.parametrize(
    ("name", "files", "expected"),
    [
        ("package font with its pinned digest", {"noto": NOTO_SHA256, "dejavu": "d"}, "noto"),
        ("package font altered: not parsed, next one", {"noto": "0" * 64, "dejavu": "d"}, "dejavu"),
        ("no package font: Debian's DejaVu", {"dejavu": "d"}, "dejavu"),
        ("nothing installed: built-in Helvetica", {}, CORE),
    ],
)
def test_font_choice(name: str, files: dict[str, str], expected: str) -> None:
    cands = [
        Candidate("noto", Path("/x/noto.ttf"), "package", NOTO_SHA256),
        Candidate("dejavu", Path("/x/dejavu.ttf"), "debian"),
    ]
    chosen = choose(cands, lambda p: files.get(p.stem))
    assert chosen.name == expected, name
    assert chosen.unicode is (expected != CORE)


def test_the_installed_package_font_is_the_pinned_one() -> None:
    font = find_font()
    assert font.source == "fontpkg-noto-sans", font
    assert font.path is not None
    assert hashlib.sha256(font.path.read_bytes()).hexdigest() == NOTO_SHA256


async def test_the_console_button_downloads_the_pdf_and_logs_the_export(
    pair: tuple[Node, Node], clock: FakeClock, client: TestClient
) -> None:
    fr, de = pair
    msg_id = await received(fr, de, clock)
    assert (await client.get(f"/messages/{msg_id}/pdf")).status == 401  # not logged in
    await login(client)
    page = await (await client.get(f"/messages/{msg_id}")).text()
    assert f'href="/messages/{msg_id}/pdf"' in page
    resp = await client.get(f"/messages/{msg_id}/pdf")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/pdf"
    assert f'filename="pocnet-{msg_id[:12]}.pdf"' in resp.headers["Content-Disposition"]
    assert resp.headers["Cache-Control"] == "no-store"
    text = flat(text_of(await resp.read()))
    assert msg_id in text and "officer:anna" in text
    records = [(r.os_user, r.action, r.detail) for r in await de.store.access_records()]
    assert ("officer:anna", "export", "pdf (console)") in records
    assert (await client.get("/messages/" + "0" * 32 + "/pdf")).status == 404


async def test_an_answer_prints_with_this_node_as_sender(
    pair: tuple[Node, Node], clock: FakeClock
) -> None:
    fr, de = pair
    msg_id = await received(fr, de, clock)
    original = await de.store.get_message(msg_id)
    sender = Sender(de.store, de.outbox, de.keystore.signing_key, "DE")
    _, sent = await respond(
        sender, original, "preservation_response", example("preservation_response", clock()),
        who="officer:anna", clock=clock,
    )  # fmt: skip
    text = flat(text_of(await pdf_of(de, sent.msg_id)))
    assert "The answer" in text and "Sender DE" in text and "Recipient FR" in text
    assert "ACCEPTED" in text and original.body["reference"] in text
