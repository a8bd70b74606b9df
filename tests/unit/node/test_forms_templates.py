"""The T-CY templates to the letter: the mapping table, the form versions and their
migration, and every template field carried intact from a sender to a recipient."""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from node.forms import FormInvalid, validate_form
from node.forms.examples import example
from node.forms.i18n import printable, tr
from node.forms.mapping import TEMPLATES, mapping_markdown
from node.forms.migrate import FORM_VERSION, migrate, split_ip_port
from node.forms.registry import KINDS, fields_for
from node.forms.template import describe_rows
from node.runtime import Node
from tests.support.fake_relay import FakeClock, FakeRelayNetwork, fake_node

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2025, 3, 1, 16, 30, tzinfo=UTC)

# -- the mapping table ---------------------------------------------------------------------

# A template field that the template structures must not land in free text.
TYPED = {
    "request_date": "date",
    "mla_expected_by": "date",
    "issued_on": "date",
    "ip_address": "ip_address",
    "port": "port",
    "window": "window",
    "reply_by_expedited_means": "bool",
    "mla_to_follow": "bool",
    "confidential": "bool",
    "art30_disclosure_requested": "bool",
    "protocol_statement": "bool",
    "case_number": "line",
    "office": "line",
    "name": "line",
    "country": "line",
    "time_zone": "time_zone",
    "phone": "phone",
    "mobile": "phone",
    "fax": "phone",
    "email": "email",
    "date": "date",
    "request_status": "one of",
    "type": "one of",
    "data_sought": "list of one of",
    "data_categories": "list of one of",
}


def _rows(kind: str) -> dict[str, str]:
    return {path: type_ for path, type_, _need, _help in describe_rows(KINDS[kind])}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.kind)
def test_every_mapped_path_exists_with_its_own_type(template: Any) -> None:
    rows = _rows(template.kind)
    for row in template.rows:
        for path in row.paths:
            assert path in rows, f"{template.kind}: {path} ({row.label}) is not a form field"
            leaf = path.rsplit(".", 1)[-1].removesuffix("[]")
            if leaf in TYPED:
                assert rows[path].startswith(TYPED[leaf]), (path, rows[path])


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.kind)
def test_the_form_keeps_the_templates_order(template: Any) -> None:
    order = [f.name for f in fields_for(KINDS[template.kind])]
    seen: list[int] = []
    for row in template.rows:
        top = row.paths[0].split(".", 1)[0].removesuffix("[]")
        if not seen or order.index(top) != seen[-1]:
            seen.append(order.index(top))
    assert seen == sorted(seen), f"{template.kind}: fields out of the template's order"


def test_docs_forms_md_carries_the_mapping() -> None:
    text = (ROOT / "docs" / "forms.md").read_text(encoding="utf-8")
    start = text.index("<!-- generated: node.forms.mapping.mapping_markdown -->")
    end = text.index("<!-- end generated -->", start)
    assert text[start:end].split("\n", 1)[1].strip() == mapping_markdown().strip()
    assert "free text" not in mapping_markdown()


# -- form versions -------------------------------------------------------------------------

V1_PRESERVATION = {
    "reference": "FR-2024-0007",
    "request_status": "new",
    "prosecution_office": "Parquet de Lyon, case 24/118",
    "offences": [{"name": "fraud", "legal_provision": "Art. 313-1"}],
    "summary_of_facts": "phishing",
    "data_to_preserve": [
        {
            "provider": {"name": "Host", "address": "Berlin"},
            "identifiers": [
                {
                    "type": "ip_port",
                    "value": "198.51.100.20:8443",
                    "window": {"start": "2024-12-01T10:00:00Z", "end": "2024-12-01T11:00:00Z"},
                },
                {
                    "type": "ip_port",
                    "value": "[2001:db8::7]:443",
                    "window": {"start": "2024-12-01T10:00:00Z", "end": "2024-12-01T11:00:00Z"},
                },
                {
                    "type": "email",
                    "value": "x@example.org",
                    "window": {"start": "2024-12-01T10:00:00Z", "end": "2024-12-01T11:00:00Z"},
                },
            ],
            "data_categories": ["traffic"],
            "relation_to_offence": "used",
        }
    ],
    "necessity": "short retention",
    "mla_to_follow": True,
}

MIGRATION_CASES = [
    (
        "prosecution_line_goes_to_office",
        "preservation_request",
        {"prosecution_office": "Parquet de Lyon"},
        {"prosecution": {"office": "Parquet de Lyon"}},
    ),
    (
        "empty_prosecution_line_is_dropped",
        "preservation_request",
        {"prosecution_office": ""},
        {},
    ),
    (
        "ipv4_and_port",
        "subscriber_info_request",
        {"identifiers": [{"type": "ip_port", "value": "203.0.113.7:51234"}]},
        {"identifiers": [{"type": "ip_port", "ip_address": "203.0.113.7", "port": 51234}]},
    ),
    (
        "ipv6_in_brackets",
        "subscriber_info_request",
        {"identifiers": [{"type": "ip_port", "value": "[2001:db8::1]:443"}]},
        {"identifiers": [{"type": "ip_port", "ip_address": "2001:db8::1", "port": 443}]},
    ),
    (
        "address_without_port",
        "subscriber_info_request",
        {"identifiers": [{"type": "ip_port", "value": "203.0.113.7"}]},
        {"identifiers": [{"type": "ip_port", "ip_address": "203.0.113.7"}]},
    ),
    (
        "unreadable_value_stays",
        "subscriber_info_request",
        {"identifiers": [{"type": "ip_port", "value": "somewhere:99999"}]},
        {"identifiers": [{"type": "ip_port", "value": "somewhere:99999"}]},
    ),
    (
        "other_identifiers_untouched",
        "subscriber_info_request",
        {"identifiers": [{"type": "url", "value": "http://203.0.113.7:80/"}]},
        {"identifiers": [{"type": "url", "value": "http://203.0.113.7:80/"}]},
    ),
    (
        "provider_line_becomes_an_object",
        "subscriber_info_request",
        {"provider": "Example Mail SA", "data_sought": "name and address"},
        {"provider": {"name": "Example Mail SA"}, "data_sought_details": "name and address"},
    ),
    (
        "contacts_kept_in_notes",
        "subscriber_info_request",
        {
            "notes": "call first",
            "previous_mla": {"date": "2024-01-02", "reference": "M-1", "contacts": "A; B"},
        },
        {
            "notes": "call first\nprevious_mla contacts: A; B",
            "previous_mla": {"date": "2024-01-02", "reference": "M-1"},
        },
    ),
    (
        "contacts_stay_when_notes_is_not_text",
        "subscriber_info_request",
        {"notes": ["call first"], "previous_mla": {"contacts": "A; B"}},
        {"notes": ["call first"], "previous_mla": {"contacts": "A; B"}},
    ),
    (
        "a_port_already_given_is_not_overwritten",
        "subscriber_info_request",
        {"identifiers": [{"type": "ip_port", "value": "203.0.113.7:80", "port": 443}]},
        {"identifiers": [{"type": "ip_port", "value": "203.0.113.7:80", "port": 443}]},
    ),
    (
        "data_to_preserve_not_a_list",
        "preservation_request",
        {"data_to_preserve": 1},
        {"data_to_preserve": 1},
    ),
]


@pytest.mark.parametrize(
    ("kind", "old", "new"),
    [c[1:] for c in MIGRATION_CASES],
    ids=[c[0] for c in MIGRATION_CASES],
)
def test_migration_from_version_1(kind: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    before = copy.deepcopy(old)
    assert migrate(kind, old) == {**new, "form_version": FORM_VERSION}
    assert old == before, "the input must not be changed"


def test_a_version_1_form_file_still_validates_and_keeps_every_value() -> None:
    authority = example("preservation_request", NOW)["requesting_authority"]
    data = {**V1_PRESERVATION, "requesting_authority": authority}
    form = validate_form("preservation_request", data, now=NOW)
    body = form.body
    assert body["form_version"] == FORM_VERSION
    assert body["prosecution"] == {"office": "Parquet de Lyon, case 24/118"}
    ids = body["data_to_preserve"][0]["identifiers"]
    assert [(i.get("ip_address"), i.get("port"), i.get("value")) for i in ids] == [
        ("198.51.100.20", 8443, None),
        ("2001:db8::7", 443, None),
        (None, None, "x@example.org"),
    ]


def test_current_bodies_are_left_alone_and_newer_ones_refused() -> None:
    body = validate_form("preservation_request", example("preservation_request", NOW), now=NOW)
    assert migrate("preservation_request", body.body) == body.body
    for bad in (FORM_VERSION + 1, "2", True, 0):
        with pytest.raises(FormInvalid) as info:
            validate_form("ping", {"form_version": bad}, now=NOW)
        assert [p.path for p in info.value.problems] == ["form_version"]


# Old (version 1) bodies as a hostile or careless file may hold them: the names the
# migration looks at, with any JSON value in any of them.
_OLD_NAMES = (
    "prosecution_office",
    "prosecution",
    "identifiers",
    "data_to_preserve",
    "provider",
    "data_sought",
    "data_sought_details",
    "previous_mla",
    "previous_preservation",
    "contacts",
    "notes",
    "type",
    "value",
    "ip_address",
    "port",
)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 70000)
    | st.sampled_from(["ip_port", ""])
    | st.text(max_size=12)
    | st.sampled_from(["203.0.113.7:80", "[2001:db8::1]:443", "198.51.100.1"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(_OLD_NAMES), inner, max_size=4)
    ),
    max_leaves=12,
)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _kept(leaf: Any, new: list[Any]) -> bool:
    if leaf is None or leaf == "":
        return True
    if isinstance(leaf, str):
        split = split_ip_port(leaf)
        if split is not None and split[0] in new and (split[1] is None or split[1] in new):
            return True
        return any(isinstance(n, str) and leaf in n for n in new)
    return any(type(n) is type(leaf) and n == leaf for n in new)


@given(
    st.sampled_from(["preservation_request", "subscriber_info_request"]),
    st.dictionaries(st.sampled_from(_OLD_NAMES), _JSON, max_size=6),
)
def test_migration_never_crashes_nor_loses_a_value(kind: str, old: dict[str, Any]) -> None:
    new = _leaves(migrate(kind, old))
    lost = [leaf for leaf in _leaves(old) if not _kept(leaf, new)]
    assert not lost, f"migration lost {lost!r}"


@given(
    st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)),
    st.integers(min_value=1, max_value=65535),
)
def test_split_ip_port_round_trip(address: Any, port: int) -> None:
    text = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
    assert split_ip_port(text) == (str(address), port)
    assert split_ip_port(str(address)) == (str(address), None)


def test_split_ip_port_leaves_an_address_with_a_zone_whole() -> None:
    assert split_ip_port("fe80::1%eth0") is None
    assert split_ip_port("[fe80::1%a\nb]:443") is None


@given(st.text(max_size=40))
def test_split_ip_port_never_crashes_and_returns_real_addresses(text: str) -> None:
    got = split_ip_port(text)
    if got is not None:
        ipaddress.ip_address(got[0])
        assert got[1] is None or 1 <= got[1] <= 65535


# -- typed values --------------------------------------------------------------------------

IDENTIFIER_CASES = [
    ("ipv4_port", {"ip_address": "203.0.113.7", "port": 51234}, []),
    ("ipv6_no_port", {"ip_address": "2001:db8::1"}, []),
    ("address_with_port", {"ip_address": "203.0.113.7:80"}, ["ip_address"]),
    ("port_as_text", {"ip_address": "203.0.113.7", "port": "80"}, ["port"]),
    ("port_zero", {"ip_address": "203.0.113.7", "port": 0}, ["port"]),
    ("port_too_big", {"ip_address": "203.0.113.7", "port": 65536}, ["port"]),
    ("port_bool", {"ip_address": "203.0.113.7", "port": True}, ["port"]),
    ("no_address", {"port": 80}, ["ip_address"]),
    # A zone (scope) names an interface of the officer's own machine, and takes any text.
    ("ipv6_with_zone", {"ip_address": "fe80::1%eth0"}, ["ip_address"]),
    ("zone_with_a_newline", {"ip_address": "fe80::1%a\nforged line"}, ["ip_address"]),
]


@pytest.mark.parametrize(
    ("fields", "wrong"), [c[1:] for c in IDENTIFIER_CASES], ids=[c[0] for c in IDENTIFIER_CASES]
)
def test_ip_identifier_sub_fields(fields: dict[str, Any], wrong: list[str]) -> None:
    data = example("subscriber_info_request", NOW)
    data["identifiers"] = [
        {
            "type": "ip_port",
            **fields,
            "window": {"start": "2025-01-01T00:00:00Z", "end": "2025-01-01T01:00:00Z"},
        }
    ]
    try:
        validate_form("subscriber_info_request", data, now=NOW)
        found: list[str] = []
    except FormInvalid as e:
        found = [p.path.rsplit(".", 1)[-1] for p in e.problems]
    assert found == wrong


@pytest.mark.parametrize(
    ("zone", "expected"),
    [("Asia/Tokyo", "2025-03-02"), ("America/Sao_Paulo", "2025-03-01"), ("-10:00", "2025-03-01")],
)
def test_request_date_defaults_to_today_in_the_authoritys_zone(zone: str, expected: str) -> None:
    late = datetime(2025, 3, 1, 23, 30, tzinfo=UTC)
    data = example("preservation_request", late)
    data["requesting_authority"]["time_zone"] = zone
    assert validate_form("preservation_request", data, now=late).body["request_date"] == expected


def test_a_given_request_date_is_kept() -> None:
    data = {**example("preservation_request", NOW), "request_date": "2025-02-28"}
    assert validate_form("preservation_request", data, now=NOW).body["request_date"] == "2025-02-28"


# -- every template field, sent and received ------------------------------------------------

WINDOW = {
    "start": "2025-02-27T21:14:05",
    "end": "2025-02-27T21:44:59",
    "time_zone": "America/Sao_Paulo",
}
AUTHORITY = {
    "organisation": "Direction centrale de la police judiciaire, OFAC",
    "officer": "Commandant E. Dubois",
    "address": "101 rue des Trois Fontanots\n92000 Nanterre",
    "phone": "+33 1 47 44 00 01",
    "mobile": "+33 6 00 00 00 02",
    "email": "pc247@ofac.example.fr",
    "fax": "+33 1 47 44 00 03",
    "office_hours": "08:30-18:30 lun.-ven. (permanence 24/7 au +33 1 47 44 00 01)",
    "time_zone": "Europe/Paris",
    "reply_by_expedited_means": True,
    "preferred_channel": "courriel chiffré",
}
CONTACT = {
    "name": "Lieutenant C. Moreau",
    "title": "Lieutenant de police",
    "function": "enquêteur en charge",
    "phone": "+33 1 47 44 00 04",
    "mobile": "+33 6 00 00 00 05",
    "email": "c.moreau@ofac.example.fr",
}
OFFENCES = [
    {"name": "accès frauduleux", "legal_provision": "Art. 323-1 Code pénal", "penalty": "3 ans"},
    {"name": "extorsion", "legal_provision": "Art. 312-1 Code pénal", "penalty": "7 ans"},
]
IDS = [
    {"type": "ip_port", "ip_address": "2001:db8:4:1::9", "port": 60111, "window": WINDOW},
    {"type": "account", "value": "user-88213", "window": WINDOW},
]
PROVIDER = {
    "name": "Nordhost AB",
    "address": "Storgatan 1, 111 22 Stockholm",
    "country": "SE",
    "system_location": "data centre in Luleå",
}

CASES: dict[str, dict[str, Any]] = {
    "preservation_request": {
        "request_date": "2025-02-28",
        "reference": "OFAC-2025-00731",
        "request_status": "extension",
        "previous_reference": "OFAC-2024-09921",
        "requested_authority": "Polisen, National Operations Department (NOA), 24/7",
        "requesting_authority": AUTHORITY,
        "contact_for_confirmation": CONTACT,
        "investigating_authority": "Brigade de lutte contre la cybercriminalité",
        "prosecution": {"office": "Parquet de Paris, section J3", "case_number": "25.047.00912"},
        "offences": [{k: v for k, v in o.items() if k != "penalty"} for o in OFFENCES],
        "summary_of_facts": "Rançongiciel contre un hôpital ; exfiltration vers la Suède.",
        "data_to_preserve": [
            {
                "provider": PROVIDER,
                "identifiers": IDS,
                "data_categories": ["subscriber", "traffic", "content"],
                "relation_to_offence": "serveur de commande utilisé pendant l'attaque",
            }
        ],
        "necessity": "journaux conservés 14 jours seulement",
        "mla_to_follow": True,
        "mla_expected_by": "2025-04-15",
        "confidential": True,
        "art30_disclosure_requested": True,
        "language": "fr",
    },
    "subscriber_info_request": {
        "request_date": "2025-03-01",
        "reference": "OFAC-2025-00732",
        "request_status": "follow_up_preservation",
        "requested_authority": "Ministry of Justice, Division for Criminal Cases",
        "requesting_authority": AUTHORITY,
        "contact_for_confirmation": CONTACT,
        "investigating_authority": "Brigade de lutte contre la cybercriminalité",
        "prosecution": {
            "office": "Tribunal judiciaire de Paris",
            "case_number": "JI-25/0042",
            "decisions": "ordonnance du juge d'instruction du 27 février 2025",
        },
        "previous_mla": {
            "date": "2024-11-02",
            "reference": "BEPI-2024-551",
            "requesting_contact": "BEPI, Mme L. Petit",
            "requested_contact": "Justitiedepartementet, Mr O. Berg",
            "channel": "voie diplomatique",
        },
        "previous_preservation": {
            "date": "2025-02-28",
            "reference": "OFAC-2025-00731",
            "requesting_contact": "Cdt E. Dubois",
            "requested_contact": "NOA 24/7 duty officer",
            "channel": "PoCNet",
        },
        "domestic_legal_basis": "Art. 694 et suivants du Code de procédure pénale",
        "offences": [{k: v for k, v in o.items() if k != "penalty"} for o in OFFENCES],
        "summary_of_facts": "Le compte a servi à louer le serveur de commande.",
        "provider": {k: v for k, v in PROVIDER.items() if k != "system_location"},
        "identifiers": IDS,
        "data_sought": ["identity", "postal_address", "billing_payment"],
        "data_sought_details": "moyens de paiement utilisés depuis janvier 2025",
        "urgency": "urgent",
        "urgency_reason": "le suspect prépare une nouvelle attaque",
        "confidential": True,
        "language": "en",
    },
    "emergency_disclosure_request": {
        "issuing_authority": "Procureur de la République de Paris",
        "issued_on": "2025-03-01",
        "protocol_statement": True,
        "providers": [{"name": "Nordhost AB", "address": "Storgatan 1, Stockholm"}],
        "offences": OFFENCES,
        "emergency_facts": "une personne séquestrée est menacée de mort",
        "data_relation": "le compte a envoyé la demande de rançon",
        "data_description": "adresses IP de connexion des dernières 48 heures",
        "identifiers": IDS,
        "procedural_instructions": "ne pas prévenir le titulaire du compte",
        "reference": "OFAC-2025-00733",
        "requesting_authority": AUTHORITY,
        "language": "fr",
    },
    "emergency_mla_request": {
        "issuing_authority": "Juge d'instruction, Paris",
        "issued_on": "2025-03-01",
        "emergency_description": "risque imminent pour la vie d'un otage",
        "offences": OFFENCES,
        "summary_of_facts": "enlèvement avec demande de rançon",
        "assistance_sought": "production du contenu de la boîte",
        "data_description": "contenu des messages depuis le 27 février",
        "identifiers": IDS,
        "domestic_legal_basis": "Art. 100 Code de procédure pénale",
        "central_authority_copy": {
            "authority": "Justitiedepartementet",
            "copied_on": "2025-03-01",
            "reference": "CA-2025-17",
        },
        "procedural_instructions": "remise par voie électronique",
        "reference": "OFAC-2025-00734",
        "requesting_authority": AUTHORITY,
        "language": "en",
    },
}


def _values_at(data: Any, path: str) -> list[Any]:
    """Every value at a dotted path, ``[]`` meaning each element of a list."""
    found = [data]
    for part in path.split("."):
        name, each = part.removesuffix("[]"), part.endswith("[]")
        nxt: list[Any] = []
        for value in found:
            got = value.get(name) if isinstance(value, dict) else None
            if got is None:
                continue
            nxt.extend(got if each else [got])
        found = nxt
    return found


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.kind)
def test_the_test_cases_fill_every_template_field(template: Any) -> None:
    for row in template.rows:
        for path in row.paths:
            assert _values_at(CASES[template.kind], path), f"the case leaves {path} empty"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def pair(clock: FakeClock, tmp_path: Path) -> AsyncIterator[tuple[Node, Node]]:
    net = FakeRelayNetwork(clock)
    log = structlog.get_logger()
    fr = await fake_node(net, tmp_path / "fr", "FR", clock=clock, log=log)
    se = await fake_node(net, tmp_path / "se", "SE", clock=clock, log=log)
    try:
        await fr.peers.refresh(fr.transport, clock())
        await se.peers.refresh(se.transport, clock())
        yield fr, se
    finally:
        await fr.close()
        await se.close()


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.kind)
async def test_every_template_field_arrives_intact(
    template: Any, pair: tuple[Node, Node], clock: FakeClock
) -> None:
    fr, se = pair
    case = CASES[template.kind]
    form = validate_form(template.kind, copy.deepcopy(case), now=clock())
    msg = await fr.outbox.queue("SE", form, clock())
    assert await fr.outbox.submit(msg, clock()) == "accepted"
    clock.advance(seconds=1)
    report = await se.inbox.handle(await se.transport.inbox(wait=0, limit=10), clock())
    assert report.received == [msg.msg_id]
    got = (await se.store.get_message(msg.msg_id)).body
    assert got["form_version"] == FORM_VERSION
    assert got["language"] == case["language"]
    for row in template.rows:
        for path in row.paths:
            assert _values_at(got, path) == _values_at(case, path), f"{path} ({row.label})"
    # and the recipient reads every value in the printable view, in both languages
    for lang in ("en", "fr"):
        view = printable(template.kind, got, lang)
        for row in template.rows:
            for path in row.paths:
                for value in _values_at(case, path):
                    for text in _leaf_texts(value):
                        assert text in view, f"{lang}: {path} ({row.label})"
    first = printable(template.kind, got, "fr").splitlines()[0]
    assert first.startswith(tr(KINDS[template.kind].title, "fr"))


def _leaf_texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _leaf_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _leaf_texts(v)]
    if isinstance(value, bool):
        return []  # shown as yes/oui
    return [line for line in str(value).splitlines() if line]
