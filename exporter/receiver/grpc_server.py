"""OTLP/gRPC front end: the three ``Export`` services, taking the request bytes undecoded.

The methods are registered through a generic handler with no request deserializer, so the
handler receives the (already gunzipped by grpcio) message bytes and goes through the same
:meth:`Receiver.ingest` as HTTP -- one parse, and the bytes that are spooled are the bytes that
arrived. Refusals map to INVALID_ARGUMENT, RESOURCE_EXHAUSTED and UNAVAILABLE; throttling carries
a ``google.rpc.RetryInfo`` trailer (the key the OTLP exporters read) with the delay.
"""

from __future__ import annotations

import hmac
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from otelytics.exporter.receiver.service import Receiver, Refusal
from otelytics.semconv import metrics as M

__all__ = ["GrpcFrontEnd"]

_SERVICES = {
    "spans": "opentelemetry.proto.collector.trace.v1.TraceService",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}
_CODES = {"bad_data": grpc.StatusCode.INVALID_ARGUMENT,
          "throttled": grpc.StatusCode.RESOURCE_EXHAUSTED,
          "unavailable": grpc.StatusCode.UNAVAILABLE}


def _abort(context: Any, code: grpc.StatusCode, message: str, retry_after_s: int = 0) -> None:
    if retry_after_s:
        info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=retry_after_s))
        detail = any_pb2.Any()
        detail.Pack(info)
        status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
        context.set_trailing_metadata((
            ("google.rpc.retryinfo-bin", info.SerializeToString()),
            ("grpc-status-details-bin", status.SerializeToString()),
        ))
    context.abort(code, message)


def _export(receiver: Receiver, signal: str) -> Any:
    token = receiver.config.token
    refused = M.OTELYTICS_RECEIVER_REQUESTS_REFUSED.name

    def export(payload: bytes, context: Any) -> Any:
        if token:
            meta = dict(context.invocation_metadata())
            scheme, _, value = str(meta.get("authorization", "")).partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(),
                                                                     token.encode()):
                receiver.stats.add(refused, signal)
                _abort(context, grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        if not receiver.inflight.acquire(blocking=False):
            receiver.stats.add(refused, signal)
            _abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, "too many concurrent requests", 1)
        try:
            return receiver.ingest(signal, payload)
        except Refusal as r:
            _abort(context, _CODES[r.kind], r.message, r.retry_after_s)
        finally:
            receiver.inflight.release()
        return None  # unreachable: abort raises

    return grpc.unary_unary_rpc_method_handler(
        export, request_deserializer=None, response_serializer=lambda m: m.SerializeToString())


class GrpcFrontEnd:
    """A grpcio server with the three OTLP Export services on ``host:port`` (0 picks one)."""

    def __init__(self, receiver: Receiver, host: str, port: int,
                 tls: tuple[bytes, bytes] | None = None) -> None:
        cfg = receiver.config
        self.server = grpc.server(
            ThreadPoolExecutor(max_workers=cfg.max_concurrent_requests + 4,
                               thread_name_prefix="otelytics-grpc"),
            handlers=[grpc.method_handlers_generic_handler(service, {"Export": _export(
                receiver, signal)}) for signal, service in _SERVICES.items()],
            maximum_concurrent_rpcs=cfg.max_concurrent_requests * 2,
            options=[("grpc.max_receive_message_length", cfg.max_request_bytes),
                     ("grpc.max_send_message_length", 4 << 20)],
        )
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if tls is None:
            self.port = self.server.add_insecure_port(address)
        else:
            key, cert = tls
            self.port = self.server.add_secure_port(
                address, grpc.ssl_server_credentials([(key, cert)]))
        if self.port == 0:
            raise OSError(f"cannot bind gRPC to {address}")

    def start(self) -> None:
        self.server.start()

    def stop(self, grace: float = 10.0) -> None:
        """Stop accepting and wait up to ``grace`` seconds for running calls."""
        self.server.stop(grace).wait(grace + 1)
