"""Preservation kinds: Convention Arts. 29 and 30, template T-CY(2018)11."""

from __future__ import annotations

from node.forms.common import (
    DATA_CATEGORIES,
    REFUSAL_GROUNDS,
    identifier_list,
    mla_reference_if_any,
    offence_list,
    prosecution,
    provider_fields,
    reply_kind,
    request_date,
)
from node.forms.spec import KindSpec, choice, items, line, obj, text, typed

PRESERVATION_OUTCOMES = ("preserved", "partially_preserved", "refused", "no_data")
PRESERVED = ("preserved", "partially_preserved")

PRESERVATION_REQUEST = KindSpec(
    name="preservation_request",
    title="Expedited preservation of stored computer data",
    basis="Conv. Art. 29 (T-CY(2018)11)",
    order=(
        "request_date",
        "reference",
        "request_status",
        "previous_reference",
        "requested_authority",
        "requesting_authority",
        "contact_for_confirmation",
        "investigating_authority",
        "prosecution",
        "offences",
        "summary_of_facts",
        "data_to_preserve",
        "necessity",
        "mla_to_follow",
        "mla_expected_by",
        "confidential",
        "art30_disclosure_requested",
    ),
    fields=(
        request_date(),
        choice(
            "request_status",
            ("new", "extension"),
            "new request, or extension of a previous one",
            required=True,
        ),
        line(
            "previous_reference",
            "reference of the request extended",
            required_when=(("request_status", ("extension",)),),
        ),
        line("investigating_authority", "investigative or operational authority in charge"),
        prosecution(),
        offence_list(),
        text("summary_of_facts", "brief summary of the related facts", required=True),
        items(
            "data_to_preserve",
            obj(
                "",
                (
                    obj(
                        "provider",
                        provider_fields(),
                        "service provider or custodian",
                        required=True,
                    ),
                    identifier_list(),
                    items(
                        "data_categories",
                        choice("", DATA_CATEGORIES),
                        "subscriber, traffic and/or content",
                        required=True,
                    ),
                    text(
                        "relation_to_offence", "how these data relate to the offence", required=True
                    ),
                ),
            ),
            "the stored computer data to be preserved",
            required=True,
        ),
        text(
            "necessity",
            "why preservation is necessary (risk of loss or modification)",
            required=True,
        ),
        typed(
            "mla_to_follow",
            "bool",
            "statement that a mutual assistance request will follow (Art. 29(2)(f))",
            required=True,
            must_be_true=True,
        ),
        typed("mla_expected_by", "date", "expected date of the follow-up MLA request"),
        typed(
            "art30_disclosure_requested",
            "bool",
            "also ask for expedited disclosure of traffic data (Art. 30)",
            default=False,
        ),
    ),
)

PRESERVATION_RESPONSE = reply_kind(
    name="preservation_response",
    title="Outcome of a preservation request",
    basis="Conv. Arts. 29(3), 29(5), 29(6), 29(7)",
    answers=("preservation_request", "preservation_extension"),
    fields=(
        choice("outcome", PRESERVATION_OUTCOMES, "what was done", required=True),
        line(
            "provider_reference",
            "the provider's reference for the preserved data",
            required_when=(("outcome", PRESERVED),),
        ),
        typed(
            "preserved_until",
            "date",
            "preserved until (at least 60 days after the request, Art. 29(7))",
            required_when=(("outcome", PRESERVED),),
            min_days_after_request=60,
        ),
        text("preserved_data", "what was preserved"),
        text(
            "partial_details",
            "what could not be preserved, and why",
            required_when=(("outcome", ("partially_preserved",)),),
        ),
        choice(
            "refusal_ground",
            REFUSAL_GROUNDS,
            "ground of refusal (Art. 29(5))",
            required_when=(("outcome", ("refused",)),),
        ),
        text("refusal_explanation", "explanation of the refusal"),
        obj(
            "art29_6_notice",
            (
                typed(
                    "future_availability_at_risk",
                    "bool",
                    "preservation will not ensure availability",
                ),
                typed("confidentiality_at_risk", "bool", "it would threaten the investigation"),
                text("explanation", "details", required=True),
            ),
            "notice under Art. 29(6): decide whether to proceed",
        ),
        text("next_steps", "what the requester should do next (MLA channel, authority)"),
    ),
)

TRAFFIC_DATA_DISCLOSURE = reply_kind(
    name="traffic_data_disclosure",
    title="Expedited disclosure of preserved traffic data",
    basis="Conv. Art. 30",
    answers=("preservation_request",),
    fields=(
        choice("outcome", ("disclosed", "withheld"), "disclosed, or withheld", required=True),
        items(
            "providers_in_path",
            obj(
                "",
                (
                    line("name", "service provider", required=True),
                    line("state", "State where it is (ISO 3166 code or name)", required=True),
                    text("details", "role in the transmission", max_len=1000),
                ),
            ),
            "service provider(s) and State(s) in the path",
            required_when=(("outcome", ("disclosed",)),),
        ),
        text(
            "traffic_data",
            "the traffic data disclosed",
            required_when=(("outcome", ("disclosed",)),),
        ),
        choice(
            "withholding_ground",
            REFUSAL_GROUNDS,
            "ground for withholding (Art. 30(2))",
            required_when=(("outcome", ("withheld",)),),
        ),
    ),
)

PRESERVATION_EXTENSION = reply_kind(
    name="preservation_extension",
    title="Request to extend a preservation",
    basis="Conv. Art. 29(7)",
    answers=("preservation_response",),
    fields=(
        typed("requested_until", "date", "new end date asked for"),
        text("reason", "why more time is needed", required=True),
        *mla_reference_if_any(),
    ),
)

MLA_SUBMITTED_NOTICE = reply_kind(
    name="mla_submitted_notice",
    title="Notice that the mutual assistance request was submitted",
    basis="Conv. Art. 29(7)",
    answers=("preservation_response",),
    fields=(
        line("mla_reference", "reference of the MLA request", required=True),
        typed("mla_date", "date", "date the MLA request was sent", required=True),
        line("mla_channel", "channel used (central authority, diplomatic ...)"),
        line("central_authority", "central authority it went to"),
    ),
)

PRESERVATION_RELEASE = reply_kind(
    name="preservation_release",
    title="The preserved data may be released",
    basis="Conv. Art. 29(7)",
    answers=("preservation_response",),
    fields=(
        text("reason", "why (no MLA will follow, case closed ...)"),
        *mla_reference_if_any(),
    ),
)

KINDS = (
    PRESERVATION_REQUEST,
    PRESERVATION_RESPONSE,
    TRAFFIC_DATA_DISCLOSURE,
    PRESERVATION_EXTENSION,
    MLA_SUBMITTED_NOTICE,
    PRESERVATION_RELEASE,
)
