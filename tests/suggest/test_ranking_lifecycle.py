"""Ranking, fingerprints, the new / still there / resolved lifecycle, windows and filters,
and the three renderers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from otelytics.analysis.dataset import Filters, Window
from otelytics.analysis.suggest_render import render
from otelytics.analysis.suggestions import (
    SCHEMA_VERSION,
    fingerprint,
    load_report,
    with_lifecycle,
)
from tests.builders import BASE_TIME, llm_span, span
from tests.suggest.conftest import only


def _mixed(dup_calls: int = 6, flaky_errors: int = 12, unpriced: int = 3) -> list[dict]:
    rows = [llm_span("gpt-4o", request_fingerprint="fp-dup", cost_usd=0.05, duration_ms=800)
            for _ in range(dup_calls)]
    rows += [llm_span("gpt-4o-mini", request_fingerprint=f"u{i}", cost_usd=0.001)
             for i in range(20)]
    rows += [span("flaky", error_type="E" if i < flaky_errors else None, duration_ms=30)
             for i in range(40)]
    rows += [span("steady") for _ in range(40)]
    rows += [llm_span("my-finetune") for _ in range(unpriced)]
    return rows


def test_priorities_are_confidence_times_largest_share_and_sorted(run):
    rows = _mixed()
    report = run(rows)
    assert len(report.suggestions) >= 3
    total_cost = sum(r.get("cost_usd") or 0 for r in rows)
    root_s = sum(r["duration_us"] for r in rows if r["parent_span_id"] is None) / 1e6
    llm = sum(1 for r in rows if r.get("gen_ai_operation_name"))
    assert report.totals.cost_usd == pytest.approx(total_cost)
    assert report.totals.root_seconds == pytest.approx(root_s)
    assert report.totals.llm_calls == llm and report.totals.spans == len(rows)
    scopes = {"repeated-calls": llm, "error-hotspot": len(rows), "unpriced-model": llm}
    for s in report.suggestions:
        if s.rule not in scopes:
            continue
        affected = s.affected / scopes[s.rule]
        savings = [x for x in ((s.saving_usd or 0) / total_cost,
                               (s.saving_seconds or 0) / root_s) if x > 0]
        share = {"cost": max(savings or [affected]), "reliability": max([affected, *savings]),
                 "data quality": affected}[s.category]
        assert s.priority == pytest.approx(100 * s.confidence * min(1, share), abs=1e-3)
    priorities = [s.priority for s in report.suggestions]
    assert priorities == sorted(priorities, reverse=True)
    # the duplicate calls take most of the spend: they rank first
    assert report.suggestions[0].rule == "repeated-calls"


def test_same_data_same_report(run):
    rows = _mixed()
    assert run(rows).to_dict() == run(rows).to_dict()


def test_fingerprint_is_rule_and_subject_not_figures(run):
    a = {s.rule: s for s in run(_mixed()).suggestions}
    b = {s.rule: s for s in run(_mixed(dup_calls=9, flaky_errors=20, unpriced=5)).suggestions}
    for rule in ("repeated-calls", "error-hotspot", "unpriced-model"):
        assert a[rule].fingerprint == b[rule].fingerprint
        assert a[rule].evidence != b[rule].evidence
    assert a["repeated-calls"].fingerprint == fingerprint("repeated-calls",
                                                          {"request_fingerprint": "fp-dup"})
    assert fingerprint("repeated-calls", {"request_fingerprint": "x"}) != \
        fingerprint("repeated-calls", {"request_fingerprint": "y"})
    assert fingerprint("slow-p95", {"name": "x"}) != fingerprint("error-hotspot", {"name": "x"})


def test_lifecycle_new_still_there_resolved(run):
    first = run(_mixed())
    previous = load_report(json.loads(render(first, "json")))
    # the hot spot is fixed, the duplicates remain, a new cut-off problem appears
    rows = _mixed(flaky_errors=0)
    rows += [llm_span("gpt-4o", attributes={"gen_ai.response.finish_reasons": '["length"]'})
             for _ in range(5)]
    second = with_lifecycle(run(rows), previous)
    status = {s.rule: s.status for s in second.suggestions}
    assert status["repeated-calls"] == "still there"
    assert status["unpriced-model"] == "still there"
    assert status["max-tokens-cutoff"] == "new"
    hot = next(s for s in first.suggestions if s.rule == "error-hotspot")
    assert [r.fingerprint for r in second.resolved] == [hot.fingerprint]
    assert second.resolved[0].title == hot.title
    doc = json.loads(render(second, "json"))
    assert doc["compared_with_previous"] is True
    assert doc["resolved"][0]["rule"] == "error-hotspot"


@pytest.mark.parametrize("bad", [{}, {"kind": "otelytics.suggestions", "schema_version": 99,
                                      "suggestions": []},
                                 {"kind": "otelytics.suggestions", "schema_version": 1,
                                  "suggestions": [{"rule": "x"}]}, [1, 2]])
def test_load_report_rejects_foreign_documents(bad):
    with pytest.raises(ValueError):
        load_report(bad)


def test_window_and_filters_restrict_the_rules(run):
    day2 = BASE_TIME + dt.timedelta(days=1)
    rows = [llm_span("gpt-4o", request_fingerprint="old", cost_usd=0.01) for _ in range(5)]
    rows += [llm_span("gpt-4o-mini", request_fingerprint="new", cost_usd=0.01,
                      start=day2 + dt.timedelta(seconds=i)) for i in range(5)]
    subjects = {s.subject["request_fingerprint"] for s in only(run(rows), "repeated-calls")}
    assert subjects == {"old", "new"}
    w = Window.of(start=day2.date())
    assert [s.subject["request_fingerprint"]
            for s in only(run(rows, window=w), "repeated-calls")] == ["new"]
    f = Filters(model="gpt-4o")
    report = run(rows, filters=f)
    assert [s.subject["request_fingerprint"] for s in only(report, "repeated-calls")] == ["old"]
    assert report.to_dict()["filters"] == {"model": "gpt-4o"}


def test_renderers(run):
    report = run(_mixed())
    n = len(report.suggestions)
    plain = render(report, "terminal")
    assert "\x1b[" not in plain and plain.count("   fix: ") == n
    assert "\x1b[" in render(report, "terminal", color=True)
    md = render(report, "markdown")
    table = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table) == n + 1  # header + one row per suggestion
    assert md.count("\n### ") == n
    doc = json.loads(render(report, "json"))
    assert doc["schema_version"] == SCHEMA_VERSION and doc["kind"] == "otelytics.suggestions"
    assert [s["fingerprint"] for s in doc["suggestions"]] == [s.fingerprint
                                                              for s in report.suggestions]
    first = doc["suggestions"][0]
    assert {"rule", "category", "title", "evidence", "examples", "saving_usd", "saving_seconds",
            "confidence", "priority", "validate", "fix"} <= set(first)
    with pytest.raises(ValueError):
        render(report, "html")


def test_empty_report_renders(run):
    report = run([span("fit")])
    assert report.suggestions == ()
    assert "Nothing to suggest" in render(report, "terminal")
    assert "Nothing to suggest" in render(report, "markdown")
    assert json.loads(render(report, "json"))["suggestions"] == []
    resolved = with_lifecycle(report, [{"fingerprint": "abc", "rule": "r", "title": "t"}])
    assert "Resolved since the previous run (1)" in render(resolved, "terminal")
    assert dataclasses.asdict(resolved.resolved[0]) == {"fingerprint": "abc", "rule": "r",
                                                        "title": "t"}


def test_many_findings_of_one_rule_are_capped_and_counted(run):
    rows = [llm_span("gpt-4o", request_fingerprint=f"fp{i}", cost_usd=0.01 * (i + 1))
            for i in range(4) for _ in range(5)]
    report = run(rows, max_per_rule=3)
    kept = only(report, "repeated-calls")
    assert len(kept) == 3 and report.omitted == {"repeated-calls": 1}
    # the cheapest duplicate group is the one left out
    assert {s.subject["request_fingerprint"] for s in kept} == {"fp1", "fp2", "fp3"}
    assert json.loads(render(report, "json"))["omitted"] == {"repeated-calls": 1}
    assert "1 repeated-calls" in render(report, "terminal")
    assert "1 repeated-calls" in render(report, "markdown")


def test_capped_findings_are_neither_resolved_nor_new(run):
    def rows(top: int) -> list[dict]:
        cost = [1.0 if i == top else 0.01 * (i + 1) for i in range(4)]
        return [llm_span("gpt-4o", request_fingerprint=f"fp{i}", cost_usd=cost[i],
                         duration_ms=100 * cost[i]) for i in range(4) for _ in range(5)]

    first = run(rows(top=3), max_per_rule=2)  # shows fp3, fp2; omits fp1, fp0
    assert len(first.omitted_fingerprints) == 2
    previous = load_report(json.loads(render(first, "json")))
    second = with_lifecycle(run(rows(top=0), max_per_rule=2), previous)  # shows fp0, fp3
    shown = {s.subject["request_fingerprint"]: s.status for s in only(second, "repeated-calls")}
    assert shown == {"fp0": "still there", "fp3": "still there"}
    # fp2 is only hidden by the cap now; what did change is which prompt dominates the spend
    assert [r.rule for r in second.resolved] == ["dominant-cost"]


def test_progress_callback_sees_every_rule_then_done(tmp_path):
    from otelytics.analysis.dataset import open_dataset
    from otelytics.analysis.suggest_rules import RULES
    from otelytics.analysis.suggestions import suggest
    from tests.builders import write_spans

    write_spans(tmp_path, _mixed())
    calls = []
    with open_dataset(tmp_path) as ds:
        report = suggest(ds, progress=lambda i, n, name: calls.append((i, n, name)))
    n = len(RULES) + 1
    assert [c[0] for c in calls] == list(range(n + 1)) and {c[1] for c in calls} == {n}
    assert calls[0][2] == "preparing" and calls[-1][2] == "done"
    assert calls[3][2] == "cheaper model"
    assert report.suggestions  # the callback changes nothing else
