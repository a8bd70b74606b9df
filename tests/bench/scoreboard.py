"""The table of goals (issue 12's rows 1 to 6, issue 16's row 7, issue 15's rows 8 and 9):
each benchmark reports its row here, ``make bench`` prints all.

A benchmark calls :func:`record` with its figure and the baseline measured in the same
run; the line is printed at once and again in the summary that ``python -m tests.bench``
prints at the end, where a row no benchmark measured in this run says so (it is never
counted as met). The goals are the issue's and are not to be lowered here. A row whose
issue set no number (``met`` None) is reported as measured, never as PASS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    title: str
    goal: str
    met: Callable[[float], bool] | None
    bench: str
    issue: int = 12


ROWS: dict[int, Row] = {
    1: Row(
        "relay durable accepts vs a bare aiohttp handler committing one row per request",
        ">= 2x",
        lambda v: v >= 2.0,
        "relay",
    ),
    2: Row(
        "envelope seal / open vs the raw primitive chain", ">= 0.8", lambda v: v >= 0.8, "envelope"
    ),
    3: Row(
        "relay ACCEPTED -> a waiting recipient's long-poll returns, p50",
        "<= 2 ms",
        lambda v: v <= 2.0,
        "relay",
    ),
    4: Row("node send -> RETRIEVED back at the sender, p50", "<= 5 ms", lambda v: v <= 5.0, "node"),
    5: Row("full PoCNet cycle vs pyas2lib (AS2) full cycle", ">= 25x", lambda v: v >= 25.0, "as2"),
    6: Row(
        "audit inclusion/consistency proof through the relay at 10^6 entries",
        "< 1 ms",
        lambda v: v < 1.0,
        "relay_audit",
    ),
    7: Row(
        "accepted envelopes/s with 2 and 4 relay processes (--workers) on one PostgreSQL, "
        "as a ratio to 1 process",
        "report (issue 16 sets no number)",
        None,
        "workers",
        issue=16,
    ),
    8: Row(
        "attachments: peak RSS of sender, relay, recipient for 1 GiB vs 10 MiB",
        "<= 1.1x",
        lambda v: v <= 1.1,
        "attachments",
        issue=15,
    ),
    9: Row(
        "attachments: 1 GiB FR -> verified at DE vs a plain aiohttp loopback copy",
        ">= 0.5",
        lambda v: v >= 0.5,
        "attachments",
        issue=15,
    ),
}

NOT_BUILT: dict[int, str] = {}  # a row whose benchmark could not run here, and why


@dataclass(frozen=True)
class Result:
    row: int
    label: str
    value: float
    shown: str
    baseline: str

    @property
    def verdict(self) -> str:
        met = ROWS[self.row].met
        if met is None:
            return "REPORTED"
        return "PASS" if met(self.value) else "FAIL"

    def line(self) -> str:
        row = ROWS[self.row]
        return (
            f"[issue {row.issue} row {self.row}] {self.label}: {self.shown} "
            f"(baseline in the same run: {self.baseline}); goal {row.goal}: {self.verdict}"
        )


_results: list[Result] = []


def record(row: int, label: str, value: float, shown: str, baseline: str) -> Result:
    """Note and print one figure of row ``row`` (``value`` in the goal's unit)."""
    result = Result(row, label, value, shown, baseline)
    _results.append(result)
    print("   " + result.line(), flush=True)
    return result


def summary() -> list[str]:
    """Every row of the table: its figures from this run, or why there are none."""
    lines = []
    for number, row in ROWS.items():
        got = [r for r in _results if r.row == number]
        lines.append(f"row {number}: {row.title} (goal {row.goal})")
        for r in got:
            lines.append(f"    {r.label}: {r.shown} vs {r.baseline}: {r.verdict}")
        if not got:
            why = NOT_BUILT.get(number, f"not run (python -m tests.bench {row.bench})")
            lines.append(f"    NOT MEASURED: {why}")
    return lines
