"""Run in a separate process: ship GenAI spans (no otelytics SDK) with the official OTLP HTTP
exporter, as a non-otelytics producer would. ``python _genai_client.py ENDPOINT``."""

from __future__ import annotations

import sys

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

tp = TracerProvider(resource=Resource.create({"service.name": "genai-client"}))
tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{sys.argv[1]}/v1/traces")))
tracer = tp.get_tracer("opentelemetry.instrumentation.openai_v2")
SPANS = {
    "known": {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
              "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300,
              "gen_ai.usage.cache_read.input_tokens": 200},
    "legacy": {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
               "gen_ai.usage.input_tokens": 50, "gen_ai.usage.output_tokens": 7},
    "unknown": {"gen_ai.provider.name": "openai", "gen_ai.request.model": "no-such-model-x1",
                "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5},
    "costed": {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
               "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5,
               "otelytics.cost.usd": 1.25, "otelytics.cost.source": "provider"},
    "plain": {"http.route": "/x"},
}
for name, attrs in SPANS.items():
    with tracer.start_as_current_span(name, attributes=attrs):
        pass
tp.shutdown()
