"""Fixtures for the LLM instrumentation tests: the real SDK clients against FakeLLMServer.

The instrumentors are installed once per test process (on the shared providers of
``tests/conftest.py``); each test gets an emptied span exporter and a reset server.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otelytics.llm import _settings
from otelytics.llm.anthropic import AnthropicInstrumentor
from otelytics.llm.openai import OpenAIInstrumentor
from otelytics.testing import FakeLLMServer
from tests._metrics_helpers import metric_points

warnings.filterwarnings("ignore", category=DeprecationWarning, module="anthropic")

MSGS = [{"role": "user", "content": "What is the capital of France?"}]
GPT = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"


@pytest.fixture(scope="session")
def llm_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture
def fake(llm_server: FakeLLMServer, spans: Any, monkeypatch: pytest.MonkeyPatch,
         tmp_path: Any) -> Iterator[FakeLLMServer]:
    """A reset server, both SDKs instrumented, LLM settings from a clean environment."""
    for var in ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
                "OTELYTICS_OPENAI_INCLUDE_USAGE", "OTELYTICS_MAX_CONTENT_LENGTH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OTELYTICS_FINGERPRINT_KEY", "test-key")
    _settings.refresh()
    for inst in (OpenAIInstrumentor(), AnthropicInstrumentor()):
        if not inst.is_instrumented_by_opentelemetry:
            inst.instrument()
    llm_server.reset()
    yield llm_server
    llm_server.reset()
    monkeypatch.undo()
    _settings.refresh()


@pytest.fixture
def oai(fake: FakeLLMServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test", max_retries=0) as c:
        yield c


@pytest.fixture
def aoai(fake: FakeLLMServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="sk-test", max_retries=0)


@pytest.fixture
def claude(fake: FakeLLMServer) -> Iterator[anthropic.Anthropic]:
    """An Anthropic client with the SDK's own telemetry off (our span is the call's span)."""
    with anthropic.Anthropic(base_url=fake.anthropic_base_url, api_key="sk-ant-test",
                             max_retries=0, open_telemetry=False) as c:
        yield c


@pytest.fixture
def aclaude(fake: FakeLLMServer) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=fake.anthropic_base_url, api_key="sk-ant-test",
                                    max_retries=0, open_telemetry=False)


def llm_spans(exporter: Any) -> list[Any]:
    """Finished spans that are GenAI client calls (any producer)."""
    return [s for s in exporter.get_finished_spans()
            if (s.attributes or {}).get("gen_ai.operation.name") not in (None, "execute_tool")]


def one_span(exporter: Any) -> Any:
    got = llm_spans(exporter)
    assert len(got) == 1, [s.name for s in got]
    return got[0]


def point(reader: InMemoryMetricReader, name: str, **attrs: Any) -> Any:
    """The one data point of ``name`` whose attributes include ``attrs`` (dots as ``__``)."""
    want = {k.replace("__", "."): v for k, v in attrs.items()}
    found = [p for p in metric_points(reader, name)
             if all(p.attributes.get(k) == v for k, v in want.items())]
    assert len(found) <= 1, found
    return found[0] if found else None
