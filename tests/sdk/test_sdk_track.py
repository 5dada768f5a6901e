"""@track and `with track(...)`: what reaches the exporter, and that the app sees no change."""

from __future__ import annotations

import asyncio
import sys
import traceback

import pytest
from opentelemetry.trace import StatusCode

import otelytics
from otelytics.semconv import attributes as a


def _by_name(exporter):
    return {s.name: s for s in exporter.get_finished_spans()}


def test_sync_function_span_attributes_and_result(spans):
    @otelytics.track
    def fit(X, y, alpha=0.1):
        return sum(X) * alpha

    assert fit([1, 2, 3], [0, 1, 0]) == pytest.approx(0.6)
    (s,) = spans.get_finished_spans()
    assert s.name == "test_sync_function_span_attributes_and_result.<locals>.fit"
    assert s.instrumentation_scope.name == "otelytics"
    assert s.attributes[a.OTELYTICS_ESTIMATOR_DATA_LENGTH] == 3
    assert s.attributes[a.OTELYTICS_PROCESS_CPU_TIME] >= 0
    assert a.OTELYTICS_SPAN_TYPE not in s.attributes  # function spans: identified by scope
    assert s.status.status_code == StatusCode.UNSET
    assert not any(k.startswith(a.OTELYTICS_ESTIMATOR_PARAM) for k in s.attributes)


def test_explicit_name_estimator_and_custom_attributes(spans):
    @otelytics.track("train", estimator="LinearModel", attributes={"team": "ml"}, data_length=42)
    def fit():
        return 1

    fit()
    s = _by_name(spans)["train"]
    assert s.attributes[a.OTELYTICS_ESTIMATOR_NAME] == "LinearModel"
    assert s.attributes["team"] == "ml"
    assert s.attributes[a.OTELYTICS_ESTIMATOR_DATA_LENGTH] == 42


def test_data_length_from_named_parameter_and_callable(spans):
    @otelytics.track(data_length="rows")
    def load(path, rows):
        return len(rows)

    @otelytics.track(data_length=lambda n: n * 2)
    def gen(n):
        return n

    load("x.csv", rows=[1, 2, 3, 4])
    gen(5)
    got = {s.name.rsplit(".", 1)[-1]: s.attributes.get(a.OTELYTICS_ESTIMATOR_DATA_LENGTH)
           for s in spans.get_finished_spans()}
    assert got == {"load": 4, "gen": 10}


def test_strings_are_not_data_but_lists_are(spans):
    @otelytics.track
    def f(name, data):
        return data

    f("model-a", [1, 2])
    (s,) = spans.get_finished_spans()
    assert s.attributes[a.OTELYTICS_ESTIMATOR_DATA_LENGTH] == 2


def test_exception_is_recorded_and_reraised_unchanged(spans):
    class BoomError(RuntimeError):
        pass

    err = BoomError("bad input")

    @otelytics.track
    def explode():
        raise err

    with pytest.raises(BoomError) as info:
        explode()
    assert info.value is err
    frames = [f.name for f in traceback.extract_tb(info.tb)]
    assert frames[-1] == "explode"  # the original raise site is kept
    (s,) = spans.get_finished_spans()
    assert s.status.status_code == StatusCode.ERROR
    etype = f"{__name__}.test_exception_is_recorded_and_reraised_unchanged.<locals>.BoomError"
    assert s.attributes[a.ERROR_TYPE] == etype
    (ev,) = [e for e in s.events if e.name == "exception"]
    assert ev.attributes[a.EXCEPTION_TYPE] == etype
    assert ev.attributes[a.EXCEPTION_MESSAGE] == "bad input"
    assert "raise err" in ev.attributes[a.EXCEPTION_STACKTRACE]


def test_builtin_error_type_is_short(spans):
    @otelytics.track
    def f():
        return 1 / 0

    with pytest.raises(ZeroDivisionError):
        f()
    assert spans.get_finished_spans()[0].attributes[a.ERROR_TYPE] == "ZeroDivisionError"


def test_methods_classmethods_staticmethods(spans):
    class Model:
        def __init__(self):
            self.w = 2

        @otelytics.track
        def predict(self, xs):
            return [x * self.w for x in xs]

        @otelytics.track
        @classmethod
        def build(cls, n):
            return cls()

        @classmethod
        @otelytics.track
        def build2(cls):
            return cls()

        @otelytics.track
        @staticmethod
        def helper(x):
            return x + 1

    m = Model.build(3)
    assert isinstance(Model.build2(), Model)
    assert m.predict([1, 2]) == [2, 4]
    assert Model.helper(1) == 2 and m.helper(2) == 3
    names = sorted(s.name.split("<locals>.")[1] for s in spans.get_finished_spans())
    assert names == ["Model.build", "Model.build2", "Model.helper", "Model.helper",
                     "Model.predict"]
    predict = next(s for s in spans.get_finished_spans() if s.name.endswith("predict"))
    assert predict.attributes[a.OTELYTICS_ESTIMATOR_DATA_LENGTH] == 2  # self skipped


def test_nested_calls_are_parent_and_child(spans):
    @otelytics.track
    def inner():
        return 1

    @otelytics.track
    def outer():
        return inner() + inner()

    assert outer() == 2
    by = {}
    for s in spans.get_finished_spans():
        by.setdefault(s.name.rsplit(".", 1)[-1], []).append(s)
    (o,) = by["outer"]
    assert [i.parent.span_id for i in by["inner"]] == [o.context.span_id] * 2
    assert all(i.context.trace_id == o.context.trace_id for i in by["inner"])


def test_tracking_twice_gives_one_span(spans):
    def f():
        return 3

    g = otelytics.track(otelytics.track(f))
    assert g() == 3
    assert len(spans.get_finished_spans()) == 1


def test_async_function(spans):
    @otelytics.track
    async def fetch(n):
        await asyncio.sleep(0.001)
        return n * 2

    async def main():
        return await asyncio.gather(fetch(1), fetch(2), fetch(3))

    assert asyncio.run(main()) == [2, 4, 6]
    got = spans.get_finished_spans()
    assert len(got) == 3 and all(s.end_time - s.start_time >= 1_000_000 for s in got)
    assert len({s.context.trace_id for s in got}) == 3  # concurrent tasks do not nest


def test_async_exception(spans):
    @otelytics.track
    async def fail():
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        asyncio.run(fail())
    assert spans.get_finished_spans()[0].status.status_code == StatusCode.ERROR


def test_generator_span_covers_iteration_and_forwards_send(spans):
    @otelytics.track
    def counter(n):
        total = 0
        for i in range(n):
            got = yield i
            total += got or 0
        return total

    @otelytics.track
    def child():
        return 1

    gen = counter(3)
    assert spans.get_finished_spans() == ()  # nothing started before iteration
    assert next(gen) == 0
    child()  # runs between steps: not a child of the generator span
    assert gen.send(10) == 1
    assert gen.send(5) == 2
    with pytest.raises(StopIteration) as stop:
        gen.send(1)
    assert stop.value.value == 16
    by = _by_name(spans)
    gspan = next(s for n, s in by.items() if n.endswith("counter"))
    cspan = next(s for n, s in by.items() if n.endswith("child"))
    assert cspan.parent is None or cspan.parent.span_id != gspan.context.span_id
    assert gspan.status.status_code == StatusCode.UNSET


def test_generator_child_calls_nest_inside_steps(spans):
    @otelytics.track
    def leaf(x):
        return x

    @otelytics.track
    def gen():
        yield leaf(1)
        yield leaf(2)

    assert list(gen()) == [1, 2]
    by = {}
    for s in spans.get_finished_spans():
        by.setdefault(s.name.rsplit(".", 1)[-1], []).append(s)
    (g,) = by["gen"]
    assert [leaf.parent.span_id for leaf in by["leaf"]] == [g.context.span_id] * 2


def test_generator_break_and_close_end_the_span_ok(spans):
    closed = []

    @otelytics.track
    def items():
        try:
            yield from range(100)
        finally:
            closed.append(True)

    for i in items():
        if i == 3:
            break
    assert closed == [True]  # the caller's break closed the real generator
    (s,) = spans.get_finished_spans()
    assert s.status.status_code == StatusCode.UNSET and s.end_time is not None


def test_generator_error_inside_and_throw_from_caller(spans):
    @otelytics.track
    def bad():
        yield 1
        raise KeyError("k")

    g = bad()
    next(g)
    with pytest.raises(KeyError):
        next(g)

    @otelytics.track
    def catcher():
        try:
            yield 1
        except ValueError:
            yield "caught"

    c = catcher()
    next(c)
    assert c.throw(ValueError("x")) == "caught"
    c.close()
    by = {s.name.rsplit(".", 1)[-1]: s for s in spans.get_finished_spans()}
    assert by["bad"].status.status_code == StatusCode.ERROR
    assert by["bad"].attributes[a.ERROR_TYPE] == "KeyError"
    assert by["catcher"].status.status_code == StatusCode.UNSET


def test_async_generator(spans):
    @otelytics.track
    async def stream(n):
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def main():
        out = [x async for x in stream(3)]
        agen = stream(10)
        async for x in agen:
            if x == 1:
                break
        await agen.aclose()
        return out

    assert asyncio.run(main()) == [0, 1, 2]
    got = spans.get_finished_spans()
    assert len(got) == 2 and all(s.end_time for s in got)


def test_context_manager_with_handle(spans):
    with otelytics.track("load_batch", data_length=128) as call:
        call.set_attribute("source", "s3")
        call.set_data_length(256)
        assert call.span is not None and call.span.is_recording()
    (s,) = spans.get_finished_spans()
    assert s.name == "load_batch"
    assert s.attributes["source"] == "s3"
    assert s.attributes[a.OTELYTICS_ESTIMATOR_DATA_LENGTH] == 256


def test_context_manager_records_error_and_propagates(spans):
    with pytest.raises(OSError), otelytics.track("io"):
        raise OSError("disk")
    (s,) = spans.get_finished_spans()
    assert s.status.status_code == StatusCode.ERROR
    assert s.attributes[a.ERROR_TYPE] == "OSError"


def test_async_context_manager(spans):
    async def main():
        async with otelytics.track("step"):
            await asyncio.sleep(0)

    asyncio.run(main())
    assert [s.name for s in spans.get_finished_spans()] == ["step"]


def test_context_manager_needs_a_name(spans):
    with pytest.raises(TypeError, match="needs a name"), otelytics.track():
        pass


def test_system_exit_zero_is_not_an_error(spans):
    @otelytics.track
    def done():
        sys.exit(0)

    with pytest.raises(SystemExit):
        done()
    assert spans.get_finished_spans()[0].status.status_code == StatusCode.UNSET


def test_code_attributes_are_opt_in(spans):
    @otelytics.track
    def located():
        return 1

    located()
    otelytics.configure(capture_code=True)
    located()
    first, second = spans.get_finished_spans()
    assert a.CODE_FUNCTION_NAME not in first.attributes
    assert second.attributes[a.CODE_FUNCTION_NAME].endswith("<locals>.located")
    assert second.attributes[a.CODE_FILE_PATH] == __file__
    assert second.attributes[a.CODE_LINE_NUMBER] > 0


def test_memory_capture(spans):
    @otelytics.track(capture_memory=True)
    def allocate():
        return bytearray(8 * 1024 * 1024)

    allocate()
    (s,) = spans.get_finished_spans()
    assert s.attributes[a.OTELYTICS_PROCESS_MEMORY_PEAK] >= 8 * 1024 * 1024
    assert isinstance(s.attributes[a.OTELYTICS_PROCESS_MEMORY_RSS_DELTA], int)


def test_disabled_records_nothing_and_returns_the_same(spans):
    @otelytics.track
    def f(x):
        return x + 1

    @otelytics.track
    def g():
        yield 1

    otelytics.disable()
    try:
        assert f(1) == 2
        assert list(g()) == [1]
        with otelytics.track("block") as call:
            assert call.span is None
            call.set_attribute("ignored", 1)
        assert otelytics.is_enabled() is False
    finally:
        otelytics.enable()
    assert spans.get_finished_spans() == ()
    f(1)
    assert len(spans.get_finished_spans()) == 1


def test_track_rejects_non_callables(spans):
    with pytest.raises(TypeError, match="needs a callable"):
        otelytics.track(42)


def test_one_tracker_object_entered_concurrently_and_nested(spans):
    tracker = otelytics.track("shared")

    async def task(i):
        with tracker as call:
            call.set_attribute("i", i)
            await asyncio.sleep(0.001 * (3 - i))
            with tracker:
                await asyncio.sleep(0)

    async def main():
        await asyncio.gather(*(task(i) for i in range(3)))

    asyncio.run(main())
    got = spans.get_finished_spans()
    assert len(got) == 6
    outer = {s.attributes["i"]: s for s in got if "i" in s.attributes}
    inner = [s for s in got if "i" not in s.attributes]
    assert sorted(outer) == [0, 1, 2]
    # every inner span is the child of the outer span of its own task
    assert sorted(s.parent.span_id for s in inner) == sorted(
        s.context.span_id for s in outer.values())


@pytest.mark.parametrize("enabled", [True, False])
def test_async_generator_protocol_is_forwarded(spans, enabled):
    @otelytics.track
    async def echo():
        received = []
        try:
            while True:
                try:
                    got = yield len(received)
                    received.append(got)
                except ValueError:
                    yield "thrown"
        finally:
            received.clear()

    async def main():
        agen = echo()
        out = [await agen.asend(None), await agen.asend("a"), await agen.asend("b")]
        out.append(await agen.athrow(ValueError("v")))
        await agen.aclose()
        return out

    if not enabled:
        otelytics.disable()
    try:
        assert asyncio.run(main()) == [0, 1, 2, "thrown"]
    finally:
        otelytics.enable()
    assert len(spans.get_finished_spans()) == (1 if enabled else 0)
