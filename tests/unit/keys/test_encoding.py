"""Canonical JSON, strict decoding, base64url, PAE and timestamps (keys/encoding.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from keys.encoding import (
    _bracket_depth,
    b64u_decode,
    b64u_encode,
    canonical,
    check_depth,
    format_time,
    loads_strict,
    pae,
    parse_time,
)
from keys.errors import DecodeError, TooLarge

SAFE = 2**53 - 1

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE, max_value=SAFE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
# No floats: they do not survive a round trip through canonical form unchanged in type
# (1.0 becomes 1), and loads_strict returns what json.loads returns.
plain_scalars = st.none() | st.booleans() | st.integers(min_value=-SAFE, max_value=SAFE) | st.text()
plain_objects = st.dictionaries(
    st.text(),
    st.recursive(
        plain_scalars,
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(), c, max_size=4),
        max_leaves=15,
    ),
    max_size=5,
)


# --- canonical -----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_equals_the_rfc8785_library_on_both_paths(value: Any) -> None:
    try:
        expected: bytes | None = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        expected = None
    if expected is None:
        with pytest.raises(DecodeError):
            canonical(value)
    else:
        assert canonical(value) == expected


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(alphabet=st.characters(min_codepoint=0xE000)), st.booleans()))
def test_non_ascii_keys_sort_by_utf16_code_units(value: dict[str, bool]) -> None:
    out = json.loads(canonical(value))
    keys = list(out)
    assert keys == sorted(keys, key=lambda k: k.encode("utf-16-be"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": 2}, b'{"a":2,"b":1}'),
        ({"\U0001f600": 1, "\ufb33": 2}, '{"\U0001f600":1,"\ufb33":2}'.encode()),
        ({"a": [1.0, -0.0, 1e21]}, b'{"a":[1,0,1e+21]}'),
        ({"a": "\u2028\x7f\x1f"}, '{"a":"\u2028\x7f\\u001f"}'.encode()),
        ([True, False, None], b"[true,false,null]"),
        ({"a": (1, 2)}, b'{"a":[1,2]}'),
    ],
    ids=["ascii-order", "utf16-order", "numbers", "escapes", "literals", "tuple-as-array"],
)
def test_canonical_named_cases(value: Any, expected: bytes) -> None:
    assert canonical(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        {"n": 2**53},
        {"n": -(2**53)},
        {"n": float("nan")},
        {"n": float("inf")},
        {"s": "\ud800"},
        {1: "non-string key"},
        {"x": object()},
        {"x": b"bytes"},
    ],
    ids=["int-high", "int-low", "nan", "inf", "surrogate", "int-key", "object", "bytes"],
)
def test_canonical_refuses_values_without_a_canonical_form(value: Any) -> None:
    with pytest.raises(DecodeError):
        canonical(value)


# --- strict decoding -------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(plain_objects)
def test_loads_strict_round_trips_canonical_bytes(value: dict[str, Any]) -> None:
    try:
        check_depth(value, 16)
    except DecodeError:
        assume(False)
    assert loads_strict(canonical(value)) == value


bracketed_strings = st.text(alphabet='[]{}\\"ab', max_size=6)
nested = st.recursive(
    st.none() | st.integers(-5, 5) | bracketed_strings,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(bracketed_strings, inner, max_size=3)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(bracketed_strings, nested, max_size=3), st.integers(1, 8))
def test_loads_strict_depth_verdict_is_the_tree_walks(value: dict[str, Any], limit: int) -> None:
    # loads_strict bounds depth from the raw brackets only (no walk of the parsed tree);
    # it must refuse exactly what a walk of the tree refuses, brackets in strings or not.
    raw = json.dumps(value).encode()
    try:
        check_depth(value, limit)
        too_deep = False
    except DecodeError:
        too_deep = True
    if too_deep:
        with pytest.raises(DecodeError) as info:
            loads_strict(raw, max_depth=limit)
        assert info.value.code == "too_deep"
    else:
        assert loads_strict(raw, max_depth=limit) == value


def test_loads_strict_size_limit_counts_bytes() -> None:
    data = json.dumps({"a": "é" * 10}, ensure_ascii=False).encode()
    assert loads_strict(data, max_bytes=len(data)) == {"a": "é" * 10}
    with pytest.raises(TooLarge):
        loads_strict(data, max_bytes=len(data) - 1)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b'{"a":1,"a":1}', "duplicate_key"),
        (b'{"a":[{"b":1,"c":2,"b":3}]}', "duplicate_key"),
        (b'{"a":' * 17 + b"1" + b"}" * 17, "too_deep"),
        (b'{"a":' + b"[" * 16 + b"]" * 16 + b"}", "too_deep"),
        (b'{"a":NaN}', "malformed"),
        (b'{"a":Infinity}', "malformed"),
        (b"[]", "malformed"),
        (b'"text"', "malformed"),
        (b"", "malformed"),
        (b'{"a":"\xc3"}', "malformed"),
        (b'{"a":1}x', "malformed"),
    ],
    ids=[
        "duplicate",
        "nested-duplicate",
        "objects-too-deep",
        "arrays-too-deep",
        "nan",
        "infinity",
        "array-top",
        "string-top",
        "empty",
        "bad-utf8",
        "trailing",
    ],
)
def test_loads_strict_rejections(data: bytes, code: str) -> None:
    with pytest.raises(DecodeError) as info:
        loads_strict(data)
    assert info.value.code == code


def test_depth_limit_is_inclusive() -> None:
    at_limit = b'{"a":' * 15 + b"[1]" + b"}" * 15  # 16 levels
    assert loads_strict(at_limit, max_depth=16)
    with pytest.raises(DecodeError):
        loads_strict(at_limit, max_depth=15)


def test_deep_nesting_is_refused_before_the_recursive_parser() -> None:
    # 100,000 levels would exhaust the recursion limit of json.loads.
    with pytest.raises(DecodeError) as info:
        loads_strict(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}", max_bytes=1 << 20)
    assert info.value.code == "too_deep"


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"{}", 1),
        (b'{"a":"[[[["}', 1),
        (b'{"a":"\\"[[[["}', 1),
        (b'{"a":"\\\\",  "b":[[1]]}', 3),
        (b'[{"a":[]}]', 3),
    ],
)
def test_bracket_depth_ignores_brackets_in_strings(raw: bytes, depth: int) -> None:
    assert _bracket_depth(raw) == depth


# --- base64url -------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_base64url_round_trip(data: bytes) -> None:
    text = b64u_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64u_decode(text) == data


@pytest.mark.parametrize(
    "text",
    ["Zg==", "Zg=", "+w", "/w", "Zh", "Zm9", "A", "Zm9vY", " Zg", "Zg\n", "Zé", "Z\x00g", 5],
)
def test_base64url_rejects_non_canonical_text(text: Any) -> None:
    with pytest.raises(DecodeError):
        b64u_decode(text)


def test_base64url_max_bytes() -> None:
    text = b64u_encode(bytes(33))
    assert b64u_decode(text, max_bytes=33) == bytes(33)
    with pytest.raises(TooLarge):
        b64u_decode(text, max_bytes=32)


# --- PAE -------------------------------------------------------------------------------


def test_pae_dsse_example() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_of_utf8_type_and_body() -> None:
    assert pae("t\u00e9", "\u20ac".encode()) == b"DSSEv1 3 t\xc3\xa9 3 \xe2\x82\xac"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20), st.binary(max_size=40), st.text(max_size=20), st.binary(max_size=40))
def test_pae_is_injective(t1: str, b1: bytes, t2: str, b2: bytes) -> None:
    if (t1, b1) != (t2, b2):
        assert pae(t1, b1) != pae(t2, b2)


# --- time ------------------------------------------------------------------------------


def test_format_time_is_utc_millisecond_z() -> None:
    moment = datetime(2025, 3, 1, 10, 30, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(moment) == "2025-03-01T09:30:00.123Z"


def test_format_time_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError):
        format_time(datetime(2025, 3, 1, 9, 30))


@settings(max_examples=100, deadline=None)
@given(st.datetimes(timezones=st.just(UTC), min_value=datetime(1970, 1, 1)))
def test_time_round_trip_to_the_millisecond(moment: datetime) -> None:
    parsed = parse_time(format_time(moment))
    assert parsed == moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2025-03-01T09:30:00+00:00",
        "2025-03-01T09:30:00.000z",
        "2025-03-01 09:30:00.000Z",
        "2025-02-30T09:30:00.000Z",
        "2025-03-01T09:30:00.000Z\n",
        "\u0662\u0660\u0662\u0665-03-01T09:30:00.000Z",
        "",
        None,
        1740821400,
    ],
    ids=[
        "offset",
        "lower-z",
        "space",
        "bad-date",
        "newline",
        "arabic-digits",
        "empty",
        "null",
        "int",
    ],
)
def test_parse_time_rejections(text: Any) -> None:
    with pytest.raises(DecodeError) as info:
        parse_time(text)
    assert info.value.code == "bad_time"


# --- from the security review of keys/ (findings 14) ----------

# --- 14. loads_strict on a str with a lone surrogate raised UnicodeEncodeError -------------


def test_loads_strict_refuses_lone_surrogates_in_text() -> None:
    with pytest.raises(DecodeError):
        loads_strict('{"a":"\ud800"}')
