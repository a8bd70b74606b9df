"""Declarative field specifications: what a form field is, not how it is checked.

A form is a JSON object. Each kind (:mod:`node.forms.registry`) is a table of
:class:`Field` rows; the one validator (:mod:`node.forms.validate`) walks the table.
Field types:

=============  ===============================================================
``line``       one line of text (at most ``max_len`` characters, default 200)
``text``       free text (default at most 8,000 characters)
``bool``       ``true`` or ``false``
``choice``     one of ``choices``
``date``       a calendar date, ``YYYY-MM-DD``
``datetime``   an ISO 8601 date and time WITH an offset (``...+02:00`` or ``...Z``)
``time_zone``  an IANA name (``Europe/Paris``) or an offset (``+02:00``, ``UTC``)
``email``      an e-mail address
``phone``      an international phone number starting with ``+``
``language``   a BCP 47 language tag (``en``, ``fr``, ``pt-BR``)
``ip_address`` an IPv4 or IPv6 address, without a port (``203.0.113.7``, ``2001:db8::1``)
``port``       a TCP/UDP port number, an integer from 1 to 65535
``count``      a whole number from 0 to 1,000,000,000 (statistics)
``month``      a calendar month, ``YYYY-MM``
``window``     a time window ``{"start", "end", "time_zone"}``; each time carries an
               offset, or ``time_zone`` names the zone; a naive time is refused
``object``     a nested object of ``fields``
``list``       a list of ``item`` (itself a field spec without a name)
=============  ===============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FIELD_TYPES = frozenset(
    {
        "line",
        "text",
        "bool",
        "choice",
        "date",
        "datetime",
        "time_zone",
        "email",
        "phone",
        "language",
        "ip_address",
        "port",
        "count",
        "month",
        "window",
        "object",
        "list",
    }
)
LINE_MAX = 200
TEXT_MAX = 8000
LIST_MAX = 50


@dataclass(frozen=True)
class Field:
    """One field of a form.

    Attributes:
        name: the JSON key.
        type: one of :data:`FIELD_TYPES`.
        required: the field must be present and non-empty.
        help: one line for the officer filling it in.
        choices: allowed values of a ``choice`` (or of a ``list`` of choices).
        fields: the members of an ``object``.
        item: the element spec of a ``list``.
        min_items: fewest elements of a required ``list``.
        max_items: most elements of a ``list``.
        max_len: longest text accepted.
        required_when: required when a sibling field has one of the given values,
            e.g. ``(("outcome", ("preserved",)),)``.
        must_be_true: a ``bool`` that must be ``true`` (a statement the law requires).
        default: the value written in when the field is absent.
        min_days_after_request: a ``date`` at least this many days after the request it
            answers (Art. 29(7): preservation for not less than 60 days).
        default_today: a ``date`` that, when absent, is today's date in the requesting
            authority's time zone (UTC if it has none).
    """

    name: str
    type: str
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] = ()
    fields: tuple[Field, ...] = ()
    item: Field | None = None
    min_items: int = 0
    max_items: int = LIST_MAX
    max_len: int = 0
    required_when: tuple[tuple[str, tuple[str, ...]], ...] = ()
    must_be_true: bool = False
    default: Any = None
    min_days_after_request: int | None = None
    default_today: bool = False

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValueError(f"unknown field type {self.type!r} for {self.name!r}")
        if self.type == "list" and self.item is None:
            raise ValueError(f"list field {self.name!r} needs an item spec")
        if self.type == "choice" and not self.choices:
            raise ValueError(f"choice field {self.name!r} needs choices")

    @property
    def limit(self) -> int:
        """The longest text accepted for this field."""
        if self.max_len:
            return self.max_len
        return TEXT_MAX if self.type == "text" else LINE_MAX


@dataclass(frozen=True)
class KindSpec:
    """One message kind: its legal basis and its fields.

    Attributes:
        name: the ``kind`` written in the message.
        title: a short human title.
        basis: the legal basis (article and template).
        fields: the fields beyond the common ones.
        light_common: the common fields are optional (``ping``).
        default_priority: priority when neither the form nor ``--priority`` says.
        requires: common fields that this kind makes required (e.g. ``use_conditions``).
        answers: kinds this one usually replies to (documentation, and ``node respond``'s
            default reference).
        order: top-level field names (common ones included) that come first, in this
            order: a template's sections (:func:`node.forms.registry.fields_for`).
    """

    name: str
    title: str
    basis: str
    fields: tuple[Field, ...]
    light_common: bool = False
    default_priority: str = "routine"
    requires: tuple[str, ...] = ()
    answers: tuple[str, ...] = field(default=())
    order: tuple[str, ...] = ()


# Small constructors keep the kind tables readable.


def line(name: str, help: str = "", *, required: bool = False, **kw: Any) -> Field:
    """A one-line text field."""
    return Field(name, "line", required=required, help=help, **kw)


def text(name: str, help: str = "", *, required: bool = False, **kw: Any) -> Field:
    """A free-text field."""
    return Field(name, "text", required=required, help=help, **kw)


def choice(
    name: str, choices: tuple[str, ...], help: str = "", *, required: bool = False, **kw: Any
) -> Field:
    """A field with a fixed set of values."""
    return Field(name, "choice", required=required, help=help, choices=choices, **kw)


def obj(name: str, fields: tuple[Field, ...], help: str = "", **kw: Any) -> Field:
    """A nested object."""
    return Field(name, "object", help=help, fields=fields, **kw)


def items(
    name: str, item: Field, help: str = "", *, required: bool = False, min_items: int = 0, **kw: Any
) -> Field:
    """A list; a required list needs at least ``min_items`` (default 1) elements."""
    return Field(
        name,
        "list",
        required=required,
        help=help,
        item=item,
        min_items=min_items or (1 if required else 0),
        **kw,
    )


def typed(name: str, type_: str, help: str = "", *, required: bool = False, **kw: Any) -> Field:
    """A field of any scalar type (``date``, ``email``, ``bool``...)."""
    return Field(name, type_, required=required, help=help, **kw)
