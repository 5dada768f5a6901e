"""Estimator metrics: exact counts by outcome, durations, bounded labels, process gauges."""

from __future__ import annotations

import json
import textwrap
import time

import pytest

import otelytics
from otelytics import _state
from otelytics.semconv import attributes as a
from otelytics.semconv import metrics as m
from tests._metrics_helpers import COLLECTING_EXPORTERS
from tests._metrics_helpers import metric_points as _points


def _by_labels(points, estimator):
    return {
        (p.attributes[a.OTELYTICS_ESTIMATOR_OUTCOME], p.attributes.get(a.ERROR_TYPE)): p
        for p in points if p.attributes[a.OTELYTICS_ESTIMATOR_NAME] == estimator
    }


def test_calls_and_durations_by_outcome_are_exact(metric_reader, spans):
    @otelytics.track("metrics-probe")
    def probe(fail):
        if fail:
            raise KeyError("k")

    for i in range(7):
        try:
            probe(i % 3 == 0)
        except KeyError:
            pass
    calls = _by_labels(_points(metric_reader, m.OTELYTICS_ESTIMATOR_CALLS.name), "metrics-probe")
    assert calls[("ok", None)].value == 4
    assert calls[("error", "KeyError")].value == 3
    hist = _by_labels(_points(metric_reader, m.OTELYTICS_ESTIMATOR_DURATION.name),
                      "metrics-probe")
    assert hist[("ok", None)].count == 4 and hist[("error", "KeyError")].count == 3
    assert list(hist[("ok", None)].explicit_bounds) == list(
        m.OTELYTICS_ESTIMATOR_DURATION.bucket_boundaries)
    span_total = sum((s.end_time - s.start_time) / 1e9 for s in spans.get_finished_spans())
    metric_total = hist[("ok", None)].sum + hist[("error", "KeyError")].sum
    assert metric_total == pytest.approx(span_total, abs=0.0005)


def test_metric_label_cardinality_is_bounded(metric_reader, spans):
    old = _state._names.limit
    _state._names.limit = len(_state._names._seen) + 3
    try:
        for i in range(10):
            with otelytics.track(f"dynamic-{i}"):
                pass
    finally:
        _state._names.limit = old
    names = {p.attributes[a.OTELYTICS_ESTIMATOR_NAME]
             for p in _points(metric_reader, m.OTELYTICS_ESTIMATOR_CALLS.name)}
    assert {f"dynamic-{i}" for i in range(3)} <= names
    assert not ({f"dynamic-{i}" for i in range(3, 10)} & names)
    other = [p for p in _points(metric_reader, m.OTELYTICS_ESTIMATOR_CALLS.name)
             if p.attributes[a.OTELYTICS_ESTIMATOR_NAME] == "_other"]
    assert sum(p.value for p in other) >= 7
    # spans keep their real names: only metric labels are bounded
    assert {s.name for s in spans.get_finished_spans()} == {f"dynamic-{i}" for i in range(10)}


def test_bridged_histogram_reaches_a_metric_exporter_exactly(python_run):
    """configure() builds the providers: durations go through the exporter bridge."""
    code = COLLECTING_EXPORTERS + textwrap.dedent("""
        otelytics.configure(exporters=[cum, delta])
        @otelytics.track
        def work(i): return i
        out = {}
        for round_ in range(2):
            for i in range(5):
                work(i)
            otelytics.force_flush()
            for name, exp in (("cum", cum), ("delta", delta)):
                pts = [p for rm in exp.batches[-1].resource_metrics for sm in rm.scope_metrics
                       for mt in sm.metrics if mt.name == "otelytics.estimator.duration"
                       for p in mt.data.data_points]
                calls = [p.value for rm in exp.batches[-1].resource_metrics
                         for sm in rm.scope_metrics for mt in sm.metrics
                         if mt.name == "otelytics.estimator.calls" for p in mt.data.data_points]
                out.setdefault(name, []).append(
                    [[p.count, sum(p.bucket_counts), p.attributes["otelytics.estimator.outcome"]]
                     for p in pts] + [calls])
        print(json.dumps(out))
    """)
    r = python_run(code, env={"OTEL_METRIC_EXPORT_INTERVAL": "600000"})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["cum"] == [[[5, 5, "ok"], [5]], [[10, 10, "ok"], [10]]]
    assert out["delta"][0][0] == [5, 5, "ok"] and out["delta"][1][0] == [5, 5, "ok"]


def test_process_metrics_are_observed_with_official_names(metric_reader, spans):
    from otelytics.configure import install_process_metrics

    install_process_metrics()
    metric_reader.get_metrics_data()  # first utilisation sample needs a previous one
    # CPU times tick in 10 ms steps: work for >= 0.2 s so the utilisation sample is not noise,
    # then read every gauge from ONE collection (each collection takes a new sample).
    deadline = time.monotonic() + 0.2
    while time.monotonic() < deadline:
        sum(i * i for i in range(20_000))
    data = metric_reader.get_metrics_data()
    points = {metric.name: list(metric.data.data_points)
              for rm in data.resource_metrics for sm in rm.scope_metrics
              for metric in sm.metrics}
    usage = points.get(m.PROCESS_MEMORY_USAGE.name)
    assert usage and usage[0].value > 1_000_000
    threads = points[m.PROCESS_THREAD_COUNT.name]
    assert threads[0].value >= 1
    fds = points[m.PROCESS_UNIX_FILE_DESCRIPTOR_COUNT.name]
    assert fds[0].value >= 3
    modes = {p.attributes[a.CPU_MODE] for p in points[m.PROCESS_CPU_TIME.name]}
    assert modes == {"user", "system"}
    util = points.get(m.PROCESS_CPU_UTILIZATION.name)
    assert util and all(0 <= p.value <= 1.5 for p in util)
