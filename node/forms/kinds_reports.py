"""The statistics report a node sends the secretariat (T-CY's reporting on the network's
use, ADR 0011): figures only, no content, no reference, no identifier.

The body is built by :func:`node.reports.network.build_report` and signed by the sending
node; the secretariat checks it with :func:`node.reports.network.verify_report`.
"""

from __future__ import annotations

from node.forms.common import URGENCIES
from node.forms.spec import Field, KindSpec, choice, items, line, obj, typed

DIRECTIONS = ("sent", "received")
MEASURES = ("acknowledge", "respond")
# Upper bounds of the time buckets, in seconds; the last one is open.
TIME_BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("lt_1m", 60.0),
    ("lt_5m", 300.0),
    ("lt_15m", 900.0),
    ("lt_1h", 3600.0),
    ("lt_4h", 14400.0),
    ("lt_24h", 86400.0),
    ("lt_72h", 259200.0),
    ("ge_72h", None),
)
REPORT_ROWS_MAX = 10_000


def _rows(name: str, fields: tuple[Field, ...], help: str) -> Field:
    return items(name, obj("", fields), help, max_items=REPORT_ROWS_MAX)


def _kind() -> Field:
    return line("kind", "message kind", required=True, max_len=48)


def _direction() -> Field:
    return choice("direction", DIRECTIONS, "sent or received", required=True)


STATISTICS_REPORT = KindSpec(
    name="statistics_report",
    title="Statistics report to the secretariat",
    basis="Conv. Art. 35; T-CY reporting on the use of the 24/7 Network",
    light_common=True,
    fields=(
        line("party", "the reporting party", required=True, max_len=16),
        typed("period", "month", "the month reported, YYYY-MM", required=True),
        typed("generated_at", "datetime", "when the figures were computed", required=True),
        _rows(
            "counts",
            (
                _kind(),
                line("counterpart", "the other party", required=True, max_len=16),
                _direction(),
                choice("priority", URGENCIES, "priority", required=True),
                typed("count", "count", "number of messages", required=True),
            ),
            "messages by kind, counterpart, direction and priority",
        ),
        _rows(
            "outcomes",
            (
                _kind(),
                _direction(),
                line("outcome", "outcome or determination", required=True, max_len=48),
                typed("count", "count", "number of answers", required=True),
            ),
            "outcomes of preservation requests and emergency determinations",
        ),
        _rows(
            "times",
            (
                _kind(),
                _direction(),
                choice("measure", MEASURES, "time to acknowledge or to respond", required=True),
                choice("bucket", tuple(b for b, _ in TIME_BUCKETS), "time bucket", required=True),
                typed("count", "count", "number of requests in the bucket", required=True),
            ),
            "time to acknowledge and to respond, as counts per time bucket",
        ),
        obj(
            "signature",
            (
                line("key_id", "the signing key's id", required=True, max_len=100),
                line("sig", "Ed25519 signature, base64url", required=True, max_len=200),
            ),
            "the reporting node's signature over the figures",
            required=True,
        ),
    ),
)

KINDS = (STATISTICS_REPORT,)
