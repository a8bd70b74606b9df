"""What changed between two directories, field by field, for administrators to review
before they sign.

Parties are matched by id and keys by key id, so a reordering is no change and a
rotated key shows as one key added and one window changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from keys.directory.document import Directory

_KEYED_LISTS = {
    "parties": "id",
    "keys": "key_id",
    "signing_keys": "key_id",
    "encryption_keys": "key_id",
}
_MAX_SUMMARY = 120


@dataclass(frozen=True)
class Change:
    """One difference: ``op`` is ``added``, ``removed`` or ``changed``; ``path`` is dotted,
    e.g. ``parties.FR.contact.phone``; ``old``/``new`` are display strings (or None)."""

    op: str
    path: str
    old: str | None
    new: str | None

    def to_dict(self) -> dict[str, str | None]:
        return {"op": self.op, "path": self.path, "old": self.old, "new": self.new}

    def describe(self) -> str:
        if self.op == "added":
            return f"+ {self.path}: {self.new}"
        if self.op == "removed":
            return f"- {self.path}: {self.old}"
        return f"~ {self.path}: {self.old} -> {self.new}"


def _keyed(value: Any, name: str = "") -> Any:
    """Lists of parties and keys become objects keyed by id / key id; raw key material is
    dropped (its key id stands for it); a missing relay is an empty object."""
    if name in _KEYED_LISTS and isinstance(value, list):
        return {str(v[_KEYED_LISTS[name]]): _keyed(v) for v in value}
    if name == "relay" and value is None:
        return {}
    if isinstance(value, dict):
        return {k: _keyed(v, k) for k, v in value.items() if k != "key"}
    return value


def _show(value: Any) -> str:
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        return ", ".join(value)
    if isinstance(value, dict) and "not_before" in value:
        return f"valid from {value['not_before']} until {value.get('not_after') or 'replaced'}"
    if isinstance(value, dict):
        for name in ("authority", "state", "name"):
            if isinstance(value.get(name), str):
                return str(value[name])
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    elif isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    elif value is None:
        text = "null"
    else:
        text = str(value)
    return text if len(text) <= _MAX_SUMMARY else text[: _MAX_SUMMARY - 1] + "…"


def _walk(old: Any, new: Any, path: str, out: list[Change]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for name in sorted(set(old) | set(new)):
            sub = f"{path}.{name}" if path else name
            if name not in new:
                out.append(Change("removed", sub, _show(old[name]), None))
            elif name not in old:
                out.append(Change("added", sub, None, _show(new[name])))
            else:
                _walk(old[name], new[name], sub, out)
    elif old != new:
        out.append(Change("changed", path, _show(old), _show(new)))


def diff(old: Directory, new: Directory) -> list[Change]:
    """Every difference from ``old`` to ``new``, in path order."""
    out: list[Change] = []
    _walk(_keyed(old.to_dict()), _keyed(new.to_dict()), "", out)
    return out
