"""Parquet exporter cost against OTLP/protobuf encoding of the same spans, and end to end.

1. CPU time per span: ``ParquetSpanExporter.export`` of 512-span batches (the batch span
   processor's default) plus the background writes and the final publication, against
   ``encode_spans(batch).SerializeToString()`` of the same batches (the OTLP exporters' encoder),
   interleaved rounds, process CPU time (all threads), median. Goal <= 0.25x.
2. Bytes per span: the published Parquet file against the OTLP protobuf payloads. Goal <= 0.15x.
3. A ``@track``ed call with the Parquet exporter on, against a bare span (no export) and against
   a bare span through the same Parquet exporter: wall time per call, interleaved.

The spans are what the SDK produces: tracked functions (scope ``otelytics``, estimator name,
data length, CPU time), workflow steps, and LLM calls with the GenAI attributes and cost, in
proportions 70 / 10 / 20, from one resource.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from bench import interleaved
from otelytics.semconv import attributes as A

SPANS = 20_480
BATCH = 512
ROUNDS = 7
CALLS = 20_000
CALL_ROUNDS = 7


class _Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


class _Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def make_spans(n: int = SPANS) -> list[ReadableSpan]:
    """Spans shaped like an otelytics app's: functions, workflow steps, LLM calls."""
    keep = _Keep()
    provider = TracerProvider(resource=Resource.create(
        {"service.name": "bench-app", "service.version": "1.4.2",
         "deployment.environment.name": "prod"}))
    provider.add_span_processor(SimpleSpanProcessor(keep))
    tracer = provider.get_tracer("otelytics", "0.1.0")
    models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"]
    for i in range(n):
        kind = i % 10
        if kind < 7:
            with tracer.start_as_current_span(f"estimator_{i % 25}") as s:
                s.set_attribute(A.OTELYTICS_ESTIMATOR_DATA_LENGTH, 1000 + i % 977)
                s.set_attribute(A.OTELYTICS_PROCESS_CPU_TIME, 0.0001 * (i % 50))
                s.set_attribute(A.CODE_FUNCTION_NAME, f"pipeline.estimator_{i % 25}")
        elif kind < 8:
            with tracer.start_as_current_span(f"step_{i % 5}") as s:
                s.set_attribute(A.OTELYTICS_WORKFLOW_NAME, "nightly")
                s.set_attribute(A.OTELYTICS_WORKFLOW_STEP, f"step_{i % 5}")
                s.set_attribute(A.SESSION_ID, f"session-{i // 100}")
        else:
            model = models[i % len(models)]
            with tracer.start_as_current_span(f"chat {model}") as s:
                s.set_attribute(A.OTELYTICS_SPAN_TYPE, "llm")
                s.set_attribute(A.GEN_AI_OPERATION_NAME, "chat")
                s.set_attribute(A.GEN_AI_PROVIDER_NAME, "openai")
                s.set_attribute(A.GEN_AI_REQUEST_MODEL, model)
                s.set_attribute(A.GEN_AI_RESPONSE_MODEL, model + "-2025")
                s.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 500 + i % 3000)
                s.set_attribute(A.GEN_AI_USAGE_OUTPUT_TOKENS, 50 + i % 700)
                s.set_attribute(A.GEN_AI_RESPONSE_FINISH_REASONS, ("stop",))
                s.set_attribute(A.GEN_AI_RESPONSE_ID, f"chatcmpl-{i:012d}")
                s.set_attribute(A.OTELYTICS_COST_USD, 0.000001 * (i % 5000))
                s.set_attribute(A.OTELYTICS_COST_SOURCE, "price_table")
                s.set_attribute(A.SERVER_ADDRESS, "api.openai.com")
    provider.shutdown()
    return keep.spans


def _batches(spans: list[ReadableSpan]) -> list[list[ReadableSpan]]:
    return [spans[i:i + BATCH] for i in range(0, len(spans), BATCH)]


def _cpu(fn) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def encoding_figures(spans: list[ReadableSpan]) -> dict[str, float]:
    """CPU per span and bytes per span: Parquet exporter vs OTLP protobuf encoding."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from otelytics.exporter import ParquetSpanExporter

    batches = _batches(spans)
    tmp = tempfile.mkdtemp(prefix="otelytics-bench-")
    otlp_bytes = 0
    parquet_bytes = 0

    def otlp() -> None:
        nonlocal otlp_bytes
        otlp_bytes = sum(len(encode_spans(b).SerializeToString()) for b in batches)

    def parquet() -> None:
        nonlocal parquet_bytes
        root = os.path.join(tmp, "ds")
        shutil.rmtree(root, ignore_errors=True)
        exporter = ParquetSpanExporter(root=root)
        for b in batches:
            exporter.export(b)
        exporter.shutdown()  # waits for the background thread and publishes the file
        parquet_bytes = sum(os.path.getsize(os.path.join(d, f))
                            for d, _, fs in os.walk(os.path.join(root, "spans")) for f in fs)

    otlp()
    parquet()  # warm-up
    o, p = [], []
    for _ in range(ROUNDS):
        o.append(_cpu(otlp))
        p.append(_cpu(parquet))
    shutil.rmtree(tmp, ignore_errors=True)
    n = len(spans)
    otlp_us = statistics.median(o) / n * 1e6
    parquet_us = statistics.median(p) / n * 1e6
    return {
        "spans": n,
        "otlp_encode_cpu_us_per_span": round(otlp_us, 3),
        "parquet_export_cpu_us_per_span": round(parquet_us, 3),
        "cpu_ratio": round(parquet_us / otlp_us, 3),
        "goal_cpu_ratio": 0.25,
        "otlp_bytes_per_span": round(otlp_bytes / n, 1),
        "parquet_bytes_per_span": round(parquet_bytes / n, 1),
        "bytes_ratio": round(parquet_bytes / otlp_bytes, 3),
        "goal_bytes_ratio": 0.15,
    }


def end_to_end_figures() -> dict[str, float]:
    """A tracked call through ``configure()`` with the Parquet exporter vs bare spans."""
    from opentelemetry import trace

    import otelytics
    from otelytics.exporter import ParquetSpanExporter

    tmp = tempfile.mkdtemp(prefix="otelytics-bench-e2e-")
    otelytics.configure(exporters=[ParquetSpanExporter(root=tmp)])
    parquet_tracer = trace.get_tracer("bench")
    plain = TracerProvider()
    plain.add_span_processor(BatchSpanProcessor(_Discard()))
    bare_tracer = plain.get_tracer("bench")

    def bare() -> None:
        with bare_tracer.start_as_current_span("work"):
            pass

    def bare_parquet() -> None:
        with parquet_tracer.start_as_current_span("work"):
            pass

    @otelytics.track
    def tracked() -> None:
        pass

    t = interleaved({"bare": bare, "bare_parquet": bare_parquet, "tracked": tracked},
                    CALLS, CALL_ROUNDS)
    trace.get_tracer_provider().shutdown()  # type: ignore[attr-defined]
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "bare_span_no_export_us": round(t["bare"] * 1e6, 3),
        "bare_span_parquet_us": round(t["bare_parquet"] * 1e6, 3),
        "tracked_parquet_us": round(t["tracked"] * 1e6, 3),
        "tracked_parquet_over_bare_ratio": round(t["tracked"] / t["bare"], 3),
        "tracked_parquet_over_bare_parquet_ratio": round(t["tracked"] / t["bare_parquet"], 3),
    }


_BURST = """
import json, sys, time
import otelytics
from otelytics.exporter import drop_counts
otelytics.configure(service_name="burst")

@otelytics.track
def work(i):
    return i

t = time.perf_counter()
for i in range(int(sys.argv[1])):
    work(i)
loop = time.perf_counter() - t
otelytics.force_flush()
print(json.dumps({"loop_us": loop / int(sys.argv[1]) * 1e6,
                  "dropped": sum(n for (s, _), n in drop_counts().items() if s == "spans")}))
"""


def burst_figures(calls: int = 20_000) -> dict[str, float]:
    """A fresh process ends ``calls`` tracked spans in a tight loop: how many are lost.

    The SDK's batch queue overflows when the export thread falls behind; the drops are
    counted (``queue_full``). Run with our queue default and with the SDK's 2048.
    """
    import json
    import subprocess
    import sys

    out: dict[str, float] = {}
    for label, queue in (("", None), ("_sdk_queue_2048", "2048")):
        tmp = tempfile.mkdtemp(prefix="otelytics-bench-burst-")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELYTICS_"))}
        env["OTELYTICS_DATA_DIR"] = tmp
        if queue:
            env["OTEL_BSP_MAX_QUEUE_SIZE"] = queue
        r = subprocess.run([sys.executable, "-c", _BURST, str(calls)], capture_output=True,
                           text=True, env=env, timeout=300, check=True)
        got = json.loads(r.stdout.strip().splitlines()[-1])
        out[f"burst{label}_dropped_of_{calls}"] = got["dropped"]
        out[f"burst{label}_loop_us_per_call"] = round(got["loop_us"], 2)
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def run() -> dict[str, float]:
    spans = make_spans()
    return {**encoding_figures(spans), **end_to_end_figures(), **burst_figures()}
