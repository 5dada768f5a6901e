"""Text renderers: terminal tables and Markdown (sized to fit a pull-request comment).

Both read a :class:`~otelytics.analysis.models.Report` and never query. The terminal renderer
uses bold/colour only when the stream is a TTY and ``NO_COLOR`` is unset (no-color.org);
``progress_printer`` draws a one-line progress indicator on stderr during long scans, and
nothing when stderr is not a TTY.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from otelytics.analysis.models import Report, Section, Table

__all__ = ["fmt", "header_lines", "progress_printer", "render_markdown", "render_terminal",
           "use_color"]

_MD_LIMIT = 60000  # GitHub comments are capped at 65,536 characters


def use_color(stream: TextIO) -> bool:
    """Colour only on a TTY, never with NO_COLOR set (any value) or TERM=dumb."""
    if "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def fmt(name: str, value: Any) -> str:
    """A value for people: rates as %, money with $, durations and counts readable."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    lname = name.lower()
    if isinstance(value, int | float) and (
            lname.endswith(("rate", "share", "_pct", "growth", "upper95"))
            or "growth" in lname):
        return f"{value * 100:.2f}%"
    if isinstance(value, int | float) and ("usd" in lname or "cost" in lname):
        if value == 0:
            return "$0"
        if abs(value) < 0.01:
            places = min(12, 2 - math.floor(math.log10(abs(value))))
            return f"${value:.{places}f}"  # small LLM costs keep three significant digits
        return f"${value:,.4f}" if abs(value) < 100 else f"${value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if lname.endswith("_p") or lname == "p_value":
            return f"{value:.3g}"
        return f"{value:,.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.3g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def window_label(w: Mapping[str, str | None]) -> str:
    """``all data`` / ``from X`` / ``until Y`` / ``X .. Y`` (``to`` is exclusive)."""
    start, end = w.get("from"), w.get("to")
    if start and end:
        return f"{start} .. {end}"
    if start:
        return f"from {start}"
    return f"until {end}" if end else "all data"


def header_lines(report: Report) -> list[tuple[str, str]]:
    """Where the report came from, as (label, value) pairs, for every renderer."""
    w = report.window
    out = [("dataset", report.root),
           ("window", window_label(w)),
           ("files", ", ".join(f"{k} {v}" for k, v in report.files.items()))]
    if report.filters:
        out.append(("filters", fmt("", report.filters)))
    if report.group_by:
        out.append(("group by", report.group_by))
    if report.skipped_files:
        out.append(("skipped files", f"{len(report.skipped_files)} (corrupt or foreign): "
                    + "; ".join(f"{p} - {r}" for p, r in report.skipped_files[:5])))
    return out


def _cells(table: Table, limit: int) -> list[list[str]]:
    return [[fmt(c, v) for c, v in zip(table.columns, row, strict=True)]
            for row in table.rows[:limit]]


def render_terminal(report: Report, stream: TextIO | None = None, *, rows: int = 10,
                    color: bool | None = None) -> str:
    """The report as aligned plain-text tables (``rows`` per table)."""
    stream = stream or sys.stdout
    color = use_color(stream) if color is None else color

    def bold(s: str) -> str:
        return f"\033[1m{s}\033[0m" if color else s

    def dim(s: str) -> str:
        return f"\033[2m{s}\033[0m" if color else s

    lines = [bold(f"otelytics {report.kind}")]
    lines += [f"  {k}: {v}" for k, v in header_lines(report)]
    for section in report.sections:
        lines += ["", bold(f"== {section.title} ==")]
        width = max((len(k) for k in section.figures), default=0)
        lines += [f"  {k.ljust(width)}  {fmt(k, v)}" for k, v in section.figures.items()]
        for table in section.tables:
            lines += ["", f"  {bold(table.name)}  {dim(table.description)}"]
            if not table.rows:
                lines.append("  (none)")
                continue
            cells = _cells(table, rows)
            widths = [max(len(c), *(len(r[i]) for r in cells))
                      for i, c in enumerate(table.columns)]
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(table.columns, widths,
                                                                     strict=True)))
            lines.append("  " + "  ".join("-" * w for w in widths))
            for r in cells:
                lines.append("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
            if len(table.rows) > rows:
                lines.append(dim(f"  ... {len(table.rows) - rows} more rows "
                                 f"(otelytics export {section.name}.{table.name})"))
        lines += [dim(f"  note: {n}") for n in section.notes]
    return "\n".join(lines) + "\n"


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _md_table(columns: list[str], cells: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(_md_escape(c) for c in columns) + " |",
           "|" + "|".join("---" for _ in columns) + "|"]
    out += ["| " + " | ".join(_md_escape(v) for v in r) + " |" for r in cells]
    return out


def _md_section(section: Section, rows: int) -> list[str]:
    out = [f"### {section.title}", ""]
    if section.figures:
        out += _md_table(["figure", "value"],
                         [[k, fmt(k, v)] for k, v in section.figures.items()])
    for table in section.tables:
        if not table.rows:
            continue
        out += ["", f"**{table.name}** — {table.description}", ""]
        out += _md_table(list(table.columns), _cells(table, rows))
        if len(table.rows) > rows:
            out.append(f"\n_{len(table.rows) - rows} more rows_")
    out += [f"\n_{n}_" for n in section.notes]
    return [*out, ""]


def render_markdown(report: Report, *, rows: int = 10) -> str:
    """The report as GitHub-flavoured Markdown, kept under 60,000 characters."""
    head = [f"## otelytics {report.kind}", ""]
    head += [f"- **{k}**: {_md_escape(v)}" for k, v in header_lines(report)]
    head.append("")
    for limit in (rows, 5, 3, 1):
        body = [line for s in report.sections for line in _md_section(s, limit)]
        text = "\n".join(head + body)
        if len(text) <= _MD_LIMIT:
            return text + "\n"
    return text[:_MD_LIMIT - 40] + "\n\n_(truncated to fit a comment)_\n"


def progress_printer(stream: TextIO | None = None) -> Callable[[int, int, str], None] | None:
    """A progress callback drawing ``[2/9] performance`` on ``stream`` (stderr) when it is a
    TTY; None otherwise (pipes and CI logs stay clean)."""
    stream = stream or sys.stderr
    if not getattr(stream, "isatty", lambda: False)():
        return None

    def show(i: int, n: int, name: str) -> None:
        if name == "done":
            stream.write("\r\033[K")
        else:
            stream.write(f"\r\033[Kscanning [{i + 1}/{n}] {name}...")
        stream.flush()
    return show
