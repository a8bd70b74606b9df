"""Which kinds answer a message, and the priority a reply inherits."""

from __future__ import annotations

from node.forms.registry import KINDS
from node.forms.validate import PRIORITIES


def reply_priority(kind: str, request_priority: str) -> str:
    """The request's priority, or the reply kind's default when that is higher."""
    spec = KINDS.get(kind)
    default = spec.default_priority if spec is not None else PRIORITIES[0]
    ranked = [p for p in PRIORITIES if p in (request_priority, default)]
    return ranked[-1] if ranked else default


def answering_kinds(kind: str) -> list[str]:
    """The kinds that answer ``kind``: those made for it first, then the general ones."""
    own = [k for k, s in KINDS.items() if kind in s.answers]
    general = [k for k, s in KINDS.items() if "*" in s.answers and k not in own]
    return own + general
