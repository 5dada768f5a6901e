"""Instrumentation never hurts the app: internal failures are counted, calls go on unchanged."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from otelytics import _call
from otelytics.llm import _core
from otelytics.llm import openai as llm_openai
from otelytics.semconv import attributes as a
from otelytics.testing import Reply
from tests.llm.conftest import GPT, MSGS, llm_spans, one_span


def test_broken_chunk_handler_does_not_break_the_stream(oai, fake, spans, monkeypatch):
    def boom(st, chunk):
        raise RuntimeError("bug in otelytics")

    monkeypatch.setattr(llm_openai, "_chat_chunk", boom)
    before = _call.internal_errors
    fake.script(Reply(text="one two three"))
    text = "".join(c.choices[0].delta.content or "" for c in
                   oai.chat.completions.create(model=GPT, messages=MSGS, stream=True))
    assert text == "one two three"
    assert _call.internal_errors > before
    assert one_span(spans).end_time is not None


def test_failure_while_finishing_still_returns_the_response(oai, fake, spans, monkeypatch):
    def boom(self, attrs, etype):
        raise RuntimeError("bug in otelytics")

    monkeypatch.setattr(_core.Invocation, "_span_attributes", boom)
    before = _call.internal_errors
    fake.script(Reply(text="fine"))
    out = oai.chat.completions.create(model=GPT, messages=MSGS)
    assert out.choices[0].message.content == "fine"
    assert _call.internal_errors > before
    assert one_span(spans).end_time is not None  # ended, never left open


def test_failure_while_starting_runs_the_call_untracked(oai, fake, spans, monkeypatch):
    def boom(resource, kwargs):
        raise RuntimeError("bug in otelytics")

    monkeypatch.setattr(llm_openai, "_client_info", boom)
    fake.script(Reply(text="untracked but fine"))
    out = oai.chat.completions.create(model=GPT, messages=MSGS)
    assert out.choices[0].message.content == "untracked but fine"
    assert llm_spans(spans) == []


def test_concurrent_calls_from_threads_keep_their_own_figures(oai, fake, spans):
    def call(i):
        r = oai.chat.completions.create(model=GPT, messages=[{"role": "user",
                                                               "content": f"q{i}"}])
        return r.id, r.usage.prompt_tokens

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = dict(pool.map(call, range(16)))
    got = {s.attributes[a.GEN_AI_RESPONSE_ID]: s.attributes[a.GEN_AI_USAGE_INPUT_TOKENS]
           for s in llm_spans(spans)}
    assert got == results
    assert len({s.parent for s in llm_spans(spans)}) == 1  # all roots: no context leaked
