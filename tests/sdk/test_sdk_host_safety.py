"""The host app is never hurt: failures inside otelytics never reach user code; fork is safe."""

from __future__ import annotations

import json
import textwrap

import pytest

import otelytics
from otelytics import _call, _metrics, _state


class _ExplodingTracer:
    def start_span(self, *args, **kwargs):
        raise RuntimeError("tracer broke")


@pytest.fixture
def broken(monkeypatch):
    def _break(obj, name, value):
        monkeypatch.setattr(obj, name, value)
        return _call.internal_errors

    return _break


def test_a_failing_tracer_leaves_calls_untouched(spans, broken):
    before = broken(_state, "tracer", _ExplodingTracer())

    @otelytics.track
    def f(x):
        return x * 3

    @otelytics.track
    def g():
        yield from (1, 2)

    assert f(2) == 6
    assert list(g()) == [1, 2]
    with otelytics.track("block") as call:
        call.set_attribute("k", "v")
    with pytest.raises(KeyError), otelytics.track("block2"):
        raise KeyError("user error passes through")
    assert _call.internal_errors >= before + 4
    assert spans.get_finished_spans() == ()


def test_failing_metrics_and_attributes_do_not_reach_the_caller(spans, broken):
    def explode(*args, **kwargs):
        raise MemoryError("aggregate broke")

    before = broken(_metrics.aggregate, "record", explode)

    class BadLen:
        def __len__(self):
            raise OSError("len broke")

    class BadRepr:
        def __repr__(self):
            raise RuntimeError("repr broke")

    @otelytics.track(capture_params=True)
    def f(a, b):
        return "ok"

    assert f(BadLen(), BadRepr()) == "ok"
    assert _call.internal_errors > before
    (s,) = spans.get_finished_spans()  # the span itself still made it
    assert s.attributes["otelytics.estimator.param.b"] == "<unrepresentable BadRepr>"


def test_an_exporter_that_raises_does_not_reach_the_app(python_run):
    code = textwrap.dedent("""
        import otelytics
        from opentelemetry.sdk.trace.export import SpanExporter
        class Broken(SpanExporter):
            def export(self, spans):
                raise OSError("disk on fire")
        otelytics.configure(exporters=[Broken()])
        @otelytics.track
        def f(): return 7
        print(sum(f() for _ in range(100)))
        print(otelytics.force_flush())
    """)
    r = python_run(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "700"


def test_fork_child_records_its_own_spans_and_never_the_parents(python_run):
    code = textwrap.dedent("""
        import json, os, otelytics
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        exp = InMemorySpanExporter()
        otelytics.configure(exporters=[])
        from opentelemetry import trace
        trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exp))
        @otelytics.track
        def work(tag): return tag
        @otelytics.track
        def parent_job():
            work("before")
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                with otelytics.session("child"):
                    work("child")
                names = [s.name for s in exp.get_finished_spans()]
                os.write(w, json.dumps({"names": names, "pid": os.getpid()}).encode())
                os._exit(0)
            os.close(w)
            data = b""
            while chunk := os.read(r, 65536):
                data += chunk
            os.waitpid(pid, 0)
            return json.loads(data)
        child = parent_job()
        parent = [s.name for s in exp.get_finished_spans()]
        print(json.dumps({"child": child["names"], "parent": parent}))
    """)
    r = python_run(code)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # the child saw the parent's finished span (inherited memory) plus only its own new ones
    assert out["child"] == ["work", "work", "session child"]
    assert out["parent"] == ["work", "parent_job"]
