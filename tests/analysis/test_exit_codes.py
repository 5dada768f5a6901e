"""Exit codes agree across subcommands: 3 when there is no data to read (no dataset at ROOT,
an empty window), 2 for usage errors; and compare with an empty baseline still shows the
current period, marked as such."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from otelytics.analysis.cli import main
from tests.builders import span, write_spans

_COMMANDS = {
    "report": [],
    "suggest": [],
    "check": ["--max-cost", "1"],
    "export": ["--format", "csv"],
    "compare": ["--since", "7d", "--baseline-since", "14d"],
}


def _argv(cmd: str, root: str, tmp_path: Path) -> list[str]:
    if cmd == "export":
        return ["export", "spans", root, "-o", str(tmp_path / "x.csv"), *_COMMANDS[cmd]]
    return [cmd, root, *_COMMANDS[cmd]]


@pytest.mark.parametrize("cmd", sorted(_COMMANDS))
def test_no_dataset_at_root_is_exit_3_everywhere(cmd: str, tmp_path: Path, capsys) -> None:
    code = main(_argv(cmd, str(tmp_path / "missing"), tmp_path))
    err = capsys.readouterr().err
    assert code == 3, (cmd, err)
    assert len(err.strip().splitlines()) == 1 and "does not exist" in err


@pytest.mark.parametrize("cmd", sorted(_COMMANDS))
def test_empty_window_is_exit_3_everywhere(cmd: str, tmp_path: Path, capsys) -> None:
    write_spans(tmp_path, [span("fit")])  # 2026-11-02: long before "the last 7 days"
    argv = _argv(cmd, str(tmp_path), tmp_path)
    if "--since" not in argv:
        argv += ["--since", "7d"]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 3, (cmd, err)
    assert len(err.strip().splitlines()) == 1


def test_compare_with_an_empty_baseline_shows_the_current_period(tmp_path: Path,
                                                                  capsys) -> None:
    now = dt.datetime.now(dt.UTC)
    write_spans(tmp_path, [span("fit", start=now - dt.timedelta(hours=1 + i), duration_ms=5 + i)
                           for i in range(6)])
    code = main(["compare", str(tmp_path), "--since", "7d", "--baseline-since", "14d",
                 "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    section = json.loads(out)["sections"]["comparison"]
    assert section["figures"]["baseline_empty"] is True
    assert any("baseline period has no spans" in n for n in section["notes"])
    overall = {r["metric"]: r for r in section["tables"]["overall"]["rows"]}
    assert overall["executions"]["current"] == 6 and overall["executions"]["baseline"] == 0
    assert overall["duration_p50_ms"]["beyond_noise"] is None
    assert overall["duration_p50_ms"]["test"] == "empty baseline"
    ops = section["tables"]["by_operation"]["rows"]
    assert ops[0]["operation"] == "fit" and ops[0]["note"] == "only in current"


def test_every_subcommand_words_no_data_the_same(tmp_path: Path, capsys) -> None:
    # one shared module opens datasets for all five: the same condition, the same message
    write_spans(tmp_path, [span("fit")])
    messages = {}
    for cmd in sorted(_COMMANDS):
        argv = [a for a in _argv(cmd, str(tmp_path), tmp_path)
                if a not in ("--since", "7d", "--baseline-since", "14d")]
        argv += ["--from", "2030-01-01"]
        if cmd == "compare":
            argv += ["--baseline-from", "2029-12-01"]
        assert main(argv) == 3
        messages[cmd] = capsys.readouterr().err.strip().split(": ", 1)[1]
    assert len(set(messages.values())) == 1, messages
    assert messages["check"] == ("no span files in the window 2030-01-01 00:00 .. end; "
                                 "the dataset has days 2026-11-02 .. 2026-11-02")
