"""The ``otelytics`` command line: one parser, subcommands contributed by their own modules.

Each module named in ``_SUBCOMMAND_MODULES`` exposes ``register(subparsers)``, which adds its
subcommand(s) and sets ``func`` (taking the parsed args, returning an exit code) as default.
Errors a user can act on are raised as :class:`CliError` and printed as one line.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from otelytics import __version__

__all__ = ["CliError", "main"]

_SUBCOMMAND_MODULES: tuple[str, ...] = (
    "otelytics.analysis.cli_report",  # report, export, compare
    "otelytics.analysis.cli_suggest",  # suggest, check
    "otelytics.exporter.cli",  # compact, prune, validate
    "otelytics.exporter.receiver.cli",  # serve
)


class CliError(Exception):
    """An error the user can act on: printed as one line, exit code ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otelytics",
        description="OpenTelemetry-native analytics: Parquet datasets, reports and suggestions.",
    )
    parser.add_argument("--version", action="version", version=f"otelytics {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        return int(func(args) or 0)
    except CliError as exc:
        print(f"otelytics {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("otelytics: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    # Run through the package's own module object so that CliError raised by subcommand
    # modules is the class ``main`` catches (``python -m`` would otherwise load this file twice).
    from otelytics.analysis.cli import main as _main

    raise SystemExit(_main())
