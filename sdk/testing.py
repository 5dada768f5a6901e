"""A local OpenAI/Anthropic wire-format server for tests: real HTTP, real SDK clients.

Mocking an SDK's methods tests the mock; this server answers on 127.0.0.1 in the wire formats
the official ``openai`` and ``anthropic`` clients parse, so a test exercises the client, its
HTTP stack, SSE parsing and error mapping exactly as in production, with no network and no key::

    from otelytics.testing import FakeLLMServer, Reply, ToolCall, ErrorReply

    with FakeLLMServer() as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0)
        server.script(Reply(text="Paris", input_tokens=12, output_tokens=3,
                            cache_read_tokens=8))
        out = client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        assert out.usage.prompt_tokens_details.cached_tokens == 8
        assert server.requests[-1].body["model"] == "gpt-4o-mini"

Endpoints (matched on the path's ending, so Azure-style deployment URLs work too):
``/chat/completions``, ``/responses``, ``/embeddings`` (OpenAI) and ``/messages``,
``/messages/count_tokens`` (Anthropic), each as JSON or, with ``"stream": true``, as SSE sent
chunk by chunk with chunked transfer encoding (so a dropped connection is an error, as in real
life). Unscripted requests get :attr:`FakeLLMServer.default`. Everything is deterministic: ids
count up, ``created`` is fixed, embeddings derive from the input text.

Token figures in :class:`Reply` follow the OpenTelemetry GenAI meaning: ``input_tokens``
*includes* cache-read and cache-creation tokens; the server renders them per provider
(OpenAI ``prompt_tokens`` includes ``cached_tokens``; Anthropic ``input_tokens`` excludes
``cache_read_input_tokens`` and ``cache_creation_input_tokens``). ``output_tokens`` includes
``reasoning_tokens``. Unset figures are estimated from the request and reply text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from otelytics.llm.tokens import estimate_messages, estimate_text

__all__ = ["ErrorReply", "FakeLLMServer", "RecordedRequest", "Reply", "ToolCall"]

_CREATED = 1_750_000_000
_OPENAI_FINISH = {"end_turn": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                  "stop_sequence": "stop"}
_ANTHROPIC_FINISH = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                     "content_filter": "refusal"}
_OPENAI_ERROR = {400: ("invalid_request_error", None), 401: ("invalid_request_error",
                 "invalid_api_key"), 403: ("invalid_request_error", None),
                 404: ("invalid_request_error", "model_not_found"),
                 429: ("requests", "rate_limit_exceeded")}
_ANTHROPIC_ERROR = {400: "invalid_request_error", 401: "authentication_error",
                    403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                    429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}
_REASON = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           413: "Payload Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable", 529: "Overloaded"}


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the model asks for: ``name`` with JSON ``arguments``."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    """Call id; default ``call_<n>`` (OpenAI) or ``toolu_<n>`` (Anthropic)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted successful answer (rendered in whichever format the request used)."""

    text: str = "Hello from the fake LLM server."
    tool_calls: Sequence[ToolCall] = ()
    input_tokens: int | None = None
    """Total input tokens, cache included (OTel meaning); default: estimated from the request."""
    output_tokens: int | None = None
    """Output tokens, reasoning included; default: estimated from the text."""
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    """Anthropic only (OpenAI reports no cache writes)."""
    reasoning_tokens: int = 0
    finish_reason: str | None = None
    """Either vocabulary: ``stop``/``length``/``tool_calls`` or ``end_turn``/``max_tokens``/
    ``tool_use``; mapped to the request's format. Default: stop, or tool calls if any."""
    model: str | None = None
    """Response model; default the request's model."""
    chunks: int | None = None
    """Text deltas when streaming (at most ``len(text)``); default one per word."""
    usage: bool = True
    """False: no usage at all (as some OpenAI-compatible servers); Anthropic formats, which
    always report usage, send zeros."""
    delay: float = 0.0
    """Seconds to wait before answering (to test client timeouts)."""
    chunk_delay: float = 0.0
    """Seconds to wait before each streamed event."""
    drop_after: int | None = None
    """Close the connection abruptly after this many SSE events (0: before any response)."""
    stream_error: ErrorReply | None = None
    """Streams only: after ``stream_error_after`` events, send this error *inside* the stream
    (an SSE ``error`` event, as the APIs do when overloaded mid-answer) and end it."""
    stream_error_after: int = 1
    embedding_dimensions: int = 8
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.chunks is not None and not 1 <= self.chunks <= max(1, len(self.text)):
            raise ValueError(f"Reply.chunks must be between 1 and len(text)={len(self.text)}")
        if (self.input_tokens is not None
                and self.input_tokens < self.cache_read_tokens + self.cache_creation_tokens):
            raise ValueError("Reply.input_tokens includes cache_read_tokens and "
                             "cache_creation_tokens, so it cannot be smaller than their sum")
        if self.output_tokens is not None and self.output_tokens < self.reasoning_tokens:
            raise ValueError("Reply.output_tokens includes reasoning_tokens")


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """One scripted failure: an HTTP error status with the provider's error body."""

    status: int
    message: str = "scripted error from the fake LLM server"
    type: str | None = None
    """Wire error type; default the provider's type for ``status``."""
    code: str | None = None
    retry_after: float | None = None
    """Seconds, sent as the ``retry-after`` header (429, 529)."""
    delay: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the server received; ``headers`` keys are lower-case."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any


class _Answer:
    """The usage figures of one reply for one request, resolved once."""

    def __init__(self, reply: Reply, body: Mapping[str, Any], fmt: str) -> None:
        self.reply = reply
        self.model = reply.model or str(body.get("model") or "fake-model")
        cached = reply.cache_read_tokens + reply.cache_creation_tokens
        if reply.input_tokens is not None:
            self.input = reply.input_tokens
        else:
            msgs = body.get("messages", body.get("input", ""))
            self.input = estimate_messages(msgs, system=body.get("system"),
                                           tools=body.get("tools")) + cached
        if reply.output_tokens is not None:
            self.output = reply.output_tokens
        else:
            calls = sum(estimate_text(c.name) + estimate_text(json.dumps(dict(c.arguments))) + 3
                        for c in reply.tool_calls)
            self.output = max(1, estimate_text(reply.text) + calls) + reply.reasoning_tokens
        default = "tool_calls" if reply.tool_calls else "stop"
        finish = reply.finish_reason or default
        if fmt == "anthropic":
            self.finish = _ANTHROPIC_FINISH.get(finish, finish)
        else:
            self.finish = _OPENAI_FINISH.get(finish, finish)

    def pieces(self) -> list[str]:
        text = self.reply.text
        if not text:
            return []
        n = self.reply.chunks
        if n is None:
            words = text.split(" ")
            return [w if i == 0 else " " + w for i, w in enumerate(words)]
        size, extra = divmod(len(text), n)
        out, pos = [], 0
        for i in range(n):
            step = size + (1 if i < extra else 0)
            out.append(text[pos:pos + step])
            pos += step
        return out

    def openai_chat_usage(self) -> dict[str, Any]:
        r = self.reply
        return {"prompt_tokens": self.input, "completion_tokens": self.output,
                "total_tokens": self.input + self.output,
                "prompt_tokens_details": {"cached_tokens": r.cache_read_tokens,
                                          "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": r.reasoning_tokens,
                                              "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0,
                                              "rejected_prediction_tokens": 0}}

    def openai_responses_usage(self) -> dict[str, Any]:
        r = self.reply
        return {"input_tokens": self.input,
                "input_tokens_details": {"cached_tokens": r.cache_read_tokens},
                "output_tokens": self.output,
                "output_tokens_details": {"reasoning_tokens": r.reasoning_tokens},
                "total_tokens": self.input + self.output}

    def anthropic_usage(self) -> dict[str, Any]:
        r = self.reply
        usage: dict[str, Any] = {
            "input_tokens": self.input - r.cache_read_tokens - r.cache_creation_tokens,
            "output_tokens": self.output,
            "cache_creation_input_tokens": r.cache_creation_tokens,
            "cache_read_input_tokens": r.cache_read_tokens,
            "service_tier": "standard"}
        if r.reasoning_tokens:
            usage["output_tokens_details"] = {"thinking_tokens": r.reasoning_tokens}
        return usage


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 resets bursts of concurrent clients

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that dropped its connection (reset, broken pipe) is what tests and
        benchmarks do on purpose: no traceback for it. Any other error is printed as usual."""
        if isinstance(sys.exc_info()[1], _CLIENT_GONE):
            return
        super().handle_error(request, client_address)


_CLIENT_GONE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class _Dropped(Exception):
    """The scripted reply asked to drop the connection."""


class FakeLLMServer:
    """A scriptable OpenAI/Anthropic wire-format HTTP server on 127.0.0.1 (background thread).

    Use as a context manager (or :meth:`start`/:meth:`stop`). :meth:`script` queues replies;
    each request takes the first queued reply whose ``path`` filter matches its path, else
    :attr:`default`. :attr:`requests` records what arrived. Thread-safe.
    """

    def __init__(self, *, default: Reply | None = None) -> None:
        self.default: Reply | ErrorReply = default or Reply()
        self._queue: list[tuple[str | None, Reply | ErrorReply]] = []
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> FakeLLMServer:
        """Bind an ephemeral port on 127.0.0.1 and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        httpd = _Server(("127.0.0.1", 0), handler)
        self._stopping.clear()
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="otelytics-fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; pending delays end at once."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeLLMServer is not running: use it as a context manager")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """``base_url`` for ``openai.OpenAI(base_url=...)``: ``.../v1``."""
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """``base_url`` for ``anthropic.Anthropic(base_url=...)`` (the SDK adds ``/v1``)."""
        return self.base_url

    # --- scripting -----------------------------------------------------------------------
    def script(self, *replies: Reply | ErrorReply, path: str | None = None) -> FakeLLMServer:
        """Queue replies, used once each in order; ``path`` restricts them to requests whose
        path ends with it (``"/messages"``, ``"/chat/completions"``, ...)."""
        for r in replies:
            if not isinstance(r, (Reply, ErrorReply)):
                raise TypeError(f"script() takes Reply or ErrorReply, not {type(r).__name__}")
        with self._lock:
            self._queue.extend((path, r) for r in replies)
        return self

    def reset(self) -> None:
        """Forget queued replies and recorded requests."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Requests received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    # --- internals -----------------------------------------------------------------------
    def _take(self, path: str) -> Reply | ErrorReply:
        with self._lock:
            for i, (flt, reply) in enumerate(self._queue):
                if flt is None or path.endswith(flt):
                    del self._queue[i]
                    return reply
        return self.default

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(req)

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeLLMServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # --- plumbing ------------------------------------------------------------------------
    def _head(self, status: int, headers: Mapping[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASON.get(status, 'OK' if status < 400 else 'Error')}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send_json(self, status: int, payload: Any, headers: Mapping[str, str] = ()) -> None:
        body = json.dumps(payload).encode()
        rid = f"req_fake{self.fake._next_id():06d}"
        head = {"Content-Type": "application/json", "Content-Length": str(len(body)),
                "x-request-id": rid, "request-id": rid, **dict(headers)}
        self.wfile.write(self._head(status, head) + body)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _Dropped

    def _stream(self, events: list[tuple[str | None, Any]], reply: Reply) -> None:
        rid = f"req_fake{self.fake._next_id():06d}"
        head = {"Content-Type": "text/event-stream; charset=utf-8",
                "Transfer-Encoding": "chunked", "Cache-Control": "no-cache",
                "x-request-id": rid, "request-id": rid, **dict(reply.headers)}
        self.wfile.write(self._head(200, head))
        if reply.stream_error is not None:
            at = max(0, reply.stream_error_after)
            events = [*events[:at], self._stream_error(reply.stream_error)]
        for i, (name, data) in enumerate(events):
            if reply.drop_after is not None and i >= reply.drop_after:
                self._drop()
            self.fake._sleep(reply.chunk_delay)
            text = data if isinstance(data, str) else json.dumps(data)
            frame = (f"event: {name}\n" if name else "") + f"data: {text}\n\n"
            raw = frame.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
        self.wfile.write(b"0\r\n\r\n")

    def _stream_error(self, err: ErrorReply) -> tuple[str | None, Any]:
        if "/messages" in self.path:
            etype = err.type or _ANTHROPIC_ERROR.get(err.status, "api_error")
            return ("error", {"type": "error", "error": {"type": etype, "message": err.message}})
        etype, code = _OPENAI_ERROR.get(err.status, ("server_error", None))
        return (None, {"error": {"message": err.message, "type": err.type or etype,
                                 "param": None, "code": err.code or code}})

    # --- dispatch ------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._send_json(404, {"error": {"message": f"no GET route {self.path}",
                                        "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        try:
            self._post()
        except _Dropped:
            pass
        except _CLIENT_GONE:  # client went away mid-stream
            self.close_connection = True

    def _post(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        fmt = "anthropic" if "/messages" in path else "openai"
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        self.fake._record(RecordedRequest(
            "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if not isinstance(body, dict):
            self._error(ErrorReply(400, "request body is not a JSON object"), fmt)
            return
        if path.endswith("/messages/count_tokens"):
            self._send_json(200, {"input_tokens": estimate_messages(
                body.get("messages", []), system=body.get("system"), tools=body.get("tools"))})
            return
        route = next((r for r in _ROUTES if path.endswith(r)), None)
        if route is None:
            self._error(ErrorReply(404, f"no route for {path}"), fmt)
            return
        reply = self.fake._take(path)
        self.fake._sleep(reply.delay)
        if isinstance(reply, ErrorReply):
            self._error(reply, fmt)
            return
        if reply.drop_after == 0:
            self._drop()
        _ROUTES[route](self, body, _Answer(reply, body, fmt))

    def _error(self, err: ErrorReply, fmt: str) -> None:
        headers = dict(err.headers)
        if err.retry_after is not None:
            headers["retry-after"] = f"{err.retry_after:g}"
        if fmt == "anthropic":
            etype = err.type or _ANTHROPIC_ERROR.get(err.status, "api_error")
            payload = {"type": "error", "error": {"type": etype, "message": err.message},
                       "request_id": f"req_fake{self.fake._next_id():06d}"}
        else:
            etype, code = _OPENAI_ERROR.get(err.status, ("server_error", None))
            payload = {"error": {"message": err.message, "type": err.type or etype,
                                 "param": None, "code": err.code or code}}
        self._send_json(err.status, payload, headers)

    # --- OpenAI chat completions ---------------------------------------------------------
    def _chat(self, body: Mapping[str, Any], a: _Answer) -> None:
        r = a.reply
        cid = f"chatcmpl-fake{self.fake._next_id():06d}"
        base = {"id": cid, "created": _CREATED, "model": a.model,
                "system_fingerprint": "fp_fake", "service_tier": "default"}
        calls = [(c.id or f"call_fake{self.fake._next_id():06d}", c) for c in r.tool_calls]
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant",
                                       "content": r.text if r.text or not calls else None,
                                       "refusal": None, "annotations": []}
            if calls:
                message["tool_calls"] = [
                    {"id": cid_, "type": "function",
                     "function": {"name": c.name, "arguments": json.dumps(dict(c.arguments))}}
                    for cid_, c in calls]
            out = {**base, "object": "chat.completion",
                   "choices": [{"index": 0, "message": message, "logprobs": None,
                                "finish_reason": a.finish}]}
            if r.usage:
                out["usage"] = a.openai_chat_usage()
            self._send_json(200, out, r.headers)
            return
        with_usage = bool((body.get("stream_options") or {}).get("include_usage")) and r.usage
        chunk = {**base, "object": "chat.completion.chunk"}

        def ev(delta: dict[str, Any], finish: str | None = None) -> tuple[None, Any]:
            c = {**chunk, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                       "finish_reason": finish}]}
            if with_usage:
                c["usage"] = None
            return (None, c)

        events = [ev({"role": "assistant", "content": "", "refusal": None})]
        events += [ev({"content": p}) for p in a.pieces()]
        for i, (call_id, c) in enumerate(calls):
            args = json.dumps(dict(c.arguments))
            events.append(ev({"tool_calls": [{"index": i, "id": call_id, "type": "function",
                                              "function": {"name": c.name, "arguments": ""}}]}))
            half = len(args) // 2
            for part in (args[:half], args[half:]):
                if part:
                    events.append(ev({"tool_calls": [{"index": i,
                                                      "function": {"arguments": part}}]}))
        events.append(ev({}, a.finish))
        if with_usage:
            events.append((None, {**chunk, "choices": [], "usage": a.openai_chat_usage()}))
        events.append((None, "[DONE]"))
        self._stream(events, r)

    # --- OpenAI responses ----------------------------------------------------------------
    def _responses(self, body: Mapping[str, Any], a: _Answer) -> None:
        r = a.reply
        rid = f"resp_fake{self.fake._next_id():06d}"
        mid = f"msg_fake{self.fake._next_id():06d}"
        incomplete = a.finish == "length"
        items: list[dict[str, Any]] = []
        if r.text or not r.tool_calls:
            items.append({"type": "message", "id": mid, "status": "completed",
                          "role": "assistant",
                          "content": [{"type": "output_text", "text": r.text,
                                       "annotations": [], "logprobs": []}]})
        for c in r.tool_calls:
            n = self.fake._next_id()
            items.append({"type": "function_call", "id": f"fc_fake{n:06d}",
                          "call_id": c.id or f"call_fake{n:06d}", "name": c.name,
                          "arguments": json.dumps(dict(c.arguments)), "status": "completed"})
        resp = {"id": rid, "object": "response", "created_at": _CREATED,
                "status": "incomplete" if incomplete else "completed",
                "model": a.model, "output": items, "error": None,
                "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
                "instructions": body.get("instructions"), "metadata": {},
                "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
                "temperature": body.get("temperature"), "top_p": body.get("top_p"),
                "max_output_tokens": body.get("max_output_tokens"),
                "previous_response_id": None, "reasoning": {"effort": None, "summary": None},
                "text": {"format": {"type": "text"}}, "truncation": "disabled",
                "usage": a.openai_responses_usage() if r.usage else None, "store": True}
        if not body.get("stream"):
            self._send_json(200, resp, r.headers)
            return
        seq = iter(range(1 << 30))
        events: list[tuple[str | None, Any]] = []

        def ev(kind: str, **data: Any) -> None:
            events.append((kind, {"type": kind, "sequence_number": next(seq), **data}))

        start = {**resp, "status": "in_progress", "output": [], "usage": None,
                 "incomplete_details": None}
        ev("response.created", response=start)
        ev("response.in_progress", response=start)
        for idx, item in enumerate(items):
            if item["type"] == "message":
                text = item["content"][0]["text"]
                ev("response.output_item.added", output_index=idx,
                   item={**item, "status": "in_progress", "content": []})
                empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                ev("response.content_part.added", item_id=mid, output_index=idx,
                   content_index=0, part=empty)
                for p in a.pieces():
                    ev("response.output_text.delta", item_id=mid, output_index=idx,
                       content_index=0, delta=p, logprobs=[])
                ev("response.output_text.done", item_id=mid, output_index=idx,
                   content_index=0, text=text, logprobs=[])
                ev("response.content_part.done", item_id=mid, output_index=idx,
                   content_index=0, part=item["content"][0])
            else:
                ev("response.output_item.added", output_index=idx,
                   item={**item, "status": "in_progress", "arguments": ""})
                ev("response.function_call_arguments.delta", item_id=item["id"],
                   output_index=idx, delta=item["arguments"])
                ev("response.function_call_arguments.done", item_id=item["id"],
                   output_index=idx, name=item["name"], arguments=item["arguments"])
            ev("response.output_item.done", output_index=idx, item=item)
        ev("response.incomplete" if incomplete else "response.completed", response=resp)
        self._stream(events, r)

    # --- OpenAI embeddings ---------------------------------------------------------------
    def _embeddings(self, body: Mapping[str, Any], a: _Answer) -> None:
        r = a.reply
        inputs = body.get("input", "")
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs
                                       and isinstance(inputs[0], int)):
            inputs = [inputs]
        dims = int(body.get("dimensions") or r.embedding_dimensions)
        data = []
        for i, item in enumerate(inputs):
            vec = _vector(json.dumps(item), dims)
            if body.get("encoding_format") == "base64":
                emb: Any = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode()
            else:
                emb = vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = r.input_tokens if r.input_tokens is not None else sum(
            len(x) if isinstance(x, list) else estimate_text(str(x)) for x in inputs)
        out: dict[str, Any] = {"object": "list", "data": data, "model": a.model}
        if r.usage:
            out["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
        self._send_json(200, out, r.headers)

    # --- Anthropic messages --------------------------------------------------------------
    def _messages(self, body: Mapping[str, Any], a: _Answer) -> None:
        r = a.reply
        msg_id = f"msg_fake{self.fake._next_id():06d}"
        blocks: list[dict[str, Any]] = []
        if r.text or not r.tool_calls:
            blocks.append({"type": "text", "text": r.text})
        for c in r.tool_calls:
            tid = c.id or f"toolu_fake{self.fake._next_id():06d}"
            blocks.append({"type": "tool_use", "id": tid, "name": c.name,
                           "input": dict(c.arguments)})
        message = {"id": msg_id, "type": "message", "role": "assistant", "model": a.model,
                   "content": blocks, "stop_reason": a.finish, "stop_sequence": None,
                   "usage": a.anthropic_usage() if r.usage else
                   {"input_tokens": 0, "output_tokens": 0}}
        if not body.get("stream"):
            self._send_json(200, message, r.headers)
            return
        usage = a.anthropic_usage()
        events: list[tuple[str | None, Any]] = [("message_start", {
            "type": "message_start",
            "message": {**message, "content": [], "stop_reason": None,
                        "usage": {**usage, "output_tokens": 1} if r.usage else
                        {"input_tokens": 0, "output_tokens": 0}}})]
        for idx, block in enumerate(blocks):
            if block["type"] == "text":
                events.append(("content_block_start", {"type": "content_block_start",
                               "index": idx, "content_block": {"type": "text", "text": ""}}))
                if idx == 0:
                    events.append(("ping", {"type": "ping"}))
                events += [("content_block_delta", {"type": "content_block_delta", "index": idx,
                            "delta": {"type": "text_delta", "text": p}}) for p in a.pieces()]
            else:
                events.append(("content_block_start", {"type": "content_block_start",
                               "index": idx, "content_block": {**block, "input": {}}}))
                args = json.dumps(block["input"])
                half = len(args) // 2
                events += [("content_block_delta", {"type": "content_block_delta", "index": idx,
                            "delta": {"type": "input_json_delta", "partial_json": part}})
                           for part in (args[:half], args[half:]) if part]
            events.append(("content_block_stop", {"type": "content_block_stop", "index": idx}))
        delta_usage = usage if r.usage else {"output_tokens": 0}
        events.append(("message_delta", {"type": "message_delta",
                       "delta": {"stop_reason": a.finish, "stop_sequence": None},
                       "usage": delta_usage}))
        events.append(("message_stop", {"type": "message_stop"}))
        self._stream(events, r)


def _vector(seed: str, dims: int) -> list[float]:
    """A deterministic unit-ish vector derived from the input text."""
    out: list[float] = []
    counter = 0
    while len(out) < dims:
        digest = hashlib.sha256(f"{counter}:{seed}".encode()).digest()
        out += [(b - 127.5) / 127.5 for b in digest]
        counter += 1
    return [round(x, 6) for x in out[:dims]]


_ROUTES = {"/chat/completions": _Handler._chat, "/responses": _Handler._responses,
           "/embeddings": _Handler._embeddings, "/messages": _Handler._messages}
