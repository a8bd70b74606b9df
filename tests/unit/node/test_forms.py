"""Forms: every kind valid and invalid, time zones, the 60-day rule, files, templates."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.errors import InvalidInput, NotFound, ValidationError
from node.cli.formfile import parse_form, read_form
from node.cli.interactive import complete_interactively
from node.forms import KINDS, FormDefaults, FormInvalid, validate_form
from node.forms.examples import example
from node.forms.registry import fields_for
from node.forms.spec import Field
from node.forms.template import describe_markdown, template

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]
AUTHORITY = {  # node.toml [authority]: the defaults of ``requesting_authority``
    "organisation": "OFAC",
    "officer": "Lt B",
    "phone": "+33 1 00 00 00 00",
    "email": "a@example.org",
    "office_hours": "24/7",
    "time_zone": "Europe/Paris",
}


def required_paths(fields: tuple[Field, ...], prefix: str = "") -> set[str]:
    """Top-level required fields (what an empty form must report)."""
    return {prefix + f.name for f in fields if f.required}


def problems_of(kind: str, data: object, **kw: object) -> dict[str, str]:
    with pytest.raises(FormInvalid) as info:
        validate_form(kind, data, now=NOW, **kw)  # type: ignore[arg-type]
    return {p.path: p.message for p in info.value.problems}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_example_of_every_kind_is_valid(kind: str) -> None:
    form = validate_form(kind, example(kind, NOW), now=NOW)
    assert form.kind == kind
    assert form.body["urgency"] == form.priority
    assert form.priority == KINDS[kind].default_priority


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_empty_form_lists_every_required_field(kind: str) -> None:
    spec = KINDS[kind]
    if spec.light_common and not any(f.required for f in spec.fields):
        assert validate_form(kind, {}, now=NOW).body["confidential"] is True
        return
    found = problems_of(kind, {})
    expected = required_paths(fields_for(spec))
    assert set(found) == expected
    assert all(m.startswith("missing") for m in found.values())


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_unknown_field_is_refused(kind: str) -> None:
    data = example(kind, NOW) | {"refrence": "typo"}
    assert problems_of(kind, data) == {"refrence": "unknown field (check the spelling)"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_template_has_every_field_and_only_misses(kind: str) -> None:
    tpl = template(KINDS[kind])
    assert set(tpl) == {"form_version"} | {f.name for f in fields_for(KINDS[kind])}
    try:
        validate_form(kind, tpl, now=NOW)
    except FormInvalid as e:
        assert all(p.message.startswith("missing") for p in e.problems), e.problems


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_validation_is_idempotent(kind: str) -> None:
    first = validate_form(kind, example(kind, NOW), now=NOW)
    again = validate_form(kind, first.body, now=NOW)
    assert again.body == first.body


# -- named cases ---------------------------------------------------------------------------

WINDOW_CASES = [
    ("offset", {"start": "2025-02-27T21:14:00+01:00", "end": "2025-02-27T22:00:00+01:00"}, None),
    ("utc_z", {"start": "2025-02-27T21:14:00Z", "end": "2025-02-27T22:00:00Z"}, None),
    (
        "iana_zone",
        {"start": "2025-02-27T21:14:00", "end": "2025-02-27T22:00:00", "time_zone": "Asia/Tokyo"},
        None,
    ),
    (
        "offset_zone",
        {"start": "2025-02-27T21:14:00", "end": "2025-02-27T22:00:00", "time_zone": "-03:00"},
        None,
    ),
    ("naive", {"start": "2025-02-27T21:14:00", "end": "2025-02-27T22:00:00"}, "no time zone"),
    (
        "bad_zone",
        {"start": "2025-02-27T21:14:00", "end": "2025-02-27T22:00:00", "time_zone": "Mars/Olympus"},
        "IANA time zone",
    ),
    (
        "reversed",
        {"start": "2025-02-27T22:00:00Z", "end": "2025-02-27T21:00:00Z"},
        "is before start",
    ),
    ("not_a_time", {"start": "yesterday", "end": "2025-02-27T21:00:00Z"}, "ISO 8601"),
    ("date_only", {"start": "2025-02-27", "end": "2025-02-28", "time_zone": "UTC"}, "ISO 8601"),
    ("missing_end", {"start": "2025-02-27T21:00:00Z"}, "missing"),
    (
        "mixed_offsets",
        {"start": "2025-02-27T21:00:00+01:00", "end": "2025-02-27T20:30:00Z"},
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "window", "error"), WINDOW_CASES, ids=[c[0] for c in WINDOW_CASES]
)
def test_identifier_windows(name: str, window: dict[str, str], error: str | None) -> None:
    data = example("preservation_request", NOW)
    data["data_to_preserve"][0]["identifiers"][0]["window"] = window
    if error is None:
        validate_form("preservation_request", data, now=NOW)
        return
    found = problems_of("preservation_request", data)
    prefix = "data_to_preserve[0].identifiers[0].window"
    assert all(path.startswith(prefix) for path in found), found
    assert any(error in message for message in found.values()), found


@pytest.mark.parametrize(
    ("days", "ok"), [(59, False), (60, True), (61, True), (0, False), (-5, False)]
)
def test_preserved_until_at_least_60_days_after_the_request(days: int, ok: bool) -> None:
    request_time = datetime(2025, 1, 10, 23, 0, tzinfo=UTC)
    data = example("preservation_response", NOW)
    data["preserved_until"] = (request_time.date() + timedelta(days=days)).isoformat()
    if ok:
        validate_form("preservation_response", data, now=NOW, request_time=request_time)
    else:
        found = problems_of("preservation_response", data, request_time=request_time)
        assert list(found) == ["preserved_until"]
        assert f"is {days} days after the request (2025-01-10)" in found["preserved_until"]


def test_preserved_until_judged_from_now_without_a_request_time() -> None:
    data = example("preservation_response", NOW)
    data["preserved_until"] = "2025-04-29"  # 59 days after NOW
    assert "Art. 29(7)" in problems_of("preservation_response", data)["preserved_until"]


CONDITIONAL = [
    ("preservation_request", {"request_status": "extension"}, "previous_reference"),
    ("preservation_response", {"outcome": "refused"}, "refusal_ground"),
    ("preservation_response", {"outcome": "partially_preserved"}, "partial_details"),
    ("traffic_data_disclosure", {"outcome": "withheld", "traffic_data": ""}, "withholding_ground"),
    ("emergency_determination", {"determination": "granted_with_conditions"}, "conditions"),
    ("emergency_determination", {"determination": "refused"}, "refusal_reason"),
    ("subscriber_info_request", {"request_status": "follow_up_mla"}, "previous_mla"),
    ("status_update", {"state": "transferred"}, "transferred_to"),
]


@pytest.mark.parametrize(("kind", "change", "missing"), CONDITIONAL)
def test_required_when(kind: str, change: dict[str, str], missing: str) -> None:
    data = example(kind, NOW) | change
    found = problems_of(kind, data)
    assert missing in found and found[missing].startswith("missing"), found


def test_statement_required_by_law_must_be_true() -> None:
    data = example("preservation_request", NOW) | {"mla_to_follow": False}
    assert problems_of("preservation_request", data)["mla_to_follow"].startswith("must be true")
    data = example("emergency_disclosure_request", NOW) | {"protocol_statement": "yes"}
    assert problems_of("emergency_disclosure_request", data) == {
        "protocol_statement": "must be true or false"
    }


def test_every_problem_is_listed_field_by_field() -> None:
    data = example("preservation_request", NOW)
    data["requesting_authority"]["phone"] = "01 23 45"
    data["requesting_authority"]["email"] = "nobody"
    data["data_to_preserve"][0]["data_categories"] = ["subscriber", "metadata"]
    data["offences"] = []
    found = problems_of("preservation_request", data)
    assert set(found) == {
        "requesting_authority.phone",
        "requesting_authority.email",
        "data_to_preserve[0].data_categories[1]",
        "offences",
    }
    assert "starting with +" in found["requesting_authority.phone"]


def test_message_names_each_field_and_the_fix() -> None:
    with pytest.raises(FormInvalid) as info:
        validate_form("assistance_request", {"reference": "X"}, now=NOW)
    text = info.value.message
    assert "  - requesting_authority: missing" in text
    assert "  - question: missing" in text
    assert "node forms assistance_request" in text
    assert info.value.fault == "input" and "caused by your input" in info.value.diagnostics()


def test_priority_from_flag_form_or_kind() -> None:
    data = example("assistance_request", NOW)
    assert validate_form("assistance_request", data, now=NOW).priority == "routine"
    assert (
        validate_form("assistance_request", data, now=NOW, priority="urgent").priority == "urgent"
    )
    data["urgency"] = "emergency"
    assert validate_form("assistance_request", data, now=NOW).priority == "emergency"
    found = problems_of("assistance_request", data, priority="urgent")
    assert "make them agree" in found["urgency"]


def test_authority_and_language_defaults_from_config() -> None:
    data = example("assistance_request", NOW)
    del data["requesting_authority"]
    del data["language"]
    defaults = FormDefaults(language="fr", authority=AUTHORITY)
    form = validate_form("assistance_request", data, now=NOW, defaults=defaults)
    assert form.language == "fr"
    assert form.body["requesting_authority"]["organisation"] == "OFAC"
    data["requesting_authority"] = {"officer": "Capt C"}
    form = validate_form("assistance_request", data, now=NOW, defaults=defaults)
    assert form.body["requesting_authority"]["officer"] == "Capt C"


def test_text_limits_and_control_characters() -> None:
    data = example("assistance_request", NOW) | {"question": "x" * 8001}
    assert "at most 8000" in problems_of("assistance_request", data)["question"]
    data = example("assistance_request", NOW) | {"reference": "a\nb"}
    assert problems_of("assistance_request", data)["reference"] == "must be one line"
    data = example("assistance_request", NOW) | {"question": "bell\x07"}
    assert "control characters" in problems_of("assistance_request", data)["question"]


def test_unknown_kind_and_non_object() -> None:
    with pytest.raises(ValidationError, match="unknown kind"):
        validate_form("teleport_request", {}, now=NOW)
    assert problems_of("ping", ["not", "an", "object"]) == {"(form)": "must be a JSON object"}


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(sorted(k for k in KINDS if k != "ping")), data=st.data())
def test_removing_any_required_field_is_reported(kind: str, data: st.DataObject) -> None:
    form = example(kind, NOW)
    required = sorted(required_paths(fields_for(KINDS[kind])) - {"requesting_authority"})
    name = data.draw(st.sampled_from(required))
    broken = copy.deepcopy(form)
    broken.pop(name, None)
    assert name in problems_of(kind, broken)


@settings(max_examples=60, deadline=None)
@given(
    value=st.one_of(st.integers(), st.lists(st.integers(), max_size=2), st.floats(allow_nan=False))
)
def test_wrong_types_never_pass_and_never_crash(value: object) -> None:
    for field in ("question", "assistance_type", "requesting_authority"):
        data = example("assistance_request", NOW) | {field: value}
        if value in ([], None):
            continue
        assert field in problems_of("assistance_request", data) or any(
            p.startswith(field) for p in problems_of("assistance_request", data)
        )


# -- files ---------------------------------------------------------------------------------


def test_read_json_and_toml(tmp_path: Path) -> None:
    data = example("assistance_request", NOW)
    (tmp_path / "f.json").write_text(json.dumps(data))
    assert read_form(tmp_path / "f.json") == data
    toml = """reference = "FR-1"
assistance_type = "technical_advice"
question = "how?"
[window]
start = 2025-02-27T21:14:00+01:00
end = 2025-02-27T21:14:00
"""
    parsed = parse_form(toml.encode(), toml=True)
    assert parsed["window"] == {"start": "2025-02-27T21:14:00+01:00", "end": "2025-02-27T21:14:00"}


def test_toml_local_time_is_naive_and_refused() -> None:
    toml = example_toml()
    found = problems_of("preservation_request", parse_form(toml.encode(), toml=True))
    assert list(found) == ["data_to_preserve[0].identifiers[0].window.start"]


def example_toml() -> str:
    return """reference = "FR-2025-0042"
language = "en"
request_status = "new"
summary_of_facts = "intrusion"
necessity = "logs kept 7 days"
mla_to_follow = true
[requesting_authority]
organisation = "OFAC"
officer = "Lt A"
phone = "+33 1 55 55 01 01"
email = "a@example.org"
office_hours = "24/7"
time_zone = "Europe/Paris"
[[offences]]
name = "illegal access"
legal_provision = "Art. 323-1"
[[data_to_preserve]]
data_categories = ["traffic"]
relation_to_offence = "used for the intrusion"
[data_to_preserve.provider]
name = "Example Hosting"
[[data_to_preserve.identifiers]]
type = "ip_port"
value = "203.0.113.7:51234"
window = { start = 2025-02-27T21:14:00, end = 2025-02-27T21:20:00+01:00 }
"""


@pytest.mark.parametrize(
    ("name", "content", "code", "where"),
    [
        ("dup.json", b'{"a": 1, "a": 2}', "duplicate_key", "duplicate key"),
        ("bad.json", b'{\n  "a": 1,\n  not json', "malformed", "line 3, column 3"),
        ("list.json", b"[1, 2]", "malformed", "expected a JSON object"),
        ("bad.toml", b"x = 1\na = = 1", "malformed", "line 2, column 5"),
        ("latin1.json", b'{"a": "\xe9"}', "malformed", "not UTF-8"),
        ("big.json", b'{"a": "' + b"x" * 300_000 + b'"}', "too_large", "limit"),
    ],
)
def test_bad_form_files(tmp_path: Path, name: str, content: bytes, code: str, where: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InvalidInput) as info:
        read_form(tmp_path / name)
    assert name in str(info.value) and where in info.value.message, info.value.message
    assert info.value.code == code and info.value.fault == "input"
    assert info.value.diagnostics().endswith("caused by your input)")


def test_missing_form_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no form file"):
        read_form(tmp_path / "nope.json")


# -- interactive and docs ----------------------------------------------------------------


def test_interactive_asks_only_for_what_is_missing() -> None:
    answers = iter(["FR-7", "technical_advice", "How do we read this log format?"])
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    defaults = FormDefaults(authority=AUTHORITY)
    form = complete_interactively("assistance_request", {}, ask, now=NOW, defaults=defaults)
    assert form.body["question"] == "How do we read this log format?"
    assert [re.split(r"[ :]", a)[0] for a in asked] == ["reference", "assistance_type", "question"]


def test_interactive_gives_up_on_empty_answers() -> None:
    with pytest.raises(FormInvalid):
        complete_interactively("assistance_request", {}, lambda _p: "", now=NOW)


def test_interactive_fills_nested_lists_and_windows() -> None:
    data = example("subscriber_info_request", NOW)
    del data["identifiers"]
    answers = iter(
        ["ip_port", "198.51.100.1", "2025-02-01T10:00:00", "2025-02-01T11:00:00", "Europe/Rome"]
    )
    form = complete_interactively(
        "subscriber_info_request", data, lambda _p: next(answers), now=NOW
    )
    assert form.body["identifiers"][0]["ip_address"] == "198.51.100.1"
    window = form.body["identifiers"][0]["window"]
    assert window == {
        "start": "2025-02-01T10:00:00",
        "end": "2025-02-01T11:00:00",
        "time_zone": "Europe/Rome",
    }


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_kind_starts_with_the_reference_it_answers_if_and_only_if_it_answers(kind: str) -> None:
    """``node respond`` fills in ``request_reference``: every answering kind has it first."""
    spec = KINDS[kind]
    first = spec.fields[0].name if spec.fields else None
    assert (first == "request_reference") == bool(spec.answers)
    if spec.answers:
        assert spec.fields[0].required and spec.fields[0].type == "line"


def test_docs_forms_md_is_generated_from_the_tables() -> None:
    text = (ROOT / "docs" / "forms.md").read_text(encoding="utf-8")
    start = text.index("<!-- generated: node.forms.template.describe_markdown -->")
    end = text.index("<!-- end generated -->", start)
    generated = text[start:end].split("\n", 1)[1].strip()
    assert generated == describe_markdown().strip(), "run: python -m node.forms.docs"
