"""EnrichingSpanProcessor: cost on GenAI spans that others produced, before any exporter.

Spans come from real SDK TracerProviders (one per test, not the global one) under foreign
scope names, and from the anthropic 2.x SDK's own telemetry talking to FakeLLMServer; they are
read back from InMemorySpanExporter and from the official OTLP/HTTP exporter through a tiny
collector that decodes the protobuf. Expected costs come from genai_prices.calc_price.
"""

from __future__ import annotations

import gzip
import threading
import warnings
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anthropic
import genai_prices
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otelytics.llm import enrich
from otelytics.llm.enrich import EnrichingSpanProcessor, enrich_attributes, install, uninstall
from otelytics.llm.pricing import set_prices
from otelytics.semconv import attributes as A
from otelytics.testing import FakeLLMServer, Reply

warnings.filterwarnings("ignore", category=DeprecationWarning, module="anthropic")

OPENAI_SCOPE = "opentelemetry.instrumentation.genai.openai"


def gp(model, provider, *, inp, out, cr=0, cw=0, when=None):
    kw = {"input_tokens": inp, "output_tokens": out}
    if cr:
        kw["cache_read_tokens"] = cr
    if cw:
        kw["cache_write_tokens"] = cw
    return float(genai_prices.calc_price(genai_prices.Usage(**kw), model, provider_id=provider,
                                         genai_request_timestamp=when).total_price)


@pytest.fixture(autouse=True)
def _table_prices_only():
    set_prices(None)
    yield
    set_prices(None)


@pytest.fixture
def provider_and_spans():
    """A provider whose exporter was added BEFORE install(): enrichment must still win."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    proc = install(provider)
    yield provider, exporter, proc
    provider.shutdown()


def _emit(provider, scope, name, attrs, start_time=None):
    with provider.get_tracer(scope).start_as_current_span(name, attributes=attrs,
                                                          start_time=start_time):
        pass


def test_foreign_openai_span_gets_the_genai_prices_cost(provider_and_spans):
    provider, exporter, proc = provider_and_spans
    _emit(provider, OPENAI_SCOPE, "chat gpt-4o-mini", {
        A.GEN_AI_OPERATION_NAME: "chat", A.GEN_AI_PROVIDER_NAME: "openai",
        A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", A.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
        A.GEN_AI_USAGE_INPUT_TOKENS: 1200, A.GEN_AI_USAGE_OUTPUT_TOKENS: 300,
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1000})
    (span,) = exporter.get_finished_spans()
    assert span.instrumentation_scope.name == OPENAI_SCOPE
    assert span.attributes[A.OTELYTICS_COST_USD] == pytest.approx(
        gp("gpt-4o-mini-2024-07-18", "openai", inp=1200, out=300, cr=1000), rel=1e-9)
    assert span.attributes[A.OTELYTICS_COST_SOURCE] == "price_table"
    assert span.attributes[A.OTELYTICS_COST_PRICE_VERSION] == \
        f"genai-prices {genai_prices.__version__}"
    assert span.attributes[A.GEN_AI_USAGE_INPUT_TOKENS] == 1200  # already OTel meaning
    assert proc.stats == {"priced": 1, "unpriced": 0, "failed": 0}


def test_deprecated_system_cache_write_and_exclusive_input_are_normalised(provider_and_spans):
    provider, exporter, _ = provider_and_spans
    # OpenLIT-style Anthropic span: gen_ai.system, input WITHOUT the cache, cache_write spelling
    _emit(provider, "openlit.otel.tracing", "chat claude-haiku-4-5", {
        A.GEN_AI_SYSTEM: "anthropic", A.GEN_AI_REQUEST_MODEL: "claude-haiku-4-5",
        A.GEN_AI_USAGE_INPUT_TOKENS: 50, A.GEN_AI_USAGE_OUTPUT_TOKENS: 20,
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 4000,
        A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 600})
    attrs = exporter.get_finished_spans()[0].attributes
    assert attrs[A.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert attrs[A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 600
    assert attrs[A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 600  # kept as the producer sent
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 4650
    assert attrs[A.OTELYTICS_COST_USD] == pytest.approx(
        gp("claude-haiku-4-5", "anthropic", inp=4650, out=20, cr=4000, cw=600), rel=1e-9)


def test_older_and_producer_usage_spellings_are_priced_with_their_cache(provider_and_spans):
    provider, exporter, proc = provider_and_spans
    # an older OpenLLMetry-style Anthropic span: pre-1.27 names, underscore cache spellings,
    # input inclusive of the cache (that producer's meaning)
    _emit(provider, "opentelemetry.instrumentation.anthropic", "anthropic.chat", {
        A.GEN_AI_SYSTEM: "Anthropic", A.GEN_AI_REQUEST_MODEL: "claude-haiku-4-5",
        A.GEN_AI_USAGE_PROMPT_TOKENS: 5000, A.GEN_AI_USAGE_COMPLETION_TOKENS: 40,
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_ALIAS: 3000,
        A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS_ALIAS: 1200})
    # an OpenAI span with only the pre-1.27 names
    _emit(provider, "opentelemetry.instrumentation.openai", "openai.chat", {
        A.GEN_AI_SYSTEM: "openai", A.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
        A.GEN_AI_USAGE_PROMPT_TOKENS: 700, A.GEN_AI_USAGE_COMPLETION_TOKENS: 90})
    claude, gpt = exporter.get_finished_spans()
    c = claude.attributes
    assert (c[A.GEN_AI_USAGE_INPUT_TOKENS], c[A.GEN_AI_USAGE_OUTPUT_TOKENS],
            c[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS],
            c[A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS]) == (5000, 40, 3000, 1200)
    assert c[A.GEN_AI_USAGE_PROMPT_TOKENS] == 5000  # the producer's own names stay
    assert c[A.OTELYTICS_COST_USD] == pytest.approx(
        gp("claude-haiku-4-5", "anthropic", inp=5000, out=40, cr=3000, cw=1200), rel=1e-9)
    # the cache is priced at its own rates, not as plain input
    assert c[A.OTELYTICS_COST_USD] != pytest.approx(
        gp("claude-haiku-4-5", "anthropic", inp=5000, out=40), rel=1e-3)
    g = gpt.attributes
    assert (g[A.GEN_AI_USAGE_INPUT_TOKENS], g[A.GEN_AI_USAGE_OUTPUT_TOKENS]) == (700, 90)
    assert g[A.OTELYTICS_COST_USD] == pytest.approx(
        gp("gpt-4o-mini", "openai", inp=700, out=90), rel=1e-9)
    assert proc.stats == {"priced": 2, "unpriced": 0, "failed": 0}


def test_openinference_spans_are_priced_and_named(provider_and_spans):
    provider, exporter, proc = provider_and_spans
    # OpenInference: llm.* names only, prompt count inclusive of the cache
    _emit(provider, "openinference.instrumentation.openai", "ChatCompletion", {
        "openinference.span.kind": "LLM", A.LLM_PROVIDER: "openai", A.LLM_SYSTEM: "openai",
        A.LLM_MODEL_NAME: "gpt-4o-mini", A.LLM_TOKEN_COUNT_PROMPT: 1200,
        A.LLM_TOKEN_COUNT_COMPLETION: 300, A.LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ: 1000})
    _emit(provider, "openinference.instrumentation.anthropic", "Messages", {
        "openinference.span.kind": "LLM", A.LLM_PROVIDER: "anthropic",
        A.LLM_MODEL_NAME: "claude-haiku-4-5", A.LLM_TOKEN_COUNT_PROMPT: 4650,
        A.LLM_TOKEN_COUNT_COMPLETION: 20, A.LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ: 4000,
        A.LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_WRITE: 600})
    gpt, claude = (s.attributes for s in exporter.get_finished_spans())
    assert (gpt[A.GEN_AI_PROVIDER_NAME], gpt[A.GEN_AI_REQUEST_MODEL],
            gpt[A.GEN_AI_USAGE_INPUT_TOKENS], gpt[A.GEN_AI_USAGE_OUTPUT_TOKENS],
            gpt[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS]) == ("openai", "gpt-4o-mini", 1200, 300,
                                                             1000)
    assert gpt[A.OTELYTICS_COST_USD] == pytest.approx(
        gp("gpt-4o-mini", "openai", inp=1200, out=300, cr=1000), rel=1e-9)
    assert claude[A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 600
    assert claude[A.GEN_AI_USAGE_INPUT_TOKENS] == 4650  # OpenInference: already inclusive
    assert claude[A.OTELYTICS_COST_USD] == pytest.approx(
        gp("claude-haiku-4-5", "anthropic", inp=4650, out=20, cr=4000, cw=600), rel=1e-9)
    assert proc.stats == {"priced": 2, "unpriced": 0, "failed": 0}


def test_official_names_win_over_older_spellings():
    got = enrich_attributes({
        A.GEN_AI_PROVIDER_NAME: "openai", A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        A.GEN_AI_USAGE_INPUT_TOKENS: 100, A.GEN_AI_USAGE_PROMPT_TOKENS: 999,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: 10, A.GEN_AI_USAGE_COMPLETION_TOKENS: 999})
    assert A.GEN_AI_USAGE_INPUT_TOKENS not in got and A.GEN_AI_USAGE_OUTPUT_TOKENS not in got
    assert got[A.OTELYTICS_COST_USD] == pytest.approx(gp("gpt-4o-mini", "openai", inp=100,
                                                         out=10), rel=1e-9)


_CACHED_ANTHROPIC = {  # uncached input (2000) larger than the cache (1000): sizes can't tell
    A.GEN_AI_PROVIDER_NAME: "anthropic", A.GEN_AI_REQUEST_MODEL: "claude-haiku-4-5",
    A.GEN_AI_USAGE_INPUT_TOKENS: 2000, A.GEN_AI_USAGE_OUTPUT_TOKENS: 10,
    A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1000}


@pytest.mark.parametrize(("scope", "want_input"), [
    ("openlit.otel.tracing", 3000),  # OpenLIT: Anthropic's raw, cache-exclusive figure
    ("com.anthropic.sdk.python", 2000),  # anthropic's own telemetry: input + cache already
    ("opentelemetry.instrumentation.anthropic", 2000),  # OpenLLMetry / official: inclusive
])
def test_input_meaning_is_decided_by_producer_not_by_size(provider_and_spans, scope,
                                                          want_input):
    provider, exporter, _ = provider_and_spans
    _emit(provider, scope, "chat claude-haiku-4-5", _CACHED_ANTHROPIC)
    attrs = exporter.get_finished_spans()[0].attributes
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == want_input
    assert attrs[A.OTELYTICS_COST_USD] == pytest.approx(
        gp("claude-haiku-4-5", "anthropic", inp=want_input, out=10, cr=1000), rel=1e-9)


def test_producer_read_from_telemetry_sdk_name_without_a_scope():
    """The OTLP receiver may not know the scope: OpenLIT's own span attribute decides."""
    got = enrich_attributes({**_CACHED_ANTHROPIC, "telemetry.sdk.name": "openlit"})
    assert got[A.GEN_AI_USAGE_INPUT_TOKENS] == 3000
    got = enrich_attributes({**_CACHED_ANTHROPIC, A.GEN_AI_PROVIDER_NAME: "openai"},
                            scope="openlit.otel.tracing")  # OpenAI's figure includes the cache
    assert A.GEN_AI_USAGE_INPUT_TOKENS not in got
    # an unknown producer: the convention's meaning unless its own figures contradict it
    assert A.GEN_AI_USAGE_INPUT_TOKENS not in enrich_attributes(_CACHED_ANTHROPIC, scope="x")
    got = enrich_attributes({**_CACHED_ANTHROPIC, A.GEN_AI_USAGE_INPUT_TOKENS: 50}, scope="x")
    assert got[A.GEN_AI_USAGE_INPUT_TOKENS] == 1050


def test_anthropic_stop_reason_becomes_finish_reasons():
    got = enrich_attributes({**_CACHED_ANTHROPIC, "anthropic.message.stop_reason": "max_tokens"})
    assert got[A.GEN_AI_RESPONSE_FINISH_REASONS] == ["max_tokens"]
    assert A.GEN_AI_RESPONSE_FINISH_REASONS not in enrich_attributes(
        {**_CACHED_ANTHROPIC, "anthropic.message.stop_reason": "max_tokens",
         A.GEN_AI_RESPONSE_FINISH_REASONS: ("length",)})


def test_system_spellings_map_to_provider_names():
    got = enrich_attributes({A.GEN_AI_SYSTEM: "az.ai.openai", A.GEN_AI_REQUEST_MODEL: "gpt-4o",
                             A.GEN_AI_USAGE_INPUT_TOKENS: 10})
    assert got[A.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    assert got[A.OTELYTICS_COST_USD] == pytest.approx(gp("gpt-4o", "azure", inp=10, out=0))
    # a provider name already present is never replaced
    assert A.GEN_AI_PROVIDER_NAME not in enrich_attributes(
        {A.GEN_AI_PROVIDER_NAME: "openai", A.GEN_AI_SYSTEM: "other",
         A.GEN_AI_REQUEST_MODEL: "gpt-4o", A.GEN_AI_USAGE_OUTPUT_TOKENS: 1})


def test_unknown_model_is_marked_unpriced_and_counted(provider_and_spans):
    provider, exporter, proc = provider_and_spans
    _emit(provider, "traceloop", "openai.chat", {
        A.GEN_AI_PROVIDER_NAME: "openai", A.GEN_AI_REQUEST_MODEL: "gpt-next-unreleased",
        A.GEN_AI_USAGE_INPUT_TOKENS: 10, A.GEN_AI_USAGE_OUTPUT_TOKENS: 5})
    _emit(provider, "traceloop", "openai.chat", {  # no model at all
        A.GEN_AI_PROVIDER_NAME: "openai", A.GEN_AI_USAGE_INPUT_TOKENS: 10})
    for span in exporter.get_finished_spans():
        assert span.attributes[A.OTELYTICS_COST_SOURCE] == "unpriced"
        assert A.OTELYTICS_COST_USD not in span.attributes
    assert proc.stats["unpriced"] == 2


def test_spans_already_priced_or_without_usage_are_untouched(provider_and_spans):
    provider, exporter, proc = provider_and_spans
    own = {A.GEN_AI_PROVIDER_NAME: "openai", A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
           A.GEN_AI_USAGE_INPUT_TOKENS: 10, A.OTELYTICS_COST_USD: 0.5,
           A.OTELYTICS_COST_SOURCE: "user"}
    _emit(provider, "otelytics", "chat gpt-4o-mini", own)
    plain = {"http.request.method": "GET", A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini"}
    _emit(provider, "opentelemetry.instrumentation.httpx", "GET", plain)
    a, b = exporter.get_finished_spans()
    assert dict(a.attributes) == own
    assert dict(b.attributes) == plain
    assert proc.stats == {"priced": 0, "unpriced": 0, "failed": 0}


def test_price_is_the_one_in_effect_when_the_span_started(provider_and_spans):
    provider, exporter, _ = provider_and_spans
    early = datetime(2026, 1, 10, tzinfo=UTC)
    _emit(provider, OPENAI_SCOPE, "chat", {
        A.GEN_AI_PROVIDER_NAME: "anthropic", A.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-6",
        A.GEN_AI_USAGE_INPUT_TOKENS: 300_000, A.GEN_AI_USAGE_OUTPUT_TOKENS: 1000},
        start_time=int(early.timestamp() * 1e9))
    cost = exporter.get_finished_spans()[0].attributes[A.OTELYTICS_COST_USD]
    assert cost == pytest.approx(gp("claude-sonnet-4-6", "anthropic", inp=300_000, out=1000,
                                    when=early), rel=1e-9)
    assert cost != pytest.approx(gp("claude-sonnet-4-6", "anthropic", inp=300_000, out=1000))


def test_user_prices_reach_foreign_spans(provider_and_spans):
    provider, exporter, _ = provider_and_spans
    set_prices({"version": "v1", "models": {"acme/bot": {"input_mtok": 1, "output_mtok": 2}}})
    _emit(provider, "custom", "chat bot", {
        A.GEN_AI_PROVIDER_NAME: "acme", A.GEN_AI_REQUEST_MODEL: "bot",
        A.GEN_AI_USAGE_INPUT_TOKENS: 1_000_000, A.GEN_AI_USAGE_OUTPUT_TOKENS: 500_000})
    attrs = exporter.get_finished_spans()[0].attributes
    assert attrs[A.OTELYTICS_COST_USD] == pytest.approx(2.0)
    assert (attrs[A.OTELYTICS_COST_SOURCE], attrs[A.OTELYTICS_COST_PRICE_VERSION]) == (
        "user", "user v1")


def test_bad_attribute_values_never_raise(provider_and_spans):
    provider, exporter, proc = provider_and_spans
    _emit(provider, "weird", "chat", {
        A.GEN_AI_PROVIDER_NAME: "openai", A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        A.GEN_AI_USAGE_INPUT_TOKENS: "lots", A.GEN_AI_USAGE_OUTPUT_TOKENS: [1, 2],
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: True})
    attrs = exporter.get_finished_spans()[0].attributes
    assert attrs[A.OTELYTICS_COST_USD] == 0.0  # unreadable counts are zero tokens
    assert proc.stats["failed"] == 0


# --- where it runs: SDK internals, order, install ---------------------------------------

class _Probe(SpanProcessor):
    def __init__(self, log):
        self.log = log

    def _on_ending(self, span):
        self.log.append(("on_ending", span.name))

    def on_end(self, span: ReadableSpan):
        self.log.append(("on_end", span.name, A.OTELYTICS_COST_USD in span.attributes))


def test_sdk_internals_we_rely_on():
    """Fails if the SDK changes what enrichment relies on: every _on_ending runs before any
    on_end, the ReadableSpan shares the span's attribute map, and the chain is a tuple."""
    provider = TracerProvider()
    log: list = []
    provider.add_span_processor(_Probe(log))
    provider.add_span_processor(_Probe(log))
    chain = provider._active_span_processor
    assert isinstance(chain._span_processors, tuple) and hasattr(chain, "_lock")
    seen = []

    class Keep(SpanProcessor):
        def on_end(self, span):
            seen.append(span)

    provider.add_span_processor(Keep())
    span = provider.get_tracer("t").start_span("s", attributes={"a": 1})
    span.end()
    assert [e[0] for e in log] == ["on_ending", "on_ending", "on_end", "on_end"]
    assert seen[0]._attributes is span._attributes
    assert span._attributes._immutable is True


def test_enrichment_added_last_still_reaches_earlier_processors():
    provider = TracerProvider()
    log: list = []
    provider.add_span_processor(_Probe(log))
    provider.add_span_processor(EnrichingSpanProcessor())  # plain add: end of the chain
    _emit(provider, OPENAI_SCOPE, "chat", {
        A.GEN_AI_PROVIDER_NAME: "openai", A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        A.GEN_AI_USAGE_INPUT_TOKENS: 100})
    assert ("on_end", "chat", True) in log


def test_on_end_alone_enriches_when_first_in_chain():
    """An SDK without _on_ending: install() puts us first, so on_end still precedes the rest."""
    proc = EnrichingSpanProcessor()
    provider = TracerProvider()
    span = provider.get_tracer(OPENAI_SCOPE).start_span("chat", attributes={
        A.GEN_AI_PROVIDER_NAME: "openai", A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        A.GEN_AI_USAGE_INPUT_TOKENS: 1000})
    span.end()
    readable = span._readable_span()
    proc.on_end(readable)
    assert readable.attributes[A.OTELYTICS_COST_USD] == pytest.approx(
        gp("gpt-4o-mini", "openai", inp=1000, out=0))


def test_install_is_first_idempotent_and_uninstallable():
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    a = install(provider)
    b = install(provider)
    procs = provider._active_span_processor._span_processors
    assert a is b and procs[0] is a and len(procs) == 2
    uninstall(provider)
    assert not any(isinstance(p, EnrichingSpanProcessor)
                   for p in provider._active_span_processor._span_processors)


def test_install_on_a_provider_without_the_sdk_chain():
    class Foreign:
        def __init__(self):
            self.added = []

        def add_span_processor(self, p):
            self.added.append(p)

    from opentelemetry.trace import NoOpTracerProvider

    assert install(NoOpTracerProvider()) is None
    foreign = Foreign()
    proc = install(foreign)
    assert foreign.added == [proc]  # falls back to the public API


def test_processor_never_raises_on_spans_it_cannot_update(caplog):
    from types import MappingProxyType

    proc = EnrichingSpanProcessor()
    frozen = ReadableSpan(name="chat", start_time=1, end_time=2, attributes=MappingProxyType({
        A.GEN_AI_PROVIDER_NAME: "openai", A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        A.GEN_AI_USAGE_INPUT_TOKENS: 10}))
    proc.on_end(frozen)
    proc.on_end(frozen)
    assert proc.stats["failed"] == 2
    assert A.OTELYTICS_COST_USD not in frozen.attributes
    warned = [r for r in caplog.records if r.name == enrich._log.name
              and "cannot add cost" in r.getMessage()]
    assert len(warned) == 1  # reported once, not per span


# --- real producers: anthropic 2.x's own telemetry, official OTLP exporter ----------------

@pytest.fixture(scope="module")
def fake():
    with FakeLLMServer() as srv:
        yield srv


def test_anthropic_sdk_own_spans_carry_cost(fake, provider_and_spans):
    provider, exporter, _ = provider_and_spans
    client = anthropic.Anthropic(base_url=fake.anthropic_base_url, api_key="k", max_retries=0,
                                 open_telemetry={"tracer_provider": provider})
    fake.script(Reply(text="hi", input_tokens=5000, cache_read_tokens=3000,
                      cache_creation_tokens=1500, output_tokens=40),
                Reply(text="a b c", input_tokens=800, cache_read_tokens=600, output_tokens=12))
    client.messages.create(model="claude-haiku-4-5", max_tokens=50,
                           messages=[{"role": "user", "content": "hi"}])
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=50,
                                messages=[{"role": "user", "content": "hi"}]) as stream:
        stream.until_done()
    spans = exporter.get_finished_spans()
    assert [s.instrumentation_scope.name for s in spans] == ["com.anthropic.sdk.python"] * 2
    one, two = (s.attributes for s in spans)
    assert one[A.GEN_AI_USAGE_INPUT_TOKENS] == 5000  # anthropic's span: cache included
    assert one[A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 1500
    assert one[A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 1500  # folded in by us
    assert one[A.OTELYTICS_COST_USD] == pytest.approx(
        gp("claude-haiku-4-5", "anthropic", inp=5000, out=40, cr=3000, cw=1500), rel=1e-9)
    assert two[A.OTELYTICS_COST_USD] == pytest.approx(
        gp("claude-haiku-4-5", "anthropic", inp=800, out=12, cr=600), rel=1e-9)


class _Collector(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.bodies.append(body)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_cost_reaches_an_otlp_backend(fake):
    collector = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    collector.bodies = []  # type: ignore[attr-defined]
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    try:
        provider = TracerProvider()
        endpoint = f"http://127.0.0.1:{collector.server_address[1]}/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        install(provider)
        client = anthropic.Anthropic(base_url=fake.anthropic_base_url, api_key="k",
                                     max_retries=0, open_telemetry={"tracer_provider": provider})
        fake.script(Reply(text="ok", input_tokens=2000, cache_read_tokens=1000, output_tokens=9))
        client.messages.create(model="claude-haiku-4-5", max_tokens=20,
                               messages=[{"role": "user", "content": "hi"}])
        assert provider.force_flush(10_000)
        provider.shutdown()
    finally:
        collector.shutdown()
        collector.server_close()
    spans = []
    for body in collector.bodies:  # type: ignore[attr-defined]
        req = ExportTraceServiceRequest.FromString(body)
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                spans += [(ss.scope.name, s) for s in ss.spans]
    assert len(spans) == 1
    scope, span = spans[0]
    assert scope == "com.anthropic.sdk.python"
    attrs = {kv.key: kv.value for kv in span.attributes}
    assert attrs[A.OTELYTICS_COST_USD].double_value == pytest.approx(
        gp("claude-haiku-4-5", "anthropic", inp=2000, out=9, cr=1000), rel=1e-9)
    assert attrs[A.OTELYTICS_COST_SOURCE].string_value == "price_table"


def test_official_genai_openai_instrumentation_spans_carry_cost(fake, provider_and_spans):
    """The official opentelemetry-instrumentation-genai-openai, real client, our server."""
    import openai
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor as Official

    provider, exporter, _ = provider_and_spans
    official = Official()
    was_on = official.is_instrumented_by_opentelemetry
    if was_on:  # a per-class singleton: take it over for this provider, give it back after
        official.uninstrument()
    official.instrument(tracer_provider=provider)
    try:
        client = openai.OpenAI(base_url=fake.openai_base_url, api_key="k", max_retries=0)
        fake.script(Reply(text="hi", input_tokens=1200, cache_read_tokens=1000,
                          output_tokens=30),
                    Reply(text="a b c", input_tokens=500, output_tokens=3))
        client.chat.completions.create(model="gpt-4o-mini",
                                       messages=[{"role": "user", "content": "hi"}])
        for _ in client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                stream=True, stream_options={"include_usage": True}):
            pass
    finally:
        official.uninstrument()
        if was_on:
            official.instrument()
    spans = exporter.get_finished_spans()
    assert [s.instrumentation_scope.name for s in spans] == [OPENAI_SCOPE] * 2
    one, two = (s.attributes for s in spans)
    assert one[A.OTELYTICS_COST_USD] == pytest.approx(
        gp("gpt-4o-mini", "openai", inp=1200, out=30, cr=1000), rel=1e-9)
    assert two[A.OTELYTICS_COST_USD] == pytest.approx(
        gp("gpt-4o-mini", "openai", inp=500, out=3), rel=1e-9)
    assert one[A.OTELYTICS_COST_SOURCE] == two[A.OTELYTICS_COST_SOURCE] == "price_table"


def test_unknown_response_model_falls_back_to_the_requested_one():
    got = enrich_attributes({A.GEN_AI_PROVIDER_NAME: "openai",
                             A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                             A.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-custom-deployment-7",
                             A.GEN_AI_USAGE_INPUT_TOKENS: 1000})
    assert got[A.OTELYTICS_COST_USD] == pytest.approx(gp("gpt-4o-mini", "openai", inp=1000,
                                                         out=0), rel=1e-9)
