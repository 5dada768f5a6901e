"""Local token estimates, with no network and no tokenizer files.

Used when a provider reports no usage (an OpenAI-compatible server without usage, a stream the
caller abandoned before the usage chunk): an estimate marked ``otelytics.usage.estimated=true``
beats a call with no tokens and no cost.

Method: the text is split the way byte-pair tokenizers pre-split it (letter runs with their
leading space, digit groups of up to three, punctuation runs, whitespace runs) and each piece
costs what such tokenizers typically give it: a common-length word one token, a long one one per
four letters, accented letters a little more, other alphabets one per three letters, CJK about
one per character, punctuation one per three characters. The constants were fitted to the mean
of o200k_base and cl100k_base counts; ``docs/llm.md`` ("Token estimates") has the measured
error on samples that were not used for fitting.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["estimate_messages", "estimate_text"]

# letters (with an optional leading space), digit groups, punctuation runs, whitespace runs
_PIECES = re.compile(r" ?[^\W\d_]+| ?\d{1,3}| ?[^\w\s]+|\s+|_+", re.UNICODE)
# Fitted to o200k_base and cl100k_base counts (their mean) of English prose, Markdown, Python,
# JSON, logs and six other languages; see docs/llm.md, "Token estimates".
_SHORT_WORD = 10          # an ASCII word up to this many letters is one token
_CHARS_PER_TOKEN = 4.0    # a longer one: one token per four letters
_DIACRITIC = 0.5          # each accented letter of a Latin word costs half a token more
_CHARS_PER_TOKEN_ALPHA = 3.0  # Cyrillic, Greek, Arabic, Hebrew, ... words
_CJK_PER_CHAR = 0.9       # Chinese, Japanese, Korean: about one token per character
_PUNCT_PER_TOKEN = 3.0    # punctuation runs: up to three characters per token

_PER_MESSAGE = 3   # role and separators around each message (OpenAI's published overhead)
_PER_NAME = 1
_REPLY_PRIMING = 3
_PER_TOOL = 8      # function wrapper around each tool schema
_IMAGE = 85        # a low-detail image; a fixed guess, images are rarely estimated


def _piece_tokens(piece: str) -> float:
    word = piece.lstrip(" ")
    if not word:
        return 1.0  # a run of spaces
    first = word[0]
    if first.isspace():
        return 1.0  # newlines and indentation merge into one token
    if first.isdigit():
        return 1.0  # digit groups of up to three
    n = len(word)
    if first.isalpha():
        if word.isascii():
            return 1.0 if n <= _SHORT_WORD else n / _CHARS_PER_TOKEN
        top = ord(max(word))
        if top < 0x250:  # Latin with diacritics
            base = 1.0 if n <= _SHORT_WORD else n / _CHARS_PER_TOKEN
            return base + _DIACRITIC * sum(1 for ch in word if ord(ch) > 127)
        if top < 0x3040:  # other alphabets
            return max(1.0, n / _CHARS_PER_TOKEN_ALPHA)
        return n * _CJK_PER_CHAR
    return float(math.ceil(n / _PUNCT_PER_TOKEN))


def estimate_text(text: str) -> int:
    """Estimated number of tokens in ``text`` (0 for an empty string); never raises."""
    if not text:
        return 0
    try:
        return max(1, round(sum(_piece_tokens(p) for p in _PIECES.findall(str(text)))))
    except Exception:  # never hurt the caller: fall back to the plain ratio
        return math.ceil(len(str(text)) / _CHARS_PER_TOKEN)


def _content_tokens(content: Any) -> int:
    """Tokens of a message ``content``: a string, or a list of OpenAI/Anthropic parts."""
    if content is None:
        return 0
    if isinstance(content, str):
        return estimate_text(content)
    if isinstance(content, Mapping):
        return _part_tokens(content)
    if isinstance(content, Iterable):
        return sum(_content_tokens(p) for p in content)
    return estimate_text(str(content))


def _part_tokens(part: Mapping[str, Any]) -> int:
    kind = part.get("type")
    if kind in ("image_url", "image", "input_image"):
        return _IMAGE
    if kind == "tool_use":  # Anthropic: the model's call, name + JSON input
        return estimate_text(str(part.get("name", ""))) + _json_tokens(part.get("input", {}))
    if kind == "tool_result":
        return _content_tokens(part.get("content")) + 2
    for key in ("text", "input_text", "output_text", "content", "thinking"):
        value = part.get(key)
        if isinstance(value, str):
            return estimate_text(value)
    return _json_tokens(part)


def _json_tokens(value: Any) -> int:
    try:
        return estimate_text(json.dumps(value, separators=(",", ":"), default=str))
    except Exception:
        return estimate_text(str(value))


def _message_tokens(message: Any) -> int:
    if not isinstance(message, Mapping):  # SDK model objects
        dump = getattr(message, "model_dump", None)
        message = dump() if callable(dump) else {"content": str(message)}
    total = _PER_MESSAGE + _content_tokens(message.get("content"))
    if message.get("name"):
        total += _PER_NAME + estimate_text(str(message["name"]))
    for call in message.get("tool_calls") or ():  # OpenAI assistant tool calls
        fn = call.get("function", {}) if isinstance(call, Mapping) else {}
        total += 3 + estimate_text(str(fn.get("name", ""))) + estimate_text(
            str(fn.get("arguments", "")))
    return total


def estimate_messages(messages: Iterable[Any], *, system: Any = None,
                      tools: Iterable[Any] | None = None) -> int:
    """Estimated input tokens of a chat request, OpenAI or Anthropic shape; never raises.

    ``messages``: dicts with ``role`` and ``content`` (a string or a list of parts: ``text``,
    ``image_url``/``image``, ``tool_use``, ``tool_result``), OpenAI ``tool_calls`` and ``name``.
    ``system``: Anthropic's top-level system prompt (string or text blocks). ``tools``: tool
    schemas in either shape, counted from their JSON.
    """
    try:
        total = _REPLY_PRIMING
        if system:
            total += _PER_MESSAGE + _content_tokens(system)
        if isinstance(messages, Mapping):  # one message on its own
            messages = [messages]
        if isinstance(messages, str):
            total += _PER_MESSAGE + estimate_text(messages)
        else:
            total += sum(_message_tokens(m) for m in messages or ())
        for tool in tools or ():
            total += _PER_TOOL + _json_tokens(tool)
        return total
    except Exception:
        return _json_tokens(messages) if messages is not None else 0
