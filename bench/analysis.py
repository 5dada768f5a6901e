"""A full ``report`` on N spans (default 10 million) against one hand-written DuckDB query.

``python -m bench analysis`` (or ``python bench/analysis.py --spans 1000000`` for a quick run).
The dataset is generated with DuckDB (vectorised, no Python rows) into
``/tmp/otelytics-bench-analysis-<N>/`` and reused by later runs. Both sides run in fresh
subprocesses, interleaved, and report their own wall time and peak RSS; the figure is the
ratio report / baseline (goal <= 3x) and the report's peak memory (goal <= 2 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["generate", "run"]

_GEN = """
COPY (
  SELECT
    lpad(to_hex(i // 100), 32, '0') AS trace_id,
    lpad(to_hex(i), 16, '0') AS span_id,
    CASE WHEN i % 100 BETWEEN 1 AND 3 THEN lpad(to_hex(i - i % 100), 16, '0') END
      AS parent_span_id,
    CASE WHEN i % 100 = 0 THEN 'pipeline' WHEN i % 100 BETWEEN 1 AND 3
         THEN 'step' || (i % 100) WHEN i % 5 = 4 THEN 'chat ' || m.model
         ELSE 'op_' || (h % 40) END AS name,
    CASE WHEN i % 5 = 4 THEN 'CLIENT' ELSE 'INTERNAL' END AS kind,
    TIMESTAMPTZ '2026-10-01 00:00:00+00' + to_microseconds(CAST(i * {step} AS BIGINT))
      AS start_time,
    CAST(200 + (h % 997) * (1 + h % 13) * 10 AS BIGINT) AS duration_us,
    CASE WHEN h % 53 = 0 THEN 'ERROR' ELSE 'UNSET' END AS status_code,
    CASE WHEN h % 53 = 0 THEN 'ValueError' END AS error_type,
    'svc' || (i % 3) AS service_name, 'otelytics' AS scope_name,
    CASE WHEN i % 100 = 0 THEN 'workflow' WHEN i % 5 = 4 THEN NULL ELSE 'function' END
      AS span_type,
    CASE WHEN i % 100 = 0 OR i % 100 BETWEEN 1 AND 3 THEN 'pipeline' END AS workflow_name,
    CASE WHEN i % 100 BETWEEN 1 AND 3 THEN 'step' || (i % 100) END AS workflow_step,
    CASE WHEN i % 5 <> 4 THEN CAST(10 ^ (h % 5) AS BIGINT) END AS estimator_data_length,
    CASE WHEN i % 5 <> 4 THEN (h % 100) / 1e4 END AS cpu_time_s,
    CASE WHEN i % 5 = 4 THEN 'chat' END AS gen_ai_operation_name,
    CASE WHEN i % 5 = 4 THEN m.provider END AS gen_ai_provider_name,
    CASE WHEN i % 5 = 4 THEN m.model END AS gen_ai_request_model,
    CASE WHEN i % 5 = 4 THEN CAST(100 + h % 3000 AS BIGINT) END AS gen_ai_input_tokens,
    CASE WHEN i % 5 = 4 THEN CAST(10 + h % 500 AS BIGINT) END AS gen_ai_output_tokens,
    CASE WHEN i % 5 = 4 THEN CAST((h % 4) * 100 AS BIGINT) END AS gen_ai_cache_read_tokens,
    CASE WHEN i % 5 = 4 AND h % 17 <> 0 THEN (h % 1000) / 1e5 END AS cost_usd,
    'sess' || (i // 40) AS session_id, 'user' || ((i // 40) % 5000) AS user_id,
    CASE WHEN i % 5 <> 4 THEN MAP {{'otelytics.estimator.param.alpha': CAST(h % 4 AS VARCHAR)}}
      ELSE MAP {{}} END AS attributes,
    strftime(TIMESTAMPTZ '2026-10-01 00:00:00+00' + to_microseconds(CAST(i * {step} AS BIGINT)),
             '%Y-%m-%d') AS dt
  FROM (SELECT range AS i, hash(range) % 1000003 AS h FROM range({n})) r
  JOIN (VALUES (0, 'gpt-4o-mini', 'openai'), (1, 'gpt-4o', 'openai'),
               (2, 'claude-3-5-haiku-latest', 'anthropic'),
               (3, 'unknown-model', 'openai')) m(k, model, provider) ON m.k = r.h % 4
) TO '{out}' (FORMAT parquet, PARTITION_BY (dt), COMPRESSION zstd, ROW_GROUP_SIZE 262144)
"""

CORE_SECTIONS = "summary,cost"
"""A smaller report (what a daily cost/health check needs), measured beside the full one."""

BASELINE = """
SELECT count(*) AS executions, count(*) FILTER (WHERE status_code = 'ERROR') AS errors,
  avg(duration_us), quantile_cont(duration_us, [0.5, 0.95, 0.99]),
  sum(gen_ai_input_tokens), sum(gen_ai_output_tokens), sum(gen_ai_cache_read_tokens),
  sum(cost_usd), count(*) FILTER (WHERE gen_ai_request_model IS NOT NULL AND cost_usd IS NULL),
  count(DISTINCT session_id)
FROM read_parquet('{glob}')
"""

_CHILD_BASELINE = """
import json, resource, sys, time
t0 = time.perf_counter()
import duckdb
row = duckdb.sql(sys.argv[2].format(glob=sys.argv[1] + '/spans/*/*.parquet')).fetchall()
print(json.dumps({"seconds": time.perf_counter() - t0, "executions": row[0][0],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_CHILD_REPORT = """
import json, resource, sys, time
t0 = time.perf_counter()
from otelytics.analysis.dataset import open_dataset
from otelytics.analysis.report import build_report
from otelytics.analysis.render_json import render_json
ds = open_dataset(sys.argv[1])
report = build_report(ds, sys.argv[2].split(",") if len(sys.argv) > 2 else None)
text = render_json(report)
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "executions": report.section("summary").figures["executions"],
                  "json_bytes": len(text),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def generate(n: int) -> Path:
    """The cached dataset of ``n`` spans over 30 days (generated once)."""
    root = Path(f"/tmp/otelytics-bench-analysis-{n}")
    done = root / ".complete"
    if done.exists():
        return root
    import shutil

    import duckdb

    shutil.rmtree(root, ignore_errors=True)
    (root / "spans").mkdir(parents=True)
    step = 30 * 86400 * 1_000_000 / n
    duckdb.sql(_GEN.format(n=n, step=step, out=root / "spans"))
    done.write_text(str(n))
    return root


def _child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         check=True, timeout=3600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(spans: int | None = None, rounds: int = 3) -> dict:
    n = spans or int(os.environ.get("OTELYTICS_BENCH_SPANS", 10_000_000))
    t0 = time.perf_counter()
    root = generate(n)
    gen_s = time.perf_counter() - t0
    base, rep, core = [], [], []
    for _ in range(rounds):
        base.append(_child(_CHILD_BASELINE, str(root), BASELINE))
        rep.append(_child(_CHILD_REPORT, str(root)))
        core.append(_child(_CHILD_REPORT, str(root), CORE_SECTIONS))
    assert all(b["executions"] == n for b in base) and all(r["executions"] == n for r in rep)
    b = statistics.median(x["seconds"] for x in base)
    r = statistics.median(x["seconds"] for x in rep)
    c = statistics.median(x["seconds"] for x in core)
    return {
        "spans": n,
        "files": sum(1 for _ in (root / "spans").glob("*/*.parquet")),
        "dataset_mb": round(sum(p.stat().st_size for p in (root / "spans").glob("*/*.parquet"))
                            / 2**20, 1),
        "generate_seconds_if_new": round(gen_s, 1),
        "baseline_query_seconds": round(b, 2),
        "full_report_seconds": round(r, 2),
        "ratio_report_to_baseline": round(r / b, 2),
        "report_peak_rss_mb": round(max(x["peak_rss_mb"] for x in rep)),
        "summary_and_cost_seconds": round(c, 2),
        "ratio_summary_and_cost_to_baseline": round(c / b, 2),
        "baseline_peak_rss_mb": round(max(x["peak_rss_mb"] for x in base)),
        "rounds": rounds,
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    print(json.dumps(run(a.spans, a.rounds), indent=2))
