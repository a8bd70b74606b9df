"""Fields common to every kind, and the building blocks several kinds share.

Common fields (DESIGN.md section 7; T-CY(2018)11 and (2018)10 sections 2, 4 to 6; see
docs/forms.md for the field-by-field mapping):
requesting authority (organisation, officer, phone, e-mail, office hours, time zone),
case reference, language, urgency, confidentiality (do not notify the customer), use
conditions (Art. 28).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from node.forms.spec import Field, KindSpec, choice, items, line, obj, text, typed

URGENCIES = ("routine", "urgent", "emergency")
REFUSAL_GROUNDS = (
    "political_offence",
    "sovereignty_security_ordre_public",
    "other_essential_interests",
)
IDENTIFIER_TYPES = ("ip_port", "account", "email", "url", "domain", "phone", "device", "other")
DATA_CATEGORIES = ("subscriber", "traffic", "content")

IP_TYPES = ("ip_port",)
OTHER_IDENTIFIER_TYPES = tuple(t for t in IDENTIFIER_TYPES if t not in IP_TYPES)

# T-CY(2018)11 and (2018)10 section 5, in the template's order.
REQUESTING_AUTHORITY = (
    line("organisation", "authority or service making the request", required=True),
    line("officer", "person in charge of the request", required=True),
    text("address", "postal address", max_len=500),
    typed("phone", "phone", "24/7 phone, international format (+33 ...)", required=True),
    typed("mobile", "phone", "mobile phone"),
    typed("email", "email", "e-mail for replies", required=True),
    typed("fax", "phone", "fax"),
    line("office_hours", "office hours, e.g. 08:00-18:00 Mon-Fri (24/7 line above)", required=True),
    typed("time_zone", "time_zone", "IANA zone or offset of the office", required=True),
    typed(
        "reply_by_expedited_means",
        "bool",
        "a reply by e-mail or other expedited means is preferred (yes/no)",
    ),
    line("preferred_channel", "by which expedited means (e-mail, phone, this network ...)"),
)

# Section 6: contact for additional confirmation.
CONTACT = (
    line("name", "name", required=True),
    line("title", "title or rank"),
    line("function", "function"),
    typed("phone", "phone", "phone, international format"),
    typed("mobile", "phone", "mobile phone"),
    typed("email", "email", "e-mail"),
)


def common_fields(*, light: bool = False, requires: tuple[str, ...] = ()) -> tuple[Field, ...]:
    """The common fields; with ``light`` (``ping``) none of them is required."""
    strict = not light
    fields = (
        line("reference", "your case reference or file number", required=strict),
        obj(
            "requesting_authority",
            REQUESTING_AUTHORITY,
            "who is asking (defaults from node.toml [authority])",
            required=strict,
        ),
        obj("contact_for_confirmation", CONTACT, "contact for additional confirmation"),
        line("requested_authority", "the authority the request is addressed to"),
        typed("language", "language", "language of the request (BCP 47), default from node.toml"),
        choice("urgency", URGENCIES, "routine, urgent or emergency (also --priority)"),
        text("urgency_reason", "why it is urgent (data about to be deleted, risk to life)"),
        typed(
            "confidential",
            "bool",
            "do not notify the customer / data subject",
            default=True,
        ),
        text("use_conditions", "conditions or limits on the use of what is supplied (Art. 28)"),
        text("notes", "anything else the recipient should know"),
    )
    if not requires:
        return fields
    return tuple(replace(f, required=True) if f.name in requires else f for f in fields)


def window(name: str = "window", help: str = "", *, required: bool = True) -> Field:
    """A time window with a time zone."""
    return Field(
        name,
        "window",
        required=required,
        help=help or "start and end (ISO 8601) with an offset, or a time_zone",
    )


def offence_list(*, penalties: bool = False) -> Field:
    """Offence(s) under investigation with their legal provisions (and penalties)."""
    return items(
        "offences",
        obj(
            "",
            (
                line("name", "the offence, e.g. computer fraud", required=True),
                line(
                    "legal_provision", "article and code, e.g. Art. 323-1 Code penal", required=True
                ),
                line("penalty", "maximum penalty", required=penalties),
            ),
        ),
        "offence(s) and the legal provisions",
        required=True,
    )


def identifier_list(name: str = "identifiers", *, required: bool = True) -> Field:
    """Identifiers, each with a time window and time zone: an IP address and its port as
    separate values (``ip_port``), or an account, e-mail, URL, domain ... in ``value``."""
    return items(
        name,
        obj(
            "",
            (
                choice("type", IDENTIFIER_TYPES, "what the identifier is", required=True),
                typed(
                    "ip_address",
                    "ip_address",
                    "IP address, without the port (type ip_port)",
                    required_when=(("type", IP_TYPES),),
                ),
                typed("port", "port", "source port, where known (type ip_port)"),
                line(
                    "value",
                    "the identifier, e.g. suspect@example.org (other types)",
                    required_when=(("type", OTHER_IDENTIFIER_TYPES),),
                ),
                window(),
            ),
        ),
        "identifiers, each with a time window and time zone",
        required=required,
    )


def provider_fields() -> tuple[Field, ...]:
    """A service provider or custodian of data: its name, address and State separately, and
    where the computer system is when known (Art. 29(2)(d))."""
    return (
        line("name", "name of the provider or custodian of the data", required=True),
        text("address", "its postal address", max_len=500),
        line("country", "State where it is established (ISO 3166 code or name)", max_len=64),
        text("system_location", "location of the computer system, if known", max_len=500),
    )


def prosecution(*, decisions: bool = False) -> Field:
    """The prosecution office or court and its case number, as separate values."""
    fields: tuple[Field, ...] = (
        line("office", "prosecution office or court"),
        line("case_number", "its case number", max_len=100),
    )
    if decisions:
        fields = (*fields, text("decisions", "related decisions (orders, warrants)", max_len=2000))
    return obj("prosecution", fields, "prosecution office or court in charge, and case number")


def request_date() -> Field:
    """Section 1 of the T-CY templates: the date of the request."""
    return typed(
        "request_date",
        "date",
        "date of the request (default: today in the requesting authority's time zone)",
        default_today=True,
    )


def previous_reference(required: bool = True) -> Field:
    """The reference of the request this one refers to."""
    return line(
        "request_reference",
        "reference of the request this refers to (filled in by 'node respond')",
        required=required,
    )


def reply_kind(*, answers: tuple[str, ...], fields: tuple[Field, ...], **kw: Any) -> KindSpec:
    """A kind that answers an earlier request (one of ``answers``, ``*`` for any): its first
    field is that request's reference (:func:`previous_reference`), then ``fields``."""
    return KindSpec(answers=answers, fields=(previous_reference(), *fields), **kw)


def issued_by(authority_help: str, date_help: str) -> tuple[Field, ...]:
    """The authority issuing a Protocol request and the date it issued it (both required)."""
    return (
        line("issuing_authority", authority_help, required=True),
        typed("issued_on", "date", date_help, required=True),
    )


def mla_reference_if_any() -> tuple[Field, ...]:
    """The reference and date of a mutual assistance request, where there is one."""
    return (
        line("mla_reference", "MLA request reference, where relevant"),
        typed("mla_date", "date", "MLA request date, where relevant"),
    )


def prior_request(name: str, help: str, **kw: Any) -> Field:
    """A previous request sent through another channel (T-CY(2018)10 sections 9, 10)."""
    return obj(
        name,
        (
            typed("date", "date", "date sent", required=True),
            line("reference", "its reference", required=True),
            line("requesting_contact", "contact on the requesting side"),
            line("requested_contact", "contact on the requested side"),
            line("channel", "channel used (24/7 network, e-mail, diplomatic ...)"),
        ),
        help,
        **kw,
    )


__all__ = [
    "DATA_CATEGORIES",
    "IDENTIFIER_TYPES",
    "REFUSAL_GROUNDS",
    "URGENCIES",
    "common_fields",
    "identifier_list",
    "issued_by",
    "mla_reference_if_any",
    "offence_list",
    "previous_reference",
    "prior_request",
    "prosecution",
    "provider_fields",
    "reply_kind",
    "request_date",
    "window",
]
