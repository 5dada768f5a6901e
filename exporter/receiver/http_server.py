"""OTLP/HTTP front end: ``POST /v1/{traces,metrics,logs}``, ``GET /health``, ``GET /metrics``.

A threading ``http.server`` (HTTP/1.1 keep-alive, one thread per connection, a cap on
connections) whose handlers only do protocol work -- auth, content type, size limits, gzip with
a decompression cap -- and hand the body to :meth:`Receiver.ingest`. Status codes follow the
OTLP spec: 200 (+ partial success), 400 bad data, 401 token, 404 path, 405 method, 411 no
length (and not chunked), 413 too large, 415 content type/encoding, 429/503 + ``Retry-After``
under pressure. Bodies come with ``Content-Length`` or ``Transfer-Encoding: chunked``; a
chunked body is refused with 413 as soon as its chunks pass the size limit.
Error bodies are ``google.rpc.Status`` in the request's encoding.
"""

from __future__ import annotations

import hmac
import json
import logging
import ssl
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2

from otelytics.exporter.receiver.config import HTTP_PATHS
from otelytics.exporter.receiver.otlp_json import JsonError, parse_json
from otelytics.exporter.receiver.service import Receiver, Refusal
from otelytics.semconv import metrics as M

__all__ = ["HttpFrontEnd"]

_log = logging.getLogger(__name__)

_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_PATH_SIGNAL = {path: signal for signal, path in
                (("spans", HTTP_PATHS["traces"]), ("metrics", HTTP_PATHS["metrics"]),
                 ("logs", HTTP_PATHS["logs"]))}
_REFUSAL_STATUS = {"bad_data": (400, code_pb2.INVALID_ARGUMENT),
                   "throttled": (429, code_pb2.RESOURCE_EXHAUSTED),
                   "unavailable": (503, code_pb2.UNAVAILABLE)}
_READ_CHUNK = 1 << 20
_MAX_CHUNK_LINE = 1024  # a chunk-size line (hex size + extensions) or a trailer line


class _BadChunk(Exception):
    """Malformed ``Transfer-Encoding: chunked`` framing."""


class _TooLarge(Exception):
    pass


def gunzip_capped(data: bytes, limit: int) -> bytes:
    """Decompress gzip without ever holding more than ``limit + 1`` output bytes (bomb-safe)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data, limit + 1)
    if len(out) > limit or d.unconsumed_tail:
        raise _TooLarge(f"decompressed body exceeds {limit} bytes")
    out += d.flush()
    if len(out) > limit:
        raise _TooLarge(f"decompressed body exceeds {limit} bytes")
    if not d.eof:
        raise zlib.error("truncated gzip stream")
    return out


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], handler: type, receiver: Receiver,
                 tls: ssl.SSLContext | None, max_connections: int) -> None:
        self.receiver = receiver
        self.tls = tls
        self._connections = threading.BoundedSemaphore(max_connections)
        super().__init__(addr, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._connections.acquire(blocking=False):  # connection flood: drop cheaply
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            if self.tls is not None:
                request.settimeout(self.receiver.config.read_timeout_s)
                try:
                    request = self.tls.wrap_socket(request, server_side=True)
                except (OSError, ssl.SSLError):
                    self.shutdown_request(request)
                    return
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("connection from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "otelytics-serve"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        self.timeout = self.server.receiver.config.read_timeout_s
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s " + format, self.address_string(), *args)

    # --- answers --------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: int, message: str, *, json_body: bool = False,
               retry_after: int = 0, close: bool = False, signal: str | None = None,
               headers: dict[str, str] | None = None) -> None:
        if close:
            self.close_connection = True
        if signal is not None:
            self.server.receiver.stats.add(M.OTELYTICS_RECEIVER_REQUESTS_REFUSED.name, signal)
        st = status_pb2.Status(code=code, message=message)
        extra = dict(headers or {})
        if retry_after:
            extra["Retry-After"] = str(retry_after)
        if json_body:
            self._send(status, json_format.MessageToJson(st, indent=None).encode(), _JSON, extra)
        else:
            self._send(status, st.SerializeToString(), _PROTOBUF, extra)

    # --- methods --------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        rec = self.server.receiver
        if path == "/health":
            ok = not rec.draining and rec.spool.healthy
            body = {"status": "ok" if ok else ("draining" if rec.draining else "spool failed"),
                    "spool_backlog_bytes": rec.spool.backlog_bytes}
            self._send(200 if ok else 503, json.dumps(body).encode(), _JSON)
        elif path == "/metrics":
            if not self._authorized():
                return
            self._send(200, json.dumps(rec.snapshot(), indent=1).encode(), _JSON)
        elif path in _PATH_SIGNAL:
            self._error(405, code_pb2.UNIMPLEMENTED, "use POST", headers={"Allow": "POST"},
                        close=True)
        else:
            self._error(404, code_pb2.NOT_FOUND, f"no such path {path}", close=True)

    def _other(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in _PATH_SIGNAL:
            self._error(405, code_pb2.UNIMPLEMENTED, f"{self.command} not allowed; use POST",
                        headers={"Allow": "POST"}, close=True)
        elif path in ("/health", "/metrics"):
            self._error(405, code_pb2.UNIMPLEMENTED, f"{self.command} not allowed; use GET",
                        headers={"Allow": "GET"}, close=True)
        else:
            self._error(404, code_pb2.NOT_FOUND, f"no such path {path}", close=True)

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _other

    def _authorized(self, json_body: bool = False, signal: str | None = None) -> bool:
        token = self.server.receiver.config.token
        if not token:
            return True
        got = self.headers.get("Authorization", "")
        scheme, _, value = got.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                              token.encode()):
            return True
        self._error(401, code_pb2.UNAUTHENTICATED, "missing or wrong bearer token",
                    json_body=json_body, close=True, signal=signal,
                    headers={"WWW-Authenticate": 'Bearer realm="otelytics"'})
        return False

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        signal = _PATH_SIGNAL.get(path)
        if signal is None:
            self._other()
            return
        ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        is_json = ctype == _JSON
        if not self._authorized(is_json, signal):
            return
        if ctype not in (_PROTOBUF, _JSON):
            self._error(415, code_pb2.INVALID_ARGUMENT,
                        f"unsupported content type {ctype!r}; use {_PROTOBUF} or {_JSON}",
                        close=True, signal=signal)
            return
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding not in ("identity", "gzip"):
            self._error(415, code_pb2.INVALID_ARGUMENT,
                        f"unsupported content encoding {encoding!r}; use gzip or none",
                        json_body=is_json, close=True, signal=signal)
            return
        limit = self.server.receiver.config.max_request_bytes
        length_header = self.headers.get("Content-Length")
        transfer = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        if transfer:
            if transfer != "chunked":
                self._error(501, code_pb2.UNIMPLEMENTED,
                            f"unsupported transfer encoding {transfer!r}; use chunked",
                            json_body=is_json, close=True, signal=signal)
                return
            length_header = None  # RFC 9112 6.3: chunked wins over Content-Length
        elif length_header is None:
            self._error(411, code_pb2.INVALID_ARGUMENT,
                        "Content-Length or Transfer-Encoding: chunked is required",
                        json_body=is_json, close=True, signal=signal)
            return
        length = -1  # chunked
        if length_header is not None:
            try:
                length = int(length_header)
                if length < 0:
                    raise ValueError
            except ValueError:
                self._error(400, code_pb2.INVALID_ARGUMENT, "bad Content-Length",
                            json_body=is_json, close=True, signal=signal)
                return
            if length > limit:
                self._error(413, code_pb2.INVALID_ARGUMENT,
                            f"body of {length} bytes exceeds the limit of {limit}",
                            json_body=is_json, close=True, signal=signal)
                return
        rec = self.server.receiver
        if not rec.inflight.acquire(blocking=False):
            self._error(429, code_pb2.RESOURCE_EXHAUSTED, "too many concurrent requests",
                        json_body=is_json, retry_after=1, close=True, signal=signal)
            return
        try:
            self._ingest(rec, signal, length, encoding, is_json, limit)
        finally:
            rec.inflight.release()

    def _read_body(self, length: int, limit: int) -> bytes | None:
        """The body (``length`` -1: chunked); None when the client went away mid-body.

        Raises TimeoutError past the read timeout, ``_TooLarge`` when chunks pass ``limit``,
        ``_BadChunk`` for malformed chunked framing.
        """
        deadline = time.monotonic() + self.server.receiver.config.read_timeout_s
        if length >= 0:
            return self._read_exactly(length, deadline)
        parts: list[bytes] = []
        total = 0
        while True:
            line = self._read_line(deadline)
            if line is None:
                return None
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadChunk(f"bad chunk size line {line[:40]!r}") from None
            if size < 0:
                raise _BadChunk("negative chunk size")
            if size == 0:
                break
            total += size
            if total > limit:
                raise _TooLarge(f"chunked body exceeds the limit of {limit} bytes")
            data = self._read_exactly(size, deadline)
            end = self._read_line(deadline)
            if data is None or end is None:
                return None
            if end.strip():
                raise _BadChunk("chunk data longer than its size")
            parts.append(data)
        while True:  # trailer fields, up to the empty line
            line = self._read_line(deadline)
            if line is None:
                return None
            if not line.strip():
                return b"".join(parts)

    def _read_exactly(self, length: int, deadline: float) -> bytes | None:
        parts = []
        left = length
        while left:
            if time.monotonic() > deadline:
                raise TimeoutError("body not received in time")
            chunk = self.rfile.read1(min(left, _READ_CHUNK))
            if not chunk:
                return None
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def _read_line(self, deadline: float) -> bytes | None:
        if time.monotonic() > deadline:
            raise TimeoutError("body not received in time")
        line = self.rfile.readline(_MAX_CHUNK_LINE + 1)
        if not line:
            return None
        if len(line) > _MAX_CHUNK_LINE or not line.endswith(b"\n"):
            raise _BadChunk("chunk size or trailer line too long or cut")
        return line

    def _ingest(self, rec: Receiver, signal: str, length: int, encoding: str, is_json: bool,
                limit: int) -> None:
        try:
            body = self._read_body(length, limit)
        except TimeoutError:
            self._error(408, code_pb2.DEADLINE_EXCEEDED, "request body timed out",
                        json_body=is_json, close=True, signal=signal)
            return
        except _TooLarge as exc:
            self._error(413, code_pb2.INVALID_ARGUMENT, str(exc), json_body=is_json,
                        close=True, signal=signal)
            return
        except _BadChunk as exc:
            self._error(400, code_pb2.INVALID_ARGUMENT, f"bad chunked body: {exc}",
                        json_body=is_json, close=True, signal=signal)
            return
        if body is None:  # client went away mid-body: nothing to answer
            self.close_connection = True
            rec.stats.add(M.OTELYTICS_RECEIVER_REQUESTS_REFUSED.name, signal)
            return
        if encoding == "gzip":
            try:
                body = gunzip_capped(body, limit)
            except _TooLarge as exc:
                self._error(413, code_pb2.INVALID_ARGUMENT, str(exc), json_body=is_json,
                            signal=signal)
                return
            except zlib.error as exc:
                self._error(400, code_pb2.INVALID_ARGUMENT, f"bad gzip body: {exc}",
                            json_body=is_json, signal=signal)
                return
        try:
            if is_json:
                try:
                    request = parse_json(signal, body)
                except JsonError as exc:
                    raise Refusal("bad_data", str(exc)) from None
                response = rec.ingest_parsed(signal, request)
            else:
                response = rec.ingest(signal, body)
        except Refusal as r:
            status, code = _REFUSAL_STATUS[r.kind]
            self._error(status, code, r.message, json_body=is_json,
                        retry_after=r.retry_after_s)
            return
        if is_json:
            self._send(200, json_format.MessageToJson(response, indent=None).encode(), _JSON)
        else:
            self._send(200, response.SerializeToString(), _PROTOBUF)


class HttpFrontEnd:
    """The HTTP server bound to ``host:port`` (port 0 picks one), served on its own thread."""

    def __init__(self, receiver: Receiver, host: str, port: int,
                 tls: ssl.SSLContext | None = None, max_connections: int = 256) -> None:
        self.server = _Server((host, port), _Handler, receiver, tls, max_connections)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name="otelytics-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting; requests already being handled finish on their own threads."""
        self.server.shutdown()
        self.server.server_close()
