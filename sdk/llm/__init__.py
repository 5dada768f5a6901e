"""LLM call instrumentation: OpenAI and Anthropic instrumentors, llm_call, pricing, enrichment.

``otelytics.llm.openai.OpenAIInstrumentor`` and ``otelytics.llm.anthropic.AnthropicInstrumentor``
are loaded by ``opentelemetry-instrument`` (entry points ``otelytics_openai`` and
``otelytics_anthropic``) or by ``otelytics.configure()``; importing this package imports
neither SDK.
"""

from otelytics.llm.call import LLMCall, llm_call, tool

__all__ = ["LLMCall", "instrument_installed", "llm_call", "tool"]


def instrument_installed() -> list[str]:
    """Instrument every supported LLM SDK that is installed; return the names instrumented."""
    from importlib.util import find_spec

    done = []
    if find_spec("openai") is not None:
        from otelytics.llm.openai import OpenAIInstrumentor

        inst = OpenAIInstrumentor()
        if not inst.is_instrumented_by_opentelemetry:
            inst.instrument()
        done.append("openai")
    if find_spec("anthropic") is not None:
        from otelytics.llm.anthropic import AnthropicInstrumentor

        inst2 = AnthropicInstrumentor()
        if not inst2.is_instrumented_by_opentelemetry:
            inst2.instrument()
        done.append("anthropic")
    return done
