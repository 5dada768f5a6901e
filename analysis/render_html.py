"""HTML renderer: one self-contained page with inline SVG charts (no scripts, no CDN).

The page opens offline: CSS and charts are inline, charts are SVG drawn here from the report's
tables (daily executions and cost, p95 by operation, cost by model), so there is nothing to
fetch and nothing to execute.
"""

from __future__ import annotations

from html import escape
from typing import Any

from otelytics.analysis.models import Report, Section, Table
from otelytics.analysis.render_text import fmt, header_lines

__all__ = ["bar_chart", "column_chart", "render_html"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2733;
background:#fff}h1{font-size:22px}h2{margin-top:32px;border-bottom:2px solid #3b6ea5;
padding-bottom:4px}table{border-collapse:collapse;margin:8px 0 16px}td,th{padding:3px 10px;
border-bottom:1px solid #dde3ea;text-align:left;font-variant-numeric:tabular-nums}
th{background:#eef3f8}.desc{color:#5b6b7c;font-size:12px}.fig td:first-child{color:#5b6b7c}
.charts{display:flex;flex-wrap:wrap;gap:24px}.chart{border:1px solid #dde3ea;padding:8px}
"""
_BAR = "#3b6ea5"


def column_chart(title: str, labels: list[str], values: list[float], unit: str = "",
                 width: int = 560, height: int = 220) -> str:
    """Vertical bars (a time series): one bar per label."""
    vals = [float(v or 0) for v in values]
    top = max(vals, default=0) or 1.0
    n = max(len(vals), 1)
    left, bottom, plot_h = 50, 30, height - 60
    bw = (width - left - 10) / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(title)}">',
             f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" '
             f'y2="{height - bottom}" stroke="#888"/>',
             f'<text x="{left - 4}" y="{height - bottom - plot_h + 4}" font-size="10" '
             f'text-anchor="end">{escape(fmt(unit, _num(top)))}</text>']
    for i, v in enumerate(vals):
        h = plot_h * v / top
        x = left + i * bw
        parts.append(f'<rect x="{x + 1:.1f}" y="{height - bottom - h:.1f}" '
                     f'width="{max(bw - 2, 1):.1f}" height="{h:.1f}" fill="{_BAR}">'
                     f'<title>{escape(labels[i])}: {escape(fmt(unit, _num(v)))}</title></rect>')
    step = max(1, n // 6)
    for i in range(0, n, step):
        parts.append(f'<text x="{left + i * bw + bw / 2:.1f}" y="{height - bottom + 14}" '
                     f'font-size="10" text-anchor="middle">{escape(labels[i][-5:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else v


def bar_chart(title: str, labels: list[str], values: list[float], unit: str = "",
              width: int = 560) -> str:
    """Horizontal bars (a ranking), longest first as given."""
    vals = [float(v or 0) for v in values]
    top = max(vals, default=0) or 1.0
    row, left = 20, 180
    height = 30 + row * max(len(vals), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(title)}">',
             f'<text x="4" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    for i, (label, v) in enumerate(zip(labels, vals, strict=True)):
        y = 26 + i * row
        w = (width - left - 90) * v / top
        parts.append(f'<text x="{left - 6}" y="{y + 13}" font-size="11" text-anchor="end">'
                     f'{escape(str(label)[:28])}</text>'
                     f'<rect x="{left}" y="{y}" width="{max(w, 1):.1f}" height="{row - 5}" '
                     f'fill="{_BAR}"/><text x="{left + w + 4:.1f}" y="{y + 13}" '
                     f'font-size="11">{escape(fmt(unit, _num(v)))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _find(report: Report, section: str, table: str) -> Table | None:
    try:
        return report.section(section).table(table)
    except KeyError:
        return None


def _charts(report: Report) -> list[str]:
    out = []
    daily = _find(report, "trends", "daily")
    if daily and daily.rows:
        days = [str(d) for d in daily.column("day")]
        out.append(column_chart("Executions per day", days, daily.column("executions"),
                                "executions"))
        if any(daily.column("cost_usd")):
            out.append(column_chart("Cost per day (USD)", days, daily.column("cost_usd"),
                                    "cost_usd"))
    perf = _find(report, "performance", "by_operation")
    if perf and perf.rows:
        out.append(bar_chart("p95 duration by operation (ms)", perf.column("operation")[:10],
                             perf.column("p95_ms")[:10], "ms"))
    by_model = _find(report, "cost", "by_model")
    if by_model and by_model.rows and any(by_model.column("cost_usd")):
        out.append(bar_chart("Cost by model (USD)", [str(m) for m in by_model.column("model")][:10],
                             by_model.column("cost_usd")[:10], "cost_usd"))
    return out


def _table_html(columns: list[str], rows: list[list[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _section_html(section: Section, rows: int) -> str:
    parts = [f"<h2>{escape(section.title)}</h2>"]
    if section.figures:
        parts.append(_table_html(["figure", "value"],
                                 [[k, fmt(k, v)] for k, v in section.figures.items()], "fig"))
    for t in section.tables:
        parts.append(f"<h3>{escape(t.name)}</h3><div class='desc'>{escape(t.description)}</div>")
        if not t.rows:
            parts.append("<p class='desc'>(none)</p>")
            continue
        cells = [[fmt(c, v) for c, v in zip(t.columns, r, strict=True)] for r in t.rows[:rows]]
        parts.append(_table_html(list(t.columns), cells))
    parts += [f"<p class='desc'>{escape(n)}</p>" for n in section.notes]
    return "".join(parts)


def render_html(report: Report, *, rows: int = 25) -> str:
    """A complete HTML document; opens offline in any browser."""
    header = _table_html(["", ""], [[k, v] for k, v in header_lines(report)], "fig")
    charts = "".join(f'<div class="chart">{c}</div>' for c in _charts(report))
    body = "".join(_section_html(s, rows) for s in report.sections)
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>otelytics {escape(report.kind)}</title><style>{_CSS}</style></head><body>"
            f"<h1>otelytics {escape(report.kind)}</h1>{header}"
            f"<div class='charts'>{charts}</div>{body}</body></html>\n")
