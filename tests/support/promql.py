"""What a PromQL expression reads: its metric names, the labels it matches on and groups by.

Enough of PromQL for the expressions of ``deploy/prometheus/alerts.yml`` and the Grafana
dashboard (selectors, ranges, functions, aggregations with ``by``/``without``, arithmetic):
strings are dropped, ``{...}`` matchers and ``by (...)`` groups read, and every remaining
identifier that is not a function call, a keyword or a number is a metric name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

KEYWORDS = frozenset(
    {
        "by",
        "without",
        "and",
        "or",
        "unless",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "inf",
        "nan",
    }
)
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_RANGE = re.compile(r"\[[^\]]*\]")
_NUMBER = re.compile(r"(?<![a-zA-Z0-9_:])[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_MATCHER_KEY = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


@dataclass(frozen=True)
class Reads:
    """What one expression reads."""

    names: frozenset[str]
    matched: dict[str, frozenset[str]] = field(default_factory=dict)  # name: label keys
    grouped: frozenset[str] = frozenset()


def reads(expr: str) -> Reads:
    """The metric names, matcher label keys (per name) and grouping labels of ``expr``."""
    text = _STRING.sub('""', expr)
    matched: dict[str, set[str]] = {}
    for name, body in _SELECTOR.findall(text):
        matched.setdefault(name, set()).update(_MATCHER_KEY.findall(body))
    text = _SELECTOR.sub(lambda m: f" {m.group(1) or ''} ", text)
    grouped = {g.strip() for body in _GROUPING.findall(text) for g in body.split(",") if g.strip()}
    text = _GROUPING.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names = set()
    for m in _NAME.finditer(text):
        word = m.group(0)
        after = text[m.end() :].lstrip()
        if word.lower() in KEYWORDS or after.startswith("("):
            continue
        names.add(word)
    return Reads(
        frozenset(names),
        {k: frozenset(v) for k, v in matched.items() if k},
        frozenset(grouped),
    )


@dataclass(frozen=True)
class Exported:
    """The sample names a /metrics page can show, and the label keys seen per sample name."""

    names: frozenset[str]
    labels: dict[str, frozenset[str]]


_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created", ""),
    "gauge": ("",),
    "info": ("_info",),
}


def exported(page: str) -> Exported:
    """Every sample name ``page`` declares (a labelled metric with no child yet included:
    its ``# TYPE`` line names it), with the label keys of the samples present."""
    names: set[str] = set()
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(page):
        for suffix in _SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
        for sample in family.samples:
            names.add(sample.name)
            labels.setdefault(sample.name, set()).update(sample.labels)
    return Exported(frozenset(names), {k: frozenset(v) for k, v in labels.items()})


# Series Prometheus makes itself for every target (not the exporter's to export).
SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
TARGET_LABELS = frozenset({"instance", "job"})


def problems(where: str, expr: str, page: Exported) -> list[str]:
    """What ``expr`` reads that ``page`` does not export: a name, a matched label, a
    grouping label (checked when every name's labels are known), or no metric at all."""
    got = reads(expr)
    found = []
    if not got.names:
        found.append(f"{where}: reads no metric: {expr}")
    known: set[str] = set(TARGET_LABELS)
    complete = True
    for name in sorted(got.names):
        if name in SYNTHETIC:
            continue
        if name not in page.names:
            found.append(f"{where}: {name} is not exported")
            continue
        if name not in page.labels:
            complete = False  # a labelled metric with no child yet: its labels are unknown
            continue
        known |= page.labels[name]
        missing = got.matched.get(name, frozenset()) - page.labels[name] - TARGET_LABELS
        if missing:
            found.append(f"{where}: {name} has no label {sorted(missing)}")
    if complete and not got.grouped <= known:
        found.append(f"{where}: groups by {sorted(got.grouped - known)}, which nothing has")
    return found


def alert_rules(doc: dict[str, Any], group: str) -> dict[str, str]:
    """Alert name: expression, of the named group of a parsed Prometheus rules file."""
    rules = [r for g in doc["groups"] if g["name"] == group for r in g["rules"]]
    return {r["alert"]: r["expr"] for r in rules}
