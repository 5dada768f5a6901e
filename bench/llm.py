"""Added CPU per OpenAI call and per streamed chunk: otelytics vs the official instrumentation.

``python -m bench llm``. The real ``openai`` client calls a FakeLLMServer running in another
process (so the server's work is not counted). Three variants are measured interleaved in the
same run: no instrumentation, otelytics' ``OpenAIInstrumentor``, and the official
``opentelemetry-instrumentation-genai-openai`` (the ``bench`` extra), each with the same SDK
providers (spans: a SimpleSpanProcessor into a discarding exporter, so span work happens on
the calling thread; metrics: the pipeline ``otelytics.configure()`` builds) and content
capture off. The figure is CPU time of the
calling thread (``time.thread_time``) per call, minus the uninstrumented baseline; the
minimum over the rounds (least disturbed by other jobs), the median reported beside it.

Per chunk: streamed calls of 5 and 105 content chunks (plus the usage chunk); the added cost
per chunk is the slope between them, so per-call costs cancel out.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

_SERVER = """
import sys, time
from otelytics.testing import FakeLLMServer, Reply
words = int(sys.argv[1])
text = " ".join(["w"] * words)
with FakeLLMServer(default=Reply(text=text, input_tokens=50, output_tokens=words)) as s:
    print(s.openai_base_url, flush=True)
    sys.stdin.read()
"""


def _server(words: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(words)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()  # type: ignore[union-attr]
    return proc, url


def _cpu_per_call(fn: Callable[[], object], calls: int) -> float:
    t0 = time.thread_time()
    for _ in range(calls):
        fn()
    return (time.thread_time() - t0) / calls


def run(rounds: int = 30, calls: int = 60, stream_calls: int = 15) -> dict[str, Any]:
    os.environ.pop("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", None)
    os.environ.setdefault("OTELYTICS_FINGERPRINT_KEY", "bench")
    os.environ["OTEL_METRIC_EXPORT_INTERVAL"] = "3600000"
    import openai
    from opentelemetry import trace
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    import otelytics

    class _Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class _DiscardMetrics(MetricExporter):
        def export(self, data: Any, timeout_millis: float = 10_000,
                   **kw: Any) -> MetricExportResult:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kw: Any) -> None:
            pass

    # spans exported on the calling thread (so thread_time sees all of it); the metric
    # pipeline otelytics.configure() builds (periodic reader, histogram bridge)
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(_Discard()))
    trace.set_tracer_provider(tp)
    otelytics.configure(exporters=[_DiscardMetrics()], instrument_llm=False)

    from otelytics.llm.openai import OpenAIInstrumentor as Ours

    try:
        from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor as Official
    except ImportError:
        Official = None

    short_srv, short_url = _server(5)
    long_srv, long_url = _server(105)
    try:
        short = openai.OpenAI(base_url=short_url, api_key="k", max_retries=0)
        long = openai.OpenAI(base_url=long_url, api_key="k", max_retries=0)
        msgs = [{"role": "user", "content": "Benchmark question, a short one."}]

        def chat() -> object:
            return short.chat.completions.create(model="gpt-4o-mini", messages=msgs)

        def streamer(client: Any) -> Callable[[], object]:
            def go() -> object:
                n = 0
                for _ in client.chat.completions.create(
                        model="gpt-4o-mini", messages=msgs, stream=True,
                        stream_options={"include_usage": True}):
                    n += 1
                return n
            return go

        variants: dict[str, tuple[Callable[[], None], Callable[[], None]]] = {
            "none": (lambda: None, lambda: None),
            "otelytics": (lambda: Ours().instrument(), lambda: Ours().uninstrument()),
        }
        if Official is not None:
            variants["official"] = (lambda: Official().instrument(),
                                    lambda: Official().uninstrument())
        work = {"call": (chat, calls), "stream5": (streamer(short), stream_calls),
                "stream105": (streamer(long), stream_calls)}
        samples: dict[tuple[str, str], list[float]] = {
            (v, w): [] for v in variants for w in work}
        for r in range(rounds + 1):  # round 0 is the warm-up
            for v, (on, off) in variants.items():
                on()
                try:
                    for w, (fn, n) in work.items():
                        s = _cpu_per_call(fn, n)
                        if r:
                            samples[(v, w)].append(s)
                finally:
                    off()
        # the minimum over rounds: the least disturbed measurement on a shared machine
        # (the median moves by ±30 % with other jobs; both are reported)
        med = {k: min(x) for k, x in samples.items()}
        median = {k: statistics.median(x) for k, x in samples.items()}
        out: dict[str, Any] = {"rounds": rounds, "calls": calls, "stream_calls": stream_calls,
                               "baseline_call_us": round(med[("none", "call")] * 1e6, 1)}
        for v in variants:
            if v == "none":
                continue
            added = (med[(v, "call")] - med[("none", "call")]) * 1e6
            s5 = med[(v, "stream5")] - med[("none", "stream5")]
            s105 = med[(v, "stream105")] - med[("none", "stream105")]
            out[f"{v}_added_call_us"] = round(added, 1)
            out[f"{v}_added_stream_call_us"] = round(s105 * 1e6, 1)
            out[f"{v}_added_per_chunk_us"] = round((s105 - s5) / 100 * 1e6, 2)
            out[f"{v}_added_call_us_median"] = round(
                (median[(v, "call")] - median[("none", "call")]) * 1e6, 1)
        if "official" in variants:
            out["ratio_call_vs_official"] = round(
                out["otelytics_added_call_us"] / out["official_added_call_us"], 3)
        return out
    finally:
        for p in (short_srv, long_srv):
            p.stdin.close()  # type: ignore[union-attr]
            p.wait(timeout=10)
