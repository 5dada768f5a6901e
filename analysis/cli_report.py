"""`otelytics report`, `export` and `compare`.

Every error a user can act on (missing or empty dataset, a window without data, a bad filter,
window or section, files skipped as corrupt) is a :class:`CliError`: one line, exit code 2
(usage) or 3 (no data). Corrupt or foreign files are skipped, counted and named in the report
and on stderr.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from otelytics.analysis import _cli_common as _common
from otelytics.analysis.cli import CliError

__all__ = ["register"]

_FORMATS = ("terminal", "markdown", "html", "json")


def _add_selection(p: argparse.ArgumentParser) -> None:
    _common.add_selection(p)
    p.add_argument("--group-by", metavar="COL|ATTR", help="a column or attribute key")


def register(sub: argparse._SubParsersAction) -> None:
    from otelytics.analysis.report import SECTIONS

    p = sub.add_parser("report", help="reports over a dataset (summary, usage, cost, ...)")
    _add_selection(p)
    p.add_argument("--section", default=None,
                   help=f"comma-separated sections (default all): {','.join(SECTIONS)}")
    p.add_argument("--format", choices=_FORMATS, default="terminal")
    p.add_argument("--what-if-model", help="also price every LLM call as this model")
    p.add_argument("-o", "--output", help="write to FILE instead of stdout")
    p.set_defaults(func=_report)

    e = sub.add_parser("export", help="export a report table or raw spans to CSV/JSON/Parquet")
    e.add_argument("table", help="'spans' or SECTION.TABLE, e.g. cost.by_model")
    _add_selection(e)
    e.add_argument("--format", choices=("csv", "json", "parquet"), default="csv")
    e.add_argument("-o", "--output", required=True, help="output file")
    e.set_defaults(func=_export)

    c = sub.add_parser("compare", help="two periods or two datasets side by side")
    _add_selection(c)
    c.add_argument("--baseline-since", help="baseline window ending where the current starts")
    c.add_argument("--baseline-from", help="baseline start (ISO 8601)")
    c.add_argument("--baseline-to", help="baseline end, exclusive (ISO 8601)")
    c.add_argument("--baseline-root", help="another dataset as the baseline")
    c.add_argument("--alpha", type=float, default=0.05, help="significance level")
    c.add_argument("--format", choices=_FORMATS, default="terminal")
    c.add_argument("-o", "--output", help="write to FILE instead of stdout")
    c.set_defaults(func=_compare)


def _open(root: str | None, args: argparse.Namespace, window: Any = None,
          require_spans: bool = True) -> Any:
    return _common.open_selection(root, since=args.since, start=args.start, end=args.end,
                                  filters=_common.filter_args(args), where=args.where,
                                  window=window, require_spans=require_spans)


def _render(report: Any, fmt: str, output: str | None) -> str:
    from otelytics.analysis import render_html, render_json, render_text

    if fmt == "json":
        return render_json.render_json(report)
    if fmt == "markdown":
        return render_text.render_markdown(report)
    if fmt == "html":
        return render_html.render_html(report)
    return render_text.render_terminal(report, None if output is None else _NoTTY())


class _NoTTY:
    def isatty(self) -> bool:
        return False


def _sections(text: str | None) -> list[str] | None:
    from otelytics.analysis.report import SECTIONS

    if not text:
        return None
    names = [s.strip() for s in text.split(",") if s.strip()]
    for n in names:
        if n not in SECTIONS:
            raise CliError(f"unknown section {n!r}; choose from {', '.join(SECTIONS)}")
    return names


def _build(args: argparse.Namespace, ds: Any, sections: list[str] | None) -> Any:
    from otelytics.analysis.render_text import progress_printer
    from otelytics.analysis.report import build_report

    try:
        return build_report(ds, sections, group_by=args.group_by,
                            what_if_model=getattr(args, "what_if_model", None),
                            progress=progress_printer())
    except Exception as exc:
        if type(exc).__module__.startswith("duckdb") or "duckdb" in type(exc).__module__:
            raise CliError(f"query failed: {str(exc).splitlines()[0]}") from None
        raise


def _check_model(model: str | None) -> None:
    """An unknown what-if model is a usage error, never a report full of "unpriced"."""
    if not model:
        return
    from otelytics.llm.pricing import Usage, price

    if price("", model, Usage(input_tokens=1000, output_tokens=1000)) is None:
        raise CliError(f"unknown model {model!r} for --what-if-model: genai-prices has no "
                       "price for it")


def _report(args: argparse.Namespace) -> int:
    sections = _sections(args.section)
    _check_model(args.what_if_model)
    with _open(args.root, args) as ds:
        report = _build(args, ds, sections)
    _common.write_output(_render(report, args.format, args.output), args.output)
    return 0


def _export(args: argparse.Namespace) -> int:
    import pyarrow as pa

    with _open(args.root, args) as ds:
        if args.table == "spans":
            table = ds.sql("SELECT * FROM spans ORDER BY start_time, trace_id, span_id")
        else:
            section, _, name = args.table.partition(".")
            if not name:
                raise CliError(f"unknown table {args.table!r}; use 'spans' or SECTION.TABLE "
                               "(e.g. cost.by_model)")
            report = _build(args, ds, _sections(section))
            try:
                table = report.section(section).table(name).to_arrow()
            except KeyError as exc:
                raise CliError(str(exc).strip("'\"")) from None
    _export_table(table, args.format, args.output, pa)
    return 0


def _export_table(table: Any, fmt: str, output: str, pa: Any) -> None:
    import json

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, output, compression="zstd")
        elif fmt == "csv":
            import pyarrow.csv as pacsv

            flat = pa.table({n: (c if _csv_ok(c.type, pa) else
                                 pa.array([json.dumps(v, default=str) if v is not None else None
                                           for v in c.to_pylist()]))
                             for n, c in zip(table.column_names, table.columns, strict=True)})
            pacsv.write_csv(flat, output)
        else:
            from otelytics.analysis.models import plain

            rows = [{k: plain(v) for k, v in r.items()} for r in table.to_pylist()]
            Path(output).write_text(json.dumps(rows, indent=1, default=str) + "\n")
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from None


def _csv_ok(t: Any, pa: Any) -> bool:
    return not (pa.types.is_nested(t) or pa.types.is_map(t))


def _compare(args: argparse.Namespace) -> int:
    from otelytics.analysis.compare import compare
    from otelytics.analysis.dataset import Window

    if not (args.baseline_root or args.baseline_since or args.baseline_from):
        raise CliError("give a baseline: --baseline-root OTHER_ROOT, --baseline-since 7d or "
                       "--baseline-from/--baseline-to")
    current = _open(args.root, args)
    try:
        if args.baseline_root:
            window = current.window
        elif args.baseline_since:
            if current.window.start is None:
                raise CliError("--baseline-since needs a current window (--since or --from)")
            window = Window.of(since=args.baseline_since, end=current.window.start)
        else:
            window = Window.of(start=args.baseline_from, end=args.baseline_to)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    # an empty baseline (a fresh dataset) still shows the current period, marked as such
    baseline = _open(args.baseline_root or args.root, args, window, require_spans=False)
    report = compare(baseline, current, alpha=args.alpha)
    _common.write_output(_render(report, args.format, args.output), args.output)
    return 0
