"""HTML forms generated from the form specifications, and the posted fields read back
into the JSON the one validator (:func:`node.forms.validate_form`) checks. Pure: the
view renders :class:`Input` rows and passes the posted multi-dict in.

Each input is named by the validator's own path (``offences[0].name``, ``window.start``),
so every :class:`node.forms.Problem` lands beside the input it is about. A list of objects
gets :data:`LIST_SLOTS` blank entries (empty ones are dropped); a list of choices is a
set of checkboxes; a list of lines is a text area, one per line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from node.console.present import label_of
from node.forms import KINDS, Problem
from node.forms.registry import fields_for
from node.forms.spec import Field

LIST_SLOTS = 2
WINDOW_PARTS = ("start", "end", "time_zone")


INTEGER_TYPES = frozenset({"port", "count"})  # form fields whose values are JSON integers


@dataclass(frozen=True)
class Input:
    name: str  # the validator's path of the field
    label: str
    help: str
    widget: str  # text, textarea, select, checkboxes, date, heading
    required: bool
    choices: tuple[str, ...]
    value: Any
    errors: tuple[str, ...]
    depth: int

    @property
    def id(self) -> str:
        return "f-" + "".join(c if c.isalnum() else "-" for c in self.name)


def _get(values: Any, key: str | int) -> Any:
    if isinstance(values, Mapping) and isinstance(key, str):
        return values.get(key)
    if isinstance(values, list) and isinstance(key, int) and key < len(values):
        return values[key]
    return None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def inputs(fields: tuple[Field, ...], values: Any, problems: Iterable[Problem] = ()) -> list[Input]:
    """The inputs of ``fields`` in the form's order, filled with ``values`` (a form, or a
    partial one) and with the ``problems`` of the last check beside their fields."""
    by_path: dict[str, list[str]] = {}
    for p in problems:
        by_path.setdefault(p.path, []).append(p.message)
    out: list[Input] = []
    _walk(fields, values, "", 0, by_path, out)
    return out


def _walk(
    fields: tuple[Field, ...],
    values: Any,
    path: str,
    depth: int,
    errors: dict[str, list[str]],
    out: list[Input],
) -> None:
    for f in fields:
        _field(f, _get(values, f.name), _join(path, f.name), depth, errors, out)


def _field(
    f: Field, value: Any, path: str, depth: int, errors: dict[str, list[str]], out: list[Input]
) -> None:
    def add(widget: str, shown: Any, name: str = path, label: str = label_of(f.name)) -> None:
        out.append(
            Input(name, label, f.help, widget, f.required, f.choices, shown,
                  tuple(errors.get(name, ())), depth)
        )  # fmt: skip

    if f.type == "object":
        add("heading", None)
        _walk(f.fields, value, path, depth + 1, errors, out)
    elif f.type == "window":
        add("heading", None)
        for part in WINDOW_PARTS:
            name = f"{path}.{part}"
            needed = f.required and part != "time_zone"
            out.append(
                Input(name, label_of(part), "", "text", needed, (), _get(value, part) or "",
                      tuple(errors.get(name, ())), depth + 1)
            )  # fmt: skip
    elif f.type == "list" and f.item is not None:
        item = f.item
        if item.type == "choice":
            out.append(
                Input(path, label_of(f.name), f.help, "checkboxes", f.required, item.choices,
                      tuple(value or ()), tuple(errors.get(path, ())), depth)
            )  # fmt: skip
        elif item.type in ("object", "window"):
            add("heading", None)
            for i in range(max(LIST_SLOTS, len(value or ()))):
                element = _get(value, i)
                where = f"{path}[{i}]"
                out.append(
                    Input(where, f"{label_of(f.name)} {i + 1}", "", "heading", False, (), None,
                          tuple(errors.get(where, ())), depth + 1)
                )  # fmt: skip
                if item.type == "object":
                    _walk(item.fields, element, where, depth + 2, errors, out)
                else:
                    _field(item, element, where, depth + 2, errors, out)
        else:
            lines = "\n".join(str(v) for v in value or ())
            add("lines", lines)
    elif f.type == "bool":
        add("select", "" if value is None else ("true" if value else "false"))
    elif f.type == "choice":
        add("select", value or "")
    elif f.type == "text":
        add("textarea", value or "")
    elif f.type == "date":
        add("date", value or "")
    elif f.type in INTEGER_TYPES:
        add("text", "" if value is None else str(value))
    else:
        add("text", value or "")


def parse(fields: tuple[Field, ...], posted: Any) -> dict[str, Any]:
    """The form ``posted`` (a multi-dict of the inputs above) describes; empty inputs are
    left out, so that the validator says "required" rather than "empty"."""
    return _parse_object(fields, posted, "")


def _one(posted: Any, name: str) -> str:
    value = posted.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _parse_object(fields: tuple[Field, ...], posted: Any, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        value = _parse_field(f, posted, _join(path, f.name))
        if value not in (None, "", [], {}):
            out[f.name] = value
    return out


def _parse_field(f: Field, posted: Any, path: str) -> Any:
    if f.type == "object":
        return _parse_object(f.fields, posted, path)
    if f.type == "window":
        return {p: v for p in WINDOW_PARTS if (v := _one(posted, f"{path}.{p}"))}
    if f.type == "list" and f.item is not None:
        item = f.item
        if item.type == "choice":
            return [v for v in posted.getall(path, []) if isinstance(v, str)]
        if item.type in ("object", "window"):
            found = []
            for i in range(50):  # at most a form's list length (spec.LIST_MAX)
                where = f"{path}[{i}]"
                if not any(isinstance(k, str) and k.startswith(where) for k in posted):
                    break
                element = _parse_field(item, posted, where)
                if element:
                    found.append(element)
            return found
        return [line.strip() for line in _one(posted, path).splitlines() if line.strip()]
    if f.type == "bool":
        raw = _one(posted, path)
        return {"true": True, "false": False}.get(raw)
    if f.type in INTEGER_TYPES:  # a number typed in a text box; anything else: the validator's
        raw = _one(posted, path).strip()
        return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else raw
    return _one(posted, path)


def form_context(
    kind: str,
    values: Any,
    problems: list[Problem],
    draft: int | None,
    *,
    action: str,
    hidden: dict[str, str],
    check_label: str,
) -> dict[str, Any]:
    """What ``form_fields.html`` needs to show a ``kind`` form (answer or new request)."""
    spec = KINDS[kind]
    return {
        "kind": kind,
        "spec": spec,
        "inputs": inputs(fields_for(spec), values, problems),
        "problems": problems,
        "draft": draft,
        "form_action": action,
        "hidden": hidden,
        "check_label": check_label,
    }
