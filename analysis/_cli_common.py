"""What every dataset subcommand shares (report, export, compare, suggest, check): the ROOT
default, the window and filter flags, opening the dataset with skipped files named on stderr,
the "is there any data" guard and atomic output files — one place, so the subcommands cannot
drift apart (exit code 2 = usage, 3 = no data, everywhere)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from otelytics.analysis.cli import CliError

__all__: list[str] = []  # private to the CLI modules

NO_DATA = 3
FILTERS = ("service", "operation", "model", "provider", "workflow", "session", "user",
           "estimator")


def root_default() -> str:
    return os.environ.get("OTELYTICS_DATA_DIR") or "./otelytics-data"


def add_selection(p: argparse.ArgumentParser) -> None:
    """ROOT, the window (--since / --from / --to) and the span filters."""
    p.add_argument("root", nargs="?", default=None, metavar="ROOT",
                   help="dataset root or s3:// URI (default: $OTELYTICS_DATA_DIR or "
                        "./otelytics-data)")
    p.add_argument("--since", help="window ending now (or at --to), e.g. 30d, 12h, 2w")
    p.add_argument("--from", dest="start", metavar="TIME", help="window start (ISO 8601, UTC)")
    p.add_argument("--to", dest="end", metavar="TIME",
                   help="window end, exclusive (ISO 8601, UTC)")
    for name in FILTERS:
        p.add_argument(f"--{name}", help=f"only spans of this {name}")
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="attribute filter (repeatable); resource.KEY for resource attributes")


def filter_args(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in FILTERS}


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def open_selection(root: str | None, *, since: Any = None, start: Any = None, end: Any = None,
                   filters: dict[str, Any] | None = None, where: list[str] | None = None,
                   window: Any = None, now: dt.datetime | None = None,
                   require_spans: bool = True) -> Any:
    """Open ROOT over the window and filters; skipped files are named on stderr. With
    ``require_spans`` an empty dataset, window or selection is a one-line error (exit 3)."""
    from otelytics.analysis.dataset import DatasetError, Filters, Window, open_dataset

    root = root or root_default()
    try:
        if window is None:
            if now is not None and since is not None and end is None:
                end = now  # a --since window ends now: the period (per-day figures) is exact
            window = Window.of(since=since, start=start, end=end, now=now)
        flt = Filters.parse(list(where or []), **(filters or {}))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        ds = open_dataset(root, window=window, filters=flt)
    except DatasetError as exc:
        raise CliError(str(exc), NO_DATA) from None
    for path, reason in ds.skipped:
        print(f"otelytics: skipped {path}: {reason}", file=sys.stderr)
    if require_spans:
        require_data(ds, root)
    return ds


def require_data(ds: Any, root: str) -> None:
    """No span files, no readable file, or nothing matching: one line, exit 3."""
    import duckdb

    from otelytics.analysis.dataset import open_dataset

    window = ds.window
    if not ds.files["spans"]:
        if ds.skipped and not (window.start or window.end):
            raise CliError(f"no readable span files under {root} ({len(ds.skipped)} skipped "
                           "as corrupt or foreign)", NO_DATA)
        if window.start or window.end:
            days = sorted({Path(p).parent.name.removeprefix("dt=")
                           for p in open_dataset(root).files["spans"]})
            if days:
                w = " .. ".join(f"{t:%Y-%m-%d %H:%M}" if t else edge for t, edge in
                                ((window.start, "start"), (window.end, "end")))
                raise CliError(f"no span files in the window {w}; the dataset has days "
                               f"{days[0]} .. {days[-1]}", NO_DATA)
        raise CliError(f"no span files under {root}/spans; is this an otelytics dataset?",
                       NO_DATA)
    try:
        n = ds.con.execute("SELECT count(*) FROM spans").fetchall()[0][0]
    except duckdb.Error as exc:  # a file unreadable past its footer
        raise CliError(f"cannot read the dataset at {root}: {first_line(exc)}",
                       NO_DATA) from None
    if n == 0:
        raise CliError(f"no spans in {root} match this window and these filters", NO_DATA)


def write_output(text: str, path: str | None) -> None:
    """``text`` to stdout, or atomically to ``path`` (a reader never sees half a file)."""
    if path is None:
        sys.stdout.write(text)
        return
    tmp = Path(str(path) + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None
