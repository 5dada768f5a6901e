"""A small LLM app with no otelytics code: run it under ``opentelemetry-instrument``.

    opentelemetry-instrument python examples/llm_app.py

Every OpenAI and Anthropic call becomes a GenAI span with tokens and cost (and the metrics),
written to the Parquet dataset by default. The app talks to a local fake server
(``otelytics.testing.FakeLLMServer``) so it runs anywhere without keys or network; point the
clients at the real APIs and nothing else changes.

What it does: a chat turn, a streamed answer, a tool call round trip, an Anthropic call that
reads and writes the prompt cache, a call that succeeds after a 429 and one retry, the same
FAQ question asked five times (``otelytics suggest``: repeated-calls, a response cache would
serve four) and three Anthropic summaries cut at ``max_tokens`` (suggest: max-tokens-cutoff).

    OTELYTICS_DATA_DIR=/tmp/x opentelemetry-instrument python examples/llm_app.py
    otelytics suggest /tmp/x
"""

from __future__ import annotations

import json
import warnings

import anthropic
import openai

from otelytics.testing import ErrorReply, FakeLLMServer, Reply, ToolCall

warnings.filterwarnings("ignore", category=DeprecationWarning)

GPT = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"
FAQ = "How do I reset my password?"
FAQ_ASKED = 5  # otelytics suggest's repeated-calls rule needs 5 identical requests
SUMMARIES = 3  # ... and max-tokens-cutoff 3 cut outputs from one caller


def get_weather(city: str) -> str:
    return json.dumps({"city": city, "forecast": "sunny", "celsius": 21})


def main() -> None:
    with FakeLLMServer() as server:
        server.script(
            Reply(text="Paris is the capital of France.", input_tokens=25, output_tokens=8),
            Reply(text="Once upon a time there was a tiny model.", input_tokens=12,
                  output_tokens=10),
            Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"})], input_tokens=60,
                  output_tokens=15),
            Reply(text="It is sunny in Paris, 21 C.", input_tokens=90, output_tokens=11),
            ErrorReply(429, retry_after=0),
            Reply(text="Retried fine.", input_tokens=9, output_tokens=3),
            *[Reply(text="Open Settings > Account > Reset password.", input_tokens=1200,
                    output_tokens=60)] * FAQ_ASKED,
            path="/chat/completions",
        )
        server.script(
            Reply(text="Bonjour !", input_tokens=2100, output_tokens=6, cache_read_tokens=1800,
                  cache_creation_tokens=250),
            *[Reply(text="The report says that revenue grew because", input_tokens=900,
                    output_tokens=32, finish_reason="max_tokens")] * SUMMARIES,
            path="/messages",
        )
        oai = openai.OpenAI(base_url=server.openai_base_url, api_key="sk-local", max_retries=2)
        claude = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="sk-local")

        # 1. a chat turn
        msgs = [{"role": "user", "content": "What is the capital of France?"}]
        print(oai.chat.completions.create(model=GPT, messages=msgs).choices[0].message.content)

        # 2. a stream, with usage in the final chunk
        stream = oai.chat.completions.create(
            model=GPT, messages=[{"role": "user", "content": "Tell me a story."}],
            stream=True, stream_options={"include_usage": True})
        print("".join(c.choices[0].delta.content or "" for c in stream if c.choices))

        # 3. a tool call: the model asks, the app runs the tool, the model answers
        tools = [{"type": "function", "function": {
            "name": "get_weather", "parameters": {
                "type": "object", "properties": {"city": {"type": "string"}}}}}]
        ask = [{"role": "user", "content": "Weather in Paris?"}]
        first = oai.chat.completions.create(model=GPT, messages=ask, tools=tools)
        call = first.choices[0].message.tool_calls[0]
        result = get_weather(**json.loads(call.function.arguments))
        follow = [*ask, first.choices[0].message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": call.id, "content": result}]
        answer = oai.chat.completions.create(model=GPT, messages=follow, tools=tools)
        print(answer.choices[0].message.content)

        # 4. Anthropic with a cached system prompt
        msg = claude.messages.create(
            model=CLAUDE, max_tokens=100,
            system=[{"type": "text", "text": "You are a French tutor. " * 200,
                     "cache_control": {"type": "ephemeral"}}],
            messages=[{"role": "user", "content": "Say hello."}])
        print(msg.content[0].text, msg.usage.cache_read_input_tokens)

        # 5. a rate-limited call that the client retries
        print(oai.chat.completions.create(model=GPT, messages=msgs).choices[0].message.content)

        # 6. the same support question, asked again and again (no response cache)
        faq = [{"role": "user", "content": FAQ}]
        for _ in range(FAQ_ASKED):
            oai.chat.completions.create(model=GPT, messages=faq, temperature=0)

        # 7. summaries with too small a max_tokens: each answer stops mid-sentence
        for part in range(SUMMARIES):
            cut = claude.messages.create(
                model=CLAUDE, max_tokens=32,
                messages=[{"role": "user", "content": f"Summarise part {part} of the report."}])
            print(cut.stop_reason, cut.content[0].text)
        oai.close()
        claude.close()


if __name__ == "__main__":
    main()
