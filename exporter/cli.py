"""`otelytics compact`, `prune` and `validate`: dataset maintenance from the command line.

Exit codes: 0 done / dataset clean, 1 ``validate`` found problems (or ``compact`` had to skip
bad files), 2 usage errors (bad argument, no dataset). Errors print one line, never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from otelytics.analysis.cli import CliError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compact", help="merge a partition's small files into large sorted ones",
        description="Merge small Parquet files of each partition into files of about "
                    "--target-size, sorted by service, name and time. Publishes the merged file "
                    "before deleting its sources, so readers never see fewer rows; re-running "
                    "finishes an interrupted compaction. Today's partition only with --day or "
                    "--include-today.")
    p.add_argument("root", help="dataset root: a folder or s3://bucket/prefix")
    p.add_argument("--signal", choices=("spans", "metrics", "logs"), help="only this signal")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--day", help="only this partition, YYYY-MM-DD (may be today)")
    when.add_argument("--since", help="only partitions of the last DURATION, e.g. 7d")
    p.add_argument("--include-today", action="store_true",
                   help="also compact today's partition (safe: published files never change)")
    p.add_argument("--target-size", default="128MB",
                   help="source bytes per merged file (default 128MB; output is smaller)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_compact)

    p = sub.add_parser(
        "prune", help="delete partitions older than a retention period",
        description="Delete whole dt= partitions whose day ended more than --older-than ago, "
                    "and staging files older than --staging-older-than (crash debris).")
    p.add_argument("root", help="dataset root: a folder or s3://bucket/prefix")
    p.add_argument("--older-than", required=True, help="retention, e.g. 90d")
    p.add_argument("--staging-older-than", default="1d",
                   help="age after which a staging file is debris (default 1d)")
    p.add_argument("--dry-run", action="store_true", help="list what would go, delete nothing")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_prune)

    p = sub.add_parser(
        "validate", help="check every file of a dataset; exit 1 when something is wrong",
        description="Read every published file (footer and data), check schema version, "
                    "columns and types, rows inside their dt= day, interrupted compactions, "
                    "staging debris and foreign files. Exit 0 clean, 1 problems, 2 usage error.")
    p.add_argument("root", help="dataset root: a folder or s3://bucket/prefix")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--repair", action="store_true",
                   help="delete sources of interrupted compactions (their rows are published)")
    p.add_argument("--staging-older-than", default="1d",
                   help="age after which a staging file counts as orphaned (default 1d)")
    p.set_defaults(func=_validate)


def _duration(text: str, flag: str) -> dt.timedelta:
    from otelytics.analysis.dataset import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise CliError(f"{flag}: {exc}") from None


def _run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    import pyarrow as pa

    from otelytics.exporter.tools import ToolError

    try:
        return fn(*args, **kwargs)
    except ToolError as exc:
        raise CliError(str(exc)) from None
    except (OSError, pa.ArrowException) as exc:  # storage failures mid-run: one line, exit 1
        raise CliError(f"storage error: {' '.join(str(exc).split())}", 1) from None


def _emit_json(data: dict[str, Any]) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def _compact(args: argparse.Namespace) -> int:
    from otelytics.exporter import tools

    try:
        target = tools.parse_size(args.target_size)
    except ValueError as exc:
        raise CliError(f"--target-size: {exc}") from None
    since = _duration(args.since, "--since") if args.since else None
    res = _run(tools.compact, args.root, signal=args.signal, day=args.day, since=since,
               target_size=target, include_today=args.include_today)
    skipped = sum(len(p.skipped) for p in res.partitions)
    if args.json:
        _emit_json(res.to_dict())
    else:
        for p in res.partitions:
            line = (f"{p.signal}/dt={p.day}: {p.files_before} -> {p.files_after} files, "
                    f"{_mb(p.bytes_before)} -> {_mb(p.bytes_after)}")
            if p.recovered_duplicates:
                line += f", finished an interrupted compaction ({p.recovered_duplicates} removed)"
            print(line)
            for path, why in p.skipped:
                print(f"  skipped {path}: {why}")
        if not res.partitions:
            print("nothing to compact")
        if skipped:
            print(f"{skipped} file(s) skipped: run `otelytics validate {args.root}`")
    return 1 if skipped else 0


def _prune(args: argparse.Namespace) -> int:
    from otelytics.exporter import tools

    res = _run(tools.prune, args.root, older_than=_duration(args.older_than, "--older-than"),
               staging_older_than=_duration(args.staging_older_than, "--staging-older-than"),
               dry_run=args.dry_run)
    if args.json:
        _emit_json(res.to_dict())
        return 0
    verb = "would remove" if res.dry_run else "removed"
    for p in res.partitions:
        print(f"{verb} {p['signal']}/dt={p['day']} ({p['files']} files, {_mb(p['bytes'])})")
    for path in res.staging_files:
        print(f"{verb} staging debris {path}")
    print(f"{verb} {len(res.partitions)} partition(s) and {len(res.staging_files)} staging "
          f"file(s); cutoff {res.cutoff}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from otelytics.exporter import tools

    rep = _run(tools.validate, args.root, repair=args.repair,
               staging_older_than=_duration(args.staging_older_than, "--staging-older-than"))
    if args.json:
        _emit_json(rep.to_dict())
    else:
        for p in rep.partitions:
            print(f"{p.signal}/dt={p.day}: {p.files} files, {p.rows} rows, {_mb(p.bytes)}")
        for path in rep.repaired:
            print(f"repaired: removed {path} (its rows are in a merged file)")
        if rep.problems:
            print(f"{len(rep.problems)} problem(s):")
            for pr in rep.problems:
                print(f"  {pr.kind}: {pr.path}: {pr.message}")
        else:
            print(f"ok: {rep.files} files, {rep.rows} rows")
    return 0 if rep.ok else 1


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"
