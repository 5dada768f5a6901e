"""Sessions and workflows: membership on every span, across threads and tasks; summaries."""

from __future__ import annotations

import asyncio
import contextvars
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import trace

import otelytics
from otelytics._rollup import add_llm_usage
from otelytics.privacy import hash_user_id
from otelytics.semconv import attributes as a


@otelytics.track
def step(x):
    return x * 2


def test_every_span_in_a_session_carries_session_and_user(spans):
    foreign = trace.get_tracer("some.http.client")
    with otelytics.session("chat", user_id="alice", session_id="s-1") as s:
        step(1)
        with foreign.start_as_current_span("GET /x"):
            pass
    assert s.id == "s-1"
    got = spans.get_finished_spans()
    assert {sp.name for sp in got} == {"session chat", "GET /x", f"{step.__qualname__}"}
    for sp in got:
        assert sp.attributes[a.SESSION_ID] == "s-1"
        assert sp.attributes[a.USER_ID] == "alice"
    sess = next(sp for sp in got if sp.name == "session chat")
    assert sess.attributes[a.OTELYTICS_SPAN_TYPE] == "session"
    assert sess.attributes[a.OTELYTICS_SESSION_NAME] == "chat"


def test_user_ids_are_hashed_when_configured(spans):
    otelytics.configure(hash_user_ids=True, user_id_hash_key="k1")
    with otelytics.session("chat", user_id="alice"):
        step(1)
    expected = hash_user_id("alice", "k1")
    assert expected.startswith("sha256:") and "alice" not in expected
    assert expected != hash_user_id("alice", "k2")
    assert {sp.attributes[a.USER_ID] for sp in spans.get_finished_spans()} == {expected}


def test_session_reaches_threads_that_propagate_context_and_asyncio_tasks(spans):
    with otelytics.session("batch") as s:
        ctx = contextvars.copy_context()
        t = threading.Thread(target=ctx.run, args=(step, 1))
        t.start()
        t.join()
        with ThreadPoolExecutor(2) as pool:
            futs = [pool.submit(contextvars.copy_context().run, step, i) for i in range(4)]
            assert [f.result() for f in futs] == [0, 2, 4, 6]

        @otelytics.track
        async def astep(i):
            await asyncio.sleep(0)
            return i

        async def main():
            return await asyncio.gather(*(astep(i) for i in range(3)))

        assert asyncio.run(main()) == [0, 1, 2]
    tracked = [sp for sp in spans.get_finished_spans() if sp.name != "session batch"]
    assert len(tracked) == 8
    assert {sp.attributes.get(a.SESSION_ID) for sp in tracked} == {s.id}
    assert s.summary().calls == 8


def test_thread_without_propagated_context_is_outside_the_session(spans):
    with otelytics.session("batch"):
        t = threading.Thread(target=step, args=(1,))
        t.start()
        t.join()
    lone = next(sp for sp in spans.get_finished_spans() if sp.name == step.__qualname__)
    assert a.SESSION_ID not in lone.attributes


def test_summary_counts_errors_durations_and_llm_usage(spans):
    @otelytics.track
    def sleepy(seconds, fail=False):
        time.sleep(seconds)
        if fail:
            raise RuntimeError("x")

    plan = [0.01, 0.02, 0.03, 0.04, 0.05]
    with otelytics.session("work") as s:
        for i, sec in enumerate(plan):
            try:
                sleepy(sec, fail=(i == 4))
            except RuntimeError:
                pass
        add_llm_usage(100, 20, 0.0015)
        add_llm_usage(50, 10, None)  # unpriced
        live = s.summary()
    final = s.summary()
    assert live.calls == final.calls == 5
    assert final.errors == 1 and final.error_rate == pytest.approx(0.2)
    durations = sorted(
        (sp.end_time - sp.start_time) / 1e9 for sp in spans.get_finished_spans()
        if sp.name.endswith("sleepy"))
    assert final.total_duration_s == pytest.approx(sum(durations), rel=0.05, abs=0.002)
    assert final.p50_duration_s == pytest.approx(statistics.median(durations), abs=0.003)
    q95 = statistics.quantiles(durations, n=20, method="inclusive")[18]
    assert final.p95_duration_s == pytest.approx(q95, abs=0.003)
    assert final.max_duration_s == pytest.approx(durations[-1], abs=0.003)
    assert (final.llm_calls, final.input_tokens, final.output_tokens) == (2, 150, 30)
    assert final.cost_usd == pytest.approx(0.0015) and final.unpriced_calls == 1
    assert final.wall_time_s >= sum(plan)


def test_llm_usage_rolls_up_into_enclosing_spans(spans):
    @otelytics.track
    def answer():
        add_llm_usage(10, 5, 0.25)
        add_llm_usage(1, 1, 0.5)

    @otelytics.track
    def outer():
        answer()
        add_llm_usage(7, 3, None)

    with otelytics.workflow("rag"):
        outer()
    by = {sp.name.rsplit(".", 1)[-1]: sp.attributes for sp in spans.get_finished_spans()}
    assert by["answer"][a.OTELYTICS_ROLLUP_LLM_CALLS] == 2
    assert by["answer"][a.OTELYTICS_ROLLUP_COST_USD] == pytest.approx(0.75)
    assert by["outer"][a.OTELYTICS_ROLLUP_LLM_CALLS] == 3
    assert by["outer"][a.OTELYTICS_ROLLUP_INPUT_TOKENS] == 18
    assert by["outer"][a.OTELYTICS_ROLLUP_OUTPUT_TOKENS] == 9
    assert by["outer"][a.OTELYTICS_ROLLUP_UNPRICED_CALLS] == 1
    assert by["rag"][a.OTELYTICS_ROLLUP_COST_USD] == pytest.approx(0.75)


def test_workflow_steps_are_numbered_and_nested_calls_are_not_steps(spans):
    @otelytics.track
    def helper():
        return 1

    @otelytics.track
    def retrieve():
        return helper()

    @otelytics.track
    def generate():
        return 2

    @otelytics.workflow
    def rag():
        retrieve()
        generate()
        retrieve()

    rag()
    got = spans.get_finished_spans()
    wf = next(sp for sp in got if sp.name.endswith("rag"))
    assert wf.attributes[a.OTELYTICS_SPAN_TYPE] == "workflow"
    steps = sorted(
        (sp.attributes[a.OTELYTICS_WORKFLOW_STEP_INDEX], sp.attributes[a.OTELYTICS_WORKFLOW_STEP])
        for sp in got if a.OTELYTICS_WORKFLOW_STEP in sp.attributes)
    assert [n.rsplit(".", 1)[-1] for _, n in steps] == ["retrieve", "generate", "retrieve"]
    assert [i for i, _ in steps] == [0, 1, 2]
    helpers = [sp for sp in got if sp.name.endswith("helper")]
    assert len(helpers) == 2
    for h in helpers:
        assert h.attributes[a.OTELYTICS_WORKFLOW_NAME] == wf.name
        assert a.OTELYTICS_WORKFLOW_STEP not in h.attributes


def test_foreign_direct_children_of_a_workflow_are_steps(spans):
    llm = trace.get_tracer("some.llm.sdk")
    with otelytics.workflow("agent"):
        with llm.start_as_current_span("chat gpt-4o"):
            with llm.start_as_current_span("POST /v1/chat"):
                pass
        step(1)
    by = {sp.name: sp.attributes for sp in spans.get_finished_spans()}
    assert by["chat gpt-4o"][a.OTELYTICS_WORKFLOW_STEP_INDEX] == 0
    assert by["chat gpt-4o"][a.OTELYTICS_WORKFLOW_STEP] == "chat gpt-4o"
    assert by["POST /v1/chat"][a.OTELYTICS_WORKFLOW_NAME] == "agent"
    assert a.OTELYTICS_WORKFLOW_STEP not in by["POST /v1/chat"]
    assert by[step.__qualname__][a.OTELYTICS_WORKFLOW_STEP_INDEX] == 1


def test_failed_step_fails_the_workflow(spans):
    @otelytics.track
    def validate():
        raise ValueError("schema")

    with pytest.raises(ValueError), otelytics.workflow("ingest"):
        step(1)
        validate()
    by = {sp.name.rsplit(".", 1)[-1]: sp for sp in spans.get_finished_spans()}
    assert by["ingest"].attributes[a.ERROR_TYPE] == "ValueError"
    assert by["validate"].attributes[a.OTELYTICS_WORKFLOW_STEP_INDEX] == 1


def test_session_as_async_context_manager(spans):
    async def main():
        async with otelytics.session("async-chat", user_id="u") as s:
            await asyncio.sleep(0)
            step(1)
        return s

    s = asyncio.run(main())
    assert s.summary().calls == 1
