"""Pricing and enrichment cost: ``python -m bench llm_pricing``.

* ``price()`` against ``genai_prices.calc_price`` for the same usage (flat and tiered prices),
  interleaved in one run: the ratio is what memoising and per-band rates buy.
* CPU added per span by the EnrichingSpanProcessor: spans without usage attributes (the common
  case it must not slow down) and GenAI spans it prices, each against a provider without it.
"""

from __future__ import annotations

import time

from bench import interleaved


def _span_cpu(provider, attrs: dict, calls: int) -> float:
    tracer = provider.get_tracer("bench")
    t0 = time.process_time()
    for _ in range(calls):
        tracer.start_span("s", attributes=attrs).end()
    return (time.process_time() - t0) / calls


def run() -> dict:
    import genai_prices
    from opentelemetry.sdk.trace import TracerProvider

    from otelytics.llm.enrich import install
    from otelytics.llm.pricing import Usage, price

    out: dict[str, object] = {}
    usage = Usage(input_tokens=5000, output_tokens=400, cache_read_tokens=3000,
                  cache_creation_tokens=500, reasoning_tokens=100)
    gp_usage = genai_prices.Usage(input_tokens=5000, output_tokens=400, cache_read_tokens=3000,
                                  cache_write_tokens=500, output_reasoning_tokens=100)
    for label, provider, model in (("flat", "openai", "gpt-4o-mini"),
                                   ("tiered", "anthropic", "claude-sonnet-4-5")):
        times = interleaved({
            "otelytics": lambda p=provider, m=model: price(p, m, usage),
            "genai_prices": lambda p=provider, m=model: genai_prices.calc_price(
                gp_usage, m, provider_id=p),
        }, calls=2000, rounds=5)
        out[f"price_{label}_us"] = round(times["otelytics"] * 1e6, 2)
        out[f"calc_price_{label}_us"] = round(times["genai_prices"] * 1e6, 2)
        out[f"price_{label}_speedup"] = round(times["genai_prices"] / times["otelytics"], 1)

    plain = {"http.request.method": "GET", "url.path": "/items"}
    genai = {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
             "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300}
    bare, enriched = TracerProvider(), TracerProvider()
    install(enriched)
    for label, attrs in (("plain", plain), ("genai", genai)):
        base, added = [], []
        for _ in range(5):  # interleaved rounds, median
            base.append(_span_cpu(bare, attrs, 5000))
            added.append(_span_cpu(enriched, attrs, 5000))
        base.sort()
        added.sort()
        out[f"span_{label}_base_us"] = round(base[2] * 1e6, 2)
        out[f"span_{label}_enrich_added_us"] = round((added[2] - base[2]) * 1e6, 2)
    return out
