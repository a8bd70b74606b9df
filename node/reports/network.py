"""Network statistics: a node's signed monthly report, and the secretariat's combination.

A node builds a report of its own figures for one month (:func:`build_report`): messages
by kind, counterpart, direction and priority; outcomes of preservation requests and
emergency determinations; times to acknowledge and to respond as counts per time bucket
(buckets add up exactly across nodes, quantiles would not). No content, no reference, no
identifier. It signs the figures (:func:`sign_report`, Ed25519 over DSSE's PAE of the
canonical JSON) and sends them as an ordinary end-to-end-encrypted ``statistics_report``
to the secretariat's party.

The secretariat's node checks each report received (:func:`verify_report`: the figures
only, the reporting party is the sender, the signature with the party's key valid when
the report was made, the party not suspended or revoked) and combines those that pass
(:func:`combine`), keeping the newest report of a party for a month. Pure: the keys and
the directory's status come in as functions.
"""

from __future__ import annotations

import calendar
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from keys.encoding import b64u_decode, b64u_encode, canonical, format_time, pae, parse_time
from keys.errors import PeerError, PocnetError, Rejected
from keys.identities import PARTY_RE, RELAY_ID, SigningKey, VerifyKey
from node.forms import KINDS, validate_form
from node.forms.kinds_reports import TIME_BUCKETS
from node.reports.stats import observations
from node.storage.records import StoredMessage, StoredReceipt

REPORT_KIND = "statistics_report"
PAYLOAD_TYPE = "application/vnd.pocnet.stats-report+json;v=1"
SIGNED_FIELDS = ("party", "period", "generated_at", "counts", "outcomes", "times")
# What validate_form adds to every body; anything else (a reference, notes...) is refused.
FORM_FIELDS = frozenset({"form_version", "language", "urgency", "confidential"})
ALLOWED_FIELDS = frozenset({*SIGNED_FIELDS, "signature", *FORM_FIELDS})
OUTCOME_FIELDS = {
    "preservation_response": "outcome",
    "traffic_data_disclosure": "outcome",
    "emergency_determination": "determination",
}


# A kind or an outcome is a code (``preservation_request``, ``other``), a counterpart a
# party id: nothing a spreadsheet, a Markdown renderer or a browser would act on.
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}\Z")


def _code_problem(body: Mapping[str, Any]) -> str | None:
    """The first row value of a (form-valid) report that is text rather than a code."""
    for rows, name, ok in (
        ("counts", "kind", _CODE_RE.match),
        ("counts", "counterpart", lambda v: v == RELAY_ID or PARTY_RE.match(v)),
        ("outcomes", "kind", _CODE_RE.match),
        ("outcomes", "outcome", _CODE_RE.match),
        ("times", "kind", _CODE_RE.match),
    ):
        for i, row in enumerate(body.get(rows) or ()):
            if not ok(row[name]):
                return f"{rows}[{i}].{name} is not a code"
    return None


def month_bounds(period: str) -> tuple[str, str]:
    """The first and last day (``YYYY-MM-DD``) of ``YYYY-MM``."""
    year, month = int(period[:4]), int(period[5:7])
    last = calendar.monthrange(year, month)[1]
    return f"{period}-01", f"{period}-{last:02d}"


def bucket_of(seconds: float) -> str:
    """The time bucket of a duration."""
    for name, upper in TIME_BUCKETS:
        if upper is None or seconds < upper:
            return name
    raise AssertionError("the last bucket is open")  # pragma: no cover


def _outcome(kind: str, name: str, value: Any) -> str:
    """The outcome code when it is one of the form's choices, else ``other``: a peer's
    body is not validated on receipt, and no text of it may reach a report."""
    choices = next((f.choices for f in KINDS[kind].fields if f.name == name), ())
    return value if isinstance(value, str) and value in choices else "other"


def build_report(
    party: str,
    period: str,
    messages: Iterable[StoredMessage],
    receipts: Iterable[StoredReceipt],
    *,
    now: datetime,
) -> dict[str, Any]:
    """The figures of ``party`` for the month ``period`` (unsigned)."""
    since, until = month_bounds(period)
    messages = list(messages)
    obs = observations(messages, receipts, since=since, until=until)
    counts = Counter((o.kind, o.counterpart, o.direction, o.priority) for o in obs)
    times: Counter[tuple[str, str, str, str]] = Counter()
    for o in obs:
        if o.ack_s is not None:
            times[(o.kind, o.direction, "acknowledge", bucket_of(o.ack_s))] += 1
        if o.respond_s is not None:
            times[(o.kind, o.direction, "respond", bucket_of(o.respond_s))] += 1
    outcomes: Counter[tuple[str, str, str]] = Counter()
    for m in messages:
        name = OUTCOME_FIELDS.get(m.kind)
        if name and since <= m.created_at.date().isoformat() <= until:
            direction = "sent" if m.direction == "out" else "received"
            outcomes[(m.kind, direction, _outcome(m.kind, name, m.body.get(name)))] += 1
    return {
        "party": party,
        "period": period,
        "generated_at": format_time(now),
        "counts": [
            {"kind": k, "counterpart": c, "direction": d, "priority": p, "count": n}
            for (k, c, d, p), n in sorted(counts.items())
        ],
        "outcomes": [
            {"kind": k, "direction": d, "outcome": o, "count": n}
            for (k, d, o), n in sorted(outcomes.items())
        ],
        "times": [
            {"kind": k, "direction": d, "measure": m, "bucket": b, "count": n}
            for (k, d, m, b), n in sorted(times.items())
        ],
    }


LIST_FIELDS = ("counts", "outcomes", "times")


def signed_bytes(report: Mapping[str, Any]) -> bytes:
    """What the signature covers: PAE of the canonical JSON of the figures (an empty list
    and an absent one are the same: the form validator drops empty fields)."""
    figures = {k: report[k] for k in SIGNED_FIELDS if k not in LIST_FIELDS}
    figures.update({k: list(report.get(k) or ()) for k in LIST_FIELDS})
    return pae(PAYLOAD_TYPE, canonical(figures))


def sign_report(report: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """``report`` with its ``signature``."""
    sig = key.sign(signed_bytes(report))
    return {**report, "signature": {"key_id": key.public.key_id, "sig": b64u_encode(sig)}}


class ReportRefused(PeerError):
    """A statistics report that does not pass; ``reason`` says why (for the operator)."""

    code = "report_refused"
    http_status = 422

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"statistics report refused ({reason}): {detail}")
        self.reason = reason


def verify_report(
    body: Mapping[str, Any],
    *,
    sender: str,
    key_at: Callable[[datetime], VerifyKey],
    inactive_now: bool,
    now: datetime | None = None,
) -> None:
    """Check a report received from ``sender``.

    Args:
        key_at: the sender's signing key valid at a time (raises Rejected when there is
            none: unknown, suspended or revoked then).
        inactive_now: the sender is suspended or revoked in the directory in force.
        now: the time of collection; a report made more than :data:`FUTURE_SLACK` after it
            is refused (its date would let it outrank every later correction).

    Raises:
        ReportRefused: ``content`` (fields beyond the figures, or text where a kind, an
            outcome or a counterpart belongs), ``party_mismatch``,
            ``malformed``, ``suspended``, ``unknown_key`` or ``bad_signature``.
    """
    extra = sorted(set(body) - ALLOWED_FIELDS)
    if extra:
        raise ReportRefused("content", f"fields beyond the figures: {', '.join(extra)[:200]}")
    if body.get("party") != sender:
        raise ReportRefused("party_mismatch", f"says it is from {str(body.get('party'))[:16]!r}")
    if inactive_now:
        raise ReportRefused("suspended", f"{sender} is suspended or revoked in the directory")
    signature = body.get("signature")
    if not isinstance(signature, Mapping):
        raise ReportRefused("malformed", "no signature")
    try:
        made = parse_time(str(body.get("generated_at")))
        # Types and sizes as the form says: a signed report may still be malformed.
        validate_form(REPORT_KIND, dict(body), now=made)
        sig = b64u_decode(str(signature.get("sig")), max_bytes=64)
        message = signed_bytes(body)
    except (KeyError, ValueError, PocnetError) as e:
        raise ReportRefused("malformed", getattr(e, "code", type(e).__name__)) from None
    if made.strftime("%Y-%m") < str(body["period"]):
        # The key is the one valid when the report says it was made: figures of a month
        # made before it began would let a key retired before then sign them.
        raise ReportRefused("malformed", "made before the month it reports")
    if now is not None and made > now + FUTURE_SLACK:
        raise ReportRefused("malformed", f"made in the future ({made.isoformat()})")
    problem = _code_problem(body)
    if problem:
        raise ReportRefused("content", problem)
    try:
        key = key_at(made)
    except Rejected as e:
        reason = "suspended" if e.reason == "sender_inactive" else "unknown_key"
        raise ReportRefused(reason, f"no key of {sender} valid at {made.isoformat()}") from None
    if signature.get("key_id") != key.key_id or not key.verify(sig, message):
        raise ReportRefused("bad_signature", f"the signature is not {sender}'s")


FUTURE_SLACK = timedelta(days=1)
"""How far ahead of the collector's clock a report's ``generated_at`` may be (clock skew)."""


@dataclass(frozen=True)
class Received:
    """A report as the secretariat's node stored it."""

    sender: str
    body: Mapping[str, Any]
    msg_id: str


# Kinds that start an exchange (requests, spontaneous information): not an answer or a
# follow-up to another message, not a ping, not a statistics report.
REQUEST_KINDS = frozenset(
    k for k, spec in KINDS.items() if not spec.answers and not spec.light_common
)


def _request(row: Mapping[str, Any]) -> bool:
    return row["kind"] in REQUEST_KINDS


@dataclass
class NetworkReport:
    """The combination of the reports that passed, for one or more months."""

    periods: tuple[str, ...]
    expected: tuple[str, ...]
    reported: dict[str, list[str]] = field(default_factory=dict)  # period -> parties
    refused: list[dict[str, str]] = field(default_factory=list)
    counts: list[dict[str, Any]] = field(default_factory=list)  # with party and period
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    times: list[dict[str, Any]] = field(default_factory=list)

    def missing(self, period: str) -> list[str]:
        """Parties expected to report for ``period`` that did not."""
        got = set(self.reported.get(period, ()))
        return [p for p in self.expected if p not in got]

    def requests(self, period: str, direction: str = "sent") -> Counter[str]:
        """Messages that start an exchange (:data:`REQUEST_KINDS`) by kind for a month."""
        out: Counter[str] = Counter()
        for row in self.counts:
            if (row["period"], row["direction"]) == (period, direction) and _request(row):
                out[row["kind"]] += row["count"]
        return out

    def emergency_share(self, period: str) -> tuple[int, int]:
        """(emergency requests, all requests) sent in a month."""
        total = emergency = 0
        for row in self.counts:
            if (row["period"], row["direction"]) == (period, "sent") and _request(row):
                total += row["count"]
                emergency += row["count"] if row["priority"] == "emergency" else 0
        return emergency, total

    def time_distribution(self, measure: str = "respond") -> dict[str, Counter[str]]:
        """Per kind, requests per time bucket (as their senders measured them)."""
        out: dict[str, Counter[str]] = {}
        for row in self.times:
            if row["measure"] == measure and row["direction"] == "sent":
                out.setdefault(row["kind"], Counter())[row["bucket"]] += row["count"]
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "periods": list(self.periods),
            "expected": list(self.expected),
            "reported": self.reported,
            "missing": {p: self.missing(p) for p in self.periods},
            "refused": self.refused,
            "requests": {p: dict(sorted(self.requests(p).items())) for p in self.periods},
            "emergency_share": {p: list(self.emergency_share(p)) for p in self.periods},
            "time_to_respond": {k: dict(v) for k, v in self.time_distribution("respond").items()},
        }


def _key_of(
    key_at: Callable[[str, datetime], VerifyKey], party: str
) -> Callable[[datetime], VerifyKey]:
    return lambda at: key_at(party, at)


def combine(
    received: Iterable[Received],
    *,
    periods: Iterable[str],
    expected: Iterable[str],
    key_at: Callable[[str, datetime], VerifyKey],
    inactive_now: Callable[[str], bool],
    now: datetime | None = None,
) -> NetworkReport:
    """Verify every report and combine those that pass, for ``periods``.

    ``expected``: the parties that should report (the directory's active parties but the
    secretariat's own). A party's newest report for a month replaces its older ones.
    """
    wanted = tuple(sorted(set(periods)))
    report = NetworkReport(periods=wanted, expected=tuple(sorted(set(expected))))
    newest: dict[tuple[str, str], Received] = {}
    for item in received:
        period = str(item.body.get("period", ""))[:7]
        if period not in wanted:
            continue
        try:
            verify_report(
                item.body,
                sender=item.sender,
                key_at=_key_of(key_at, item.sender),
                inactive_now=inactive_now(item.sender),
                now=now,
            )
        except ReportRefused as e:
            report.refused.append(
                {"party": item.sender, "period": period, "msg_id": item.msg_id, "reason": e.reason}
            )
            continue
        key = (item.sender, period)
        old = newest.get(key)
        if old is None or str(item.body["generated_at"]) > str(old.body["generated_at"]):
            newest[key] = item
    for (party, period), item in sorted(newest.items()):
        report.reported.setdefault(period, []).append(party)
        extra = {"party": party, "period": period}
        report.counts.extend({**extra, **row} for row in item.body.get("counts", ()))
        report.outcomes.extend({**extra, **row} for row in item.body.get("outcomes", ()))
        report.times.extend({**extra, **row} for row in item.body.get("times", ()))
    return report


__all__ = [
    "REPORT_KIND",
    "NetworkReport",
    "Received",
    "ReportRefused",
    "bucket_of",
    "build_report",
    "combine",
    "month_bounds",
    "sign_report",
    "verify_report",
]
