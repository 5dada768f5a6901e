"""otelytics.llm.pricing: the same figure as genai-prices' own calc_price, user prices on top.

Every expected figure is computed independently with ``genai_prices.calc_price`` (Decimal
arithmetic, its own model matching) for the same usage.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import genai_prices
import pytest

from otelytics._settings import ConfigError
from otelytics.llm import pricing
from otelytics.llm.pricing import Price, Usage, price, provider_id, set_prices


@pytest.fixture(autouse=True)
def _no_user_prices(monkeypatch):
    monkeypatch.delenv(pricing.PRICES_FILE_ENV, raising=False)
    set_prices(None)
    yield
    set_prices(None)


def gp_cost(model: str, gp_provider: str, u: Usage, when: datetime | None = None,
            **extra: object) -> float:
    """genai-prices' own figure for our usage (``extra``: e.g. its ``price_context``)."""
    kw = {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens}
    if u.cache_read_tokens:
        kw["cache_read_tokens"] = u.cache_read_tokens
    if u.cache_creation_tokens:
        kw["cache_write_tokens"] = u.cache_creation_tokens
    if u.reasoning_tokens:
        kw["output_reasoning_tokens"] = u.reasoning_tokens
    calc = genai_prices.calc_price(genai_prices.Usage(**kw), model, provider_id=gp_provider,
                                   genai_request_timestamp=when, **extra)
    return float(calc.total_price)


USAGES = [
    Usage(input_tokens=1200, output_tokens=300),
    Usage(input_tokens=5000, output_tokens=800, cache_read_tokens=4000, reasoning_tokens=500),
    Usage(input_tokens=9000, output_tokens=50, cache_read_tokens=3000,
          cache_creation_tokens=5000),
    Usage(input_tokens=250_000, output_tokens=2000, cache_read_tokens=100_000),  # above a tier
    Usage(input_tokens=200_000, output_tokens=10),  # exactly on a tier start: base rate
    Usage(),
]
MODELS = [  # (OTel provider, model, genai-prices provider)
    ("openai", "gpt-4o-mini", "openai"),
    ("openai", "gpt-4o-2024-08-06", "openai"),
    ("openai", "o3", "openai"),
    ("openai", "gpt-5-mini", "openai"),
    ("openai", "text-embedding-3-small", "openai"),
    ("anthropic", "claude-sonnet-4-5", "anthropic"),  # tiered above 200k input tokens
    ("anthropic", "claude-haiku-4-5", "anthropic"),
    ("azure.ai.openai", "gpt-4o", "azure"),
    ("aws.bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", "aws"),
    ("gcp.gemini", "gemini-2.5-pro", "google"),
    ("gcp.vertex_ai", "gemini-2.5-flash", "google"),
]


@pytest.mark.parametrize(("provider", "model", "gp_provider"), MODELS)
def test_cost_equals_genai_prices_own_figure(provider, model, gp_provider):
    for u in USAGES:
        got = price(provider, model, u)
        assert got is not None
        assert got.source == "price_table"
        assert got.version == f"genai-prices {genai_prices.__version__}"
        assert got.usd == pytest.approx(gp_cost(model, gp_provider, u), rel=1e-9, abs=1e-15)


def test_cache_read_priced_lower_than_input_and_never_twice():
    plain = price("openai", "gpt-4o-mini", Usage(input_tokens=10_000)).usd
    cached = price("openai", "gpt-4o-mini",
                   Usage(input_tokens=10_000, cache_read_tokens=8_000)).usd
    assert cached < plain
    # gpt-4o-mini: $0.15 input, $0.075 cache read per MTok -> 2000*0.15 + 8000*0.075 per 1e6
    assert cached == pytest.approx((2000 * 0.15 + 8000 * 0.075) / 1e6, rel=1e-12)
    claude = Usage(input_tokens=10_000, cache_read_tokens=6_000, cache_creation_tokens=3_000)
    # cache write costs more than plain input on Anthropic, cache read far less
    writes = price("anthropic", "claude-haiku-4-5",
                   Usage(input_tokens=10_000, cache_creation_tokens=10_000)).usd
    assert writes > price("anthropic", "claude-haiku-4-5", Usage(input_tokens=10_000)).usd
    assert price("anthropic", "claude-haiku-4-5", claude).usd == pytest.approx(
        gp_cost("claude-haiku-4-5", "anthropic", claude), rel=1e-12)


def test_tier_cliff_matches_genai_prices_on_both_sides():
    below = Usage(input_tokens=200_000, output_tokens=1000)
    above = Usage(input_tokens=200_001, output_tokens=1000)
    b = price("anthropic", "claude-sonnet-4-5", below).usd
    a = price("anthropic", "claude-sonnet-4-5", above).usd
    assert a > 1.5 * b  # the cliff reprices every token
    assert b == pytest.approx(gp_cost("claude-sonnet-4-5", "anthropic", below), rel=1e-12)
    assert a == pytest.approx(gp_cost("claude-sonnet-4-5", "anthropic", above), rel=1e-12)


def test_date_effective_prices():
    u = Usage(input_tokens=300_000, output_tokens=10_000)  # tiered before 2026-03-13 only
    early = datetime(2026, 1, 1, tzinfo=UTC)
    late = datetime(2026, 6, 1, tzinfo=UTC)
    p_early = price("anthropic", "claude-sonnet-4-6", u, when=early).usd
    p_late = price("anthropic", "claude-sonnet-4-6", u, when=late).usd
    assert p_early == pytest.approx(gp_cost("claude-sonnet-4-6", "anthropic", u, early),
                                    rel=1e-12)
    assert p_late == pytest.approx(gp_cost("claude-sonnet-4-6", "anthropic", u, late),
                                   rel=1e-12)
    assert p_early != p_late
    naive = price("anthropic", "claude-sonnet-4-6", u, when=datetime(2026, 1, 1))
    assert naive.usd == p_early  # naive timestamps are UTC


def test_unknown_model_or_provider_is_unpriced_not_zero():
    u = Usage(input_tokens=100, output_tokens=10)
    assert price("openai", "no-such-model-xyz", u) is None
    assert price("my_vllm", "gpt-4o", u) is None  # do not guess another provider's price
    assert price("openai", "", u) is None
    assert price("openai", "gpt-4o-mini", u).usd > 0


def test_odd_usage_never_raises():
    # cache larger than input (a producer that forgot to include it): cache counts as input
    odd = price("openai", "gpt-4o-mini", Usage(input_tokens=10, cache_read_tokens=100))
    assert odd.usd == pytest.approx(100 * 0.075 / 1e6, rel=1e-12)
    neg = price("openai", "gpt-4o-mini", Usage(input_tokens=-5, output_tokens=-1))
    assert neg is not None and neg.usd == 0
    assert price(None, "gpt-4o-mini", Usage(input_tokens=1000)).usd == pytest.approx(
        1000 * 0.15 / 1e6)  # no provider: genai-prices finds it by model


def test_provider_names_map_to_genai_prices_ids():
    assert provider_id("azure.ai.openai") == "azure"
    assert provider_id("aws.bedrock") == "aws"
    assert provider_id("gcp.gemini") == "google"
    assert provider_id("x_ai") == "x-ai"
    assert provider_id("Anthropic") == "anthropic"
    assert provider_id("deepseek") == "deepseek"
    assert provider_id("unknown_thing") is None
    known = {p.id for p in genai_prices.data_snapshot.get_snapshot().providers}
    assert set(pricing._PROVIDERS.values()) <= known


# --- user prices -----------------------------------------------------------------------

def test_user_mapping_overrides_table_and_adds_models():
    set_prices({"version": "2026-11", "models": {
        "openai/gpt-4o-mini": {"input_mtok": 1.0, "output_mtok": 2.0, "cache_read_mtok": 0.5},
        "acme-llama-*": {"input_mtok": 0.1, "output_mtok": 0.2},
        "acme-llama-70b*": {"input_mtok": 0.9, "output_mtok": 0.9}}})
    u = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_read_tokens=400_000)
    got = price("openai", "gpt-4o-mini", u)
    assert got == Price(usd=pytest.approx(0.6 * 1.0 + 0.4 * 0.5 + 2.0), source="user",
                        version="user 2026-11")
    assert price("vllm", "acme-llama-8b", Usage(input_tokens=1_000_000)).usd == \
        pytest.approx(0.1)
    assert price("vllm", "acme-llama-70b-instruct", Usage(input_tokens=1_000_000)).usd == \
        pytest.approx(0.9)  # the most specific prefix wins
    # models the user did not price still come from the table
    assert price("openai", "gpt-4o", u).source == "price_table"
    assert price("azure.ai.openai", "gpt-4o-mini", u).source == "price_table"


def test_user_function_wins_and_falls_through_on_none_or_error():
    calls = []

    def my_prices(provider, model, usage, when):
        calls.append((provider, model, usage.input_tokens))
        if model == "boom":
            raise RuntimeError("bug in the user's function")
        return 0.42 if model.startswith("internal-") else None

    set_prices(my_prices)
    u = Usage(input_tokens=10, output_tokens=1)
    assert price("openai", "internal-model", u) == Price(0.42, "user", "user my_prices")
    assert price("openai", "gpt-4o-mini", u).source == "price_table"
    assert price("openai", "boom", u) is None  # no raise; unknown to the table too
    assert calls[0] == ("openai", "internal-model", 10)


def test_prices_file_json_and_yaml(tmp_path):
    f = tmp_path / "prices.json"
    f.write_text(json.dumps({"models": {"gpt-4o-mini": {"input_mtok": 3, "output_mtok": 6}}}))
    set_prices(f)
    got = price("openai", "gpt-4o-mini", Usage(input_tokens=1_000_000))
    assert got.usd == pytest.approx(3.0) and got.version == "user prices.json"
    y = tmp_path / "p.yaml"
    y.write_text("version: v7\nmodels:\n  team/bot:\n    input_mtok: 2\n    output_mtok: 4\n")
    set_prices(str(y))
    assert price("team", "bot", Usage(output_tokens=500_000)) == Price(2.0, "user", "user v7")


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read"),
    ("{not json", "not valid json"),
    ('{"models": {"m": {"input_mtok": -1}}}', "non-negative"),
    ('{"models": {"m": {"input_mtok": "cheap"}}}', "non-negative"),
    ('{"models": {"m": {"inptu_mtok": 1}}}', "unknown key"),
    ('{"models": {"m": {"cache_read_mtok": 1}}}', "needs input_mtok"),
    ('{"models": {}}', "non-empty"),
    ("[1, 2]", "expected a mapping"),
])
def test_bad_prices_file_fails_at_set_time_with_clear_error(tmp_path, content, message):
    f = tmp_path / "bad.json"
    if content is not None:
        f.write_text(content)
    with pytest.raises(ConfigError, match=message) as err:
        set_prices(f)
    assert "bad.json" in str(err.value)
    assert "\n" not in str(err.value)
    # the table still prices calls afterwards
    assert price("openai", "gpt-4o-mini", Usage(input_tokens=10)).source == "price_table"


def test_set_prices_rejects_other_types():
    with pytest.raises(ConfigError, match="file path, a mapping or a function"):
        set_prices(42)


def test_prices_file_from_environment(tmp_path, python_run):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"version": "env1",
                                "models": {"gpt-4o-mini": {"input_mtok": 5, "output_mtok": 5}}}))
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    code = ("from otelytics.llm.pricing import price, Usage\n"
            "p = price('openai', 'gpt-4o-mini', Usage(input_tokens=1_000_000))\n"
            "print(p.source, p.version, round(p.usd, 6))\n")
    ok = python_run(code, env={"OTELYTICS_PRICES_FILE": str(good)})
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == ["user", "user", "env1", "5.0"]
    broken = python_run(code, env={"OTELYTICS_PRICES_FILE": str(bad)})
    assert broken.returncode == 0, broken.stderr  # a bad variable never stops the app
    assert broken.stdout.split()[0] == "price_table"
    assert "OTELYTICS_PRICES_FILE" in broken.stderr and "bad.json" in broken.stderr


def test_env_file_is_ignored_after_explicit_set_prices(tmp_path, monkeypatch, caplog):
    f = tmp_path / "env.json"
    f.write_text(json.dumps({"models": {"gpt-4o-mini": {"input_mtok": 9, "output_mtok": 9}}}))
    monkeypatch.setenv(pricing.PRICES_FILE_ENV, str(f))
    monkeypatch.setattr(pricing, "_env_loaded", False)
    monkeypatch.setattr(pricing, "_user", None)
    with caplog.at_level(logging.WARNING, logger="otelytics"):
        assert price("openai", "gpt-4o-mini", Usage(input_tokens=1_000_000)).usd == \
            pytest.approx(9.0)
    set_prices(None)
    assert price("openai", "gpt-4o-mini", Usage(input_tokens=1_000_000)).usd == \
        pytest.approx(0.15)


def test_concurrent_first_lookups_agree():
    from concurrent.futures import ThreadPoolExecutor

    models = ["gpt-4o", "gpt-4.1-nano", "o4-mini", "claude-opus-4-1"]
    u = Usage(input_tokens=3000, output_tokens=200, cache_read_tokens=1000)
    pricing._table_obj = None  # cold caches, many threads at once
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: price("anthropic" if "claude" in models[i % 4]
                                            else "openai", models[i % 4], u), range(64)))
    for i, p in enumerate(got):
        m = models[i % 4]
        assert p.usd == pytest.approx(gp_cost(m, "anthropic" if "claude" in m else "openai", u),
                                      rel=1e-9)


@pytest.mark.parametrize(("provider", "model", "gp_provider"), [
    ("openai", "gpt-4o-mini", "openai"), ("anthropic", "claude-sonnet-4-5", "anthropic"),
    ("anthropic", "claude-haiku-4-5", "anthropic"), ("deepseek", "deepseek-chat", "deepseek")])
def test_batch_price_equals_genai_prices_batch_context(provider, model, gp_provider):
    for u in USAGES:
        want = gp_cost(model, gp_provider, u, price_context={"processing": "batch"})
        got = price(provider, model, u, batch=True)
        assert got is not None and got.usd == pytest.approx(want, rel=1e-12, abs=1e-15)
    big = Usage(input_tokens=10_000, output_tokens=1_000, cache_read_tokens=4_000)
    standard, batch = price(provider, model, big).usd, price(provider, model, big, batch=True).usd
    if gp_provider == "deepseek":
        assert batch == standard  # no batch price: the standard one
    else:
        assert batch < standard


def test_batch_price_unknown_under_user_prices():
    set_prices({"models": {"openai/gpt-4o-mini": {"input_mtok": 1.0, "output_mtok": 2.0}}})
    u = Usage(input_tokens=1000, output_tokens=100)
    assert price("openai", "gpt-4o-mini", u).source == "user"
    assert price("openai", "gpt-4o-mini", u, batch=True) is None  # their batch terms: unknown
    assert price("openai", "gpt-4o", u, batch=True).source == "price_table"
