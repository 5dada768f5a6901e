"""Data-quality rules: unpriced models, estimated tokens, broken token partitions, missing
attributes."""

from __future__ import annotations

import pytest

from tests.builders import llm_span, span
from tests.suggest.conftest import only


def test_unpriced_model(run):
    rows = [llm_span("my-finetune", cost_usd=None) for _ in range(5)]
    rows += [llm_span("gpt-4o", cost_usd=0.01) for _ in range(15)]
    [s] = only(run(rows), "unpriced-model")
    assert s.subject == {"model": "my-finetune"} and s.affected == 5
    assert s.evidence["share"] == pytest.approx(5 / 20)
    assert s.saving_usd is None and s.saving_seconds is None


def test_estimated_tokens_and_token_partition(run):
    rows = [llm_span("gpt-4o", cost_usd=0.01, usage_estimated=True) for _ in range(3)]
    rows += [llm_span("gpt-4o-mini", cost_usd=0.01, input_tokens=100, cache_read_tokens=80,
                      gen_ai_cache_creation_tokens=40) for _ in range(2)]
    rows += [llm_span("gpt-4o", cost_usd=0.01) for _ in range(5)]
    report = run(rows)
    [est] = only(report, "estimated-tokens")
    assert est.subject == {"model": "gpt-4o"} and est.affected == 3
    [part] = only(report, "token-partition")
    assert part.subject == {"model": "gpt-4o-mini"} and part.affected == 2


def test_missing_model_service_and_usage(run):
    rows = [{**llm_span("gpt-4o", cost_usd=0.01), "gen_ai_request_model": None,
             "gen_ai_response_model": None} for _ in range(2)]
    rows += [span("fit", service="unknown_service:python") for _ in range(3)]
    rows += [llm_span("gpt-4o", cost_usd=None, input_tokens=None, output_tokens=None)]
    rows += [llm_span("gpt-4o", cost_usd=0.01) for _ in range(4)]
    found = {s.subject["attribute"]: s for s in only(run(rows), "missing-attribute")}
    assert found["model"].affected == 2
    assert found["service.name"].affected == 3
    assert found["token usage"].affected == 1


def test_clean_dataset_has_no_data_quality_findings(run):
    rows = [llm_span("gpt-4o", cost_usd=0.01) for _ in range(10)] + [span("fit")]
    report = run(rows)
    assert [s for s in report.suggestions if s.category == "data quality"] == []


def test_quality_share_threshold(run):
    rows = [llm_span("my-finetune")] + [llm_span("gpt-4o", cost_usd=0.01) for _ in range(150)]
    assert only(run(rows), "unpriced-model") == []  # 0.7 % < 1 %
    assert len(only(run(rows, quality_min_share=0.0), "unpriced-model")) == 1
