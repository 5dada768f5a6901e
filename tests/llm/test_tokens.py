"""otelytics.llm.tokens: local estimates checked against real tokenizer counts.

The reference counts below are exact o200k_base and cl100k_base counts of each sample, computed
once offline with a BPE tokenizer (bpe-openai 0.1.4, embedded vocabularies; no network). The
estimator targets their mean; docs/llm.md has the error measured on a larger held-out set.
"""

from __future__ import annotations

import json
import statistics

import pytest

from otelytics.llm.tokens import estimate_messages, estimate_text

TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a given city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}

# (name, text, o200k_base tokens, cl100k_base tokens)
SAMPLES = [
    ("chat", "What is the capital of France? Please answer in one word.", 13, 13),
    ("prose", "OpenTelemetry is a collection of APIs, SDKs, and tools. Use it to instrument, "
     "generate, collect, and export telemetry data (metrics, logs, and traces) to help you "
     "analyze your software's performance and behavior.", 46, 47),
    ("instructions", "You are a helpful assistant for an online bookshop. Answer questions "
     "about orders, shipping and returns politely and concisely. If you do not know the "
     "answer, say so and offer to connect the customer with a human agent.", 46, 46),
    ("code", 'def fibonacci(n: int) -> list[int]:\n    """Return the first n Fibonacci numbers.'
     '"""\n    seq = [0, 1]\n    while len(seq) < n:\n        seq.append(seq[-1] + seq[-2])\n'
     "    return seq[:n]\n", 54, 54),
    ("json", json.dumps(TOOL), 79, 78),
    ("numbers", "Order 48213 shipped 2025-03-14: 3 x SKU-00912 at $19.99, total $59.97.", 32, 32),
    ("german", "Die Bundesregierung hat am Mittwoch einen Gesetzentwurf beschlossen, der die "
     "Digitalisierung der Verwaltung beschleunigen soll.", 22, 33),
    ("chinese", "政府周三批准了一项旨在加快行政数字化的法案。", 17, 26),
]


def _error(estimate: int, o200k: int, cl100k: int) -> float:
    target = (o200k + cl100k) / 2
    return (estimate - target) / target


@pytest.mark.parametrize(("name", "text", "o200k", "cl100k"), SAMPLES,
                         ids=[s[0] for s in SAMPLES])
def test_each_sample_within_15_percent_of_real_tokenizers(name, text, o200k, cl100k):
    assert abs(_error(estimate_text(text), o200k, cl100k)) <= 0.15


def test_mean_error_beats_chars_over_four():
    ours = statistics.mean(abs(_error(estimate_text(t), o, c)) for _, t, o, c in SAMPLES)
    naive = statistics.mean(abs(_error(round(len(t) / 4), o, c)) for _, t, o, c in SAMPLES)
    assert ours <= 0.08
    assert ours < naive


def test_chat_messages_match_openai_overhead_formula():
    # OpenAI's published rule: 3 tokens per message + content (+1 per name) + 3 for the reply
    chat, prose = SAMPLES[0], SAMPLES[1]
    messages = [{"role": "system", "content": prose[1]}, {"role": "user", "content": chat[1]}]
    exact = 3 + (3 + prose[2]) + (3 + chat[2])  # o200k
    assert abs(estimate_messages(messages) - exact) / exact <= 0.10
    named = [{"role": "user", "name": "alice", "content": chat[1]}]
    assert estimate_messages(named) == estimate_messages([{"role": "user",
                                                           "content": chat[1]}]) + 2


def test_anthropic_shapes_system_blocks_tool_use_and_results():
    text = SAMPLES[2][1]
    plain = estimate_messages([{"role": "user", "content": text}])
    blocks = estimate_messages([{"role": "user", "content": [{"type": "text", "text": text}]}])
    assert blocks == plain
    with_system = estimate_messages([{"role": "user", "content": text}], system=text)
    assert with_system == plain + 3 + estimate_text(text)
    system_blocks = estimate_messages([{"role": "user", "content": text}],
                                      system=[{"type": "text", "text": text}])
    assert system_blocks == with_system
    tool_turns = [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
             "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C, sunny"}]},
        {"role": "user", "content": [{"type": "image", "source": {"type": "base64",
                                                                  "data": "AAAA" * 1000}}]},
    ]
    n = estimate_messages(tool_turns)
    assert n >= 3 + 4 * 3 + estimate_text("get_weather") + estimate_text("18 C, sunny") + 85
    assert n < 200  # an image is a fixed guess, never its base64 length


def test_openai_tool_calls_and_tool_schemas_count():
    base = [{"role": "user", "content": "weather in Paris?"}]
    with_tools = estimate_messages(base, tools=[TOOL])
    schema = SAMPLES[4]
    assert with_tools - estimate_messages(base) == pytest.approx(
        8 + (schema[2] + schema[3]) / 2, rel=0.15)
    call = [*base, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}]
    assert estimate_messages(call) > estimate_messages(base) + 3


def test_edge_inputs_never_raise():
    assert estimate_text("") == 0
    assert estimate_text("a") == 1
    assert estimate_text("\n\n\n") == 1
    assert estimate_messages([]) == 3
    assert estimate_messages("a bare string prompt") == 3 + 3 + estimate_text(
        "a bare string prompt")

    class Weird:
        def __str__(self):
            return "weird object"

    assert estimate_messages([{"role": "user", "content": None}, Weird(),
                              {"role": "user", "content": 12345}]) > 3
    assert estimate_messages(None) == 3
    one = {"role": "user", "content": "hello there"}
    assert estimate_messages(one) == estimate_messages([one])
    assert estimate_text("x" * 10_000) == 2500  # one long run: four characters a token


def test_deterministic_and_monotonic():
    text = SAMPLES[1][1]
    assert estimate_text(text) == estimate_text(text)
    assert estimate_text(text + " " + text) > estimate_text(text)
