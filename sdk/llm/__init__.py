"""LLM call instrumentation: OpenAI and Anthropic instrumentors, llm_call, pricing, enrichment.

``otelytics.llm.openai.OpenAIInstrumentor`` and ``otelytics.llm.anthropic.AnthropicInstrumentor``
are loaded by ``opentelemetry-instrument`` (entry points ``otelytics_openai`` and
``otelytics_anthropic``) or by ``otelytics.configure()``; importing this package imports
neither SDK.
"""

from otelytics.llm.call import LLMCall, llm_call, tool

__all__ = ["LLMCall", "instrument_installed", "llm_call", "tool"]

_SDKS = {
    "openai": ("otelytics.llm.openai", "OpenAIInstrumentor"),
    "anthropic": ("otelytics.llm.anthropic", "AnthropicInstrumentor"),
}


def _instrument(sdk: str) -> None:
    import importlib

    mod, cls = _SDKS[sdk]
    inst = getattr(importlib.import_module(mod), cls)()
    if not inst.is_instrumented_by_opentelemetry:
        inst.instrument()


def instrument_installed() -> list[str]:
    """Instrument each supported LLM SDK that is installed, when it is first imported.

    An SDK already imported is instrumented at once; the others through a post-import hook,
    so an app that never imports ``anthropic`` does not pay for importing it.
    Returns the names of the installed SDKs.
    """
    import sys
    from importlib.util import find_spec

    import wrapt

    found = []
    for sdk in _SDKS:
        if find_spec(sdk) is None:
            continue
        found.append(sdk)
        if sdk in sys.modules:
            _instrument(sdk)
        else:
            wrapt.register_post_import_hook(lambda _m, sdk=sdk: _instrument(sdk), sdk)
    return found
