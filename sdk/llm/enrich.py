"""Cost and normalised usage on every GenAI span, whoever produced it, before any exporter.

Our own instrumentors price their spans; spans from the official genai instrumentations,
OpenLLMetry, OpenLIT or anthropic 2.x's built-in telemetry (scope ``com.anthropic.sdk.python``)
carry ``gen_ai.usage.*`` but no cost. :class:`EnrichingSpanProcessor` adds, to any span with
usage attributes and no ``otelytics.cost.*`` yet:

* ``otelytics.cost.usd``, ``otelytics.cost.source``, ``otelytics.cost.price_version`` — or
  ``otelytics.cost.source="unpriced"`` when the model is unknown (never $0);
* ``gen_ai.usage.cache_creation.input_tokens`` from the ``cache_write`` spelling (anthropic's);
* the official usage names from older or producer-specific spellings when the official one is
  missing (:data:`USAGE_ALIASES`: ``gen_ai.usage.prompt_tokens`` / ``completion_tokens`` of
  semantic conventions before v1.27, ``gen_ai.usage.cache_read_input_tokens`` and
  ``cache_creation_input_tokens`` of OpenLLMetry and others, OpenInference's ``llm.*`` token
  counts, model and provider), so those spans are priced with their cache and fill the same
  columns;
* ``gen_ai.provider.name`` from the deprecated ``gen_ai.system`` when missing;
* ``gen_ai.usage.input_tokens`` made to include the cache when its producer reports it without
  (decided by producer, see :data:`CACHE_EXCLUSIVE_INPUT` and ``docs/llm.md``);
* ``gen_ai.response.finish_reasons`` from anthropic's ``anthropic.message.stop_reason``.

When our Anthropic wrapper runs but anthropic 2.x's own telemetry records the call, the
processor's ``on_start`` sees that span start inside our wrapper (the invocation is in the
current context) and hands it to the invocation (``Invocation.adopt``), which puts our request
attributes (the request fingerprint) on it at once: anthropic ends a non-streamed call's span
before ``create`` returns to our wrapper, so nothing later would still reach it.

Where it runs: an ended SDK span's attributes are frozen and shared with the ``ReadableSpan``
every processor and exporter receives. The SDK calls every processor's ``_on_ending(span)``
before any processor's ``on_end``; we enrich there (briefly unfreezing the attribute map, so
size limits still apply), which puts the cost on the span for *every* exporter whatever the
processor order. ``install()`` also places the processor first in the provider's chain, and
``on_end`` enriches whatever ``_on_ending`` did not (an SDK without that hook), so an SDK
change degrades to "first processor wins", never to an exception. ``tests/llm/test_enrich.py``
pins the SDK internals this relies on.

A span without usage costs one dictionary lookup. Nothing here raises into the app.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanKind

from otelytics._state import SCOPE
from otelytics.llm._core import IN_LLM_CALL
from otelytics.llm.pricing import Usage, price
from otelytics.semconv.attributes import (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_FINISH_REASONS,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_SYSTEM,
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS_ALIAS,
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_ALIAS,
    GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS_ALIAS,
    GEN_AI_USAGE_COMPLETION_TOKENS,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    GEN_AI_USAGE_PROMPT_TOKENS,
    GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    LLM_MODEL_NAME,
    LLM_PROVIDER,
    LLM_SYSTEM,
    LLM_TOKEN_COUNT_COMPLETION,
    LLM_TOKEN_COUNT_COMPLETION_DETAILS_REASONING,
    LLM_TOKEN_COUNT_PROMPT,
    LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ,
    LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_WRITE,
    OTELYTICS_COST_PRICE_VERSION,
    OTELYTICS_COST_SOURCE,
    OTELYTICS_COST_USD,
    OtelyticsCostSourceValues,
)

__all__ = ["CACHE_EXCLUSIVE_INPUT", "USAGE_ALIASES", "USAGE_KEYS", "EnrichingSpanProcessor",
           "enrich_attributes", "input_excludes_cache", "install", "uninstall"]

_log = logging.getLogger("otelytics")

_UNPRICED = OtelyticsCostSourceValues.UNPRICED.value
# deprecated gen_ai.system values (and producers' spellings) -> gen_ai.provider.name
_SYSTEMS = {"az.ai.openai": "azure.ai.openai", "az.ai.inference": "azure.ai.inference",
            "azure": "azure.ai.openai", "xai": "x_ai", "vertex_ai": "gcp.vertex_ai",
            "gemini": "gcp.gemini", "bedrock": "aws.bedrock", "mistralai": "mistral_ai",
            "mistral": "mistral_ai", "google": "gcp.gen_ai", "aws": "aws.bedrock",
            "vertexai": "gcp.vertex_ai"}

# other producers' attribute names (not ours, so not in the otelytics registry)
_ANTHROPIC_STOP_REASON = "anthropic.message.stop_reason"
_TELEMETRY_SDK_NAME = "telemetry.sdk.name"  # OpenLIT sets it on every span

_ANTHROPIC_FAMILY = frozenset({"anthropic", "aws.bedrock", "gcp.vertex_ai"})
CACHE_EXCLUSIVE_INPUT: dict[str, frozenset[str]] = {
    # producer (scope-name prefix or telemetry.sdk.name) -> providers whose input it reports
    # cache-exclusive (the provider's raw figure). Everyone else follows the GenAI convention
    # (input includes cache reads and writes): otelytics, anthropic's own telemetry
    # (com.anthropic.sdk.python: input + cache_read + cache_creation), OpenLLMetry and the
    # official instrumentations (opentelemetry.instrumentation.*), Logfire, OpenInference.
    "openlit": _ANTHROPIC_FAMILY,
}
"""Producers known to report ``gen_ai.usage.input_tokens`` without the cache, per provider."""
_KNOWN_INCLUSIVE = ("com.anthropic.sdk", "opentelemetry.instrumentation.", "logfire",
                    "openinference.")


USAGE_ALIASES: dict[str, tuple[str, ...]] = {
    GEN_AI_USAGE_INPUT_TOKENS: (GEN_AI_USAGE_PROMPT_TOKENS, LLM_TOKEN_COUNT_PROMPT),
    GEN_AI_USAGE_OUTPUT_TOKENS: (GEN_AI_USAGE_COMPLETION_TOKENS, LLM_TOKEN_COUNT_COMPLETION),
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: (GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_ALIAS,
                                           LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ),
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: (
        GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS_ALIAS,
        GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS_ALIAS, LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_WRITE),
    GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: (LLM_TOKEN_COUNT_COMPLETION_DETAILS_REASONING,),
    GEN_AI_REQUEST_MODEL: (LLM_MODEL_NAME,),
}
"""Official name -> other spellings read (in order) when it is missing: older GenAI
conventions, OpenLLMetry's cache spellings, OpenInference's ``llm.*``."""
USAGE_KEYS = frozenset((GEN_AI_USAGE_INPUT_TOKENS, GEN_AI_USAGE_OUTPUT_TOKENS,
                        GEN_AI_USAGE_PROMPT_TOKENS, GEN_AI_USAGE_COMPLETION_TOKENS,
                        LLM_TOKEN_COUNT_PROMPT, LLM_TOKEN_COUNT_COMPLETION))
"""A span carrying any of these has usage to price."""
_IN, _OUT, _PROMPT, _COMPLETION, _OI_PROMPT, _OI_COMPLETION = (
    GEN_AI_USAGE_INPUT_TOKENS, GEN_AI_USAGE_OUTPUT_TOKENS, GEN_AI_USAGE_PROMPT_TOKENS,
    GEN_AI_USAGE_COMPLETION_TOKENS, LLM_TOKEN_COUNT_PROMPT, LLM_TOKEN_COUNT_COMPLETION)


def _usage(attrs: Any, name: str, updates: dict[str, Any], convert: Any = None) -> Any:
    """``attrs[name]``, else its first alias present (then also noted in ``updates``,
    through ``convert``; token counts by default)."""
    value = attrs.get(name)
    if value is None:
        for alias in USAGE_ALIASES[name]:
            value = attrs.get(alias)
            if value is not None:
                updates[name] = (convert or _int)(value)
                break
    return value


def _producer(attrs: Any, scope: str | None) -> str | None:
    if scope:
        return scope
    sdk = attrs.get(_TELEMETRY_SDK_NAME)
    return sdk if isinstance(sdk, str) else None


def input_excludes_cache(producer: str | None, provider: Any, input_tokens: int,
                         cached: int) -> bool:
    """Whether a span's input figure leaves the cache out, decided by its producer.

    ``producer`` is the instrumentation scope name (or ``telemetry.sdk.name``). A known
    producer decides alone (table :data:`CACHE_EXCLUSIVE_INPUT`), whatever the sizes; an
    unknown one is taken at the GenAI convention's word unless its figures contradict it
    (input smaller than its own cache parts cannot include them).
    """
    if not cached:
        return False
    name = (producer or "").lower()
    for prefix, providers in CACHE_EXCLUSIVE_INPUT.items():
        if name.startswith(prefix):
            return str(provider or "").lower() in providers
    if name and (name == SCOPE or name.startswith(_KNOWN_INCLUSIVE)):
        return False
    return input_tokens < cached



def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def enrich_attributes(attrs: Any, start_time_ns: int | None = None,
                      scope: str | None = None) -> dict[str, Any] | None:
    """The attributes to add to a span with these ``attrs``, or None when none apply.

    ``scope`` is the producer's instrumentation scope name (decides the input-token meaning;
    without it ``telemetry.sdk.name`` is read). Pure: reads a mapping, returns what to add or
    overwrite. Exposed for the OTLP receiver and for tests; the processor below applies it to
    live spans.
    """
    if OTELYTICS_COST_USD in attrs or OTELYTICS_COST_SOURCE in attrs:
        return None
    updates: dict[str, Any] = {}
    raw_in = _usage(attrs, GEN_AI_USAGE_INPUT_TOKENS, updates)
    raw_out = _usage(attrs, GEN_AI_USAGE_OUTPUT_TOKENS, updates)
    if raw_in is None and raw_out is None:
        return None
    provider = attrs.get(GEN_AI_PROVIDER_NAME)
    if not provider:
        system = attrs.get(GEN_AI_SYSTEM) or attrs.get(LLM_PROVIDER) or attrs.get(LLM_SYSTEM)
        if isinstance(system, str) and system:
            provider = _SYSTEMS.get(system.lower(), system.lower())
            updates[GEN_AI_PROVIDER_NAME] = provider
    cache_read = _int(_usage(attrs, GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, updates) or 0)
    cache_creation = _int(_usage(attrs, GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, updates) or 0)
    input_tokens = _int(raw_in or 0)
    stop = attrs.get(_ANTHROPIC_STOP_REASON)
    if stop and GEN_AI_RESPONSE_FINISH_REASONS not in attrs:
        updates[GEN_AI_RESPONSE_FINISH_REASONS] = [str(stop)]
    if raw_in is not None and input_excludes_cache(_producer(attrs, scope), provider,
                                                   input_tokens, cache_read + cache_creation):
        # reported without the cache (provider-raw meaning): OTel's input includes it
        input_tokens += cache_read + cache_creation
        updates[GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
    response_model = attrs.get(GEN_AI_RESPONSE_MODEL)
    request_model = _usage(attrs, GEN_AI_REQUEST_MODEL, updates, str)
    reasoning = _usage(attrs, GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, updates)
    usage = Usage(input_tokens=input_tokens, output_tokens=_int(raw_out or 0),
                  cache_read_tokens=cache_read, cache_creation_tokens=cache_creation,
                  reasoning_tokens=_int(reasoning or 0))
    when = (datetime.fromtimestamp(start_time_ns / 1e9, UTC)
            if start_time_ns else None)
    cost = None
    for model in (response_model, request_model):  # the served model first, then the asked
        if model and cost is None:
            cost = price(str(provider or ""), str(model), usage, when=when)
    if cost is None:
        updates[OTELYTICS_COST_SOURCE] = _UNPRICED
    else:
        updates[OTELYTICS_COST_USD] = cost.usd
        updates[OTELYTICS_COST_SOURCE] = cost.source
        updates[OTELYTICS_COST_PRICE_VERSION] = cost.version
    return updates


class EnrichingSpanProcessor(SpanProcessor):
    """Adds cost and normalised usage to GenAI spans before exporters see them.

    ``stats`` counts what it did: ``priced``, ``unpriced``, ``failed`` (spans it could not
    enrich: an SDK whose span attributes it cannot update, or an unexpected error).
    """

    def __init__(self) -> None:
        self.stats = {"priced": 0, "unpriced": 0, "failed": 0}
        self._lock = threading.Lock()
        self._warned = False
        self._ending = False  # the SDK calls _on_ending (before on_end) for every span

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def _enrich(self, span: Any) -> None:
        try:
            attrs = span._attributes  # shared with the ReadableSpan handed to exporters
            # BoundedAttributes raises KeyError inside `in`/`get` for a missing key: read the
            # plain dict behind it (one hash lookup for a span that is not GenAI)
            raw = getattr(attrs, "_dict", attrs)
            if raw is None or (_IN not in raw and _OUT not in raw and _PROMPT not in raw
                               and _COMPLETION not in raw and _OI_PROMPT not in raw
                               and _OI_COMPLETION not in raw):  # USAGE_KEYS, unrolled
                return
            if OTELYTICS_COST_SOURCE in raw or OTELYTICS_COST_USD in raw:
                return  # priced already (our own calls): what enrich_attributes would say
            scope = getattr(span, "instrumentation_scope", None)
            updates = enrich_attributes(raw, span.start_time,
                                        getattr(scope, "name", None))
            if not updates:
                return
            frozen = getattr(attrs, "_immutable", None)
            if frozen is None:  # a plain mapping (a ReadableSpan built by hand)
                attrs.update(updates)
            else:
                attrs._immutable = False
                try:
                    for key, value in updates.items():
                        attrs[key] = value
                finally:
                    attrs._immutable = frozen
            self._count("unpriced" if OTELYTICS_COST_USD not in updates else "priced")
        except Exception as exc:  # an SDK change or a bug here must never reach the app
            self._count("failed")
            if not self._warned:
                self._warned = True
                _log.warning("otelytics: cannot add cost to GenAI spans (%r); they are "
                             "exported without it", exc)

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        """A foreign GenAI client span started inside our wrapper: give it to the call."""
        try:
            ctx = otel_context.get_current()
            inv = ctx.get(IN_LLM_CALL)
            if inv is None and parent_context is not None:
                inv = parent_context.get(IN_LLM_CALL)
            if inv is None or inv.span is not None or span.kind is not SpanKind.CLIENT:
                return
            scope = getattr(span, "instrumentation_scope", None)
            if getattr(scope, "name", None) == SCOPE:
                return
            attrs = span.attributes
            if attrs and GEN_AI_OPERATION_NAME in attrs:
                inv.adopt(span)
        except Exception:
            self._count("failed")

    def _on_ending(self, span: Any) -> None:
        self._ending = True
        self._enrich(span)

    def on_end(self, span: ReadableSpan) -> None:
        if not self._ending:  # an SDK without _on_ending: enrich here (still before export
            self._enrich(span)  # when this processor is first in the chain)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _chain(tracer_provider: Any) -> Any:
    chain = getattr(tracer_provider, "_active_span_processor", None)
    if chain is None or not isinstance(getattr(chain, "_span_processors", None), tuple) \
            or not hasattr(chain, "_lock"):
        return None
    return chain


def install(tracer_provider: Any = None) -> EnrichingSpanProcessor | None:
    """Put an :class:`EnrichingSpanProcessor` first in ``tracer_provider``'s processor chain.

    ``tracer_provider`` defaults to the global one. Idempotent: returns the processor already
    installed. Returns None when the provider is not an SDK TracerProvider (nothing to enrich).
    Never raises.
    """
    try:
        if tracer_provider is None:
            from opentelemetry import trace

            tracer_provider = trace.get_tracer_provider()
        if not hasattr(tracer_provider, "add_span_processor"):
            return None
        chain = _chain(tracer_provider)
        if chain is None:  # an SDK whose internals moved: last in the chain, still enriched
            proc = EnrichingSpanProcessor()  # by _on_ending when the SDK calls it
            tracer_provider.add_span_processor(proc)
            return proc
        with chain._lock:
            for existing in chain._span_processors:
                if isinstance(existing, EnrichingSpanProcessor):
                    return existing
            proc = EnrichingSpanProcessor()
            chain._span_processors = (proc, *chain._span_processors)
        return proc
    except Exception as exc:
        _log.warning("otelytics: could not install GenAI span enrichment: %r", exc)
        return None


def uninstall(tracer_provider: Any = None) -> None:
    """Remove the enrichment processor(s) ``install`` added. Never raises."""
    try:
        if tracer_provider is None:
            from opentelemetry import trace

            tracer_provider = trace.get_tracer_provider()
        chain = _chain(tracer_provider)
        if chain is None:
            return
        with chain._lock:
            chain._span_processors = tuple(
                p for p in chain._span_processors if not isinstance(p, EnrichingSpanProcessor))
    except Exception as exc:
        _log.debug("otelytics: uninstall enrichment failed: %r", exc)
