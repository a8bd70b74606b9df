"""Forms in English and French: the gettext catalogue, labels and enumerations, the
printable view, and the warning when the recipient does not accept the language."""

from __future__ import annotations

import gettext
import io
from pathlib import Path

import pytest

from node.forms import KINDS
from node.forms.catalog import DOMAIN, LOCALE_DIR, messages, mo_bytes, po_files, pot, read_po
from node.forms.i18n import (
    available_languages,
    choice_label,
    language_warning,
    printable,
    tr,
)
from node.forms.template import describe_text

FR_PO = LOCALE_DIR / "fr" / "LC_MESSAGES" / f"{DOMAIN}.po"


def test_the_pot_lists_every_string_of_the_kind_tables() -> None:
    assert (LOCALE_DIR / f"{DOMAIN}.pot").read_text(encoding="utf-8") == pot(), (
        "run: python -m node.forms.catalog"
    )


@pytest.mark.parametrize("po", po_files(), ids=lambda p: p.parent.parent.name)
def test_every_mo_is_compiled_from_its_po(po: Path) -> None:
    expected = mo_bytes(read_po(po.read_text(encoding="utf-8")))
    assert po.with_suffix(".mo").read_bytes() == expected, "run: python -m node.forms.catalog"


def test_french_is_complete() -> None:
    entries = read_po(FR_PO.read_text(encoding="utf-8"))
    missing = [m for m in messages() if not entries.get(m)]
    assert missing == []
    assert available_languages() == ("en", "fr")


def test_mo_round_trip_through_stdlib_gettext() -> None:
    entries = {"": "Content-Type: text/plain; charset=UTF-8\n", 'a "b"': "é\nà", "c": "ç"}
    t = gettext.GNUTranslations(io.BytesIO(mo_bytes(entries)))
    assert t.gettext('a "b"') == "é\nà" and t.gettext("c") == "ç" and t.gettext("d") == "d"


@pytest.mark.parametrize(
    ("bad"), ['msgid "a"\nmsgstr b', 'msgid "a"\n"x" "y"\ngarbage', "msgstr 12"]
)
def test_read_po_refuses_what_it_cannot_read(bad: str) -> None:
    with pytest.raises((ValueError, SyntaxError)):
        read_po(bad)


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("ip_port", "fr", "adresse IP et port"),
        ("ip_port", "fr-BE", "adresse IP et port"),
        ("follow_up_mla", "fr", "suite d'une demande d'entraide"),
        ("follow_up_mla", "en", "follow up mla"),
        ("follow_up_mla", "de", "follow up mla"),  # no German catalogue: English
    ],
)
def test_choice_labels(text: str, lang: str, expected: str) -> None:
    assert choice_label(text, lang) == expected


def test_titles_and_help_in_french() -> None:
    spec = KINDS["preservation_request"]
    assert tr(spec.title, "fr") == "Conservation rapide de données informatiques stockées"
    text = describe_text(spec, "fr")
    assert "date prévue de la demande d'entraide qui suivra" in text
    assert "extension (prolongation)" in text
    assert "expected date of the follow-up MLA request" in describe_text(spec, "en")


def test_printable_view_labels_values_and_keeps_codes() -> None:
    body = {
        "reference": "FR-1",
        "request_status": "new",
        "mla_to_follow": True,
        "requesting_authority": {"organisation": "OFAC", "time_zone": "Europe/Paris"},
        "data_to_preserve": [{"data_categories": ["traffic"], "provider": {"name": "H"}}],
    }
    fr = printable("preservation_request", body, "fr")
    assert "nouvelle demande [new]" in fr
    assert "(mla_to_follow): oui" in fr
    assert "  autorité ou service qui présente la demande (organisation): OFAC" in fr
    assert "1. données relatives au trafic [traffic]" in fr
    en = printable("preservation_request", body, "en")
    assert "(mla_to_follow): yes" in en and "new [new]" in en


LANGUAGE_CASES = [
    ("accepted", "fr", ("en", "fr"), False),
    ("regional_variant", "fr-CA", ("fr",), False),
    ("listed_variant", "pt", ("pt-BR",), False),
    ("not_accepted", "fr", ("de", "en"), True),
    ("directory_lists_none", "fr", (), False),
]


@pytest.mark.parametrize(
    ("chosen", "accepted", "warns"),
    [c[1:] for c in LANGUAGE_CASES],
    ids=[c[0] for c in LANGUAGE_CASES],
)
def test_language_warning(chosen: str, accepted: tuple[str, ...], warns: bool) -> None:
    warning = language_warning(chosen, accepted, "DE")
    assert (warning is not None) == warns
    if warning:
        assert "Protocol Art. 4" in warning and "de, en" in warning
        # Shown after the request went out: it must not read as if it had been held back.
        assert "was sent in fr" in warning
