"""`otelytics serve`: the OTLP receiver (OTLP/HTTP on 4318, OTLP/gRPC on 4317) into the dataset.

Settings: flags, then ``OTELYTICS_*`` environment variables, then defaults (``config.py``).
SIGTERM / SIGINT: stop accepting, let running requests finish, publish the spool, exit 0 (1 if
something could not be published; it stays in the spool for the next start).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import sys
import threading
from pathlib import Path
from typing import Any

from otelytics.analysis.cli import CliError
from otelytics.exporter.receiver import config as C

__all__ = ["register", "serve"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="receive OTLP (HTTP and gRPC) into the Parquet dataset",
                       description=__doc__.split("\n", 1)[0])
    p.add_argument("--data-dir", default=None,
                   help=f"dataset root, a path or s3:// URI (env {C.DATA_DIR_ENV})")
    p.add_argument("--host", default=None,
                   help=f"address to bind (default {C.DEFAULT_HOST}; env OTELYTICS_SERVE_HOST)")
    p.add_argument("--http-port", type=int, default=None,
                   help=f"OTLP/HTTP port (default {C.DEFAULT_HTTP_PORT}; 0 picks one, -1 off)")
    p.add_argument("--grpc-port", type=int, default=None,
                   help=f"OTLP/gRPC port (default {C.DEFAULT_GRPC_PORT}; 0 picks one, -1 off)")
    p.add_argument("--spool-dir", default=None,
                   help="write-ahead spool (default <data-dir>/_spool for local roots)")
    p.add_argument("--token-file", default=None,
                   help=f"file holding the bearer token clients must send (or env {C.TOKEN_ENV})")
    p.add_argument("--tls-cert", default=None, help="PEM certificate (enables TLS on both ports)")
    p.add_argument("--tls-key", default=None, help="PEM private key for --tls-cert")
    p.add_argument("--max-request-bytes", type=int, default=C.DEFAULT_MAX_REQUEST_BYTES,
                   help="body limit, on the wire and after decompression (413 above)")
    p.add_argument("--max-concurrent-requests", type=int,
                   default=C.DEFAULT_MAX_CONCURRENT_REQUESTS,
                   help="requests decoded at once (429 / RESOURCE_EXHAUSTED above)")
    p.add_argument("--max-backlog-bytes", type=int, default=C.DEFAULT_MAX_BACKLOG_BYTES,
                   help="unpublished spool bytes before 503 / UNAVAILABLE")
    p.add_argument("--segment-seconds", type=float, default=10.0,
                   help="publish the spool at least this often (smaller: fresher, more files)")
    p.add_argument("--segment-bytes", type=int, default=32 << 20,
                   help="roll a spool segment (one Parquet file per signal) at this size")
    p.add_argument("--converters", type=int, default=1,
                   help="processes converting spool segments to Parquet (1: a thread of the "
                        "receiver; N>1: N processes, one per spare core)")
    p.add_argument("--read-timeout", type=float, default=10.0,
                   help="seconds a client may take to send a request")
    p.add_argument("--ready-file", default=None,
                   help="write {http_port, grpc_port, pid} as JSON here once listening")
    p.add_argument("--self-metrics-interval", type=float, default=None,
                   help="seconds between writes of the receiver's own counters into "
                        "<data-dir>/metrics (0: off; env OTELYTICS_SERVE_SELF_METRICS_INTERVAL; "
                        "default 60)")
    p.add_argument("--shutdown-timeout", type=float, default=120.0,
                   help="seconds to publish the spool at shutdown")
    p.set_defaults(func=_run)


def _env_int(name: str, value: int | None, default: int) -> int:
    if value is not None:
        return value
    raw = os.environ.get(name)
    if raw:
        try:
            return int(raw)
        except ValueError:
            raise CliError(f"{name}={raw!r} is not an integer") from None
    return default


def _config(args: argparse.Namespace) -> Any:
    from otelytics.exporter.receiver.service import ReceiverConfig

    data_dir = args.data_dir or os.environ.get(C.DATA_DIR_ENV)
    if not data_dir:
        raise CliError(f"no dataset root: pass --data-dir or set {C.DATA_DIR_ENV}")
    token = os.environ.get(C.TOKEN_ENV) or None
    if args.token_file:
        try:
            token = Path(args.token_file).read_text().strip()
        except OSError as exc:
            raise CliError(f"cannot read --token-file: {exc.strerror}") from None
        if not token:
            raise CliError("--token-file is empty")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise CliError("--tls-cert and --tls-key go together")
    for flag, v in (("--max-request-bytes", args.max_request_bytes),
                    ("--max-concurrent-requests", args.max_concurrent_requests),
                    ("--max-backlog-bytes", args.max_backlog_bytes),
                    ("--converters", args.converters)):
        if v <= 0:
            raise CliError(f"{flag} must be positive")
    interval = args.self_metrics_interval
    if interval is None:
        raw = os.environ.get("OTELYTICS_SERVE_SELF_METRICS_INTERVAL")
        try:
            interval = float(raw) if raw else 60.0
        except ValueError:
            raise CliError(f"OTELYTICS_SERVE_SELF_METRICS_INTERVAL={raw!r} is not a number") \
                from None
    if interval < 0:
        raise CliError("--self-metrics-interval must be 0 (off) or positive")
    http_port = _env_int("OTELYTICS_SERVE_HTTP_PORT", args.http_port, C.DEFAULT_HTTP_PORT)
    grpc_port = _env_int("OTELYTICS_SERVE_GRPC_PORT", args.grpc_port, C.DEFAULT_GRPC_PORT)
    if http_port < 0 and grpc_port < 0:
        raise CliError("both --http-port and --grpc-port are off")
    return ReceiverConfig(
        data_dir=data_dir,
        host=args.host or os.environ.get("OTELYTICS_SERVE_HOST") or C.DEFAULT_HOST,
        http_port=None if http_port < 0 else http_port,
        grpc_port=None if grpc_port < 0 else grpc_port,
        spool_dir=args.spool_dir, token=token, tls_cert=args.tls_cert, tls_key=args.tls_key,
        max_request_bytes=args.max_request_bytes,
        max_concurrent_requests=args.max_concurrent_requests,
        max_backlog_bytes=args.max_backlog_bytes, segment_bytes=args.segment_bytes,
        segment_age_s=args.segment_seconds, read_timeout_s=args.read_timeout,
        converters=args.converters, self_metrics_interval_s=interval,
    )


def serve(config: Any, *, stop: threading.Event, ready_file: str | None = None,
          shutdown_timeout: float = 60.0) -> int:
    """Run a receiver until ``stop`` is set; 0 when everything was published."""
    from otelytics.exporter.receiver.grpc_server import GrpcFrontEnd
    from otelytics.exporter.receiver.http_server import HttpFrontEnd
    from otelytics.exporter.receiver.service import Receiver, SpoolLocked

    try:
        receiver = Receiver(config)
    except SpoolLocked as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot use spool: {exc}") from None
    ctx = pem = None
    if config.tls_cert:
        try:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(config.tls_cert, config.tls_key)
            pem = (Path(config.tls_key).read_bytes(), Path(config.tls_cert).read_bytes())
        except (OSError, ssl.SSLError) as exc:
            raise CliError(f"cannot load TLS certificate/key: {exc}") from None
    receiver.start()
    own = None
    if config.self_metrics_interval_s > 0:
        from otelytics.exporter.receiver.selfmetrics import SelfMetrics

        own = SelfMetrics(receiver, config.data_dir, config.self_metrics_interval_s)
    fronts: list[Any] = []
    try:
        if config.http_port is not None:
            fronts.append(HttpFrontEnd(receiver, config.host, config.http_port, ctx))
        if config.grpc_port is not None:
            fronts.append(GrpcFrontEnd(receiver, config.host, config.grpc_port, pem))
    except (OSError, RuntimeError) as exc:
        for f in fronts:
            f.stop()
        receiver.stop(shutdown_timeout)
        if own is not None:
            own.shutdown()
        raise CliError(f"cannot listen on {config.host}: {exc}", 1) from None
    for f in fronts:
        f.start()
    ports = {"http_port": next((f.port for f in fronts if isinstance(f, HttpFrontEnd)), None),
             "grpc_port": next((f.port for f in fronts if isinstance(f, GrpcFrontEnd)), None),
             "pid": os.getpid(), "receiver_id": receiver.receiver_id}
    scheme = "https" if ctx else "http"
    print(f"otelytics serve: {scheme}://{config.host}:{ports['http_port']} "
          f"grpc {config.host}:{ports['grpc_port']} -> {config.data_dir.split('?', 1)[0]}",
          file=sys.stderr, flush=True)
    if not config.token and config.host not in ("127.0.0.1", "::1", "localhost"):
        print(f"otelytics serve: warning: listening on {config.host} without a token "
              f"(--token-file or {C.TOKEN_ENV})", file=sys.stderr, flush=True)
    if ready_file:
        tmp = f"{ready_file}.tmp"
        Path(tmp).write_text(json.dumps(ports))
        os.replace(tmp, ready_file)
    while not stop.wait(0.5):
        pass
    for f in fronts:  # stop accepting; running requests finish
        f.stop()
    for _ in range(config.max_concurrent_requests):
        if not receiver.inflight.acquire(timeout=config.read_timeout_s):
            break
    ok = receiver.stop(shutdown_timeout)
    if own is not None:
        own.shutdown()  # the final counts, written after everything was published
    if not ok:
        print(f"otelytics serve: {receiver.spool.backlog_bytes} spooled bytes not published; "
              "they stay in the spool for the next start", file=sys.stderr, flush=True)
    return 0 if ok else 1


def _run(args: argparse.Namespace) -> int:
    config = _config(args)
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    return serve(config, stop=stop, ready_file=args.ready_file,
                 shutdown_timeout=args.shutdown_timeout)
