"""The network report as files: HTML, Markdown (for the T-CY plenary), tidy CSV, SVG charts.

:func:`render` returns ``{file name: text}``; the command writes them. The charts are
plain SVG written here (stacked bars; no charting library: three chart shapes do not
justify a dependency, ADR 0011). Every text that comes from a report is escaped.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

from node.forms.kinds_reports import TIME_BUCKETS
from node.reports.network import NetworkReport

CHARTS = ("requests-by-month.svg", "emergency-share.svg", "time-to-respond.svg")
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
BUCKET_LABELS = {
    "lt_1m": "< 1 min",
    "lt_5m": "< 5 min",
    "lt_15m": "< 15 min",
    "lt_1h": "< 1 h",
    "lt_4h": "< 4 h",
    "lt_24h": "< 24 h",
    "lt_72h": "< 72 h",
    "ge_72h": ">= 72 h",
}
_W, _H, _LEFT, _TOP, _BOTTOM = 720, 380, 60, 40, 70


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _svg(title: str, body: list[str], height: int = _H) -> str:
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" '
            f'viewBox="0 0 {_W} {height}" font-family="sans-serif" font-size="12">',
            f"<title>{_e(title)}</title>",
            f'<rect width="{_W}" height="{height}" fill="white"/>',
            f'<text x="{_W // 2}" y="20" text-anchor="middle" font-size="15">{_e(title)}</text>',
            *body,
            "</svg>",
            "",
        ]
    )


def _legend(names: Sequence[str], y: int) -> list[str]:
    out, x = [], _LEFT
    for i, name in enumerate(names):
        color = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 14}" y="{y + 9}">{_e(name)}</text>')
        x += 24 + 7 * len(name)
        if x > _W - 120:
            x, y = _LEFT, y + 16
    return out


def _wrap(label: str, width: int) -> list[str]:
    """A bar's label on at most two lines of about ``width`` characters (kinds lose
    their ``_request`` and underscores)."""
    words = label.removesuffix("_request").replace("_", " ").split()
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= max(width, 8):
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines[:1] + ([" ".join(lines[1:])] if len(lines) > 1 else [])


def stacked_bars(
    title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]], *, unit: str = ""
) -> str:
    """Vertical stacked bars: one bar per label, one colour per series."""
    names = list(series)
    totals = [sum(series[n][i] for n in names) for i in range(len(labels))]
    top = max(totals, default=0) or 1
    plot_h = _H - _TOP - _BOTTOM - 30
    slot = (_W - _LEFT - 20) / max(len(labels), 1)
    bar = min(60.0, slot * 0.6)
    body = [
        f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_W - 20}" y2="{_TOP + plot_h}" '
        'stroke="black"/>',
        f'<text x="{_LEFT - 6}" y="{_TOP + 4}" text-anchor="end">{_e(f"{top:g}{unit}")}</text>',
        f'<text x="{_LEFT - 6}" y="{_TOP + plot_h}" text-anchor="end">0</text>',
    ]
    for i, label in enumerate(labels):
        x = _LEFT + slot * i + (slot - bar) / 2
        y = float(_TOP + plot_h)
        for j, name in enumerate(names):
            value = series[name][i]
            if value <= 0:
                continue
            h = value / top * plot_h
            y -= h
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{_e(name)}: {value:g}{unit}</title>'
                "</rect>"
            )
        body.append(
            f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">'
            f"{_e(f'{totals[i]:g}{unit}')}</text>"
        )
        cx = x + bar / 2
        lines = "".join(
            f'<tspan x="{cx:.1f}" dy="{0 if n == 0 else 14}">{_e(part)}</tspan>'
            for n, part in enumerate(_wrap(label, int(slot / 7)))
        )
        body.append(f'<text y="{_TOP + plot_h + 16}" text-anchor="middle">{lines}</text>')
    if len(names) > 1 or names != [title]:
        body.extend(_legend(names, _H - _BOTTOM + 24))
    return _svg(title, body)


def _charts(report: NetworkReport) -> dict[str, str]:
    periods = list(report.periods)
    kinds = sorted({k for p in periods for k in report.requests(p)})
    by_kind = {k: [float(report.requests(p)[k]) for p in periods] for k in kinds}
    shares = []
    for p in periods:
        emergency, total = report.emergency_share(p)
        shares.append(round(100.0 * emergency / total, 1) if total else 0.0)
    dist = report.time_distribution("respond")
    buckets = [b for b, _ in TIME_BUCKETS]
    per_bucket = {
        BUCKET_LABELS[b]: [100.0 * dist[k][b] / (sum(dist[k].values()) or 1) for k in dist]
        for b in buckets
    }
    return {
        "requests-by-month.svg": stacked_bars("Requests per month, by kind", periods, by_kind),
        "emergency-share.svg": stacked_bars(
            "Emergency share of requests", periods, {"emergency share": shares}, unit="%"
        ),
        "time-to-respond.svg": stacked_bars(
            "Time to respond by kind (share of requests per time band)",
            list(dist),
            per_bucket,
            unit="%",
        ),
    }


def tidy_csv(report: NetworkReport) -> str:
    """``period,party,kind,counterpart,metric,value``: one observation a row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("period", "party", "kind", "counterpart", "metric", "value"))
    for r in report.counts:
        metric = f"{r['direction']}_{r['priority']}"
        w.writerow((r["period"], r["party"], r["kind"], r["counterpart"], metric, r["count"]))
    for r in report.outcomes:
        metric = f"{r['direction']}_outcome_{r['outcome']}"
        w.writerow((r["period"], r["party"], r["kind"], "all", metric, r["count"]))
    for r in report.times:
        metric = f"{r['direction']}_{r['measure']}_{r['bucket']}"
        w.writerow((r["period"], r["party"], r["kind"], "all", metric, r["count"]))
    for p in report.periods:
        for party in report.missing(p):
            w.writerow((p, party, "all", "all", "not_reported", 1))
    for r in report.refused:
        w.writerow((r["period"], r["party"], "all", "all", f"refused_{r['reason']}", 1))
    return buf.getvalue()


def _tables(report: NetworkReport) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table, shared by HTML and Markdown."""
    periods = list(report.periods)
    kinds = sorted({k for p in periods for k in report.requests(p)})
    requests = [[k, *(str(report.requests(p)[k]) for p in periods)] for k in kinds]
    totals = ["all requests", *(str(sum(report.requests(p).values())) for p in periods)]
    received = [
        "as counted by recipients",
        *(str(sum(report.requests(p, "received").values())) for p in periods),
    ]
    share = []
    for p in periods:
        emergency, total = report.emergency_share(p)
        share.append(
            f"{emergency} of {total}" + (f" ({100 * emergency / total:.0f}%)" if total else "")
        )
    dist = report.time_distribution("respond")
    buckets = [b for b, _ in TIME_BUCKETS]
    times = [[k, *(str(dist[k][b]) for b in buckets), str(sum(dist[k].values()))] for k in dist]
    reported = [
        [p, str(len(report.reported.get(p, []))), ", ".join(report.missing(p)) or "-"]
        for p in periods
    ]
    refused = [[r["period"], r["party"], r["reason"], r["msg_id"][:12]] for r in report.refused]
    return [
        ("Requests per month, by kind", ["kind", *periods], [*requests, totals, received]),
        ("Emergency requests", ["", *periods], [["emergency", *share]]),
        (
            "Time to respond, by kind (requests per time band)",
            ["kind", *(BUCKET_LABELS[b] for b in buckets), "answered"],
            times,
        ),
        ("Parties that reported", ["period", "reports", "did not report"], reported),
        ("Reports refused", ["period", "party", "reason", "message"], refused),
    ]


def markdown(report: NetworkReport, generated_at: str) -> str:
    out = [
        "# 24/7 Network: statistics report",
        "",
        f"Periods: {', '.join(report.periods)}. Generated {generated_at} from the signed "
        "reports of the parties' nodes (figures only: no content, no references).",
        "",
    ]
    for title, header, rows in _tables(report):
        out += [f"## {title}", "", "| " + " | ".join(header) + " |"]
        out.append("|" + "---|" * len(header))
        out += ["| " + " | ".join(r.replace("|", "/") for r in row) + " |" for row in rows]
        if not rows:
            out.append("| " + " | ".join("-" for _ in header) + " |")
        out.append("")
    out += ["## Charts", ""] + [f"![{c}]({c})" for c in CHARTS] + [""]
    return "\n".join(out)


def html_page(report: NetworkReport, generated_at: str, charts: dict[str, str]) -> str:
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>24/7 Network: statistics report</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:1.5em}td,th{border:1px solid #999;padding:4px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}</style></head><body>",
        "<h1>24/7 Network: statistics report</h1>",
        f"<p>Periods: {_e(', '.join(report.periods))}. Generated {_e(generated_at)} from the "
        "signed reports of the parties' nodes (figures only: no content, no references).</p>",
    ]
    for title, header, rows in _tables(report):
        out.append(f"<h2>{_e(title)}</h2><table><tr>")
        out.append("".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>")
        for row in rows:
            out.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>")
        if not rows:
            out.append(f'<tr><td colspan="{len(header)}">none</td></tr>')
        out.append("</table>")
    out.append("<h2>Charts</h2>")
    out += [f"<figure>{charts[c]}</figure>" for c in CHARTS]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def render(report: NetworkReport, *, generated_at: str) -> dict[str, str]:
    """Every file of the network report: ``{name: text}``."""
    charts = _charts(report)
    return {
        "network-report.html": html_page(report, generated_at, charts),
        "network-report.md": markdown(report, generated_at),
        "network-report.csv": tidy_csv(report),
        **charts,
    }


__all__ = ["CHARTS", "render", "stacked_bars", "tidy_csv"]
