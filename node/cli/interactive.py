"""Interactive completion: ask, on a terminal, for each missing or wrong field.

The validator says what is missing; this module asks for exactly those fields, puts the
answers in place and validates again, until the form is valid or the officer gives up
(an empty answer, end of input, or :data:`MAX_ROUNDS` passes).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from node.forms.registry import fields_for
from node.forms.spec import Field
from node.forms.validate import (
    FormDefaults,
    FormInvalid,
    ValidatedForm,
    get_kind,
    validate_form,
)

MAX_ROUNDS = 4
_TOKEN_RE = re.compile(r"([^.\[\]]+)|\[(\d+)\]")

Ask = Callable[[str], str]


def _tokens(path: str) -> list[str | int]:
    return [name if name else int(index) for name, index in _TOKEN_RE.findall(path)]


def _field_at(fields: tuple[Field, ...], tokens: list[str | int]) -> Field | None:
    current: Field | None = None
    scope = fields
    for token in tokens:
        if isinstance(token, int):
            if current is None or current.item is None:
                return None
            current = current.item
            scope = current.fields
            continue
        current = next((f for f in scope if f.name == token), None)
        if current is None:
            return None
        scope = current.fields
    return current


def _set(data: dict[str, Any], tokens: list[str | int], value: Any) -> None:
    target: Any = data
    for i, token in enumerate(tokens[:-1]):
        nxt = tokens[i + 1]
        if isinstance(token, int):
            while len(target) <= token:
                target.append({})
            target = target[token]
        else:
            if not isinstance(target.get(token), dict | list):
                target[token] = [] if isinstance(nxt, int) else {}
            target = target[token]
    last = tokens[-1]
    if isinstance(last, int):
        while len(target) <= last:
            target.append({})
    target[last] = value


def _ask_value(f: Field, path: str, ask: Ask) -> Any:
    """The value for one field, or None when the officer leaves it empty."""
    label = f"{path} ({f.help})" if f.help else path
    if f.type == "object":
        return _ask_object(f.fields, path, ask)
    if f.type == "list":
        assert f.item is not None
        if f.item.type == "choice":
            raw = ask(f"{label} [comma-separated: {', '.join(f.item.choices)}]: ").strip()
            return [v.strip() for v in raw.split(",") if v.strip()] or None
        first = _ask_value(f.item, f"{path}[0]", ask)
        return [first] if first is not None else None
    if f.type == "window":
        start = ask(f"{path}.start (ISO 8601, e.g. 2025-03-01T14:05:00): ").strip()
        end = ask(f"{path}.end: ").strip()
        zone = ask(f"{path}.time_zone (e.g. Europe/Paris, +01:00; empty if times have offsets): ")
        return {"start": start, "end": end, "time_zone": zone.strip()} if start else None
    if f.type == "bool":
        raw = ask(f"{label} [yes/no]: ").strip().lower()
        return {"yes": True, "y": True, "no": False, "n": False}.get(raw)
    if f.type == "choice":
        return ask(f"{label} [{', '.join(f.choices)}]: ").strip() or None
    raw = ask(f"{label}: ").strip()
    if f.type == "port" and raw.isdigit():
        return int(raw)
    return raw or None


def _ask_object(fields: tuple[Field, ...], path: str, ask: Ask) -> dict[str, Any] | None:
    """Ask for each required member of an object (or required by an earlier answer, such
    as the address of an ``ip_port`` identifier); None if none was answered."""
    out: dict[str, Any] = {}
    for f in fields:
        if f.required or any(out.get(other) in vals for other, vals in f.required_when):
            value = _ask_value(f, f"{path}.{f.name}", ask)
            if value is not None:
                out[f.name] = value
    return out or None


def complete_interactively(
    kind: str,
    data: dict[str, Any],
    ask: Ask,
    *,
    now: datetime,
    request_time: datetime | None = None,
    priority: str | None = None,
    defaults: FormDefaults | None = None,
) -> ValidatedForm:
    """Ask for each missing or wrong field until the form validates.

    Raises:
        FormInvalid: still invalid after the officer stopped answering.
    """
    fields = fields_for(get_kind(kind))
    form = copy.deepcopy(data)
    for _ in range(MAX_ROUNDS):
        try:
            return validate_form(
                kind, form, now=now, request_time=request_time, priority=priority, defaults=defaults
            )
        except FormInvalid as e:
            last = e
            answered = False
            for problem in e.problems:
                tokens = _tokens(problem.path)
                spec = _field_at(fields, tokens) if tokens else None
                if spec is None:
                    continue
                if not problem.message.startswith("missing"):
                    ask(f"! {problem.path}: {problem.message}\n(press Enter) ")
                try:
                    value = _ask_value(spec, problem.path, ask)
                except EOFError:
                    raise e from None
                if value is not None:
                    _set(form, tokens, value)
                    answered = True
            if not answered:
                raise
    raise last
