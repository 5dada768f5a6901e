"""One GenAI call from start to finish: span, token accounting, cost, metrics, roll-ups.

Every surface (OpenAI, Anthropic, ``llm_call``) goes through :class:`Invocation`, so a call
records the same things whichever client made it. Nothing here raises into the app: an
internal failure is counted and reported once (``otelytics._call.report_internal_error``).

Token semantics (the same for every provider): ``input_tokens`` INCLUDES cache reads and
cache writes; the cache figures are the parts of it; ``reasoning`` is part of ``output``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation import _SPAN_KEY

from otelytics import _state
from otelytics._call import report_internal_error
from otelytics._frames import FRAME_KEY, Frame, add_usage
from otelytics.llm import _hist, _settings
from otelytics.semconv import attributes as a
from otelytics.semconv import metrics as m

__all__ = ["IN_LLM_CALL", "Invocation", "begin", "error_type_of", "fingerprint", "suppressed"]

IN_LLM_CALL = otel_context.create_key("otelytics-llm-call")
"""Set in the context while an instrumented call runs (its value: the :class:`Invocation`):
nested wrappers (a helper that calls ``create``, a second instrumentation pass) see it and add
no second span, and the enrichment processor finds the call a foreign span records."""

_INPUT = "input"
_OUTPUT = "output"
_SOURCE_UNPRICED = a.OtelyticsCostSourceValues.UNPRICED.value
_models = _state.LabelLimiter(500)
_ENDED_CTX = otel_context.Context()


def suppressed() -> bool:
    """Instrumentation is off here: otelytics disabled, suppressed, or inside our own call."""
    if not _state.enabled:
        return True
    ctx = otel_context.get_current()
    return bool(ctx.get(_SUPPRESS_INSTRUMENTATION_KEY)) or ctx.get(IN_LLM_CALL) is not None


def error_type_of(exc: BaseException) -> str:
    """Low-cardinality error type: the exception class name (``RateLimitError``, ...)."""
    return type(exc).__qualname__


def _canonical(obj: Any) -> Any:
    """Make SDK objects (pydantic models, iterables) JSON-serialisable, deterministically."""
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        return dump(mode="json", exclude_none=True)
    if isinstance(obj, (list, tuple)):
        return [_canonical(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    return obj


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_ENCODER_ANY = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                default=repr)


def _dumps(obj: Any) -> str:
    """Canonical JSON (sorted keys); SDK objects through ``model_dump``."""
    try:
        return _ENCODER.encode(obj)
    except (TypeError, ValueError):
        return _ENCODER_ANY.encode(_canonical(obj))


def fingerprint(model: str | None, content: Any, params: dict[str, Any]) -> str | None:
    """Keyed hash (BLAKE2b in keyed mode, a MAC; 128 bits in hex) of model + messages +
    parameters. Equal requests give equal fingerprints under one key; the content cannot be
    recovered, nor tested against guesses without the key.
    """
    s = _settings.current()
    if not s.fingerprint:
        return None
    payload = _dumps([model, content, params]).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(payload, key=s.fingerprint_key[:64], digest_size=16).hexdigest()


class _Labels:
    """Metric attribute dicts, cached per (operation, provider, model, response, server)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def get(self, op: str, provider: str, model: str | None, resp_model: str | None,
            server: str | None, etype: str | None) -> tuple[Any, ...]:
        """(base, duration, input, output) label dicts, then their keys (``tuple(items)``)."""
        key = (op, provider, model, resp_model, server, etype)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        base: dict[str, Any] = {a.GEN_AI_OPERATION_NAME: op, a.GEN_AI_PROVIDER_NAME: provider}
        if model:
            base[a.GEN_AI_REQUEST_MODEL] = _models(model)
        if resp_model:
            base[a.GEN_AI_RESPONSE_MODEL] = _models(resp_model)
        if server:
            base[a.SERVER_ADDRESS] = server
        dur = dict(base)
        if etype:
            dur[a.ERROR_TYPE] = _state.error_type_label(etype)
        inp = {**base, a.GEN_AI_TOKEN_TYPE: _INPUT}
        out = {**base, a.GEN_AI_TOKEN_TYPE: _OUTPUT}
        hit = (base, dur, inp, out, *(tuple(d.items()) for d in (base, dur, inp, out)))
        if len(self._cache) < 10_000:
            self._cache[key] = hit
        return hit


_labels = _Labels()


class _Totals:
    """Cost and unpriced-call totals summed in process, published by observable counters.

    A synchronous counter ``add`` costs as much as a histogram ``record`` (attribute
    hashing, measurement objects); a dict update under a lock costs well under a microsecond
    and the collector reads the same cumulative sums.
    """

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self.cost: dict[tuple[Any, ...], tuple[dict[str, Any], float]] = {}
        self.unpriced: dict[tuple[Any, ...], tuple[dict[str, Any], int]] = {}
        self._registered = False

    def _register(self) -> None:
        self._registered = True
        meter = _state.meter()
        for spec, table in ((m.OTELYTICS_LLM_COST, self.cost),
                            (m.OTELYTICS_LLM_UNPRICED_CALLS, self.unpriced)):
            meter.create_observable_counter(
                spec.name, [lambda _opts, t=table: self._observe(t)], unit=spec.unit,
                description=spec.brief)

    def _observe(self, table: dict[tuple[Any, ...], tuple[dict[str, Any], Any]]) -> Any:
        from opentelemetry.metrics import Observation

        with self._lock:
            items = list(table.values())
        return [Observation(v, labels) for labels, v in items]

    def add_cost(self, labels: dict[str, Any], usd: float,
                 k: tuple[Any, ...] | None = None) -> None:
        with self._lock:
            if not self._registered:
                self._register()
            if k is None:
                k = tuple(labels.items())
            hit = self.cost.get(k)
            self.cost[k] = (labels, usd + (hit[1] if hit is not None else 0.0))

    def add_unpriced(self, labels: dict[str, Any], k: tuple[Any, ...] | None = None) -> None:
        with self._lock:
            if not self._registered:
                self._register()
            if k is None:
                k = tuple(labels.items())
            hit = self.unpriced.get(k)
            self.unpriced[k] = (labels, 1 + (hit[1] if hit is not None else 0))


_totals = _Totals()


def _after_fork_in_child() -> None:
    import threading

    _totals._lock = threading.Lock()
    _models._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class Invocation:
    """The running state of one GenAI call; created by :func:`begin`.

    ``span`` is ``None`` when another instrumentation (Anthropic's own telemetry) owns the
    span: then metrics and roll-ups are recorded here, and :meth:`adopt` puts our attributes
    on that foreign span (``foreign``) while it still records.
    """

    __slots__ = (
        "cache_creation",
        "cache_read",
        "content",
        "ctx",
        "done",
        "estimate_input",
        "extra",
        "finish_reasons",
        "first",
        "foreign",
        "frame",
        "input_tokens",
        "model",
        "operation",
        "output_messages",
        "output_parts",
        "output_tokens",
        "provider",
        "reasoning",
        "request_attrs",
        "response_id",
        "response_model",
        "server",
        "span",
        "system",
        "t0",
        "tool_ids",
        "tool_names",
    )

    def __init__(self, provider: str, operation: str, model: str | None,
                 server: str | None, span: Span | None, frame: Frame | None,
                 ctx: otel_context.Context) -> None:
        self.provider = provider
        self.operation = operation
        self.model = model
        self.server = server
        self.span = span
        self.frame = frame
        self.ctx = ctx
        self.t0 = time.perf_counter()
        self.first: float | None = None
        self.done = False
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cache_read: int | None = None
        self.cache_creation: int | None = None
        self.reasoning: int | None = None
        self.response_model: str | None = None
        self.response_id: str | None = None
        self.finish_reasons: list[str] | None = None
        self.tool_ids: list[str] | None = None
        self.tool_names: list[str] | None = None
        self.output_parts: list[str] | None = None  # streamed text, for estimates/content
        self.content: Any = None  # request messages (for estimates and content capture)
        self.system: Any = None
        self.output_messages: Any = None
        self.estimate_input: Callable[[], int | None] | None = None
        self.extra: dict[str, Any] | None = None
        self.foreign: Span | None = None
        self.request_attrs: dict[str, Any] | None = None

    def adopt(self, span: Span) -> bool:
        """Make ``span`` (another instrumentation's CLIENT span for this very call, started
        inside our wrapper) the call's span: our request attributes (the fingerprint, ...) go
        on it now, since its producer may end it before our wrapper sees the response.
        Attributes it already has are left alone. True when adopted."""
        if self.span is not None or self.foreign is not None or not span.is_recording():
            return False
        self.foreign = span
        _set_missing(span, self.request_attrs)
        return True

    # --- what the response says ------------------------------------------------------
    def set_usage(self, input_tokens: int | None = None, output_tokens: int | None = None,
                  cache_read: int | None = None, cache_creation: int | None = None,
                  reasoning: int | None = None) -> None:
        """Usage with input INCLUDING cache reads/writes (callers convert provider figures)."""
        if input_tokens is not None:
            self.input_tokens = int(input_tokens)
        if output_tokens is not None:
            self.output_tokens = int(output_tokens)
        if cache_read is not None:
            self.cache_read = int(cache_read)
        if cache_creation is not None:
            self.cache_creation = int(cache_creation)
        if reasoning is not None:
            self.reasoning = int(reasoning)

    def add_tool_call(self, call_id: str | None, name: str | None) -> None:
        if self.tool_ids is None:
            self.tool_ids, self.tool_names = [], []
        self.tool_ids.append(call_id or "")
        self.tool_names.append(name or "")  # type: ignore[union-attr]

    def set_attribute(self, key: str, value: Any) -> None:
        if self.extra is None:
            self.extra = {}
        self.extra[key] = value

    # --- the end ---------------------------------------------------------------------
    def end(self, exc: BaseException | None = None, end_time: float | None = None) -> None:
        """Finish once: span attributes, cost, metrics, roll-ups. Never raises."""
        if self.done:
            return
        self.done = True
        # ctx holds this invocation (IN_LLM_CALL): a reference cycle that would keep the
        # call, its span and their locks alive until the cyclic GC (x18 gen-0 collections
        # per call in the bench); nothing attaches it after the end
        self.ctx = _ENDED_CTX
        try:
            self._end(exc, end_time)
        except Exception:
            report_internal_error("llm call end")
            try:
                if self.span is not None:
                    self.span.end()
            except Exception:
                pass

    def _end(self, exc: BaseException | None, end_time: float | None) -> None:
        now = time.perf_counter()
        end_ns = time.time_ns()
        if end_time is not None and end_time < now:
            end_ns -= int((now - end_time) * 1e9)
            now = end_time
        elapsed = now - self.t0
        etype = error_type_of(exc) if exc is not None else None
        attrs: dict[str, Any] = {}
        estimated = False
        cost: float | None = None
        priced = False
        if etype is None:
            estimated = self._fill_missing_usage()
            cost, priced = self._price(attrs)
            if estimated:
                attrs[a.OTELYTICS_USAGE_ESTIMATED] = True
        span = self.span
        if span is not None and span.is_recording():
            self._span_attributes(attrs, etype)
            if self.extra:
                attrs.update(self.extra)
            span.set_attributes(attrs)
            if exc is not None:
                span.set_status(Status(StatusCode.ERROR, f"{etype}: {exc}"[:1024]))
                span.record_exception(exc, escaped=True)
        if span is not None:
            span.end(end_ns)
        elif self.foreign is not None and self.foreign.is_recording():
            # the foreign span still records (a stream it ends later): what we learnt and
            # it lacks goes on it; cost is left to the enrichment processor (one pricing path)
            more: dict[str, Any] = {}
            self._span_attributes(more, etype)
            if self.extra:
                more.update(self.extra)
            _set_missing(self.foreign, more)
        self._metrics(elapsed, etype, cost, priced)
        if etype is None and self.frame is not None:
            add_usage(self.frame, self.input_tokens or 0, self.output_tokens or 0,
                      cost if priced else None)

    def _fill_missing_usage(self) -> bool:
        """Estimate tokens the provider did not report; True when anything was estimated."""
        if self.operation == "execute_tool":
            return False
        estimated = False
        if self.input_tokens is None:
            n = None
            if self.estimate_input is not None:
                n = self.estimate_input()
            elif self.content is not None:
                n = _estimate_messages(self.content)
            if n is not None:
                self.input_tokens = n
                estimated = True
        if self.output_tokens is None and self.operation != "embeddings":
            text = "".join(self.output_parts) if self.output_parts else ""
            if self.output_parts is not None or self.first is not None:
                self.output_tokens = _estimate_text(text)
                estimated = True
        return estimated

    def _price(self, attrs: dict[str, Any]) -> tuple[float | None, bool]:
        model = self.response_model or self.model
        price = None
        if model and (self.input_tokens is not None or self.output_tokens is not None):
            price = _price(self.provider, model, self)
        if price is None:
            attrs[a.OTELYTICS_COST_SOURCE] = _SOURCE_UNPRICED
            return None, False
        usd = float(price.usd)
        attrs[a.OTELYTICS_COST_USD] = usd
        attrs[a.OTELYTICS_COST_SOURCE] = price.source
        if price.version:
            attrs[a.OTELYTICS_COST_PRICE_VERSION] = price.version
        return usd, True

    def _span_attributes(self, attrs: dict[str, Any], etype: str | None) -> None:
        if self.response_model:
            attrs[a.GEN_AI_RESPONSE_MODEL] = self.response_model
        if self.response_id:
            attrs[a.GEN_AI_RESPONSE_ID] = self.response_id
        if self.finish_reasons:
            attrs[a.GEN_AI_RESPONSE_FINISH_REASONS] = self.finish_reasons
        if self.input_tokens is not None:
            attrs[a.GEN_AI_USAGE_INPUT_TOKENS] = self.input_tokens
        if self.output_tokens is not None:
            attrs[a.GEN_AI_USAGE_OUTPUT_TOKENS] = self.output_tokens
        if self.cache_read is not None:
            attrs[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = self.cache_read
        if self.cache_creation is not None:
            attrs[a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = self.cache_creation
        if self.reasoning is not None:
            attrs[a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = self.reasoning
        if self.first is not None:
            attrs[a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = self.first - self.t0
        if self.tool_ids:
            attrs[a.OTELYTICS_RESPONSE_TOOL_CALL_IDS] = self.tool_ids
            attrs[a.OTELYTICS_RESPONSE_TOOL_CALL_NAMES] = self.tool_names
        if etype is not None:
            attrs[a.ERROR_TYPE] = etype
        s = _settings.current()
        if s.capture_content:
            from otelytics.llm import _content

            _content.add_content(attrs, self, s.max_content_length)

    def _metrics(self, elapsed: float, etype: str | None, cost: float | None,
                 priced: bool) -> None:
        base, dur, inp, out, kb, kd, ki, ko = _labels.get(
            self.operation, self.provider, self.model, self.response_model, self.server, etype)
        _hist.duration.record(elapsed, dur, kd)
        if etype is not None:
            return
        if self.first is not None:
            _hist.ttfc.record(self.first - self.t0, base, kb)
        if self.input_tokens is not None:
            _hist.tokens.record(self.input_tokens, inp, ki)
        if self.output_tokens is not None and self.operation != "embeddings":
            _hist.tokens.record(self.output_tokens, out, ko)
        if priced:
            _hist.cost_per_call.record(cost, base, kb)  # type: ignore[arg-type]
            _totals.add_cost(base, cost, kb)  # type: ignore[arg-type]
        else:
            _totals.add_unpriced(base, kb)


def begin(provider: str, operation: str, model: str | None, *,
          server_address: str | None = None, server_port: int | None = None,
          attributes: dict[str, Any] | None = None, own_span: bool = True) -> Invocation | None:
    """Start one call; ``None`` when instrumentation is off here. Never raises.

    The returned invocation's ``ctx`` (span current, nested-call marker set) is for the
    caller to attach around the request only, never across a stream's yields.
    """
    try:
        parent_ctx = otel_context.get_current()
        frame: Frame | None = parent_ctx.get(FRAME_KEY)  # type: ignore[assignment]
        span = None
        outer = _foreign_genai_span(parent_ctx) if own_span else None
        if outer is not None:
            own_span = False  # another instrumentation already records this call
        if own_span:
            attrs: dict[str, Any] = {
                a.GEN_AI_OPERATION_NAME: operation,
                a.GEN_AI_PROVIDER_NAME: provider,
            }
            if model:
                attrs[a.GEN_AI_REQUEST_MODEL] = model
            if server_address:
                attrs[a.SERVER_ADDRESS] = server_address
                if server_port:
                    attrs[a.SERVER_PORT] = server_port
            if attributes:
                attrs.update(attributes)
            name = f"{operation} {model}" if model else operation
            span = _state.tracer.start_span(name, context=parent_ctx, kind=SpanKind.CLIENT,
                                            attributes=attrs)
        inv = Invocation(provider, operation, model, server_address, span, frame, parent_ctx)
        if span is not None:
            inv.ctx = otel_context.Context({**parent_ctx, _SPAN_KEY: span, IN_LLM_CALL: inv})
        else:
            inv.ctx = otel_context.Context({**parent_ctx, IN_LLM_CALL: inv})
        if span is None and attributes:
            inv.request_attrs = attributes
        if outer is not None:
            inv.adopt(outer)  # it wraps outside ours: still records at our start and end
        return inv
    except Exception:
        report_internal_error("llm call start")
        return None


def _set_missing(span: Span, attrs: dict[str, Any] | None) -> None:
    """Set on ``span`` the ``attrs`` it does not carry yet (its producer's figures win)."""
    if not attrs:
        return
    have = getattr(span, "attributes", None) or {}
    missing = {k: v for k, v in attrs.items() if k not in have}
    if missing:
        span.set_attributes(missing)


def _foreign_genai_span(ctx: otel_context.Context) -> Any:
    """The current span when it is another instrumentation's GenAI client span (e.g. the
    official OpenAI instrumentation wrapping outside ours: one call, one span), else None."""
    span = ctx.get(_SPAN_KEY)
    if span is None or getattr(span, "kind", None) is not SpanKind.CLIENT:
        return None
    attrs = getattr(span, "attributes", None)
    if not attrs or a.GEN_AI_OPERATION_NAME not in attrs:
        return None
    scope = getattr(span, "instrumentation_scope", None)
    return span if scope is None or scope.name != _state.SCOPE else None


# --- pricing and estimates (modules of otelytics.llm, imported when first needed) ---------
_pricing: Any = None
_tokens: Any = None


def _price(provider: str, model: str, inv: Invocation) -> Any:
    global _pricing
    if _pricing is None:
        try:
            from otelytics.llm import pricing as _p
        except ImportError:
            return None
        _pricing = _p
    try:
        usage = _pricing.Usage(
            input_tokens=inv.input_tokens or 0,
            output_tokens=inv.output_tokens or 0,
            cache_read_tokens=inv.cache_read or 0,
            cache_creation_tokens=inv.cache_creation or 0,
            reasoning_tokens=inv.reasoning or 0,
        )
        return _pricing.price(provider, model, usage)
    except Exception:
        report_internal_error("pricing")
        return None


def _token_module() -> Any:
    global _tokens
    if _tokens is None:
        try:
            from otelytics.llm import tokens as _t
        except ImportError:
            _t = False
        _tokens = _t
    return _tokens


def _estimate_text(text: str) -> int:
    t = _token_module()
    if t:
        return int(t.estimate_text(text))
    return (len(text) + 3) // 4


def _estimate_messages(messages: Any) -> int | None:
    t = _token_module()
    try:
        if t:
            return int(t.estimate_messages(messages))
        return (len(_dumps(messages)) + 3) // 4
    except Exception:
        report_internal_error("token estimate")
        return None


def finish_reason_list(values: Sequence[Any]) -> list[str]:
    return [str(v) for v in values if v]
