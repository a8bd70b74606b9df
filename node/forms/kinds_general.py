"""Other kinds: subscriber information (Art. 31, T-CY(2018)10), assistance (Art. 35(1)),
spontaneous information (Art. 26), follow-up (Art. 27(7)-(9)) and ``ping``."""

from __future__ import annotations

from node.forms.common import (
    identifier_list,
    offence_list,
    prior_request,
    prosecution,
    provider_fields,
    reply_kind,
    request_date,
)
from node.forms.spec import KindSpec, choice, items, line, obj, text, typed

# Subscriber information (Conv. Art. 18(3)): what a T-CY(2018)10 request may ask for.
SUBSCRIBER_DATA = (
    "identity",
    "postal_address",
    "telephone",
    "email",
    "billing_payment",
    "service_type_and_period",
    "installation_location",
    "other",
)

STATES = (
    "received",
    "in_progress",
    "executed",
    "transferred",
    "postponed",
    "delayed",
    "impossible",
    "refused",
)

SUBSCRIBER_INFO_REQUEST = KindSpec(
    name="subscriber_info_request",
    title="Mutual assistance request for subscriber information",
    basis="Conv. Art. 31 (T-CY(2018)10)",
    order=(
        "request_date",
        "reference",
        "request_status",
        "requested_authority",
        "requesting_authority",
        "contact_for_confirmation",
        "investigating_authority",
        "prosecution",
        "previous_mla",
        "previous_preservation",
        "domestic_legal_basis",
        "offences",
        "summary_of_facts",
        "provider",
        "identifiers",
        "data_sought",
        "data_sought_details",
        "urgency",
        "urgency_reason",
        "confidential",
    ),
    fields=(
        request_date(),
        choice(
            "request_status",
            ("new", "follow_up_mla", "follow_up_preservation"),
            "new, or follow-up to a previous MLA or preservation request",
            required=True,
        ),
        prior_request(
            "previous_mla",
            "the previous MLA request (T-CY(2018)10 section 9)",
            required_when=(("request_status", ("follow_up_mla",)),),
        ),
        prior_request(
            "previous_preservation",
            "the previous preservation request (section 10)",
            required_when=(("request_status", ("follow_up_preservation",)),),
        ),
        line("investigating_authority", "investigative authority, if different"),
        prosecution(decisions=True),
        text("domestic_legal_basis", "domestic legal basis (section 11)", required=True),
        offence_list(),
        text("summary_of_facts", "summary of the facts", required=True),
        obj("provider", provider_fields(), "service provider holding the data"),
        identifier_list(),
        items(
            "data_sought",
            choice("", SUBSCRIBER_DATA),
            "the subscriber information sought (Art. 18(3))",
            required=True,
        ),
        text("data_sought_details", "details of the information sought, where needed"),
    ),
)

ASSISTANCE_REQUEST = KindSpec(
    name="assistance_request",
    title="Immediate assistance from the 24/7 point of contact",
    basis="Conv. Art. 35(1)",
    fields=(
        choice(
            "assistance_type",
            (
                "technical_advice",
                "legal_information",
                "evidence_collection",
                "locating_suspects",
                "other",
            ),
            "what kind of assistance",
            required=True,
        ),
        text("question", "the question or the assistance needed", required=True),
        text("background", "background the recipient needs"),
    ),
)

SPONTANEOUS_INFORMATION = KindSpec(
    name="spontaneous_information",
    title="Spontaneous information",
    basis="Conv. Art. 26",
    requires=("use_conditions",),
    fields=(text("information", "the information supplied", required=True),),
)

STATUS_UPDATE = reply_kind(
    name="status_update",
    title="Status of a request",
    basis="Conv. Art. 27(7)-(9)",
    answers=("*",),
    fields=(
        choice("state", STATES, "where the request stands", required=True),
        line(
            "transferred_to",
            "competent authority it was transferred to",
            required_when=(("state", ("transferred",)),),
        ),
        text("text", "details", required=True),
    ),
)

SUPPLEMENTARY_INFO_REQUEST = reply_kind(
    name="supplementary_info_request",
    title="Request for supplementary information",
    basis="Conv. Art. 27(7)",
    answers=("*",),
    fields=(
        text("text", "what is needed and why", required=True),
        typed("respond_by", "datetime", "answer needed by (with offset)"),
    ),
)

SUPPLEMENTARY_INFO_REPLY = reply_kind(
    name="supplementary_info_reply",
    title="Supplementary information",
    basis="Conv. Art. 27(7)",
    answers=("supplementary_info_request",),
    fields=(text("text", "the information", required=True),),
)

WITHDRAWAL = reply_kind(
    name="withdrawal",
    title="Withdrawal of a request",
    basis="Conv. Art. 27(7)",
    answers=("*",),
    fields=(text("text", "why the request is withdrawn", required=True),),
)

PING = KindSpec(
    name="ping",
    title="Availability test",
    basis="Conv. Art. 35 (availability of the point of contact)",
    light_common=True,
    fields=(),
)

KINDS = (
    SUBSCRIBER_INFO_REQUEST,
    ASSISTANCE_REQUEST,
    SPONTANEOUS_INFORMATION,
    STATUS_UPDATE,
    SUPPLEMENTARY_INFO_REQUEST,
    SUPPLEMENTARY_INFO_REPLY,
    WITHDRAWAL,
    PING,
)
