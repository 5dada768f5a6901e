"""Report figures against independent computations over the same files.

The JSON the CLI writes is parsed and each figure is recomputed here from the raw rows
(pyarrow + Python statistics / numpy) or by hand-written DuckDB SQL over ``read_parquet``.
"""

from __future__ import annotations

import collections
import json
import math
import statistics
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow.dataset as pads
import pytest

from otelytics.analysis.cli import main
from otelytics.analysis.dataset import open_dataset
from otelytics.analysis.report import build_report
from otelytics.analysis.reports import stack_fingerprint
from otelytics.analysis.stats import wilson_interval

_GP_PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "gcp.gemini": "google"}


def _calc(model: str, provider: str | None, i: int, o: int, cr: int = 0, cw: int = 0) -> float:
    """Independent price of one call straight from genai_prices.calc_price."""
    from genai_prices import Usage, calc_price

    usage = Usage(input_tokens=i, output_tokens=o, cache_read_tokens=cr or None,
                  cache_write_tokens=cw or None)
    pid = _GP_PROVIDERS[provider] if provider else None
    return float(calc_price(usage, model_ref=model, provider_id=pid).total_price)


def _rows(root: Path) -> list[dict[str, Any]]:
    return pads.dataset(root / "spans", format="parquet").to_table().to_pylist()


def _q(values: list[float], q: float) -> float:
    return float(np.quantile(np.asarray(values, dtype=float), q))  # linear = quantile_cont


@pytest.fixture(scope="module")
def report_json(dataset_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("out") / "r.json"
    assert main(["report", str(dataset_root), "--format", "json", "-o", str(out),
                 "--what-if-model", "gpt-4o"]) == 0
    return json.loads(out.read_text())


def test_json_is_versioned_and_has_every_section(report_json: dict) -> None:
    assert report_json["schema_version"] == 1
    assert list(report_json["sections"]) == ["summary", "usage", "performance", "reliability",
                                             "workflows", "sessions", "cost", "trends",
                                             "anomalies"]
    assert report_json["files"]["spans"] == 20 and report_json["skipped_files"] == []


def test_summary_figures(report_json: dict, dataset_root: Path) -> None:
    rows = _rows(dataset_root)
    f = report_json["sections"]["summary"]["figures"]
    n = len(rows)
    errors = sum(r["status_code"] == "ERROR" for r in rows)
    durs = [r["duration_us"] / 1000 for r in rows]
    llm = [r for r in rows if r["gen_ai_request_model"]]
    assert f["executions"] == n and f["errors"] == errors
    assert f["error_rate"] == pytest.approx(errors / n)
    assert f["success_rate"] == pytest.approx(1 - errors / n)
    assert f["duration_avg_ms"] == pytest.approx(statistics.fmean(durs))
    for q in (50, 95, 99):
        expected = statistics.quantiles(durs, n=100, method="inclusive")[q - 1]
        assert f[f"duration_p{q}_ms"] == pytest.approx(expected)
    assert f["llm_calls"] == len(llm)
    assert f["input_tokens"] == sum(r["gen_ai_input_tokens"] for r in llm)
    assert f["output_tokens"] == sum(r["gen_ai_output_tokens"] for r in llm)
    assert f["cached_input_tokens"] == sum(r["gen_ai_cache_read_tokens"] for r in llm)
    assert f["cost_usd"] == pytest.approx(sum(r["cost_usd"] or 0 for r in llm))
    assert f["unpriced_calls"] == sum(r["cost_usd"] is None for r in llm) > 0
    assert f["priced_calls"] + f["unpriced_calls"] == len(llm)
    assert f["sessions"] == len({r["session_id"] for r in rows if r["session_id"]})


def test_usage_tables(report_json: dict, dataset_root: Path) -> None:
    rows = _rows(dataset_root)
    t = report_json["sections"]["usage"]["tables"]
    ops = collections.Counter(r["name"] for r in rows)
    assert {r["operation"]: r["executions"] for r in t["by_operation"]["rows"]} == ops
    models = collections.Counter(r["gen_ai_request_model"] for r in rows
                                 if r["gen_ai_request_model"])
    assert {r["model"]: r["calls"] for r in t["by_model"]["rows"]} == models
    params = collections.Counter(dict(r["attributes"] or []).get(
        "otelytics.estimator.param.alpha") for r in rows if r["name"] == "fit")
    got = {r["value"]: r["calls"] for r in t["parameter_values"]["rows"]
           if r["estimator"] == "fit" and r["parameter"] == "alpha"}
    assert got == params
    lengths = [r["estimator_data_length"] for r in rows if r["estimator_data_length"]]
    dl = next(r for r in t["data_length"]["rows"] if r["estimator"] == "fit")
    assert dl["p95"] == pytest.approx(_q(lengths, 0.95)) and dl["max"] == max(lengths)
    buckets = {r["bucket"]: r["calls"] for r in t["data_length_buckets"]["rows"]}
    assert buckets == {f"1e{k}": sum(1 for v in lengths if len(str(v)) == k + 1)
                       for k in range(4)}


def test_performance_sorted_by_p95_with_exact_percentiles(report_json: dict,
                                                          dataset_root: Path) -> None:
    rows = _rows(dataset_root)
    perf = report_json["sections"]["performance"]["tables"]
    table = perf["by_operation"]["rows"]
    p95s = [r["p95_ms"] for r in table]
    assert p95s == sorted(p95s, reverse=True)
    by = collections.defaultdict(list)
    for r in rows:
        by[r["name"]].append(r["duration_us"] / 1000)
    for r in table:
        assert r["p95_ms"] == pytest.approx(_q(by[r["operation"]], 0.95))
        assert r["p99_ms"] == pytest.approx(_q(by[r["operation"]], 0.99))
    slowest = max(rows, key=lambda r: r["duration_us"])
    assert perf["slowest_spans"]["rows"][0]["duration_ms"] == slowest["duration_us"] / 1000
    ttfc = [r["gen_ai_time_to_first_chunk_s"] * 1000 for r in rows
            if r["gen_ai_time_to_first_chunk_s"] is not None]
    assert sum(r["calls"] for r in perf["time_to_first_chunk"]["rows"]) == len(ttfc)
    cpu = next(r for r in perf["resources"]["rows"] if r["operation"] == "fit")
    fits = [r for r in rows if r["name"] == "fit"]
    assert cpu["avg_cpu_ms"] == pytest.approx(statistics.fmean(r["cpu_time_s"] for r in fits)
                                              * 1000)


def test_reliability_errors_fingerprints_and_score(report_json: dict,
                                                   dataset_root: Path) -> None:
    rows = _rows(dataset_root)
    rel = report_json["sections"]["reliability"]
    n = len(rows)
    errors = [r for r in rows if r["status_code"] == "ERROR"]
    assert rel["figures"]["reliability_score"] == pytest.approx(
        100 * wilson_interval(n - len(errors), n)[0])
    types = collections.Counter(r["error_type"] for r in errors)
    assert {r["error_type"]: r["errors"] for r in rel["tables"]["by_error_type"]["rows"]} == types
    # the fit errors differ only in line numbers, paths and messages -> one fingerprint
    fit_errors = [r for r in rel["tables"]["top_errors"]["rows"] if r["operation"] == "fit"]
    assert len(fit_errors) == 1
    assert fit_errors[0]["count"] == sum(1 for r in errors if r["name"] == "fit")
    example = next(r for r in errors if r["trace_id"] == fit_errors[0]["example_trace_id"])
    assert example["name"] == "fit"
    assert fit_errors[0]["fingerprint"] == stack_fingerprint(
        "ValueError", 'File "/elsewhere/steps.py", line 999, in score')


def test_stack_fingerprint_ignores_lines_paths_and_messages() -> None:
    a = 'File "/a/v1/x.py", line 10, in f\n  File "/a/v1/y.py", line 3, in g\nKeyError: 1'
    b = 'File "C:\\b\\x.py", line 99, in f\n  File "/q/y.py", line 7, in g\nKeyError: 2'
    c = 'File "/a/v1/x.py", line 10, in f\n  File "/a/v1/y.py", line 3, in h\nKeyError: 1'
    assert stack_fingerprint("KeyError", a) == stack_fingerprint("KeyError", b)
    assert stack_fingerprint("KeyError", a) != stack_fingerprint("KeyError", c)
    assert stack_fingerprint("KeyError", a) != stack_fingerprint("ValueError", a)


def test_workflow_sequences_and_drop_off(report_json: dict, dataset_root: Path) -> None:
    wf = report_json["sections"]["workflows"]
    runs = [r for r in _rows(dataset_root) if r["span_type"] == "workflow"]
    assert wf["figures"]["runs"] == len(runs) == 60
    seqs = {r["sequence"]: r["runs"] for r in wf["tables"]["sequences"]["rows"]}
    assert seqs == {"load > score > report": 40, "load > score": 20}
    drop = {r["position"]: r for r in wf["tables"]["drop_off"]["rows"]}
    assert [drop[p]["step"] for p in (1, 2, 3)] == ["load", "score", "report"]
    assert [drop[p]["reached"] for p in (1, 2, 3)] == [60, 60, 40]
    assert drop[2]["failed_here"] == 10 and drop[2]["stopped_here"] == 10
    assert wf["figures"]["completion_rate"] == pytest.approx(50 / 60)


def test_sessions(report_json: dict, dataset_root: Path) -> None:
    rows = _rows(dataset_root)
    s = report_json["sections"]["sessions"]["figures"]
    ids = {r["session_id"] for r in rows if r["session_id"]}
    assert s["sessions"] == len(ids) == 50
    # s2-0 has a session span that ended in Timeout: the only incomplete session
    assert s["completed"] == len(ids) - 1
    per = collections.Counter(r["session_id"] for r in rows
                              if r["session_id"] and r["span_type"] != "session")
    assert s["avg_spans"] == pytest.approx(statistics.fmean(per.values()))


def test_cost_breakdowns_repricing_and_what_if(report_json: dict, dataset_root: Path) -> None:
    rows = [r for r in _rows(dataset_root) if r["gen_ai_request_model"]]
    c = report_json["sections"]["cost"]
    by_user: dict = {}
    for r in rows:  # a user with only unpriced calls has no cost (None), never $0
        if r["cost_usd"] is not None:
            by_user[r["user_id"]] = by_user.get(r["user_id"], 0.0) + r["cost_usd"]
        else:
            by_user.setdefault(r["user_id"], None)
    got = {r["user"]: r["cost_usd"] for r in c["tables"]["by_user"]["rows"]}
    assert got == pytest.approx(dict(by_user))
    assert c["figures"]["unpriced_calls"] == sum(r["cost_usd"] is None for r in rows)
    daily = sum(r["cost_usd"] for r in c["tables"]["daily"]["rows"])
    assert daily == pytest.approx(c["figures"]["cost_usd"])
    # re-pricing: each call through genai-prices independently
    for model in ("gpt-4o-mini", "claude-3-5-haiku-latest"):
        calls = [r for r in rows if r["gen_ai_request_model"] == model]
        expected = sum(_calc(
            model, r["gen_ai_provider_name"], r["gen_ai_input_tokens"],
            r["gen_ai_output_tokens"], r["gen_ai_cache_read_tokens"], 0) for r in calls)
        row = next(r for r in c["tables"]["repriced"]["rows"] if r["model"] == model)
        assert row["current_price_usd"] == pytest.approx(expected) and expected > 0
    whatif = sum(_calc("gpt-4o", None, r["gen_ai_input_tokens"],
                                        r["gen_ai_output_tokens"],
                                        r["gen_ai_cache_read_tokens"], 0) for r in rows)
    assert c["figures"]["what_if_cost_usd"] == pytest.approx(whatif)


def test_trends_and_anomalies(report_json: dict, dataset_root: Path) -> None:
    t = report_json["sections"]["trends"]["tables"]
    con = duckdb.connect()
    expected = con.sql(f"""
        SELECT CAST(timezone('UTC', start_time) AS DATE) AS day, count(*) AS n
        FROM read_parquet('{dataset_root}/spans/*/*.parquet') GROUP BY 1 ORDER BY 1""").fetchall()
    assert [(r["day"], r["executions"]) for r in t["daily"]["rows"]] == [
        (d.isoformat(), n) for d, n in expected]
    weeks = t["weekly"]["rows"]
    assert weeks[1]["executions_growth"] == pytest.approx(
        weeks[1]["executions"] / weeks[0]["executions"] - 1)
    an = report_json["sections"]["anomalies"]["tables"]["anomalies"]["rows"]
    spike = [r for r in an if r["metric"] == "executions"]
    assert [r["day"] for r in spike] == ["2026-11-09", "2026-11-10"]  # the jump and the fall
    assert spike[0]["direction"] == "up" and spike[0]["change"] == 600


def test_anomalies_need_minimum_volume(tmp_path: Path) -> None:
    import datetime as dt

    from tests.builders import span, write_spans

    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    rows = [span("x", start=base + dt.timedelta(days=d, seconds=i))
            for d in range(8) for i in range(3 + (9 if d == 5 else 0))]
    write_spans(tmp_path, rows)
    section = build_report(open_dataset(tmp_path), ["anomalies"]).section("anomalies")
    assert section.figures["anomalies"] == 0  # a 4x spike, but only 12 spans that day
    low = build_report(open_dataset(tmp_path), ["anomalies"])
    assert low.section("anomalies").figures["days_checked"] == 8


def test_group_by_attribute_and_filters(dataset_root: Path) -> None:
    ds = open_dataset(dataset_root)
    g = build_report(ds, ["summary"], group_by="team").section("summary").table("by_group")
    counts = {r["team"]: r["executions"] for r in g.records()}
    rows = _rows(dataset_root)
    teams = collections.Counter(dict(r["attributes"] or []).get("team") for r in rows)
    assert counts == dict(teams)
    assert g.to_pandas().shape[0] == len(teams)
    from otelytics.analysis.dataset import Filters

    only = open_dataset(dataset_root, filters=Filters(model="gpt-4o-mini"))
    f = build_report(only, ["summary"]).section("summary").figures
    assert f["executions"] == sum(r["gen_ai_request_model"] == "gpt-4o-mini" for r in rows)
    assert not math.isnan(f["duration_p95_ms"])


def test_repricing_falls_back_to_per_model_sums_and_says_so(dataset_root: Path) -> None:
    from otelytics.analysis.cost import cost

    section = cost(open_dataset(dataset_root), max_combinations=1)
    assert section.notes and "per model" in section.notes[0]
    rows = [r for r in _rows(dataset_root) if r["gen_ai_request_model"] == "gpt-4o-mini"]
    expected = _calc(
        "gpt-4o-mini", "openai", sum(r["gen_ai_input_tokens"] for r in rows),
        sum(r["gen_ai_output_tokens"] for r in rows),
        sum(r["gen_ai_cache_read_tokens"] for r in rows), 0)
    row = next(r for r in section.table("repriced").records() if r["model"] == "gpt-4o-mini")
    assert row["current_price_usd"] == pytest.approx(expected)
    assert row["calls"] == len(rows)


def test_tiered_prices_are_applied_per_call(tmp_path: Path) -> None:
    from otelytics.analysis.cost import cost
    from tests.builders import llm_span, write_spans

    # two 150k-token calls: each below gemini-2.5-pro's 200k tier, their sum above it
    rows = [llm_span("gemini-2.5-pro", provider="gcp.gemini", input_tokens=150_000,
                     output_tokens=1000, cost_usd=None) for _ in range(2)]
    write_spans(tmp_path, rows)
    per_call = 2 * _calc("gemini-2.5-pro", "gcp.gemini", 150_000, 1000)
    summed = _calc("gemini-2.5-pro", "gcp.gemini", 300_000, 2000)
    assert per_call != pytest.approx(summed)  # the tier matters
    row = cost(open_dataset(tmp_path)).table("repriced").records()[0]
    assert row["current_price_usd"] == pytest.approx(per_call)
    assert row["recorded_cost_usd"] is None and row["unpriceable_calls"] == 0


def test_outlier_traces_are_above_p99_and_three_times_p50(tmp_path: Path) -> None:
    import datetime as dt

    from tests.builders import span, write_spans

    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    durs = [10.0 + (i % 5) for i in range(200)] + [100.0, 250.0]
    rows = [span("op", start=base + dt.timedelta(seconds=i), duration_ms=d)
            for i, d in enumerate(durs)]
    rows += [span("rare", start=base, duration_ms=1000.0)]  # < 20 calls: never an outlier
    write_spans(tmp_path, rows)
    perf = build_report(open_dataset(tmp_path), ["performance"]).section("performance")
    bar = max(_q(durs, 0.99), 3 * _q(durs, 0.5))
    expected = sorted((d for d in durs if d >= bar), reverse=True)
    got = perf.table("outlier_traces").records()
    assert perf.figures["outlier_spans"] == len(expected) == 2
    assert [r["duration_ms"] for r in got] == expected
    assert got[0]["times_p50"] == pytest.approx(250.0 / _q(durs, 0.5))
    assert {r["trace_id"] for r in got} == {r["trace_id"] for r in rows
                                            if r["duration_us"] / 1000 in expected}
    assert perf.table("slowest_spans").records()[0]["operation"] == "rare"
