"""Network statistics: a node's signed report, the secretariat's checks and combination,
the rendered files, and four nodes reporting through the (fake) relay."""

from __future__ import annotations

import copy
import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.errors import Rejected
from keys.identities import SigningKey, VerifyKey
from node.cli.netstats import collect_reports, parse_periods, previous_month, send_report
from node.config import StatisticsSettings
from node.daemon.loop import Daemon
from node.daemon.statistics import report_due, sent_periods
from node.forms import validate_form
from node.forms.examples import example
from node.reports.network import (
    Received,
    ReportRefused,
    bucket_of,
    build_report,
    combine,
    month_bounds,
    sign_report,
    verify_report,
)
from node.reports.render_network import CHARTS, render
from node.runtime import Node
from tests.support.fake_relay import FakeClock, FakeRelayNetwork, fake_node
from tests.unit.node.test_stats import NOW, dataset, msg

KEY = SigningKey.generate()
OTHER = SigningKey.generate()


def _key_at(key: VerifyKey) -> Any:
    return lambda _at: key


def signed(figures: dict[str, Any] | None = None, key: SigningKey = KEY) -> dict[str, Any]:
    messages, receipts = dataset()
    figures = figures or build_report("FR", "2025-02", messages, receipts, now=NOW)
    return sign_report(figures, key)


# -- a node's report ----------------------------------------------------------------------


def test_report_known_answers() -> None:
    messages, receipts = dataset()
    report = build_report("FR", "2025-02", messages, receipts, now=NOW)
    counts = {
        (r["kind"], r["counterpart"], r["direction"], r["priority"]): r["count"]
        for r in report["counts"]
    }
    # February only; the ping c1 left out; nothing of January's a1/a2
    assert counts == {
        ("assistance_request", "IT", "sent", "routine"): 1,
        ("emergency_disclosure_request", "BR", "received", "emergency"): 1,
        ("emergency_determination", "BR", "sent", "emergency"): 1,
        ("preservation_request", "BR", "received", "routine"): 1,
        ("preservation_response", "BR", "sent", "routine"): 1,
    }
    assert report["outcomes"] == [
        {"kind": "emergency_determination", "direction": "sent", "outcome": "refused", "count": 1},
        {"kind": "preservation_response", "direction": "sent", "outcome": "refused", "count": 1},
    ]
    times = {(r["kind"], r["measure"], r["bucket"]): r["count"] for r in report["times"]}
    assert times == {
        ("assistance_request", "acknowledge", "lt_5m"): 1,  # 60 s
        ("emergency_disclosure_request", "acknowledge", "lt_5m"): 1,  # 120 s
        ("emergency_disclosure_request", "respond", "lt_1h"): 1,  # 1800 s
        ("preservation_request", "respond", "lt_4h"): 1,  # 3600 s
    }


def test_report_carries_no_content_reference_or_identifier() -> None:
    messages, receipts = dataset()
    # a peer's answer with free text where a code belongs: the text does not travel on
    odd = msg(
        "z1",
        "in",
        "preservation_response",
        "2025-01-20T10:00:00.000Z",
        reply_to="a1",
        body={"outcome": "the suspect is John Doe"},
    )
    messages = [*messages, odd]
    report = build_report("FR", "2025-01", messages, receipts, now=NOW)
    text = repr(report)
    for secret in ("FR-1", "a1000", "preserved_until", "2025-04-15", "John Doe"):
        assert secret not in text
    assert {
        "kind": "preservation_response",
        "direction": "received",
        "outcome": "other",
        "count": 1,
    } in report["outcomes"]
    assert set(report) == {"party", "period", "generated_at", "counts", "outcomes", "times"}


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [
        (0, "lt_1m"),
        (59.9, "lt_1m"),
        (60, "lt_5m"),
        (3599, "lt_1h"),
        (86400, "lt_72h"),
        (259200, "ge_72h"),
        (10**7, "ge_72h"),
    ],
)
def test_buckets(seconds: float, bucket: str) -> None:
    assert bucket_of(seconds) == bucket


@pytest.mark.parametrize(
    ("period", "bounds"),
    [
        ("2025-02", ("2025-02-01", "2025-02-28")),
        ("2024-02", ("2024-02-01", "2024-02-29")),
        ("2025-12", ("2025-12-01", "2025-12-31")),
    ],
)
def test_month_bounds(period: str, bounds: tuple[str, str]) -> None:
    assert month_bounds(period) == bounds


def test_periods() -> None:
    assert previous_month(datetime(2025, 1, 3, tzinfo=UTC)) == "2024-12"
    assert parse_periods(None, datetime(2025, 3, 3, tzinfo=UTC)) == ["2025-02"]
    assert parse_periods(["2025-02,2025-01", "2025-02"], NOW) == ["2025-01", "2025-02"]
    with pytest.raises(Exception, match="YYYY-MM"):
        parse_periods(["2025-13"], NOW)


def test_signed_report_is_a_valid_form_and_still_verifies_after_validation() -> None:
    body = validate_form("statistics_report", signed(), now=NOW).body
    verify_report(body, sender="FR", key_at=_key_at(KEY.public), inactive_now=False)


def test_an_empty_month_verifies_after_validation_drops_the_empty_lists() -> None:
    messages, receipts = dataset()
    figures = build_report("FR", "2020-01", messages, receipts, now=NOW)
    body = validate_form("statistics_report", sign_report(figures, KEY), now=NOW).body
    assert "counts" not in body
    verify_report(body, sender="FR", key_at=_key_at(KEY.public), inactive_now=False)


def _tamper_count(b: dict[str, Any]) -> None:
    b["counts"][0]["count"] += 1


def _resigned(rows: str, name: str, value: str) -> Any:
    """A change of one row's code, signed again by the party's own key."""

    def change(b: dict[str, Any]) -> None:
        b[rows][0][name] = value
        b.pop("signature")
        b.update(sign_report(b, KEY))

    return change


def _resigned_at(generated_at: str) -> Any:
    def change(b: dict[str, Any]) -> None:
        b["generated_at"] = generated_at
        b.pop("signature")
        b.update(sign_report(b, KEY))

    return change


def _raise_inactive(_at: datetime) -> VerifyKey:
    raise Rejected("sender_inactive")


def _raise_unknown(_at: datetime) -> VerifyKey:
    raise Rejected("unknown_sender")


REFUSALS = [
    ("count_changed", _tamper_count, {}, "bad_signature"),
    ("row_added", lambda b: b["counts"].append(dict(b["counts"][0])), {}, "bad_signature"),
    ("period_changed", lambda b: b.update(period="2025-01"), {}, "bad_signature"),
    ("signed_by_another_key", lambda b: b.update(signed(key=OTHER)), {}, "bad_signature"),
    ("sig_garbled", lambda b: b["signature"].update(sig="!!"), {}, "malformed"),
    ("no_signature", lambda b: b.pop("signature"), {}, "malformed"),
    ("count_not_a_number", lambda b: b["counts"][0].update(count="lots"), {}, "malformed"),
    ("count_negative", lambda b: b["counts"][0].update(count=-1), {}, "malformed"),
    ("bad_period", lambda b: b.update(period="2025-13"), {}, "malformed"),
    ("unknown_row_field", lambda b: b["times"][0].update(msg_id="abc"), {}, "malformed"),
    ("a_reference", lambda b: b.update(reference="FR-1"), {}, "content"),
    ("notes", lambda b: b.update(notes="the suspect is..."), {}, "content"),
    ("another_party", lambda b: b.update(party="DE"), {}, "party_mismatch"),
    # Signed by the party itself, yet text where codes belong: it would reach the CSV
    # (a spreadsheet formula), the Markdown (raw HTML, links) and the charts.
    ("kind_formula", _resigned("counts", "kind", '=HYPERLINK("http://x.example")'), {}, "content"),
    ("kind_html", _resigned("times", "kind", "<img src=x onerror=alert(1)>"), {}, "content"),
    ("counterpart_text", _resigned("counts", "counterpart", "-2+3+cmd|'/Cx'"), {}, "content"),
    ("counterpart_markdown", _resigned("counts", "counterpart", "[x](http://e)"), {}, "content"),
    ("outcome_text", _resigned("outcomes", "outcome", "suspect John Doe"), {}, "content"),
    # Figures of February cannot be made in January: such a date would pick a key
    # retired before the month began.
    ("made_before_the_month", _resigned_at("2025-01-31T23:59:59.000Z"), {}, "malformed"),
    ("suspended_now", lambda b: None, {"inactive_now": True}, "suspended"),
    ("suspended_then", lambda b: None, {"key_at": _raise_inactive}, "suspended"),
    ("unknown_party", lambda b: None, {"key_at": _raise_unknown}, "unknown_key"),
]


@pytest.mark.parametrize(
    ("change", "kw", "reason"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_refused_reports(change: Any, kw: dict[str, Any], reason: str) -> None:
    body = signed()
    change(body)
    args: dict[str, Any] = {"key_at": _key_at(KEY.public), "inactive_now": False, **kw}
    with pytest.raises(ReportRefused) as info:
        verify_report(body, sender="FR", **args)
    assert info.value.reason == reason


@settings(max_examples=50)
@given(st.data())
def test_any_changed_figure_is_refused(data: st.DataObject) -> None:
    body = signed()
    rows = [(name, i) for name in ("counts", "outcomes", "times") for i in range(len(body[name]))]
    name, i = data.draw(st.sampled_from(rows))
    new = data.draw(st.integers(min_value=0, max_value=10**6))
    if new == body[name][i]["count"]:
        return
    body = copy.deepcopy(body)
    body[name][i]["count"] = new
    with pytest.raises(ReportRefused):
        verify_report(body, sender="FR", key_at=_key_at(KEY.public), inactive_now=False)


# -- the secretariat's combination ---------------------------------------------------------


def _party_report(party: str, key: SigningKey, n: int, period: str = "2025-02") -> Received:
    figures = {
        "party": party,
        "period": period,
        "generated_at": "2025-03-01T00:00:00.000Z",
        "counts": [
            {
                "kind": "preservation_request",
                "counterpart": "XX",
                "direction": "sent",
                "priority": "routine",
                "count": n,
            },
            {
                "kind": "preservation_request",
                "counterpart": "XX",
                "direction": "sent",
                "priority": "emergency",
                "count": 1,
            },
            *(
                {
                    "kind": follow_up,  # answers and follow-ups are not requests
                    "counterpart": "XX",
                    "direction": "sent",
                    "priority": "routine",
                    "count": 7,
                }
                for follow_up in ("preservation_response", "withdrawal", "preservation_extension")
            ),
        ],
        "outcomes": [],
        "times": [
            {
                "kind": "preservation_request",
                "direction": "sent",
                "measure": "respond",
                "bucket": "lt_1h",
                "count": n,
            }
        ],
    }
    return Received(party, sign_report(figures, key), f"m-{party}-{n}")


def test_combine_counts_checks_and_lists_who_did_not_report() -> None:
    keys = {p: SigningKey.generate() for p in ("AA", "BB", "CC", "DD", "EE")}
    reports = [
        _party_report("AA", keys["AA"], 2),
        _party_report("BB", keys["BB"], 3),
        _party_report("CC", keys["AA"], 100),  # signed with another party's key
        _party_report("DD", keys["DD"], 50),  # suspended
        _party_report("AA", keys["AA"], 1, period="2025-01"),  # another month
    ]
    newer = copy.deepcopy(dict(_party_report("BB", keys["BB"], 4).body))
    newer["generated_at"] = "2025-03-02T00:00:00.000Z"
    reports.append(Received("BB", sign_report(newer, keys["BB"]), "m-BB-newer"))
    combined = combine(
        reports,
        periods=["2025-02"],
        expected=["AA", "BB", "CC", "EE"],
        key_at=lambda party, _at: keys[party].public,
        inactive_now=lambda party: party == "DD",
    )
    assert combined.requests("2025-02") == {"preservation_request": 2 + 1 + 4 + 1}
    assert combined.emergency_share("2025-02") == (2, 8)
    assert combined.missing("2025-02") == ["CC", "EE"]
    assert sorted((r["party"], r["reason"]) for r in combined.refused) == [
        ("CC", "bad_signature"),
        ("DD", "suspended"),
    ]
    assert combined.time_distribution()["preservation_request"]["lt_1h"] == 2 + 4


def test_rendered_files_are_well_formed_and_escape_what_reports_say() -> None:
    key = SigningKey.generate()
    item = _party_report("AA", key, 3)
    combined = combine(
        [item],
        periods=["2025-02"],
        expected=["AA", "BB"],
        key_at=lambda _p, _at: key.public,
        inactive_now=lambda _p: False,
    )
    # verify_report refuses such a kind; the rendering escapes it all the same.
    combined.times.append({**combined.times[0], "kind": "<script>alert(1)</script>"})
    files = render(combined, generated_at="2025-03-05T10:00:00.000Z")
    assert set(CHARTS) <= set(files)
    for name in CHARTS:
        root = ET.fromstring(files[name])
        assert len(root.findall(".//{http://www.w3.org/2000/svg}rect")) >= 2
    assert "<script>" not in files["network-report.html"]
    assert "&lt;script&gt;" in files["network-report.html"]
    rows = list(csv.reader(io.StringIO(files["network-report.csv"])))
    assert rows[0] == ["period", "party", "kind", "counterpart", "metric", "value"]
    assert ["2025-02", "BB", "all", "all", "not_reported", "1"] in rows
    assert "| 2025-02 | 1 | BB |" in files["network-report.md"]


# -- four nodes and the secretariat on one (fake) relay ------------------------------------

FEB = datetime(2025, 2, 10, 9, 0, tzinfo=UTC)
PARTIES = ("FR", "DE", "IT", "ES")
SECRETARIAT = "CE"


@pytest.fixture
async def network(
    tmp_path: Path,
) -> AsyncIterator[tuple[FakeClock, FakeRelayNetwork, dict[str, Node]]]:
    clock = FakeClock(FEB)
    net = FakeRelayNetwork(clock)
    nodes: dict[str, Node] = {}
    try:
        for party in (*PARTIES, SECRETARIAT):
            nodes[party] = await fake_node(
                net, tmp_path / party.lower(), party, clock=clock, log=structlog.get_logger()
            )
        for node in nodes.values():
            await node.peers.refresh(node.transport, clock())
        yield clock, net, nodes
    finally:
        for node in nodes.values():
            await node.close()


async def _drain(node: Node, clock: FakeClock) -> None:
    await node.inbox.handle(await node.transport.inbox(wait=0, limit=100), clock())


async def test_four_nodes_report_and_the_secretariat_counts_them_exactly(
    network: tuple[FakeClock, FakeRelayNetwork, dict[str, Node]],
) -> None:
    clock, _net, nodes = network
    plan = [
        ("FR", "DE", "preservation_request", None),
        ("FR", "IT", "subscriber_info_request", None),
        ("DE", "ES", "emergency_disclosure_request", "emergency"),
        ("IT", "FR", "assistance_request", None),
        ("ES", "FR", "preservation_request", "urgent"),
        ("ES", "DE", "ping", None),  # left out of the statistics
    ]
    for sender, to, kind, priority in plan:
        form = validate_form(kind, example(kind, clock(), sender), now=clock(), priority=priority)
        msg = await nodes[sender].outbox.queue(to, form, clock())
        assert await nodes[sender].outbox.submit(msg, clock()) == "accepted"
        clock.advance(seconds=30)
    for party in PARTIES:
        await _drain(nodes[party], clock)
    clock.advance(days=25)  # March
    for party in PARTIES:
        _id, outcome, _rows = await send_report(nodes[party], SECRETARIAT, "2025-02", clock())
        assert outcome == "accepted"
    await _drain(nodes[SECRETARIAT], clock)
    report = await collect_reports(nodes[SECRETARIAT], ["2025-02"], clock())
    assert report.refused == []
    assert report.missing("2025-02") == []
    sent = {
        "preservation_request": 2,
        "subscriber_info_request": 1,
        "emergency_disclosure_request": 1,
        "assistance_request": 1,
    }
    assert dict(report.requests("2025-02")) == sent
    assert dict(report.requests("2025-02", "received")) == sent  # cross-checked by recipients
    assert report.emergency_share("2025-02") == (1, 5)


async def test_a_party_suspended_at_collection_is_refused_and_listed(
    network: tuple[FakeClock, FakeRelayNetwork, dict[str, Node]],
) -> None:
    clock, _net, nodes = network
    clock.advance(days=25)
    for party in PARTIES:
        await send_report(nodes[party], SECRETARIAT, "2025-02", clock())
    secretariat = nodes[SECRETARIAT]
    await _drain(secretariat, clock)
    stored = [
        Received(m.counterpart, m.body, m.msg_id)
        for m in await secretariat.store.list_messages(direction="in")
        if m.kind == "statistics_report"
    ]
    assert sorted(r.sender for r in stored) == sorted(PARTIES)
    combined = combine(
        stored,
        periods=["2025-02"],
        expected=[p for p in PARTIES if p != "IT"],
        key_at=secretariat.peers.key_at,
        inactive_now=lambda party: party == "IT",
    )
    assert [(r["party"], r["reason"]) for r in combined.refused] == [("IT", "suspended")]
    assert sorted(combined.reported["2025-02"]) == ["DE", "ES", "FR"]
    files = render(combined, generated_at="2025-03-07T00:00:00.000Z")
    for name in CHARTS:
        assert len(files[name]) > 500


# -- the monthly schedule ------------------------------------------------------------------

DUE_CASES = [
    ("first_of_month", datetime(2025, 3, 1, 0, 5, tzinfo=UTC), 1, set(), "2025-02"),
    ("january_reports_december", datetime(2025, 1, 2, tzinfo=UTC), 1, set(), "2024-12"),
    ("already_sent", datetime(2025, 3, 9, tzinfo=UTC), 1, {"2025-02"}, None),
    ("before_send_day", datetime(2025, 3, 2, tzinfo=UTC), 3, set(), None),
    ("on_send_day", datetime(2025, 3, 3, tzinfo=UTC), 3, set(), "2025-02"),
    ("older_month_sent_only", datetime(2025, 3, 9, tzinfo=UTC), 1, {"2025-01"}, "2025-02"),
]


@pytest.mark.parametrize(
    ("now", "send_day", "sent", "due"),
    [c[1:] for c in DUE_CASES],
    ids=[c[0] for c in DUE_CASES],
)
def test_report_due(now: datetime, send_day: int, sent: set[str], due: str | None) -> None:
    assert report_due(now, send_day=send_day, sent=sent) == due


async def test_the_daemon_sends_last_months_report_once(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2025, 3, 1, 1, 0, tzinfo=UTC))
    net = FakeRelayNetwork(clock)
    log = structlog.get_logger()
    settings = StatisticsSettings(secretariat=SECRETARIAT)
    fr = await fake_node(net, tmp_path / "fr", "FR", clock=clock, log=log, statistics=settings)
    ce = await fake_node(net, tmp_path / "ce", SECRETARIAT, clock=clock, log=log)
    try:
        await fr.peers.refresh(fr.transport, clock())
        daemon = Daemon(fr)
        assert await daemon.statistics_pass() == "2025-02"
        assert await sent_periods(fr, SECRETARIAT) == {"2025-02"}
        clock.advance(hours=5)
        assert await daemon.statistics_pass() is None  # once a month
        sent = [
            m
            for m in await fr.store.list_messages(direction="out")
            if m.kind == "statistics_report"
        ]
        assert len(sent) == 1
        assert report_due(clock(), send_day=1, sent={"2025-02"}) is None
    finally:
        await fr.close()
        await ce.close()


def test_a_report_made_in_the_future_is_refused() -> None:
    # The newest report of a month wins: one dated ahead would outrank every correction.
    body = signed()
    _resigned_at("2025-03-09T00:00:00.000Z")(body)
    collected = datetime(2025, 3, 7, tzinfo=UTC)
    with pytest.raises(ReportRefused) as info:
        verify_report(
            body, sender="FR", key_at=_key_at(KEY.public), inactive_now=False, now=collected
        )
    assert info.value.reason == "malformed" and "future" in info.value.message
    # within a day of clock skew it passes
    verify_report(
        body,
        sender="FR",
        key_at=_key_at(KEY.public),
        inactive_now=False,
        now=collected + timedelta(days=1, hours=1),
    )
