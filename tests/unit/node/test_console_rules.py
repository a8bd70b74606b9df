"""The console's pure parts: sessions, CSRF, login throttling, bind policy, password
hashes, the board's order and deadlines, and how a form reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import nacl.pwhash
import pytest
from multidict import MultiDict

from keys.encoding import format_time
from keys.errors import ValidationError
from node.console.accounts import check_name, hash_password, verify_password
from node.console.bind import check_bind
from node.console.board import AckDeadlines, Filters, alarms, board, board_page
from node.console.formgen import Input, inputs, parse
from node.console.present import duration, form_rows, in_zone
from node.console.sessions import SessionBook, csrf_ok
from node.console.throttle import LoginThrottle
from node.forms import KINDS, FormInvalid, validate_form
from node.forms.examples import example
from node.forms.registry import fields_for
from node.storage.consolequeries import BoardItem
from tests.support.memory_sessions import MemorySessions

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
R32 = bytes(range(32))
C32 = bytes(range(1, 33))
FAST = {
    "opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
    "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN,
}

# -- sessions -------------------------------------------------------------------------------


def book() -> SessionBook:
    return SessionBook(MemorySessions(), timedelta(minutes=15), timedelta(hours=12))


async def test_a_session_is_found_by_its_cookie_and_keeps_no_token_in_clear() -> None:
    b = book()
    cookie = await b.open("anna", "officer", T0, R32, C32)
    s = await b.get(cookie, T0 + timedelta(minutes=1))
    assert s is not None and s.officer == "anna"
    assert isinstance(b.table, MemorySessions)
    assert cookie not in repr(b.table.rows)  # only digests are kept


@pytest.mark.parametrize(
    ("name", "steps", "alive"),
    [
        ("active within the idle time", [10, 10, 10], True),
        ("idle too long", [16], False),
        ("active but past the absolute limit", [14] * 52, False),
    ],
)
async def test_session_lifetime(name: str, steps: list[int], alive: bool) -> None:
    b = book()
    cookie = await b.open("anna", "officer", T0, R32, C32)
    t = T0
    found = None
    for minutes in steps:
        t += timedelta(minutes=minutes)
        found = await b.get(cookie, t)
    assert (found is not None) is alive, name


async def test_peek_does_not_restart_the_idle_clock() -> None:
    b = book()
    cookie = await b.open("anna", "officer", T0, R32, C32)
    assert await b.peek(cookie, T0 + timedelta(minutes=14)) is not None
    assert await b.peek(cookie, T0 + timedelta(minutes=16)) is None
    assert await b.get(cookie, T0 + timedelta(minutes=16)) is None


async def test_last_seen_is_written_at_most_every_30_seconds() -> None:
    b = book()
    assert isinstance(b.table, MemorySessions)
    cookie = await b.open("anna", "officer", T0, R32, C32)
    writes = b.table.writes
    for second in range(1, 30):  # a busy minute: no write
        assert await b.get(cookie, T0 + timedelta(seconds=second)) is not None
    assert b.table.writes == writes
    assert await b.get(cookie, T0 + timedelta(seconds=30)) is not None
    assert b.table.writes == writes + 1
    # the idle clock runs from the last write: still alive 15 min after it
    assert await b.peek(cookie, T0 + timedelta(seconds=30 + 15 * 60)) is not None


async def test_logout_makes_the_cookie_worthless() -> None:
    b = book()
    cookie = await b.open("anna", "officer", T0, R32, C32)
    other = await b.open("ben", "supervisor", T0, C32, R32)
    assert await b.close(cookie) is not None
    assert await b.get(cookie, T0) is None
    assert await b.get(other, T0) is not None
    assert await b.close_officer("ben") == 1
    assert await b.get(other, T0) is None


async def test_ended_sessions_are_forgotten_at_the_next_login() -> None:
    b = book()
    assert isinstance(b.table, MemorySessions)
    await b.open("anna", "officer", T0, R32, C32)
    await b.open("ben", "officer", T0 + timedelta(minutes=10), C32, R32)
    await b.open("carl", "officer", T0 + timedelta(minutes=20), R32[::-1], C32)
    assert sorted(s.officer for s in b.table.rows.values()) == ["ben", "carl"]


@pytest.mark.parametrize("cookie", [None, "", "x" * 129, "not-a-session"])
async def test_bad_cookies_find_nothing(cookie: str | None) -> None:
    b = book()
    await b.open("anna", "officer", T0, R32, C32)
    assert await b.get(cookie, T0) is None


async def test_short_tokens_are_refused() -> None:
    with pytest.raises(ValueError):
        await book().open("anna", "officer", T0, b"short", C32)


async def test_csrf_compare() -> None:
    b = book()
    cookie = await b.open("anna", "officer", T0, R32, C32)
    s = await b.get(cookie, T0)
    assert s is not None
    assert csrf_ok(s, s.csrf)
    for bad in (None, "", s.csrf[:-1], s.csrf + "x", "é" * 10, "x" * 200):
        assert not csrf_ok(s, bad)


# -- throttle ----------------------------------------------------------------------------


def test_five_failures_block_the_name_until_the_window_passes() -> None:
    t = LoginThrottle(5, timedelta(minutes=5))
    keys = ("name:anna", "addr:127.0.0.1")
    for i in range(5):
        assert not t.blocked(keys, T0 + timedelta(seconds=i))
        t.failed(keys, T0 + timedelta(seconds=i))
    assert t.blocked(keys, T0 + timedelta(seconds=10))
    assert t.blocked(("name:anna",), T0 + timedelta(seconds=10))
    assert not t.blocked(("name:ben",), T0 + timedelta(seconds=10))
    assert not t.blocked(keys, T0 + timedelta(minutes=6))


def test_a_success_clears_the_name() -> None:
    t = LoginThrottle(2, timedelta(minutes=5))
    t.failed(("name:anna",), T0)
    t.succeeded("name:anna")
    t.failed(("name:anna",), T0)
    assert not t.blocked(("name:anna",), T0)


# -- bind ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "tls", "insecure", "outcome"),
    [
        ("127.0.0.1", False, False, "ok"),
        ("127.0.0.2", False, False, "ok"),
        ("::1", False, False, "ok"),
        ("localhost", False, False, "ok"),
        ("0.0.0.0", False, False, "refused"),
        ("192.0.2.10", False, False, "refused"),
        ("0.0.0.0", True, False, "ok"),
        ("0.0.0.0", False, True, "warned"),
        ("console.example", False, False, "refused"),
    ],
)
def test_bind_policy(host: str, tls: bool, insecure: bool, outcome: str) -> None:
    if outcome == "refused":
        with pytest.raises(ValidationError, match="without TLS"):
            check_bind(host, tls=tls, insecure=insecure)
        return
    warning = check_bind(host, tls=tls, insecure=insecure)
    assert (warning is not None) == (outcome == "warned")
    if warning:
        assert "WARNING" in warning and host in warning


# -- accounts ----------------------------------------------------------------------------


def test_password_hash_round_trip() -> None:
    h = hash_password("correct horse battery", **FAST)
    assert h.startswith("$argon2id$")
    assert verify_password(h, "correct horse battery")
    assert not verify_password(h, "correct horse batterY")
    assert not verify_password(None, "correct horse battery")
    assert not verify_password("garbage", "correct horse battery")


@pytest.mark.parametrize("password", ["short", "x" * 1025])
def test_password_length(password: str) -> None:
    with pytest.raises(ValidationError):
        hash_password(password, **FAST)


@pytest.mark.parametrize(
    ("name", "ok"),
    [("anna", True), ("j.smith-2", True), ("A", False), ("Anna", False), ("a b", False),
     ("1anna", False), ("a" * 33, False), ("anna\n", False)],
)  # fmt: skip
def test_officer_names(name: str, ok: bool) -> None:
    if ok:
        assert check_name(name) == name
    else:
        with pytest.raises(ValidationError):
            check_name(name)


# -- board -------------------------------------------------------------------------------


def item(mid: str, *, direction: str = "in", priority: str = "routine", state: str = "new",
         age_min: int = 60, acked: bool = False) -> BoardItem:  # fmt: skip
    created = T0 - timedelta(minutes=age_min)
    return BoardItem(
        msg_id=mid,
        direction=direction,
        counterpart="FR",
        kind="ping",
        priority=priority,
        created_at=format_time(created),
        expires_at=format_time(created + timedelta(days=30)),
        reference=None,
        state=state,
        acknowledged_at=format_time(created) if acked else None,
    )


def test_board_order_emergencies_and_overdue_first_then_by_age() -> None:
    items = [
        item("routine-old", age_min=500),
        item("closed-new", state="responded", age_min=1),
        item("closed-old", state="responded", age_min=900),
        item("urgent", priority="urgent", age_min=5),
        item("emergency-young", priority="emergency", age_min=1),
        item("emergency-old", priority="emergency", age_min=30),
        item("sent-overdue", direction="out", state="accepted", priority="urgent", age_min=70),
        item("sent-acked", direction="out", state="accepted", priority="urgent", age_min=70),
        item("emergency-acked", priority="emergency", state="acknowledged", acked=True),
    ]
    rows = board(items, frozenset({"sent-acked"}), AckDeadlines(), T0)
    assert [r.msg.msg_id for r in rows] == [
        "sent-overdue",
        "emergency-acked",
        "emergency-old",
        "urgent",
        "emergency-young",
        "routine-old",
        "sent-acked",
        "closed-new",
        "closed-old",
    ]
    assert [r.msg.msg_id for r in alarms(rows)] == [
        "sent-overdue", "emergency-old", "urgent", "emergency-young",
    ]  # fmt: skip


def test_board_page_is_the_top_of_the_board() -> None:
    items = [
        item(f"m{i:02d}", priority=("routine", "urgent", "emergency")[i % 3],
             state=("new", "responded", "acknowledged", "responded")[i % 4], age_min=i * 7,
             direction="in" if i % 5 else "out")
        for i in range(40)
    ]  # fmt: skip
    newest_first = sorted(items, key=lambda m: m.created_at, reverse=True)
    full = [r.msg.msg_id for r in board(items, frozenset(), AckDeadlines(), T0)]
    for limit in (0, 1, 5, 17, 40, 100):
        page = board_page(newest_first, frozenset(), AckDeadlines(), T0, limit)
        assert [r.msg.msg_id for r in page] == full[:limit], limit


@pytest.mark.parametrize(
    ("name", "msg", "label", "minutes_left", "overdue"),
    [
        ("emergency, 15 min to acknowledge", item("a", priority="emergency", age_min=5),
         "OVERDUE", 10, False),
        ("emergency past its deadline", item("a", priority="emergency", age_min=20),
         "OVERDUE", -5, True),
        ("urgent, 60 min", item("a", priority="urgent", age_min=20), "OVERDUE", 40, False),
        ("routine: only the expiry", item("a", age_min=60), "EXPIRED", 30 * 1440 - 60, False),
        ("acknowledged: only the expiry", item("a", priority="emergency", state="acknowledged",
         acked=True, age_min=60), "EXPIRED", 30 * 1440 - 60, False),
        ("closed: no deadline", item("a", state="responded"), None, None, False),
    ],
)  # fmt: skip
def test_deadlines(
    name: str, msg: BoardItem, label: str | None, minutes_left: int | None, overdue: bool
) -> None:
    [row] = board([msg], frozenset(), AckDeadlines(), T0)
    assert row.deadline_label == label, name
    if minutes_left is None:
        assert row.deadline_at is None
    else:
        assert row.deadline_at == T0 + timedelta(minutes=minutes_left)
    assert row.overdue is overdue


def test_filters() -> None:
    rows = board(
        [item("a", priority="emergency"), item("b", state="responded"), item("c")],
        frozenset(),
        AckDeadlines(),
        T0,
    )
    pick = lambda q: [r.msg.msg_id for r in rows if Filters.from_query(q).keep(r.msg)]  # noqa: E731
    assert pick({"priority": "emergency"}) == ["a"]
    assert pick({"state": "open"}) == ["a", "c"]
    assert pick({"state": "responded"}) == ["b"]
    assert pick({"counterpart": "fr"}) == ["a", "c", "b"]
    assert pick({"counterpart": "DE"}) == []
    assert pick({"since": "2099-01-01"}) == []
    assert Filters.from_query({"q": "x" * 1000}).text == "x" * 200


# -- reading a form ------------------------------------------------------------------------


def test_form_rows_follow_the_forms_order_with_labels() -> None:
    spec = KINDS["preservation_request"]
    order = [f.name for f in fields_for(spec)]
    body = {name: "v" for name in reversed(order) if name != "identifiers"}
    body["unknown_extra"] = "z"
    rows = form_rows(fields_for(spec), body)
    labels = [r.label for r in rows if r.depth == 0 and not r.heading]
    expected = [n.replace("_", " ").capitalize() for n in order if n in body]
    assert labels[: len(expected)] == expected
    assert rows[-1].label == "Unknown extra" and rows[-2].label == "Other"


def test_times_and_durations() -> None:
    assert in_zone(T0, "Europe/Berlin") == "2026-03-01 04:00 Europe/Berlin (UTC+0100)"
    assert in_zone(T0, "Not/AZone") == "" and in_zone(T0, None) == ""
    assert [duration(timedelta(seconds=s)) for s in (40, 420, 7500, 3 * 86400 + 7200)] == [
        "40s", "7m", "2h 05m", "3d 2h",
    ]  # fmt: skip


# -- generated forms -------------------------------------------------------------------------


def posted_from(inputs_: list[Input]) -> MultiDict[str]:
    """What a browser posts for these inputs as they are filled in."""
    out: MultiDict[str] = MultiDict()
    for i in inputs_:
        if i.widget == "heading":
            continue
        if i.widget == "checkboxes":
            for v in i.value:
                out.add(i.name, v)
        else:
            out.add(i.name, str(i.value))
    return out


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kinds_example_survives_the_generated_form(kind: str) -> None:
    spec = KINDS[kind]
    body = example(kind, T0)
    fields = fields_for(spec)
    generated = inputs(fields, body)
    assert all(i.label for i in generated)
    back = parse(fields, posted_from(generated))
    assert validate_form(kind, back, now=T0).body == validate_form(kind, body, now=T0).body


def test_problems_land_beside_their_inputs() -> None:
    spec = KINDS["preservation_request"]
    fields = fields_for(spec)
    with pytest.raises(FormInvalid) as e:
        validate_form("preservation_request", {"summary_of_facts": "x"}, now=T0)
    generated = inputs(fields, {}, e.value.problems)
    marked = {i.name for i in generated if i.errors}
    paths = {p.path for p in e.value.problems}
    assert marked and marked <= paths
    named = {i.name for i in generated}
    assert paths - named <= {"(form)"}, "a problem with no input to show it"
