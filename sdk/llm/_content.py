"""Prompt and completion content on the span, only when the user asked for it.

Off by default (privacy); ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` turns it on.
Messages are written in the GenAI semconv shape (``[{"role", "parts": [...]}]``) as JSON
strings, each attribute cut to ``OTELYTICS_MAX_CONTENT_LENGTH`` characters.
"""

from __future__ import annotations

import json
from typing import Any

from otelytics.semconv import attributes as a

__all__ = ["add_content"]


def _plain(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        return dump(mode="json", exclude_none=True)
    if isinstance(obj, (list, tuple)):
        return [_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    return obj


def _parts(content: Any) -> list[dict[str, Any]]:
    content = _plain(content)
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts = []
    if isinstance(content, list):
        for p in content:
            if isinstance(p, dict) and p.get("type") in ("text", "input_text", "output_text"):
                parts.append({"type": "text", "content": p.get("text", "")})
            elif isinstance(p, str):
                parts.append({"type": "text", "content": p})
            else:
                parts.append({"type": str(p.get("type", "unknown")) if isinstance(p, dict)
                              else "unknown", "content": p})
        return parts
    return [{"type": "text", "content": content}]


def input_messages(messages: Any) -> list[dict[str, Any]]:
    """Request messages (chat ``messages``, responses ``input``, embeddings input)."""
    messages = _plain(messages)
    if isinstance(messages, str):
        return [{"role": "user", "parts": [{"type": "text", "content": messages}]}]
    out = []
    for msg in messages if isinstance(messages, list) else [messages]:
        if isinstance(msg, dict):
            parts = _parts(msg.get("content"))
            for tc in msg.get("tool_calls") or ():
                fn = tc.get("function") or {}
                parts.append({"type": "tool_call", "id": tc.get("id"), "name": fn.get("name"),
                              "arguments": fn.get("arguments")})
            if msg.get("role") == "tool":
                parts = [{"type": "tool_call_response", "id": msg.get("tool_call_id"),
                          "response": msg.get("content")}]
            out.append({"role": msg.get("role", "user"), "parts": parts})
        else:
            out.append({"role": "user", "parts": _parts(msg)})
    return out


def _shorten(value: Any, keep: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= keep else value[:keep] + "…"
    if isinstance(value, list):
        return [_shorten(v, keep) for v in value]
    if isinstance(value, dict):
        return {k: _shorten(v, keep) for k, v in value.items()}
    return value


def _cut(value: Any, limit: int) -> str:
    """JSON of ``value`` in at most ``limit`` characters, still valid JSON when possible:
    long strings are shortened (ending in "…") before anything is cut."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    keep = limit
    while len(text) > limit and keep > 8:
        keep //= 2
        text = json.dumps(_shorten(value, keep), ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit]


def add_content(attrs: dict[str, Any], inv: Any, limit: int) -> None:
    """Add ``gen_ai.input.messages`` / ``output.messages`` / ``system_instructions``."""
    if inv.content is not None:
        attrs[a.GEN_AI_INPUT_MESSAGES] = _cut(input_messages(inv.content), limit)
    if inv.system is not None:
        attrs[a.GEN_AI_SYSTEM_INSTRUCTIONS] = _cut(_parts(inv.system), limit)
    output = inv.output_messages
    if output is None and inv.output_parts is not None:
        output = [{"role": "assistant", "parts": [
            {"type": "text", "content": "".join(inv.output_parts)}]}]
    if output is not None:
        if inv.finish_reasons and output and isinstance(output[0], dict):
            output[0].setdefault("finish_reason", inv.finish_reasons[0])
        attrs[a.GEN_AI_OUTPUT_MESSAGES] = _cut(output, limit)
