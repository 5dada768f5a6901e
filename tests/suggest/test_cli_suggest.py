"""`otelytics suggest` through the installed console script (and in-process for error cases):
formats, output files, colour only on a TTY without NO_COLOR, the previous-run lifecycle, a
state file, filters, an object-store root, and one-line errors with a non-zero exit."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from otelytics.analysis.cli import main
from otelytics.analysis.suggest_rules import RULES
from tests.builders import llm_span, span, write_spans
from tests.conftest import s3_uri

CLI = shutil.which("otelytics", path=str(Path(sys.executable).parent))


def _rows(flaky_errors: int = 12) -> list[dict]:
    rows = [llm_span("gpt-4o", request_fingerprint="fp-dup", cost_usd=0.05) for _ in range(6)]
    rows += [span("flaky", error_type="E" if i < flaky_errors else None) for i in range(40)]
    rows += [llm_span("my-finetune", service="billing") for _ in range(3)]
    return rows


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_spans(tmp_path / "data", _rows())
    return tmp_path / "data"


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    assert CLI, "the otelytics console script is not installed"
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120,
                          env=full_env)


def test_json_lifecycle_through_the_console_script(root, tmp_path):
    first = tmp_path / "first.json"
    r = _run("suggest", str(root), "--format", "json", "-o", str(first))
    assert r.returncode == 0 and r.stdout == ""
    doc = json.loads(first.read_text())
    rules = {s["rule"] for s in doc["suggestions"]}
    assert {"repeated-calls", "error-hotspot", "unpriced-model"} <= rules
    # the hot spot gets fixed
    fixed = tmp_path / "fixed"
    write_spans(fixed, _rows(flaky_errors=0))
    r = _run("suggest", str(fixed), "--format", "json", "--previous", str(first))
    assert r.returncode == 0, r.stderr
    second = json.loads(r.stdout)
    assert {s["status"] for s in second["suggestions"]} == {"still there"}
    assert [x["rule"] for x in second["resolved"]] == ["error-hotspot"]
    r = _run("suggest", str(fixed), "--format", "markdown", "--previous", str(first))
    assert "| Status |" in r.stdout and "Resolved since the previous run (1)" in r.stdout


def test_state_file_round_trip(root, tmp_path, capsys):
    state = tmp_path / "state.json"
    assert main(["suggest", str(root), "--state", str(state)]) == 0
    first = capsys.readouterr().out
    assert "[new]" not in first and state.exists()  # nothing to compare with yet
    assert main(["suggest", str(root), "--state", str(state)]) == 0
    out = capsys.readouterr().out
    assert out.count("[still there]") == len(json.loads(state.read_text())["suggestions"])


def _tty_output(args: list[str], env: dict) -> str:
    """stdout and stderr of the command run on a pseudo-terminal, as one string."""
    master, slave = pty.openpty()
    p = subprocess.Popen([CLI, *args], stdout=slave, stderr=slave,
                         env={**os.environ, **env})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    p.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode()


def test_colour_only_on_a_tty_without_no_color(root):
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    on_tty = _tty_output(["suggest", str(root)], {**env})
    assert "\x1b[1" in on_tty  # bold titles
    assert f"suggest [1/{len(RULES) + 1}] preparing..." in on_tty  # progress on stderr
    no_color = _tty_output(["suggest", str(root)], {"NO_COLOR": "1"})
    assert "\x1b[1" not in no_color and "otelytics suggestions:" in no_color
    piped = _run("suggest", str(root))
    assert piped.returncode == 0 and "\x1b[" not in piped.stdout + piped.stderr
    assert "otelytics suggestions:" in piped.stdout


def test_filters_and_where(root, capsys):
    assert main(["suggest", str(root), "--format", "json", "--model", "gpt-4o"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["rule"] for s in doc["suggestions"]] == ["repeated-calls"]
    assert doc["filters"] == {"model": "gpt-4o"}
    assert main(["suggest", str(root), "--format", "json", "--service", "billing"]) == 0
    rules = {s["rule"] for s in json.loads(capsys.readouterr().out)["suggestions"]}
    assert rules == {"unpriced-model"}
    assert main(["suggest", str(root), "--format", "json", "--where",
                 "otelytics.request.fingerprint=fp-dup"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["totals"]["spans"] == 6


def test_since_window_is_the_period(tmp_path, capsys):
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    rows = [llm_span("gpt-4o", request_fingerprint="fp", cost_usd=0.02,
                     start=now - dt.timedelta(hours=3, seconds=i)) for i in range(6)]
    write_spans(tmp_path / "recent", rows)
    assert main(["suggest", str(tmp_path / "recent"), "--since", "2d", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["period"]["days"] == pytest.approx(2.0, abs=1e-3)
    [s] = [x for x in doc["suggestions"] if x["rule"] == "repeated-calls"]
    assert s["saving_usd"] == pytest.approx(5 * 0.02)


def test_default_root_from_environment(root, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OTELYTICS_DATA_DIR", str(root))
    assert main(["suggest", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["spans"] == len(_rows())
    monkeypatch.delenv("OTELYTICS_DATA_DIR")
    monkeypatch.chdir(tmp_path)  # ./otelytics-data does not exist here
    assert main(["suggest"]) == 3  # no dataset: 3, as report/compare/export/check
    assert "otelytics-data" in capsys.readouterr().err


def test_suggest_on_object_store(s3_server, capsys, tmp_path):
    import pyarrow.fs as pafs

    uri = s3_uri(s3_server, "suggest")
    local = tmp_path / "up"
    files = write_spans(local, _rows())
    fs, base = pafs.FileSystem.from_uri(uri)
    for f in files:
        rel = f.relative_to(local).as_posix()
        with fs.open_output_stream(f"{base}/{rel}") as out:
            out.write(f.read_bytes())
    assert main(["suggest", uri, "--format", "json"]) == 0
    rules = {s["rule"] for s in json.loads(capsys.readouterr().out)["suggestions"]}
    assert {"repeated-calls", "error-hotspot", "unpriced-model"} <= rules


def test_errors_are_one_line_and_non_zero(root, tmp_path, capsys):
    bad_prev = tmp_path / "prev.json"
    bad_prev.write_text("{not json")
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"kind": "something else"}')
    corrupt = tmp_path / "corrupt"
    write_spans(corrupt, _rows())
    day = next((corrupt / "spans").iterdir())
    (day / "part-0-0-junk.parquet").write_bytes(b"this is not parquet")
    cases = [
        (["suggest", str(tmp_path / "missing")], "does not exist", 3),
        (["suggest", str(root), "--from", "2031-01-01"], "no span files", 3),
        (["suggest", str(root), "--operation", "nope"], "no spans", 3),
        (["suggest", str(root), "--since", "yesterday"], "invalid duration"),
        (["suggest", str(root), "--where", "novalue"], "invalid filter"),
        (["suggest", str(root), "--previous", str(bad_prev)], str(bad_prev)),
        (["suggest", str(root), "--previous", str(foreign)], "not an otelytics suggestions"),
        (["suggest", str(root), "--previous", str(tmp_path / "none.json")], "cannot read"),
        (["suggest", str(root), "-o", str(tmp_path / "no" / "dir" / "x.md")], "cannot write"),
    ]
    for args, message, *want in cases:
        code = main(args)
        err = capsys.readouterr().err
        assert code == (want[0] if want else 2) and message in err, (args, err)
        assert len(err.strip().splitlines()) == 1
    # a corrupt file is skipped and named, the rest analysed (console script: no traceback)
    r = _run("suggest", str(corrupt))
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert "skipped" in r.stderr and "part-0-0-junk.parquet" in r.stderr
