"""Form versions: old form files, drafts and stored bodies brought to the current fields.

A validated body carries ``form_version`` (:data:`FORM_VERSION`). A body without it is
version 1, the fields before the T-CY templates were followed to the letter (ADR 0011).
:func:`migrate` is a pure function: it never loses a value. What it cannot split with
certainty stays whole in the first field it belongs to, or is appended to ``notes`` with a
label saying where it came from.

Version 2 changed:

- ``prosecution_office`` (one line) became ``prosecution`` {``office``, ``case_number``}:
  the old line goes to ``office``;
- an ``ip_port`` identifier's ``value`` ("203.0.113.7:51234", "[2001:db8::1]:443") became
  ``ip_address`` and ``port``;
- ``subscriber_info_request``: ``provider`` (one line) became an object (``name``,
  ``address``, ...), ``data_sought`` (text) became a list of categories with the text in
  ``data_sought_details``;
- a previous request's ``contacts`` (both sides in one text) became ``requesting_contact``
  and ``requested_contact``: the old text is kept in ``notes``.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

FORM_VERSION = 2
_PORT_RE = re.compile(r"^\[?([0-9A-Fa-f:.]+?)\]?(?::|\s+(?:port\s+)?)(\d{1,5})$")


def form_version(body: Mapping[str, Any]) -> int | None:
    """The version a body says it is written in (1 when it says none); None when the
    value is not a positive integer."""
    version: Any = body.get("form_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return None
    return int(version)


def split_ip_port(value: str) -> tuple[str, int | None] | None:
    """``(address, port)`` from "203.0.113.7:51234", "[2001:db8::1]:443", "203.0.113.7 port
    80" or a bare address (port None); None when it is not an address."""
    text = value.strip()
    if "%" in text:
        return None  # an IPv6 zone: no address the form accepts
    try:
        return str(ipaddress.ip_address(text.strip("[]"))), None
    except ValueError:
        pass
    m = _PORT_RE.match(text)
    if m is None:
        return None
    try:
        address = ipaddress.ip_address(m.group(1))
    except ValueError:
        return None
    port = int(m.group(2))
    if not 1 <= port <= 65535:
        return None
    if address.version == 6 and not text.startswith("["):
        return None  # "2001:db8::1:443" is ambiguous: leave it to the officer
    return str(address), port


def _identifiers(entries: Any) -> None:
    if not isinstance(entries, list):
        return
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("type") != "ip_port":
            continue
        value = entry.get("value")
        if "ip_address" in entry or "port" in entry or not isinstance(value, str):
            continue  # already split (partly): the validator reports what is left
        parsed = split_ip_port(value)
        if parsed is None:
            continue
        del entry["value"]
        entry["ip_address"] = parsed[0]
        if parsed[1] is not None:
            entry["port"] = parsed[1]


def _add_note(body: dict[str, Any], label: str, value: str) -> None:
    old = body.get("notes")
    line = f"{label}: {value}"
    body["notes"] = f"{old}\n{line}" if isinstance(old, str) and old else line


def _v1_to_v2(kind: str, body: dict[str, Any]) -> None:
    office = body.get("prosecution_office")
    if isinstance(office, str) and "prosecution" not in body:
        del body["prosecution_office"]
        if office:
            body["prosecution"] = {"office": office}
    _identifiers(body.get("identifiers"))
    preserve = body.get("data_to_preserve")
    for item in preserve if isinstance(preserve, list) else ():
        if isinstance(item, dict):
            _identifiers(item.get("identifiers"))
    if kind == "subscriber_info_request":
        provider = body.get("provider")
        if isinstance(provider, str):
            body["provider"] = {"name": provider} if provider else {}
        sought = body.get("data_sought")
        if isinstance(sought, str) and "data_sought_details" not in body:
            del body["data_sought"]
            if sought:
                body["data_sought_details"] = sought
    notes_is_text = body.get("notes") is None or isinstance(body.get("notes"), str)
    for name in ("previous_mla", "previous_preservation"):
        prior = body.get(name)
        if notes_is_text and isinstance(prior, dict) and isinstance(prior.get("contacts"), str):
            contacts = prior.pop("contacts")
            if contacts:
                _add_note(body, f"{name} contacts", contacts)


_STEPS: dict[int, Callable[[str, dict[str, Any]], None]] = {1: _v1_to_v2}


def migrate(kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` of ``kind`` in the current form version (a new dict; ``body`` is not
    changed). A body already current, or from a newer version, or with a version that is
    not a number, comes back as a copy, unchanged: the validator reports the latter two."""
    out = copy.deepcopy(dict(body))
    version = form_version(out)
    if version is None or version >= FORM_VERSION:
        return out
    while version < FORM_VERSION:
        _STEPS[version](kind, out)
        version += 1
    out["form_version"] = FORM_VERSION
    return out


__all__ = ["FORM_VERSION", "form_version", "migrate", "split_ip_port"]
