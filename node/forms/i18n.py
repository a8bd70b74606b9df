"""Forms in the network's languages: labels, help texts and enumerations, and the
printable view of a form, in English and French (the Council of Europe's official
languages), from the gettext catalogue of :mod:`node.forms.catalog`.

The wire stays language-neutral: field names and enumeration codes (``ip_port``,
``follow_up_mla``) are never translated in a body; only what a person reads is. English is
the catalogue's source language; a language without a catalogue falls back to it.
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Iterable, Mapping
from typing import Any

from node.forms.catalog import DOMAIN, LOCALE_DIR
from node.forms.registry import KINDS, fields_for
from node.forms.spec import Field, KindSpec

SOURCE_LANGUAGE = "en"


def base_language(tag: str) -> str:
    """``fr`` of ``fr-BE``: the language a catalogue is chosen by."""
    return tag.split("-", 1)[0].lower()


def available_languages() -> tuple[str, ...]:
    """English and every language with a compiled catalogue."""
    found = {p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo")}
    return tuple(sorted({SOURCE_LANGUAGE, *found}))


@functools.cache
def _translations(lang: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)


def tr(text: str, lang: str) -> str:
    """``text`` in ``lang`` (unchanged when there is no translation)."""
    if not text:
        return text
    return _translations(base_language(lang)).gettext(text)


def choice_label(code: str, lang: str) -> str:
    """The label of an enumeration code: its translation, else the code in words."""
    label = tr(code, lang)
    return code.replace("_", " ") if label == code else label


def title(spec: KindSpec, lang: str) -> str:
    return tr(spec.title, lang)


def _value(f: Field, value: Any, lang: str) -> str:
    if f.type == "bool":
        return tr("yes", lang) if value else tr("no", lang)
    if f.type == "choice" and isinstance(value, str):
        return f"{choice_label(value, lang)} [{value}]"
    if f.type == "window" and isinstance(value, Mapping):
        zone = f" ({value['time_zone']})" if value.get("time_zone") else ""
        return f"{value.get('start', '')} - {value.get('end', '')}{zone}"
    return str(value)


def _lines(fields: Iterable[Field], body: Mapping[str, Any], lang: str, indent: str) -> list[str]:
    out: list[str] = []
    for f in fields:
        if f.name not in body:
            continue
        value = body[f.name]
        label = tr(f.help, lang) if f.help else f.name
        head = f"{indent}{label} ({f.name})"
        if f.type == "object" and isinstance(value, Mapping):
            out.append(f"{head}:")
            out += _lines(f.fields, value, lang, indent + "  ")
        elif f.type == "list" and isinstance(value, list) and f.item is not None:
            out.append(f"{head}:")
            for i, item in enumerate(value, 1):
                if f.item.type == "object" and isinstance(item, Mapping):
                    out.append(f"{indent}  {i}.")
                    out += _lines(f.item.fields, item, lang, indent + "    ")
                else:
                    out.append(f"{indent}  {i}. {_value(f.item, item, lang)}")
        else:
            text = _value(f, value, lang).replace("\n", "\n" + indent + "    ")
            out.append(f"{head}: {text}")
    return out


def printable(kind: str, body: Mapping[str, Any], lang: str) -> str:
    """A form as a person reads it, in ``lang``: every field given, in the form's order,
    with its label, nested fields indented, choices as words (and their code)."""
    spec = KINDS[kind]
    lines = [f"{title(spec, lang)} ({spec.basis})", ""]
    return "\n".join(lines + _lines(fields_for(spec), body, lang, ""))


def language_warning(chosen: str, accepted: Iterable[str], party: str) -> str | None:
    """A warning, shown once the request is sent, when ``chosen`` is not among the
    languages ``party`` accepts (Protocol Art. 4: requests in, or translated into, a
    language the requested Party accepts); None when it is, or when the directory lists
    none."""
    listed = list(accepted)
    if not listed:
        return None
    if base_language(chosen) in {base_language(a) for a in listed}:
        return None
    return (
        f"{party} accepts requests in {', '.join(listed)}; this one was sent in {chosen} "
        "(Protocol Art. 4): send them a translation, or agree the language with them"
    )


__all__ = [
    "available_languages",
    "base_language",
    "choice_label",
    "language_warning",
    "printable",
    "title",
    "tr",
]
