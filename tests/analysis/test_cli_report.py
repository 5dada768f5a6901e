"""`otelytics report / export / compare`: formats, errors a user can act on, HTML in Chromium."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from otelytics.analysis.cli import main
from tests.builders import span, write_spans

_MAIN = "import sys; from otelytics.analysis.cli import main; sys.exit(main(sys.argv[1:]))"


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-c", _MAIN, *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_missing_empty_window_filter_and_section_errors(tmp_path: Path,
                                                        dataset_root: Path) -> None:
    cases = [
        (["report", str(tmp_path / "nope")], 3, "does not exist"),
        (["report", str(tmp_path)], 3, "no span files"),
        (["report", str(dataset_root), "--from", "2030-01-01"], 3,
         "has days 2026-11-02 .. 2026-11-11"),
        (["report", str(dataset_root), "--service", "nobody"], 3, "no spans"),
        (["report", str(dataset_root), "--where", "novalue"], 2, "key=value"),
        (["report", str(dataset_root), "--since", "3 weeks"], 2, "invalid duration"),
        (["report", str(dataset_root), "--section", "summary,bogus"], 2, "unknown section"),
        (["export", "cost.nothing", str(dataset_root), "-o", str(tmp_path / "x.csv")], 2,
         "no table"),
        (["compare", str(dataset_root)], 2, "give a baseline"),
    ]
    for args, code, message in cases:
        r = _cli(*args)
        assert r.returncode == code, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, r.stderr)
        assert "Traceback" not in r.stderr


def test_root_from_environment(dataset_root: Path) -> None:
    r = _cli("report", "--section", "summary", "--format", "json",
             env={"OTELYTICS_DATA_DIR": str(dataset_root)})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["root"] == str(dataset_root)


def test_corrupt_and_foreign_files_are_skipped_counted_and_named(tmp_path: Path) -> None:
    base = dt.datetime(2026, 11, 3, tzinfo=dt.UTC)
    write_spans(tmp_path, [span("ok", start=base + dt.timedelta(seconds=i)) for i in range(5)])
    part = tmp_path / "spans" / "dt=2026-11-03"
    good = next(part.glob("*.parquet"))
    (part / "part-truncated.parquet").write_bytes(good.read_bytes()[:-100])
    pq.write_table(pa.table({"x": [1, 2]}), part / "part-foreign.parquet")
    out = tmp_path / "r.json"
    r = _cli("report", str(tmp_path), "--format", "json", "-o", str(out),
             "--section", "summary")
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["sections"]["summary"]["figures"]["executions"] == 5
    reasons = {Path(s["path"]).name: s["reason"] for s in doc["skipped_files"]}
    assert set(reasons) == {"part-truncated.parquet", "part-foreign.parquet"}
    assert "corrupt" in reasons["part-truncated.parquet"]
    assert "not an otelytics spans file" in reasons["part-foreign.parquet"]
    assert r.stderr.count("skipped") == 2


def test_terminal_markdown_and_no_color(dataset_root: Path) -> None:
    r = _cli("report", str(dataset_root), "--section", "summary,performance",
             env={"NO_COLOR": "1"})
    assert r.returncode == 0 and "\033[" not in r.stdout + r.stderr
    assert "== Performance ==" in r.stdout and "p95_ms" in r.stdout
    md = _cli("report", str(dataset_root), "--format", "markdown")
    assert md.returncode == 0 and md.stdout.startswith("## otelytics report")
    assert "| operation |" in md.stdout and len(md.stdout) < 60000


def test_export_tables_and_raw_spans(tmp_path: Path, dataset_root: Path) -> None:
    csv = tmp_path / "m.csv"
    assert main(["export", "cost.by_model", str(dataset_root), "--format", "csv",
                 "-o", str(csv)]) == 0
    table = pacsv.read_csv(csv)
    expected = duckdb.sql(f"""
        SELECT gen_ai_request_model AS model, sum(cost_usd) AS c
        FROM read_parquet('{dataset_root}/spans/*/*.parquet')
        WHERE gen_ai_request_model IS NOT NULL GROUP BY 1""").fetchall()
    got = dict(zip(table.column("model").to_pylist(), table.column("cost_usd").to_pylist(),
                   strict=True))
    assert got == pytest.approx(dict(expected))
    pq_out = tmp_path / "s.parquet"
    assert main(["export", "spans", str(dataset_root), "--format", "parquet",
                 "--from", "2026-11-03", "--to", "2026-11-04", "-o", str(pq_out)]) == 0
    n = duckdb.sql(f"""SELECT count(*) FROM read_parquet('{dataset_root}/spans/*/*.parquet')
        WHERE start_time >= TIMESTAMPTZ '2026-11-03 00:00:00+00'
          AND start_time < TIMESTAMPTZ '2026-11-04 00:00:00+00'""").fetchall()[0][0]
    assert pq.read_table(pq_out).num_rows == n > 0
    js = tmp_path / "w.json"
    assert main(["export", "workflows.sequences", str(dataset_root), "--format", "json",
                 "-o", str(js)]) == 0
    assert {r["sequence"] for r in json.loads(js.read_text())} == {"load > score > report",
                                                                  "load > score"}
    spans_csv = tmp_path / "spans.csv"
    assert main(["export", "spans", str(dataset_root), "-o", str(spans_csv)]) == 0
    assert pacsv.read_csv(spans_csv).num_rows == duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{dataset_root}/spans/*/*.parquet')").fetchall()[0][0]


def _slow_fast(root: Path, slow_ms: float, errors_every: int | None) -> None:
    base = dt.datetime(2026, 11, 10, tzinfo=dt.UTC)
    write_spans(root, [span("op", start=base + dt.timedelta(seconds=i),
                            duration_ms=slow_ms + (i % 17),
                            error_type="E" if errors_every and i % errors_every == 0 else None)
                       for i in range(400)])


def test_compare_two_datasets_flags_real_differences_only(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    _slow_fast(a, 10, 50)     # 2 % errors
    _slow_fast(b, 10, 50)     # identical distribution
    _slow_fast(c, 30, 5)      # slower, 20 % errors
    out = tmp_path / "cmp.json"
    assert main(["compare", str(b), "--baseline-root", str(a), "--format", "json",
                 "-o", str(out)]) == 0
    same = {r["metric"]: r for r in json.loads(out.read_text())["sections"]["comparison"][
        "tables"]["overall"]["rows"]}
    assert not any(r["beyond_noise"] for r in same.values())
    assert main(["compare", str(c), "--baseline-root", str(a), "--format", "json",
                 "-o", str(out)]) == 0
    diff = {r["metric"]: r for r in json.loads(out.read_text())["sections"]["comparison"][
        "tables"]["overall"]["rows"]}
    for m in ("error_rate", "duration_p50_ms", "duration_p95_ms"):
        assert diff[m]["beyond_noise"] is True, m
    assert diff["error_rate"]["baseline"] == pytest.approx(8 / 400)
    assert diff["error_rate"]["current"] == pytest.approx(80 / 400)
    assert diff["duration_p50_ms"]["delta"] == pytest.approx(20)


def test_compare_two_periods(dataset_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    assert main(["compare", str(dataset_root), "--from", "2026-11-09", "--to", "2026-11-10",
                 "--baseline-from", "2026-11-08", "--baseline-to", "2026-11-09",
                 "--format", "json", "-o", str(out)]) == 0
    rows = {r["metric"]: r for r in json.loads(out.read_text())["sections"]["comparison"][
        "tables"]["overall"]["rows"]}
    assert rows["executions"]["delta"] > 0 and rows["executions"]["beyond_noise"] is None


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_report_renders_charts_offline_in_chromium(dataset_root: Path,
                                                        tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    assert main(["report", str(dataset_root), "--format", "html", "-o", str(html)]) == 0
    text = html.read_text()
    assert text.count("<svg") >= 3 and "http://" not in text.replace(
        'xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in text
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed and could not be (apt-get install chromium)")
    shot = tmp_path / "shot.png"
    r = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                        "--host-resolver-rules=MAP * ~NOTFOUND",
                        f"--user-data-dir={tmp_path / 'profile'}",
                        "--window-size=1200,1600", f"--screenshot={shot}", html.as_uri()],
                       capture_output=True, text=True, timeout=90)
    assert shot.exists(), r.stderr[-2000:]
    px = _png_pixels(shot)[..., :3].astype(float)
    assert px.std() > 10, "screenshot is blank"
    # the chart bars (#3b6ea5) are drawn: count pixels of that blue
    bar = (abs(px[..., 0] - 0x3B) < 8) & (abs(px[..., 1] - 0x6E) < 8) & (abs(px[..., 2] - 0xA5) < 8)
    assert bar.sum() > 500


def _png_pixels(path: Path) -> np.ndarray:
    """Decode an 8-bit, non-interlaced RGB/RGBA PNG (what Chromium writes) with zlib."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and ctype in (2, 6)
            channels = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    out = np.zeros((height, stride), dtype=np.int32)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        if f == 0:
            cur = line
        elif f == 2:
            cur = (line + prev) % 256
        else:
            cur = np.zeros(stride, dtype=np.int32)
            for x in range(stride):
                a = cur[x - channels] if x >= channels else 0
                b = prev[x]
                c = prev[x - channels] if x >= channels else 0
                if f == 1:
                    pred = a
                elif f == 3:
                    pred = (a + b) // 2
                else:
                    pa_, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    pred = a if pa_ <= pb and pa_ <= pc else (b if pb <= pc else c)
                cur[x] = (line[x] + pred) % 256
        out[y] = cur
        prev = cur
    return out.reshape(height, width, channels)


def test_compare_baseline_since_and_group_by_cost(dataset_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    assert main(["compare", str(dataset_root), "--from", "2026-11-09", "--to", "2026-11-10",
                 "--baseline-since", "2d", "--format", "json", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())["sections"]["comparison"]
    assert doc["figures"]["baseline_window"] == "2026-11-07T00:00:00Z .. 2026-11-09T00:00:00Z"
    base = duckdb.sql(f"""SELECT count(*) FROM read_parquet('{dataset_root}/spans/*/*.parquet')
        WHERE start_time >= TIMESTAMPTZ '2026-11-07 00:00:00+00'
          AND start_time < TIMESTAMPTZ '2026-11-09 00:00:00+00'""").fetchall()[0][0]
    rows = {r["metric"]: r for r in doc["tables"]["overall"]["rows"]}
    assert rows["executions"]["baseline"] == base
    rep = tmp_path / "g.json"
    assert main(["report", str(dataset_root), "--section", "cost", "--group-by", "user.id",
                 "--format", "json", "-o", str(rep)]) == 0
    by = json.loads(rep.read_text())["sections"]["cost"]["tables"]["by_group"]["rows"]
    expected = dict(duckdb.sql(f"""SELECT user_id, sum(cost_usd) FROM
        read_parquet('{dataset_root}/spans/*/*.parquet') WHERE gen_ai_request_model IS NOT NULL
        GROUP BY 1""").fetchall())
    assert {r["user.id"]: r["cost_usd"] for r in by} == pytest.approx(expected)


def test_progress_and_color_only_on_a_tty(dataset_root: Path, monkeypatch) -> None:
    import io

    from otelytics.analysis.dataset import open_dataset
    from otelytics.analysis.render_text import progress_printer, render_terminal
    from otelytics.analysis.report import build_report

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert progress_printer(io.StringIO()) is None
    tty = Tty()
    report = build_report(open_dataset(dataset_root), ["summary", "trends"],
                          progress=progress_printer(tty))
    assert "scanning [1/2] summary" in tty.getvalue()
    assert "scanning [2/2] trends" in tty.getvalue()
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    assert "\033[1m" in render_terminal(report, Tty())
    assert "\033[" not in render_terminal(report, io.StringIO())
    monkeypatch.setenv("NO_COLOR", "")
    assert "\033[" not in render_terminal(report, Tty())


def test_markdown_stays_under_a_pr_comment_limit_and_renders_compare(tmp_path: Path) -> None:
    import datetime as dt

    from otelytics.analysis.models import Report, Section, Table
    from otelytics.analysis.render_html import render_html
    from otelytics.analysis.render_text import render_markdown

    big = Table("t", ("name", "value"), tuple((f"operation-{i}-" + "x" * 200, i)
                                              for i in range(3000)))
    sections = tuple(Section(f"s{i}", f"S{i}", {"n": 1}, (big,)) for i in range(40))
    report = Report("root", {"from": None, "to": None}, {}, None,
                    dt.datetime(2026, 11, 1, tzinfo=dt.UTC), {"spans": 1}, (), sections)
    md = render_markdown(report)
    assert len(md) <= 60000 and md.count("### S") >= 1
    a, b = tmp_path / "a", tmp_path / "b"
    _slow_fast(a, 10, 50)
    _slow_fast(b, 30, 5)
    out = tmp_path / "cmp.md"
    assert main(["compare", str(b), "--baseline-root", str(a), "--format", "markdown",
                 "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("## otelytics compare") and "| error_rate |" in text
    from otelytics.analysis.compare import compare
    from otelytics.analysis.dataset import open_dataset

    html = render_html(compare(open_dataset(a), open_dataset(b)))
    assert "<h2>Comparison</h2>" in html and "beyond_noise" in html
