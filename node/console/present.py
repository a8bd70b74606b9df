"""How a stored message reads to a person, as pure functions: the form's fields in the
form's own order with their labels and help, nested blocks indented, identifiers and time
windows marked; durations and times in words. No I/O."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from node.forms.spec import Field

HIGHLIGHT_TYPES = ("window", "datetime")
HIGHLIGHT_NAMES = ("identifiers", "identifier", "value", "ip_port")


@dataclass(frozen=True)
class DisplayRow:
    label: str
    value: str
    help: str
    depth: int
    highlight: bool
    heading: bool = False


def label_of(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _window(value: Mapping[str, Any]) -> str:
    zone = f" ({value['time_zone']})" if value.get("time_zone") else ""
    return f"{value.get('start', '')} to {value.get('end', '')}{zone}"


def form_rows(
    fields: tuple[Field, ...], body: Mapping[str, Any], depth: int = 0
) -> list[DisplayRow]:
    """The rows of ``body`` in the order of ``fields``; fields the form leaves empty are
    skipped, and keys the spec does not know come last, under "Other"."""
    return list(_rows(fields, body, depth, top=True))


def sectioned_rows(
    fields: tuple[Field, ...], body: Mapping[str, Any], sections: Mapping[str, str]
) -> list[tuple[str, list[DisplayRow]]]:
    """:func:`form_rows` grouped by template section (``sections``: top-level field name ->
    section, from :func:`node.forms.mapping.sections_of`); consecutive fields of the same
    section share a group, fields outside the template are in a group titled ''."""
    groups: list[tuple[str, list[DisplayRow]]] = []
    for f in fields:
        value = body.get(f.name)
        if value in (None, "", [], {}):
            continue
        section = sections.get(f.name, "")
        if not groups or groups[-1][0] != section:
            groups.append((section, []))
        groups[-1][1].extend(_field(f, value, 0))
    known = {f.name for f in fields}
    extra = {k: v for k, v in body.items() if k not in known}
    if extra:
        if not groups or groups[-1][0] != "":
            groups.append(("", []))
        groups[-1][1].extend(form_rows((), extra))
    return groups


def _rows(
    fields: tuple[Field, ...], body: Mapping[str, Any], depth: int, *, top: bool = False
) -> Iterator[DisplayRow]:
    known = set()
    for f in fields:
        known.add(f.name)
        value = body.get(f.name)
        if value in (None, "", [], {}):
            continue
        yield from _field(f, value, depth)
    extra = [k for k in body if k not in known]
    if extra and top:
        yield DisplayRow("Other", "", "", depth, False, heading=True)
        for k in extra:
            yield DisplayRow(label_of(k), _scalar(body[k]), "", depth + 1, False)


def _field(f: Field, value: Any, depth: int) -> Iterator[DisplayRow]:
    mark = f.type in HIGHLIGHT_TYPES or f.name in HIGHLIGHT_NAMES
    if f.type == "object" and isinstance(value, Mapping):
        yield DisplayRow(label_of(f.name), "", f.help, depth, False, heading=True)
        yield from _rows(f.fields, value, depth + 1)
    elif f.type == "window" and isinstance(value, Mapping):
        yield DisplayRow(label_of(f.name), _window(value), f.help, depth, True)
    elif f.type == "list" and isinstance(value, list) and f.item is not None:
        item = f.item
        if item.type == "object":
            yield DisplayRow(label_of(f.name), "", f.help, depth, False, heading=True)
            for i, element in enumerate(value, 1):
                if isinstance(element, Mapping):
                    yield DisplayRow(f"{i}.", "", "", depth + 1, mark, heading=True)
                    yield from _rows(item.fields, element, depth + 2)
        else:
            yield DisplayRow(
                label_of(f.name), ", ".join(_scalar(v) for v in value), f.help, depth, mark
            )
    else:
        yield DisplayRow(label_of(f.name), _scalar(value), f.help, depth, mark)


def in_zone(at: datetime, zone: str | None) -> str:
    """``at`` as wall-clock time in ``zone`` (an IANA name), or '' if unknown."""
    if not zone:
        return ""
    try:
        local = at.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        return ""
    return f"{local:%Y-%m-%d %H:%M} {zone} (UTC{local:%z})"


def duration(delta: timedelta) -> str:
    """A short duration: ``3d 4h``, ``2h 05m``, ``7m``, ``40s``."""
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"
