"""The otelytics command line, run as the installed console script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import otelytics

CLI = shutil.which("otelytics", path=str(Path(sys.executable).parent))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    assert CLI, "the otelytics console script is not installed"
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60)


def test_version():
    r = _run("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"otelytics {otelytics.__version__}"


def test_help_lists_usage():
    r = _run("--help")
    assert r.returncode == 0
    assert r.stdout.startswith("usage: otelytics")


def test_unknown_subcommand_is_an_error_not_a_traceback():
    r = _run("frobnicate")
    assert r.returncode == 2
    assert "invalid choice" in r.stderr and "Traceback" not in r.stderr


def test_python_dash_m_runs_the_same_cli_and_user_errors_stay_one_line():
    for module in ("otelytics", "otelytics.analysis.cli"):
        r = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True,
                           text=True, timeout=60)
        assert r.stdout.strip() == f"otelytics {otelytics.__version__}", module
    # A CliError raised by a subcommand module is caught by main() also under ``python -m``.
    r = subprocess.run([sys.executable, "-m", "otelytics.analysis.cli", "prune",
                        "/nonexistent/otelytics-root", "--older-than", "bogus"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.startswith("otelytics prune") or r.stderr.startswith("usage:")
