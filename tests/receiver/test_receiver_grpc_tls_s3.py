"""gRPC status codes, TLS on both ports, and an ``s3://`` dataset root on a local S3 server."""

from __future__ import annotations

import datetime as dt
import http.client
import ssl
from pathlib import Path

import duckdb
import grpc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.rpc import error_details_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.conftest import s3_uri
from tests.receiver._payloads import trace_request
from tests.receiver.test_receiver_http import seqs

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _export(channel: grpc.Channel):
    return channel.unary_unary(TRACES, request_serializer=None,
                               response_deserializer=ExportTraceServiceResponse.FromString)


def test_grpc_status_codes(serve, tmp_path):
    (tmp_path / "token").write_text("tok")
    server = serve("--token-file", str(tmp_path / "token"), "--max-request-bytes", "20000",
                   "--max-backlog-bytes", "6000", "--segment-seconds", "60")
    auth = (("authorization", "Bearer tok"),)
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        call = _export(ch)
        with pytest.raises(grpc.RpcError) as e:
            call(trace_request(0, 2), timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as e:
            call(trace_request(0, 2), metadata=(("authorization", "Bearer nope"),), timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as e:
            call(b"\xff\xff\xff garbage", metadata=auth, timeout=10)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as e:
            call(trace_request(0, 400), metadata=auth, timeout=10)  # over 20000 bytes
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        accepted, throttled = [], None
        for i in range(10):
            try:
                resp = call(trace_request(i * 10, 10), metadata=auth, timeout=10,
                            compression=grpc.Compression.Gzip)
                assert not resp.HasField("partial_success")
                accepted.extend(range(i * 10, i * 10 + 10))
            except grpc.RpcError as err:
                throttled = err
                break
        assert accepted and throttled is not None
        assert throttled.code() == grpc.StatusCode.UNAVAILABLE
        info = dict(throttled.trailing_metadata())["google.rpc.retryinfo-bin"]
        assert error_details_pb2.RetryInfo.FromString(info).retry_delay.seconds > 0
    assert server.terminate() == 0
    assert seqs(server) == accepted


def _self_signed(tmp_path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_tls_on_http_and_grpc(serve, tmp_path):
    cert, key = _self_signed(tmp_path)
    server = serve("--tls-cert", cert, "--tls-key", key)
    ctx = ssl.create_default_context(cafile=cert)
    conn = http.client.HTTPSConnection("localhost", server.http_port, context=ctx, timeout=10)
    conn.request("POST", "/v1/traces", trace_request(0, 3),
                 {"Content-Type": "application/x-protobuf"})
    assert conn.getresponse().status == 200
    conn.close()
    # plain HTTP to the TLS port is not served
    plain = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
    with pytest.raises((OSError, http.client.HTTPException)):
        plain.request("POST", "/v1/traces", trace_request(3, 1),
                      {"Content-Type": "application/x-protobuf"})
        plain.getresponse()
    plain.close()
    creds = grpc.ssl_channel_credentials(root_certificates=Path(cert).read_bytes())
    with grpc.secure_channel(f"localhost:{server.grpc_port}", creds) as ch:
        _export(ch)(trace_request(10, 2), timeout=10)
    assert server.terminate() == 0
    assert seqs(server) == [0, 1, 2, 10, 11]


def test_s3_root(serve, s3_server, tmp_path):
    root = s3_uri(s3_server, "otel-bucket", "ds")
    server = serve("--segment-seconds", "0.2", "--converters", "2", data_dir=root,
                   spool_dir=tmp_path / "spool",
                   env=s3_server["env"])
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        for i in range(3):
            _export(ch)(trace_request(i * 10, 10), timeout=10)
    assert server.terminate() == 0, server.stderr()
    fs, path = pafs.FileSystem.from_uri(root)
    files = [f.path for f in fs.get_file_info(pafs.FileSelector(path, recursive=True))
             if f.is_file]
    # the spans, and the receiver's own counters (service otelytics-serve)
    assert files and all(f.startswith((f"{path}/spans/dt=", f"{path}/metrics/dt="))
                         for f in files)
    own = pads.dataset(f"{path}/metrics", filesystem=fs, format="parquet",
                       partitioning="hive").to_table(
        columns=["service_name", "metric_name", "attributes", "value_int"]).to_pylist()
    assert {r["service_name"] for r in own} == {"otelytics-serve"}
    assert sum(r["value_int"] for r in own if r["metric_name"] ==
               "otelytics.receiver.items.written"
               and dict(r["attributes"])["otelytics.signal"] == "spans") == 30
    table = pads.dataset(f"{path}/spans", filesystem=fs, format="parquet",
                         partitioning="hive").to_table(columns=["span_id", "attributes"])
    got = sorted(int(dict(a)["seq"]) for a in table.column("attributes").to_pylist())
    assert got == list(range(30))
    con = duckdb.connect()
    con.register("spans", table)
    assert con.execute("select count(*), count(distinct span_id) from spans").fetchone() == (
        30, 30)
