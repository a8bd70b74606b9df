"""Template field -> form field: the T-CY templates and the Protocol's lists, in their order.

One row per field of T-CY(2018)11 (preservation, Arts. 29 and 30), T-CY(2018)10 (MLA for
subscriber information, Art. 31) and the Second Additional Protocol's Arts. 9(3) and 10,
naming the form field (a dotted path, ``[]`` for each list entry) that holds it. The table
in ``docs/forms.md`` is generated from :data:`MAPPINGS`; a unit test checks that each path
exists in its kind, with its own type, and that the template's order is the form's order.
Section numbers are the templates' where DOMAIN.md gives them; "-" marks the parts after
them, kept in DOMAIN.md's order (to confirm against the PDFs, ADR 0011).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One template field: its section, its wording, and the form field(s) holding it."""

    section: str
    label: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Template:
    """A template or a list of requirements, and the kind that implements it."""

    name: str
    kind: str
    rows: tuple[Row, ...]


_RA = "requesting_authority."
_CC = "contact_for_confirmation."
_ID = "identifiers[]."
_DP = "data_to_preserve[]."


def _r(section: str, label: str, *paths: str) -> Row:
    return Row(section, label, paths)


PRESERVATION = Template(
    "T-CY(2018)11 data preservation request (Conv. Arts. 29, 30)",
    "preservation_request",
    (
        _r("1", "Date", "request_date"),
        _r("2", "Reference / case number", "reference"),
        _r("3", "Status: new request or extension", "request_status"),
        _r("3", "Reference of the request extended", "previous_reference"),
        _r("4", "Requested authority", "requested_authority"),
        _r("5", "Requesting authority: organisation", _RA + "organisation"),
        _r("5", "Person in charge", _RA + "officer"),
        _r("5", "Address", _RA + "address"),
        _r("5", "Telephone", _RA + "phone"),
        _r("5", "Mobile", _RA + "mobile"),
        _r("5", "E-mail", _RA + "email"),
        _r("5", "Fax", _RA + "fax"),
        _r("5", "Office hours", _RA + "office_hours"),
        _r("5", "Time zone", _RA + "time_zone"),
        _r(
            "5",
            "Response by e-mail or other expedited means preferred (yes/no)",
            _RA + "reply_by_expedited_means",
        ),
        _r("5", "By which means", _RA + "preferred_channel"),
        _r("6", "Contact for additional confirmation: name", _CC + "name"),
        _r("6", "Title", _CC + "title"),
        _r("6", "Function", _CC + "function"),
        _r("6", "Telephone, mobile", _CC + "phone", _CC + "mobile"),
        _r("6", "E-mail", _CC + "email"),
        _r("7", "Investigative or operational authority in charge", "investigating_authority"),
        _r("-", "Prosecution office or court", "prosecution.office"),
        _r("-", "Its case number", "prosecution.case_number"),
        _r("-", "Offence(s): name", "offences[].name"),
        _r("-", "Legal provisions", "offences[].legal_provision"),
        _r("-", "Summary of the facts (Art. 29(2)(b))", "summary_of_facts"),
        _r("-", "Service provider or custodian: name (Art. 29(2)(d))", _DP + "provider.name"),
        _r("-", "Its address", _DP + "provider.address"),
        _r("-", "Its State", _DP + "provider.country"),
        _r("-", "Location of the computer system", _DP + "provider.system_location"),
        _r("-", "Identifier type (IP address, account, e-mail, URL, domain)", _DP + _ID + "type"),
        _r("-", "IP address", _DP + _ID + "ip_address"),
        _r("-", "Port", _DP + _ID + "port"),
        _r("-", "Account, e-mail, URL, domain ...", _DP + _ID + "value"),
        _r("-", "Date, time and time zone", _DP + _ID + "window"),
        _r("-", "Data category: subscriber, traffic, content", _DP + "data_categories"),
        _r("-", "Relation of the data to the offence (Art. 29(2)(c))", _DP + "relation_to_offence"),
        _r("-", "Necessity of the preservation (Art. 29(2)(e))", "necessity"),
        _r("-", "An MLA request will follow (Art. 29(2)(f))", "mla_to_follow"),
        _r("-", "Expected date of the follow-up MLA request", "mla_expected_by"),
        _r("-", "Confidentiality: do not notify the customer", "confidential"),
        _r(
            "-",
            "Expedited disclosure of traffic data requested (Art. 30)",
            "art30_disclosure_requested",
        ),
    ),
)

SUBSCRIBER = Template(
    "T-CY(2018)10 MLA request for subscriber information (Conv. Art. 31)",
    "subscriber_info_request",
    (
        _r("1", "Date", "request_date"),
        _r("2", "Reference / case number", "reference"),
        _r("3", "Status: new, follow-up to an MLA or a preservation request", "request_status"),
        _r("4", "Requested authority", "requested_authority"),
        _r("5", "Requesting authority: organisation", _RA + "organisation"),
        _r("5", "Person in charge", _RA + "officer"),
        _r("5", "Address", _RA + "address"),
        _r(
            "5",
            "Telephone, mobile, e-mail, fax",
            _RA + "phone",
            _RA + "mobile",
            _RA + "email",
            _RA + "fax",
        ),
        _r("5", "Office hours, time zone", _RA + "office_hours", _RA + "time_zone"),
        _r("5", "Response by expedited means preferred (yes/no)", _RA + "reply_by_expedited_means"),
        _r("5", "By which means", _RA + "preferred_channel"),
        _r(
            "6",
            "Contact for additional confirmation: name, title, function",
            _CC + "name",
            _CC + "title",
            _CC + "function",
        ),
        _r("6", "Telephone, mobile, e-mail", _CC + "phone", _CC + "mobile", _CC + "email"),
        _r("7", "Investigative authority, if different", "investigating_authority"),
        _r("8", "Prosecution office or court", "prosecution.office"),
        _r("8", "Case number(s)", "prosecution.case_number"),
        _r("8", "Related decisions", "prosecution.decisions"),
        _r("9", "Previous MLA request: date", "previous_mla.date"),
        _r("9", "Reference", "previous_mla.reference"),
        _r(
            "9",
            "Contacts, requesting and requested side",
            "previous_mla.requesting_contact",
            "previous_mla.requested_contact",
        ),
        _r("9", "Channel used", "previous_mla.channel"),
        _r("10", "Previous preservation request: date", "previous_preservation.date"),
        _r("10", "Reference", "previous_preservation.reference"),
        _r(
            "10",
            "Contacts, requesting and requested side",
            "previous_preservation.requesting_contact",
            "previous_preservation.requested_contact",
        ),
        _r("10", "Channel used", "previous_preservation.channel"),
        _r("11", "Domestic legal basis", "domestic_legal_basis"),
        _r("-", "Offence(s) and legal provisions", "offences[].name", "offences[].legal_provision"),
        _r("-", "Summary of the facts", "summary_of_facts"),
        _r(
            "-",
            "Service provider: name, address, State",
            "provider.name",
            "provider.address",
            "provider.country",
        ),
        _r("-", "Identifier type", _ID + "type"),
        _r("-", "IP address and port", _ID + "ip_address", _ID + "port"),
        _r("-", "Other identifier (account, e-mail, URL ...)", _ID + "value"),
        _r("-", "Date, time and time zone", _ID + "window"),
        _r("-", "Subscriber information sought (Art. 18(3))", "data_sought"),
        _r("-", "Details of the information sought", "data_sought_details"),
        _r("-", "Urgency, and why", "urgency", "urgency_reason"),
        _r("-", "Confidentiality", "confidential"),
    ),
)

EMERGENCY_DISCLOSURE = Template(
    "Second Additional Protocol Art. 9(3) emergency disclosure",
    "emergency_disclosure_request",
    (
        _r("(a)", "Competent authority seeking the data", "issuing_authority"),
        _r("(a)", "Date issued", "issued_on"),
        _r("(b)", "Statement that it is issued under the Protocol", "protocol_statement"),
        _r("(c)", "Service provider(s): name", "providers[].name"),
        _r("(c)", "Address", "providers[].address"),
        _r(
            "(d)",
            "Offence(s), legal provisions, penalties",
            "offences[].name",
            "offences[].legal_provision",
            "offences[].penalty",
        ),
        _r("(e)", "Facts showing the emergency", "emergency_facts"),
        _r("(e)", "How the data relate to it", "data_relation"),
        _r("(f)", "Detailed description of the data sought", "data_description"),
        _r(
            "(f)",
            "Identifiers: IP address and port, others, time and zone",
            _ID + "ip_address",
            _ID + "port",
            _ID + "value",
            _ID + "window",
        ),
        _r("(g)", "Special procedural instructions", "procedural_instructions"),
    ),
)

EMERGENCY_MLA = Template(
    "Second Additional Protocol Art. 10 emergency mutual assistance",
    "emergency_mla_request",
    (
        _r("10(2)", "Authority issuing the request, date", "issuing_authority", "issued_on"),
        _r("10(2)", "Description of the emergency", "emergency_description"),
        _r(
            "MLA",
            "Offence(s), legal provisions, penalties",
            "offences[].name",
            "offences[].legal_provision",
            "offences[].penalty",
        ),
        _r("MLA", "Summary of the facts", "summary_of_facts"),
        _r("MLA", "Measures and evidence sought", "assistance_sought"),
        _r("MLA", "Description of the data sought", "data_description"),
        _r("MLA", "Identifiers", _ID + "ip_address", _ID + "port", _ID + "value", _ID + "window"),
        _r("MLA", "Domestic legal basis", "domestic_legal_basis"),
        _r(
            "10(8)",
            "Copy to the central authority: authority, date, reference",
            "central_authority_copy.authority",
            "central_authority_copy.copied_on",
            "central_authority_copy.reference",
        ),
        _r("MLA", "Special procedural instructions", "procedural_instructions"),
    ),
)

TEMPLATES = (PRESERVATION, SUBSCRIBER, EMERGENCY_DISCLOSURE, EMERGENCY_MLA)


def mapping_markdown() -> str:
    """The mapping tables as Markdown (the second generated part of docs/forms.md)."""
    out: list[str] = []
    for t in TEMPLATES:
        out.append(f"### {t.name} -> `{t.kind}`\n")
        out.append("| section | template field | form field |")
        out.append("|---|---|---|")
        for row in t.rows:
            paths = ", ".join(f"`{p}`" for p in row.paths)
            out.append(f"| {row.section} | {row.label} | {paths} |")
        out.append("")
    return "\n".join(out)


def sections_of(kind: str) -> tuple[str, dict[str, str]]:
    """The template a kind is laid out as, and the template section of each of its
    top-level fields (the first row naming it); ``("", {})`` for a kind without one."""
    for t in TEMPLATES:
        if t.kind != kind:
            continue
        sections: dict[str, str] = {}
        for row in t.rows:
            for path in row.paths:
                top = path.split(".", 1)[0].removesuffix("[]")
                sections.setdefault(top, row.section)
        return t.name, sections
    return "", {}


__all__ = ["TEMPLATES", "Row", "Template", "mapping_markdown", "sections_of"]
