"""Emergency kinds: Second Additional Protocol (CETS 224) Arts. 9 and 10."""

from __future__ import annotations

from node.forms.common import identifier_list, issued_by, offence_list, provider_fields, reply_kind
from node.forms.spec import KindSpec, choice, items, line, obj, text, typed

EMERGENCY_DISCLOSURE_REQUEST = KindSpec(
    name="emergency_disclosure_request",
    title="Emergency disclosure of stored computer data",
    basis="Protocol Art. 9(3)",
    default_priority="emergency",
    fields=(
        *issued_by("competent authority seeking the data", "date the request was issued"),
        typed(
            "protocol_statement",
            "bool",
            "statement that the request is issued under the Second Additional Protocol",
            required=True,
            must_be_true=True,
        ),
        items(
            "providers",
            obj("", provider_fields()),
            "name and address of the service provider(s)",
            required=True,
        ),
        offence_list(penalties=True),
        text(
            "emergency_facts",
            "facts showing a significant and imminent risk to the life or safety of a person",
            required=True,
        ),
        text("data_relation", "how the data sought relate to the emergency", required=True),
        text("data_description", "detailed description of the data sought", required=True),
        identifier_list(required=False),
        text("procedural_instructions", "special procedural instructions, if any"),
    ),
)

EMERGENCY_DETERMINATION = reply_kind(
    name="emergency_determination",
    title="Determination on an emergency disclosure request",
    basis="Protocol Art. 9(6)",
    default_priority="emergency",
    answers=("emergency_disclosure_request",),
    fields=(
        choice(
            "determination",
            ("granted", "granted_with_conditions", "refused"),
            "the determination",
            required=True,
        ),
        text(
            "conditions",
            "conditions attached",
            required_when=(("determination", ("granted_with_conditions",)),),
        ),
        text(
            "refusal_reason", "why it was refused", required_when=(("determination", ("refused",)),)
        ),
        text("data_provided", "the data provided, or how they will be"),
    ),
)

EMERGENCY_MLA_REQUEST = KindSpec(
    name="emergency_mla_request",
    title="Emergency mutual assistance request",
    basis="Protocol Art. 10",
    default_priority="emergency",
    fields=(
        *issued_by("authority issuing the MLA request", "date issued"),
        text(
            "emergency_description", "description of the emergency (Protocol Art. 3)", required=True
        ),
        offence_list(penalties=True),
        text("summary_of_facts", "summary of the facts", required=True),
        text("assistance_sought", "the measures and evidence sought", required=True),
        text("data_description", "description of the data sought", required=True),
        identifier_list(required=False),
        line("domestic_legal_basis", "domestic legal basis"),
        obj(
            "central_authority_copy",
            (
                line("authority", "central authority copied", required=True),
                typed("copied_on", "date", "date of the copy", required=True),
                line("reference", "its reference"),
            ),
            "copy to the central authority (Protocol Art. 10(8))",
            required=True,
        ),
        text("procedural_instructions", "special procedural instructions, if any"),
    ),
)

KINDS = (EMERGENCY_DISCLOSURE_REQUEST, EMERGENCY_DETERMINATION, EMERGENCY_MLA_REQUEST)
