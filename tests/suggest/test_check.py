"""`otelytics check`: each rule type breached and held, operation scopes, baseline-relative
limits (volumes per day), rules files, exit codes 0 / 1 / 2 and one-line errors."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from otelytics.analysis.check import CheckRule, parse_increase, parse_limit
from otelytics.analysis.cli import main
from tests.builders import BASE_TIME, llm_span, span, write_spans

DAY1 = BASE_TIME.replace(hour=0)  # 2026-11-02: baseline day
DAY2 = DAY1 + dt.timedelta(days=1)  # 2026-11-03: the day under check
CUR = ["--from", "2026-11-03", "--to", "2026-11-04"]


def _at(day: dt.datetime, i: int) -> dt.datetime:
    return day + dt.timedelta(hours=1, seconds=10 * i)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """Baseline day: 10 LLM calls at $0.10; current day: 10 calls at $0.15 and a flaky op."""
    root = tmp_path_factory.mktemp("check")
    base = [llm_span("gpt-4o", cost_usd=0.10, input_tokens=1000, output_tokens=100,
                     start=_at(DAY1, i), duration_ms=500) for i in range(10)]
    base += [span("fit", start=_at(DAY1, 20 + i), duration_ms=100 + 10 * i) for i in range(20)]
    cur = [llm_span("gpt-4o", cost_usd=0.15, input_tokens=1500, output_tokens=100,
                    start=_at(DAY2, i), duration_ms=500) for i in range(10)]
    fit_ms = [100 + 40 * i for i in range(20)]
    cur += [span("fit", start=_at(DAY2, 20 + i), duration_ms=d,
                 error_type="ValueError" if i < 3 else None) for i, d in enumerate(fit_ms)]
    write_spans(root, base + cur)
    return {"root": str(root), "cur": cur, "base": base, "fit_s": np.array(fit_ms) / 1000}


def _check(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cost_budget_breached_and_held(data, capsys):
    cost = sum(r.get("cost_usd") or 0 for r in data["cur"])
    code, out, _ = _check(capsys, data["root"], *CUR, "--max-cost", "1")
    assert code == 1
    assert f"FAIL  cost {cost:,.4f} USD > max 1.0000 USD" in out
    code, out, _ = _check(capsys, data["root"], *CUR, "--max-cost", "$2")
    assert code == 0 and "the rule holds" in out


def test_error_rate_overall_and_per_operation(data, capsys):
    n = len(data["cur"])
    code, out, _ = _check(capsys, data["root"], *CUR, "--max-error-rate", "0.2")
    assert code == 0 and f"error_rate {3 / n:.2%} <= max 20.00%" in out
    code, out, _ = _check(capsys, data["root"], *CUR, "--max-error-rate", "fit=10%")
    assert code == 1 and f"FAIL  error_rate[fit] {3 / 20:.2%} > max 10.00%" in out


def test_p95_of_an_operation(data, capsys):
    p95 = float(np.percentile(data["fit_s"], 95))
    code, out, _ = _check(capsys, data["root"], *CUR, "--max-p95", "fit=800ms")
    assert code == 1 and f"p95[fit] {p95:.3f} s > max 0.800 s" in out
    code, out, _ = _check(capsys, data["root"], *CUR, "--max-p95", f"fit={p95 + 0.01}s")
    assert code == 0


def test_tokens(data, capsys):
    tokens = sum(r["gen_ai_input_tokens"] + r["gen_ai_output_tokens"]
                 for r in data["cur"] if r.get("gen_ai_input_tokens"))
    code, out, _ = _check(capsys, data["root"], *CUR, "--max-tokens", "15k")
    assert code == 1 and f"tokens {tokens:,.0f} tokens > max 15,000 tokens" in out
    code, _, _ = _check(capsys, data["root"], *CUR, "--max-tokens", "16k")
    assert code == 0


def test_several_rules_one_breach_exits_1_and_names_it(data, capsys):
    code, out, _ = _check(capsys, data["root"], *CUR, "--max-cost", "5", "--max-tokens", "1M",
                          "--max-p95", "fit=0.1s")
    assert code == 1
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1 and "p95[fit]" in fails[0]
    assert out.rstrip().endswith("1 of 3 rules breached")


def test_relative_cost_per_day_against_baseline(data, capsys):
    # baseline day $1.00/day, current day $1.50/day: +50 %
    code, out, _ = _check(capsys, data["root"], *CUR, "--baseline-since", "1d",
                          "--max-increase", "cost=20%")
    assert code == 1 and "FAIL  cost +50.0% vs baseline (1 -> 1.5 USD/day) > max +20%" in out
    code, out, _ = _check(capsys, data["root"], *CUR, "--baseline-since", "1d",
                          "--max-increase", "cost=60%")
    assert code == 0
    # a 7-day baseline holding one day of data: $1.00 / 7 days per day
    code, out, _ = _check(capsys, data["root"], *CUR, "--baseline-since", "7d",
                          "--max-increase", "cost=100%", "--format", "json")
    doc = json.loads(out)
    [r] = doc["results"]
    assert r["baseline"] == pytest.approx(1.0 / 7) and r["value"] == pytest.approx(1.5)
    assert r["breached"] is True and doc["passed"] is False and code == 1


def test_relative_p95_and_error_rate(data, capsys):
    base_p95 = float(np.percentile([(100 + 10 * i) / 1000 for i in range(20)], 95))
    cur_p95 = float(np.percentile(data["fit_s"], 95))
    code, out, _ = _check(capsys, data["root"], *CUR, "--baseline-from", "2026-11-02",
                          "--max-increase", "p95:fit=50%", "--format", "json")
    [r] = json.loads(out)["results"]
    assert r["baseline"] == pytest.approx(base_p95) and r["value"] == pytest.approx(cur_p95)
    assert r["breached"] == (cur_p95 / base_p95 - 1 > 0.5) and code == 1
    # no errors in the baseline: an honest "no baseline", not a breach
    code, out, _ = _check(capsys, data["root"], *CUR, "--baseline-since", "1d",
                          "--max-increase", "error_rate=10%")
    assert code == 0 and "no baseline  error_rate" in out


def test_rules_file_toml_and_yaml(data, capsys, tmp_path):
    toml = tmp_path / "rules.toml"
    toml.write_text('from = "2026-11-03"\nto = "2026-11-04"\nbaseline_since = "1d"\n'
                    'max_cost = 5\nmax_p95 = { fit = "1.5s" }\n'
                    'max_increase = { cost = "20%" }\n')
    code, out, _ = _check(capsys, data["root"], "--rules", str(toml))
    assert code == 1
    assert [line.split()[0] for line in out.splitlines()[:3]] == ["ok", "ok", "FAIL"]
    yml = tmp_path / "rules.yaml"
    yml.write_text("from: '2026-11-03'\nto: '2026-11-04'\nmax_error_rate:\n  - fit=20%\n"
                   "operation: fit\n")
    code, out, _ = _check(capsys, data["root"], "--rules", str(yml))
    assert code == 0 and "error_rate[fit] 15.00% <= max 20.00%" in out


@pytest.mark.parametrize("content, message", [
    ("max_cots = 5\n", "unknown key(s)"),
    ("max_cost = [\n", "invalid TOML"),
    ("max_cost = 'lots'\n", "invalid cost limit"),
    ("max_increase = { speed = '5%' }\n", "invalid increase"),
])
def test_bad_rules_file_is_a_usage_error(data, capsys, tmp_path, content, message):
    f = tmp_path / "rules.toml"
    f.write_text(content)
    code, _, err = _check(capsys, data["root"], "--rules", str(f))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    ([], "no rules"),
    (["--max-cost", "five"], "invalid cost limit"),
    (["--max-error-rate", "150%"], "invalid error_rate limit"),
    (["--max-p95", "=1s"], "empty operation"),
    (["--max-increase", "cost=20%"], "needs a baseline"),
    (["--max-increase", "latency=20%"], "invalid increase"),
    (["--rules", "/nonexistent/rules.toml"], "cannot read rules file"),
])
def test_usage_errors_exit_2(data, capsys, args, message):
    code, _, err = _check(capsys, data["root"], *CUR, *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_relative_needs_bounded_window(data, capsys):
    code, _, err = _check(capsys, data["root"], "--baseline-since", "1d",
                          "--max-increase", "cost=5%")
    assert code == 2 and "bounded window" in err


def test_empty_window_and_missing_dataset_exit_3(data, capsys, tmp_path):
    code, _, err = _check(capsys, data["root"], "--from", "2030-01-01", "--max-cost", "1")
    assert code == 3 and "no span files" in err
    code, _, err = _check(capsys, str(tmp_path / "nope"), "--max-cost", "1")
    assert code == 3 and "does not exist" in err
    code, _, err = _check(capsys, data["root"], *CUR, "--operation", "nope", "--max-cost", "1")
    assert code == 3 and "no spans" in err


def test_parsers():
    assert parse_limit("cost", "5") == CheckRule("cost", 5.0)
    assert parse_limit("p95", "fit=1500ms") == CheckRule("p95", 1.5, "fit")
    assert parse_limit("tokens", "2.5M").limit == 2_500_000
    assert parse_limit("error_rate", "2%").limit == pytest.approx(0.02)
    assert parse_increase("p95:fit=10%") == CheckRule("p95", 0.1, "fit", relative=True)
    with pytest.raises(ValueError):
        parse_limit("latency", "1")


def test_data_dir_from_environment(data, capsys, monkeypatch):
    monkeypatch.setenv("OTELYTICS_DATA_DIR", data["root"])
    code, out, _ = _check(capsys, *CUR, "--max-cost", "100")
    assert code == 0 and "ok    cost 1.5000 USD <= max 100.0000 USD" in out


def test_relative_tokens_per_day_and_json_pass(data, capsys):
    cur = sum(r["gen_ai_input_tokens"] + r["gen_ai_output_tokens"]
              for r in data["cur"] if r.get("gen_ai_input_tokens"))
    base = sum(r["gen_ai_input_tokens"] + r["gen_ai_output_tokens"]
               for r in data["base"] if r.get("gen_ai_input_tokens"))
    code, out, _ = _check(capsys, data["root"], *CUR, "--baseline-since", "2d",
                          "--max-increase", "tokens=200%", "--format", "json")
    doc = json.loads(out)
    [r] = doc["results"]
    assert r["value"] == pytest.approx(cur) and r["baseline"] == pytest.approx(base / 2)
    assert cur / (base / 2) - 1 < 2.0
    assert code == 0 and doc["passed"] is True and r["breached"] is False


def test_operation_without_spans_is_a_usage_error_naming_close_ones(data, capsys):
    # a typo must not disable a CI budget: exit 2, one line, the closest known operations
    code, out, err = _check(capsys, data["root"], *CUR, "--max-p95", "fitt=1.5s")
    assert code == 2 and out == ""
    [line] = err.strip().splitlines()
    assert "no spans for operation 'fitt' in this window" in line
    known = line.split("known operations: ")[1].split(", ")
    assert known[0] == "fit" and set(known) == {"fit", "chat gpt-4o"}
    # also when the operation only exists outside the window, and for increase rules
    code, _, err = _check(capsys, data["root"], *CUR, "--baseline-since", "1d",
                          "--max-increase", "p95:nope=10%")
    assert code == 2 and "no spans for operation 'nope'" in err


def test_cost_budget_over_only_unpriced_calls_is_an_error(tmp_path, capsys):
    write_spans(tmp_path, [llm_span("my-llm", provider="acme", cost_usd=None,
                                    start=_at(DAY2, i)) for i in range(3)])
    code, out, err = _check(capsys, str(tmp_path), *CUR, "--max-cost", "1")
    assert code == 2 and out == "" and "no data to measure" in err
    assert len(err.strip().splitlines()) == 1
