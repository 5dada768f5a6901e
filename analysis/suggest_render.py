"""Renderers of a :class:`~otelytics.analysis.suggestions.SuggestionReport`: terminal, Markdown,
JSON. Separate from the rules so that the data model stays a pure value; the terminal renderer
colours only when asked to (the CLI decides from ``NO_COLOR`` and whether stdout is a TTY)."""

from __future__ import annotations

import json
import math
from typing import Any

from otelytics.analysis.suggestions import Suggestion, SuggestionReport

__all__ = ["FORMATS", "render", "render_json", "render_markdown", "render_terminal"]

FORMATS = ("terminal", "markdown", "json")


def _saving(s: Suggestion, days: float) -> str:
    parts = []
    if s.saving_usd is not None:
        parts.append(f"${s.saving_usd:,.4f}")
    if s.saving_seconds:
        parts.append(f"{s.saving_seconds:,.1f} s")
    if not parts:
        return "-"
    text = " + ".join(parts)
    if days > 0 and s.saving_usd:
        text += f" (~${s.saving_usd / days:,.4f}/day)"
    return text


def _period(report: SuggestionReport) -> str:
    t = report.totals
    if t.start is None or t.end is None:
        return "no data"
    return f"{t.start:%Y-%m-%d %H:%M} .. {t.end:%Y-%m-%d %H:%M} UTC ({t.days:.2f} days)"


def _omitted(report: SuggestionReport) -> str:
    more = ", ".join(f"{n} {rule}" for rule, n in report.omitted.items())
    return f"Not shown (lower priority; --max-per-rule N shows more): {more}."


def render_terminal(report: SuggestionReport, color: bool = False) -> str:
    """Plain text, one block per suggestion; ANSI colour only when ``color``."""
    def c(code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    t = report.totals
    lines = [c("1", f"otelytics suggestions: {len(report.suggestions)} found"),
             f"period {_period(report)}; {t.spans} spans, {t.llm_calls} LLM calls, "
             f"cost ${t.cost_usd:,.4f}", ""]
    for i, s in enumerate(report.suggestions, 1):
        status = f" [{s.status}]" if s.status else ""
        lines.append(c("1;33" if s.priority >= 10 else "1", f"{i}. {s.title}") + status)
        lines.append(f"   {s.category} | priority {s.priority:.1f} | confidence "
                     f"{s.confidence:.0%} | saving {_saving(s, t.days)} | {s.fingerprint}")
        lines.append(f"   {s.detail}")
        lines.append(f"   fix: {s.fix}")
        lines.append(f"   validate: {s.validate}")
        if s.examples:
            lines.append(f"   example traces: {', '.join(s.examples)}")
        lines.append("")
    if not report.suggestions:
        lines.append(c("32", "Nothing to suggest for this period."))
    if report.omitted:
        lines.append(_omitted(report) + "\n")
    if report.resolved:
        lines.append(c("32", f"Resolved since the previous run ({len(report.resolved)}):"))
        lines += [f"  - {r.title} ({r.rule}, {r.fingerprint})" for r in report.resolved]
    return "\n".join(lines).rstrip() + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: SuggestionReport) -> str:
    """A table (fits a pull-request comment) followed by the details of each suggestion."""
    t = report.totals
    out = ["## otelytics suggestions", "",
           f"Period {_period(report)} | {t.spans} spans | {t.llm_calls} LLM calls | "
           f"cost ${t.cost_usd:,.4f}", ""]
    if report.suggestions:
        status = " Status |" if report.compared else ""
        out += [f"| # | Suggestion | Category | Priority | Confidence | Saving |{status}",
                "|---|---|---|---:|---:|---|" + ("---|" if report.compared else "")]
        for i, s in enumerate(report.suggestions, 1):
            row = (f"| {i} | {_md(s.title)} | {s.category} | {s.priority:.1f} | "
                   f"{s.confidence:.0%} | {_md(_saving(s, t.days))} |")
            out.append(row + (f" {s.status} |" if report.compared else ""))
        out.append("")
        for i, s in enumerate(report.suggestions, 1):
            out += [f"### {i}. {_md(s.title)}", "", s.detail, "",
                    f"- **Fix:** {s.fix}", f"- **Validate:** {s.validate}",
                    f"- **Fingerprint:** `{s.fingerprint}` (rule `{s.rule}`)"]
            if s.examples:
                out.append("- **Example traces:** " + ", ".join(f"`{e}`" for e in s.examples))
            out.append("")
    else:
        out += ["Nothing to suggest for this period.", ""]
    if report.omitted:
        out += [_omitted(report), ""]
    if report.resolved:
        out += [f"**Resolved since the previous run ({len(report.resolved)}):**", ""]
        out += [f"- {_md(r.title)} (`{r.rule}`, `{r.fingerprint}`)" for r in report.resolved]
        out.append("")
    return "\n".join(out)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def render_json(report: SuggestionReport) -> str:
    """The versioned JSON document (``schema_version``), valid JSON (no NaN)."""
    return json.dumps(_clean(report.to_dict()), indent=2, sort_keys=False, default=str) + "\n"


def render(report: SuggestionReport, fmt: str, color: bool = False) -> str:
    """Render in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "terminal":
        return render_terminal(report, color)
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "json":
        return render_json(report)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
