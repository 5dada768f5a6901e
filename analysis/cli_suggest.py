"""`otelytics suggest` (ranked suggestions) and `otelytics check` (budgets and alert rules).

Both read ROOT (default ``$OTELYTICS_DATA_DIR`` or ``./otelytics-data``) over a window and the
same filters as ``report``. Every user error becomes a one-line :class:`CliError`: exit code 2
for usage, 3 when there is no data (as every subcommand); ``check`` exits 1 when a rule is
breached and 0 when all hold.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from otelytics.analysis import _cli_common as _common
from otelytics.analysis.cli import CliError

__all__ = ["register"]

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("suggest", help="ranked suggestions with evidence and savings",
                       description="Ranked suggestions (cost, performance, reliability, "
                                   "workflow efficiency, data quality) with evidence.")
    _common.add_selection(p)
    p.add_argument("--format", choices=("terminal", "markdown", "json"), default="terminal")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--previous", metavar="FILE",
                   help="a previous `suggest --format json` output: mark new / still there / "
                        "resolved")
    p.add_argument("--max-per-rule", type=int, default=10, metavar="N",
                   help="show at most N findings per rule (default 10; the rest are counted)")
    p.add_argument("--state", metavar="FILE",
                   help="state file: compared with when it exists, then overwritten (JSON)")
    p.set_defaults(func=_suggest)

    c = sub.add_parser("check", help="budgets and alert rules; exit 1 when one is breached",
                       description="Exit 0 when every rule holds, 1 when one is breached, "
                                   "2 on a usage error, 3 when there is no data.")
    _common.add_selection(c)
    c.add_argument("--rules", metavar="FILE", help="rules file (TOML or YAML)")
    c.add_argument("--max-cost", action="append", default=[], metavar="[OP=]USD")
    c.add_argument("--max-error-rate", action="append", default=[], metavar="[OP=]RATE")
    c.add_argument("--max-p95", action="append", default=[], metavar="[OP=]SECONDS")
    c.add_argument("--max-tokens", action="append", default=[], metavar="[OP=]N")
    c.add_argument("--max-increase", action="append", default=[],
                   metavar="METRIC[:OP]=PCT", help="e.g. cost=20%%, p95:fit=10%%")
    c.add_argument("--baseline-since", metavar="DURATION",
                   help="baseline = this long before the window's start")
    c.add_argument("--baseline-from", metavar="TIME")
    c.add_argument("--baseline-to", metavar="TIME")
    c.add_argument("--format", choices=("terminal", "json"), default="terminal")
    c.set_defaults(func=_check)


def _open(root: str, since: Any, start: Any, end: Any, filters: dict[str, Any],
          where: list[str], now: dt.datetime) -> Any:
    return _common.open_selection(root, since=since, start=start, end=end, filters=filters,
                                  where=where, now=now, require_spans=False)




def _suggest(args: argparse.Namespace) -> int:
    import duckdb

    from otelytics.analysis.suggest_render import render
    from otelytics.analysis.suggestions import (
        SuggestConfig,
        load_report,
        suggest,
        with_lifecycle,
    )

    if args.max_per_rule < 1:
        raise CliError("--max-per-rule must be at least 1")

    previous = None
    prev_path = args.previous or (args.state if args.state and Path(args.state).exists()
                                  else None)
    if prev_path:
        try:
            previous = load_report(json.loads(Path(prev_path).read_text()))
        except OSError as exc:
            raise CliError(f"cannot read {prev_path}: {exc.strerror}") from None
        except ValueError as exc:  # includes JSONDecodeError
            raise CliError(f"{prev_path}: {_common.first_line(exc)}") from None
    root = args.root or _common.root_default()
    ds = _open(root, args.since, args.start, args.end, _common.filter_args(args), args.where,
               dt.datetime.now(dt.UTC))
    with ds:
        _common.require_data(ds, root)
        try:
            report = suggest(ds, SuggestConfig(max_per_rule=args.max_per_rule),
                             progress=_progress(sys.stderr))
        except duckdb.Error as exc:
            raise CliError(f"cannot read the dataset at {root}: "
                           f"{_common.first_line(exc)}") from None
    if previous is not None:
        report = with_lifecycle(report, previous)
    color = (args.output is None and args.format == "terminal" and sys.stdout.isatty()
             and not os.environ.get("NO_COLOR"))
    text = render(report, args.format, color=color)
    _common.write_output(text, args.output)
    if args.state:
        _common.write_output(render(report, "json"), args.state)
    return 0


def _progress(stream: Any) -> Any:
    """``[3/13] cheaper model...`` on stderr while the rules run, only on a TTY (pipes, CI
    logs and files stay clean); the line is erased at the end."""
    if not getattr(stream, "isatty", lambda: False)():
        return None

    def show(i: int, n: int, name: str) -> None:
        if name == "done":
            stream.write("\r\x1b[K")
        else:
            stream.write(f"\r\x1b[Ksuggest [{i + 1}/{n}] {name}...")
        stream.flush()
    return show


def _check(args: argparse.Namespace) -> int:
    import duckdb

    from otelytics.analysis.check import load_rules_file, parse_increase, parse_limit, run_checks
    from otelytics.analysis.dataset import parse_duration

    settings: dict[str, Any] = {}
    rules = []
    try:
        if args.rules:
            settings, rules = load_rules_file(args.rules)
        for flag, metric in (("max_cost", "cost"), ("max_error_rate", "error_rate"),
                             ("max_p95", "p95"), ("max_tokens", "tokens")):
            rules += [parse_limit(metric, t) for t in getattr(args, flag)]
        rules += [parse_increase(t) for t in args.max_increase]
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not rules:
        raise CliError("no rules: give --max-cost, --max-error-rate, --max-p95, --max-tokens, "
                       "--max-increase or --rules FILE")

    def opt(name: str, file_key: str | None = None) -> Any:
        value = getattr(args, name)
        return value if value not in (None, []) else settings.get(file_key or name)

    filters = {k: opt(k) for k in _common.FILTERS}
    where = list(args.where) + [str(w) for w in (settings.get("where") or [])]
    now = dt.datetime.now(dt.UTC)
    root = args.root or _common.root_default()
    since, start, end = opt("since"), opt("start", "from"), opt("end", "to")
    ds = _open(root, since, start, end, filters, where, now)
    baseline = None
    if any(r.relative for r in rules):
        b_since, b_from = opt("baseline_since"), opt("baseline_from")
        b_to = opt("baseline_to")
        if ds.window.start is None:
            raise CliError("an increase limit needs a bounded window: give --since or --from")
        if b_since:
            try:
                delta = parse_duration(str(b_since))
            except ValueError as exc:
                raise CliError(str(exc)) from None
            b_from, b_to = ds.window.start - delta, ds.window.start
        elif not b_from:
            raise CliError("an increase limit needs a baseline: --baseline-since DURATION or "
                           "--baseline-from TIME [--baseline-to TIME]")
        baseline = _open(root, None, b_from, b_to or ds.window.start, filters, where, now)
    try:
        with ds:
            _common.require_data(ds, root)
            results = run_checks(ds, rules, baseline, now=now)
    except duckdb.Error as exc:
        raise CliError(f"cannot read the dataset at {root}: {_common.first_line(exc)}") from None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    finally:
        if baseline is not None:
            baseline.close()
    breached = [r for r in results if r.breached]
    if args.format == "json":
        sys.stdout.write(json.dumps({
            "schema_version": 1, "kind": "otelytics.check", "passed": not breached,
            "results": [r.to_dict() for r in results]}, indent=2) + "\n")
    else:
        for r in results:
            sys.stdout.write(r.message + "\n")
        n = len(results)
        sys.stdout.write(f"{len(breached)} of {n} rule{'s' * (n != 1)} breached\n" if breached
                         else "the rule holds\n" if n == 1 else f"all {n} rules hold\n")
    return 1 if breached else 0
