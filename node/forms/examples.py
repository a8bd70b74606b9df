"""A filled-in, valid example of every kind (``node forms KIND --example``, tests, demo).

The people, numbers and addresses are invented (``example.org``, 555 numbers). Dates that
must lie ahead (``preserved_until``) are computed from ``now``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def _authority(party: str) -> dict[str, Any]:
    return {
        "organisation": f"{party} National Cybercrime Unit, 24/7 point of contact",
        "officer": "Duty officer A. Martin",
        "phone": "+33 1 55 55 01 01",
        "email": f"247-{party.lower()}@example.org",
        "office_hours": "24/7",
        "time_zone": "Europe/Paris",
    }


_OFFENCES = [{"name": "illegal access", "legal_provision": "Art. 323-1 Code penal"}]
_OFFENCES_PENALTY = [
    {"name": "extortion", "legal_provision": "Art. 312-1 Code penal", "penalty": "7 years"}
]
_IDENTIFIERS = [
    {
        "type": "ip_port",
        "ip_address": "203.0.113.7",
        "port": 51234,
        "window": {
            "start": "2025-02-27T21:14:00",
            "end": "2025-02-27T21:20:00",
            "time_zone": "Europe/Berlin",
        },
    },
    {
        "type": "email",
        "value": "suspect@example.org",
        "window": {"start": "2025-02-01T00:00:00Z", "end": "2025-02-28T23:59:59Z"},
    },
]


def example(kind: str, now: datetime, party: str = "FR") -> dict[str, Any]:
    """A valid form of ``kind`` as ``party`` would send it at ``now``."""
    common: dict[str, Any] = {
        "reference": f"{party}-2025-0042",
        "requesting_authority": _authority(party),
        "language": "en",
    }
    until = (now + timedelta(days=90)).date().isoformat()
    bodies: dict[str, dict[str, Any]] = {
        "preservation_request": {
            "request_status": "new",
            "prosecution": {"office": "Parquet de Paris, J3 section", "case_number": "25/042/117"},
            "offences": _OFFENCES,
            "summary_of_facts": "Intrusion into a hospital's network on 27 February 2025; "
            "the attacker connected from the address below.",
            "data_to_preserve": [
                {
                    "provider": {"name": "Example Hosting GmbH", "address": "Berlin"},
                    "identifiers": _IDENTIFIERS,
                    "data_categories": ["subscriber", "traffic"],
                    "relation_to_offence": "address used for the intrusion",
                }
            ],
            "necessity": "the provider keeps connection logs for 7 days only",
            "mla_to_follow": True,
            "mla_expected_by": (now + timedelta(days=30)).date().isoformat(),
            "urgency_reason": "logs deleted after 7 days",
        },
        "preservation_response": {
            "request_reference": "FR-2025-0042",
            "outcome": "preserved",
            "provider_reference": "EXH-PRES-7781",
            "preserved_until": until,
            "preserved_data": "subscriber and connection logs for the window requested",
        },
        "traffic_data_disclosure": {
            "request_reference": "FR-2025-0042",
            "outcome": "disclosed",
            "providers_in_path": [{"name": "Example Transit BV", "state": "NL"}],
            "traffic_data": "the connection came through Example Transit BV (NL)",
        },
        "preservation_extension": {
            "request_reference": "FR-2025-0042",
            "requested_until": until,
            "reason": "the MLA request is being translated",
        },
        "mla_submitted_notice": {
            "request_reference": "FR-2025-0042",
            "mla_reference": "MLA-FR-2025-118",
            "mla_date": "2025-03-20",
            "central_authority": "Ministry of Justice, BEPI",
        },
        "preservation_release": {
            "request_reference": "FR-2025-0042",
            "reason": "the investigation identified the suspect otherwise",
        },
        "emergency_disclosure_request": {
            "issuing_authority": "Public Prosecutor, Paris",
            "issued_on": now.date().isoformat(),
            "protocol_statement": True,
            "providers": [{"name": "Example Mail SA", "address": "1 rue Exemple, Lyon"}],
            "offences": _OFFENCES_PENALTY,
            "emergency_facts": "a person is held and threatened with death; ransom demanded "
            "by e-mail an hour ago",
            "data_relation": "the e-mail account was used to send the ransom demand",
            "data_description": "subscriber data and last login IP addresses of the account",
            "identifiers": _IDENTIFIERS[1:],
        },
        "emergency_determination": {
            "request_reference": "BR-2025-0007",
            "determination": "granted",
            "data_provided": "subscriber data follow within the hour",
        },
        "emergency_mla_request": {
            "issuing_authority": "Public Prosecutor, Paris",
            "issued_on": now.date().isoformat(),
            "emergency_description": "imminent risk to the life of a kidnapped person",
            "offences": _OFFENCES_PENALTY,
            "summary_of_facts": "kidnapping with a ransom demand sent by e-mail",
            "assistance_sought": "production of the account's content for the last 48 hours",
            "data_description": "content of the mailbox",
            "central_authority_copy": {
                "authority": "Ministry of Justice",
                "copied_on": now.date().isoformat(),
            },
        },
        "subscriber_info_request": {
            "request_status": "follow_up_preservation",
            "previous_preservation": {"date": "2025-03-01", "reference": "FR-2025-0042"},
            "domestic_legal_basis": "Art. 60-1 Code de procedure penale",
            "offences": _OFFENCES,
            "summary_of_facts": "intrusion into a hospital's network",
            "provider": {"name": "Example Hosting GmbH", "address": "Berlin", "country": "DE"},
            "identifiers": _IDENTIFIERS[:1],
            "data_sought": ["identity", "postal_address", "email"],
        },
        "assistance_request": {
            "assistance_type": "legal_information",
            "question": "Which authority can order the production of cloud storage content?",
        },
        "spontaneous_information": {
            "information": "a botnet controller at 198.51.100.9 is serving victims in your country",
            "use_conditions": "for police intelligence only, not as evidence",
        },
        "status_update": {
            "request_reference": "FR-2025-0042",
            "state": "in_progress",
            "text": "the provider has been served; answer expected tomorrow",
        },
        "supplementary_info_request": {
            "request_reference": "FR-2025-0042",
            "text": "please give the port number for the second address",
            "respond_by": "2025-03-05T18:00:00+01:00",
        },
        "supplementary_info_reply": {
            "request_reference": "FR-2025-0042",
            "text": "port 51234",
        },
        "withdrawal": {"request_reference": "FR-2025-0042", "text": "the case was closed"},
        "ping": {},
        "statistics_report": {
            "party": party,
            "period": "2025-02",
            "generated_at": "2025-03-01T00:05:00.000Z",
            "counts": [
                {
                    "kind": "preservation_request",
                    "counterpart": "DE",
                    "direction": "sent",
                    "priority": "urgent",
                    "count": 3,
                }
            ],
            "times": [
                {
                    "kind": "preservation_request",
                    "direction": "sent",
                    "measure": "acknowledge",
                    "bucket": "lt_15m",
                    "count": 3,
                }
            ],
            "signature": {"key_id": "ed25519:example", "sig": "c2lnbmF0dXJl"},
        },
    }
    if kind == "ping":
        return {}
    if kind == "statistics_report":
        return bodies[kind]
    return {**common, **bodies[kind]}
