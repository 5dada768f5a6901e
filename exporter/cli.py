"""`otelytics compact`, `prune` and `validate`: dataset maintenance."""

from __future__ import annotations

import argparse

from otelytics.analysis.cli import CliError


def register(sub: argparse._SubParsersAction) -> None:
    for name in ('compact', 'prune', 'validate'):
        p = sub.add_parser(name, help=f"{name} (not yet available)")
        p.set_defaults(func=_not_yet)


def _not_yet(args: argparse.Namespace) -> int:
    raise CliError("not yet available in this build")
