"""Empty templates to fill in, and field descriptions, both made from the kind tables."""

from __future__ import annotations

from typing import Any

from node.forms.i18n import choice_label, tr
from node.forms.migrate import FORM_VERSION
from node.forms.registry import KINDS, fields_for
from node.forms.spec import Field, KindSpec


def _empty(f: Field) -> Any:
    if f.type == "object":
        return {sub.name: _empty(sub) for sub in f.fields}
    if f.type == "list":
        assert f.item is not None
        return [] if f.item.type == "choice" else [_empty(f.item)]
    if f.type == "window":
        return {"start": "", "end": "", "time_zone": ""}
    if f.type == "bool":
        return None if f.must_be_true or f.default is None else f.default
    return ""


def template(spec: KindSpec) -> dict[str, Any]:
    """An empty form of ``spec``: its form version, then every field, empty (lists with
    one empty entry)."""
    return {"form_version": FORM_VERSION, **{f.name: _empty(f) for f in fields_for(spec)}}


def _need(f: Field) -> str:
    if f.required:
        return "required" + (" (must be true)" if f.must_be_true else "")
    if f.required_when:
        parts = [f"{other} is {' or '.join(vals)}" for other, vals in f.required_when]
        return "required when " + "; ".join(parts)
    if f.default is not None:
        return f"optional (default {str(f.default).lower()})"
    return "optional"


def _type(f: Field, lang: str | None = None) -> str:
    if f.type == "choice":
        if lang is None:
            return "one of: " + ", ".join(f.choices)
        return "one of: " + ", ".join(f"{c} ({choice_label(c, lang)})" for c in f.choices)
    if f.type == "list":
        assert f.item is not None
        inner = _type(f.item, lang) if f.item.type != "object" else "object"
        return f"list of {inner}"
    if f.min_days_after_request is not None:
        return f"date, >= request + {f.min_days_after_request} days"
    return f.type


def describe_rows(spec: KindSpec, lang: str | None = None) -> list[tuple[str, str, str, str]]:
    """(path, type, need, help) for every field, nested ones with dotted paths; with
    ``lang``, the help and the choices' labels in that language."""
    rows: list[tuple[str, str, str, str]] = []

    def walk(fields: tuple[Field, ...], prefix: str) -> None:
        for f in fields:
            path = f"{prefix}{f.name}"
            help_ = tr(f.help, lang) if lang else f.help
            rows.append((path, _type(f, lang), _need(f), help_))
            if f.type == "object":
                walk(f.fields, path + ".")
            elif f.type == "list" and f.item is not None and f.item.type == "object":
                walk(f.item.fields, path + "[].")

    walk(fields_for(spec), "")
    return rows


def describe_text(spec: KindSpec, lang: str = "en") -> str:
    """A plain-text table of the fields of ``spec``, help and choices in ``lang``."""
    rows = describe_rows(spec, lang)
    width = max(len(r[0]) for r in rows) if rows else 10
    lines = [f"{spec.name}: {tr(spec.title, lang)} ({spec.basis})", ""]
    for path, type_, need, help_ in rows:
        lines.append(f"  {path.ljust(width)}  {need}; {type_}")
        if help_:
            lines.append(f"  {' ' * width}    {help_}")
    return "\n".join(lines)


def describe_markdown() -> str:
    """Every kind as Markdown (the generated part of docs/forms.md)."""
    out: list[str] = []
    for spec in KINDS.values():
        out.append(f"### `{spec.name}`: {spec.title}\n")
        out.append(f"Basis: {spec.basis}. Default priority: {spec.default_priority}.\n")
        out.append("| field | need | type | what |")
        out.append("|---|---|---|---|")
        for path, type_, need, help_ in describe_rows(spec):
            out.append(f"| `{path}` | {need} | {type_} | {help_} |")
        out.append("")
    return "\n".join(out)
