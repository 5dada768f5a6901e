"""The statistics behind compare/reliability/anomalies, and a report over an object store."""

from __future__ import annotations

import itertools
import math
import statistics
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from otelytics.analysis.dataset import open_dataset
from otelytics.analysis.report import build_report
from otelytics.analysis.stats import (
    bootstrap_quantile_diff_ci,
    mann_whitney_u,
    robust_scores,
    two_proportion_z,
    wilson_interval,
)
from tests.conftest import s3_uri


def test_mann_whitney_u_matches_pairwise_count_and_tracks_shifts() -> None:
    a = [1, 2, 2, 3, 5, 8, 8, 9]
    b = [2, 4, 6, 8, 10, 11]
    u, p = mann_whitney_u(a, b)
    # U of b = pairs (x in a, y in b) with y > x, ties counting 1/2 (independent definition)
    pairs = sum(1.0 if y > x else 0.5 if y == x else 0.0 for x, y in itertools.product(a, b))
    assert u == pytest.approx(pairs)
    assert 0 < p < 1
    assert mann_whitney_u(list(range(100)), [x + 50 for x in range(100)])[1] < 1e-6
    assert mann_whitney_u(list(range(100)), list(range(100)))[1] == pytest.approx(1.0)


def test_two_proportion_and_wilson_against_hand_computation() -> None:
    z, p = two_proportion_z(10, 200, 30, 200)
    pooled = 40 / 400
    se = math.sqrt(pooled * (1 - pooled) * (2 / 200))
    assert z == pytest.approx((30 / 200 - 10 / 200) / se)
    assert p == pytest.approx(2 * (1 - statistics.NormalDist().cdf(abs(z))))
    lo, hi = wilson_interval(3, 3)
    assert 100 * lo == pytest.approx(43.85, abs=0.01) and hi == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_bootstrap_ci_excludes_zero_only_for_a_real_shift() -> None:
    base = [float(x % 50) for x in range(400)]
    lo, hi = bootstrap_quantile_diff_ci(base, base, 0.95)
    assert lo <= 0 <= hi
    lo, hi = bootstrap_quantile_diff_ci(base, [x + 30 for x in base], 0.95)
    assert lo > 0


def test_robust_scores_ignore_floating_point_noise() -> None:
    # the same daily cost summed in different orders: last-bit differences, no anomaly
    noisy = [0.1 + 0.2, 0.3, 0.30000000000000004, 0.3, 0.1 + 0.2, 0.3, 0.3, 0.3]
    assert all(s == 0 for s in robust_scores(noisy)[1:])
    # a real jump on top of that noise is still flagged
    jumped = [*noisy, 0.9, 0.3]
    scores = robust_scores(jumped)
    assert abs(scores[8]) > 3.5 and all(abs(s) < 3.5 for s in scores[1:8])


def test_robust_scores_flag_a_jump_not_a_trend() -> None:
    trend = [100 + 10 * i for i in range(10)]
    assert all(s == 0 for s in robust_scores(trend)[1:])
    noisy = [100, 104, 98, 102, 101, 99, 400, 103, 100, 97]
    scores = robust_scores(noisy)
    d = [b - a for a, b in itertools.pairwise(noisy)]
    med = statistics.median(d)
    mad = statistics.median(abs(x - med) for x in d)
    assert scores[6] == pytest.approx(0.6745 * (d[5] - med) / mad)
    assert scores[6] > 3.5 and scores[7] < -3.5
    assert max(abs(s) for i, s in enumerate(scores) if i not in (0, 6, 7)) < 3.5


def test_report_over_object_store_with_a_corrupt_file(s3_server: dict, dataset_root: Path) -> None:
    uri = s3_uri(s3_server, "reports")
    fs, base = pafs.FileSystem.from_uri(uri)
    local = sorted((dataset_root / "spans").glob("dt=2026-11-0[23]/*.parquet"))
    for path in local:
        dest = f"{base}/spans/{path.parent.name}/{path.name}"
        fs.create_dir(dest.rsplit("/", 1)[0])
        with fs.open_output_stream(dest) as out:
            out.write(path.read_bytes())
    with fs.open_output_stream(f"{base}/spans/dt=2026-11-02/part-bad.parquet") as out:
        out.write(b"PAR1 not really")
    ds = open_dataset(uri)
    assert len(ds.files["spans"]) == len(local) and len(ds.skipped) == 1
    report = build_report(ds, ["summary", "cost"])
    import pyarrow.dataset as pads

    rows = pads.dataset([str(p) for p in local], format="parquet").to_table()
    assert report.section("summary").figures["executions"] == rows.num_rows
    assert report.skipped_files[0][0].endswith("part-bad.parquet")


def test_window_label_says_what_the_window_is() -> None:
    from otelytics.analysis.render_text import window_label

    assert window_label({"from": None, "to": None}) == "all data"
    assert window_label({"from": "2026-11-01T00:00:00Z", "to": None}) == \
        "from 2026-11-01T00:00:00Z"
    assert window_label({"from": None, "to": "2026-11-02T00:00:00Z"}) == \
        "until 2026-11-02T00:00:00Z"
    assert window_label({"from": "a", "to": "b"}) == "a .. b"
