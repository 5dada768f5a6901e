"""Real processes: configure() workloads, kill -9, unwritable root, full disk, many processes,
fork, opentelemetry-instrument, an S3 root."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from otelytics.exporter.schema import SPAN_SCHEMA
from tests.conftest import ROOT, s3_uri
from tests.exporter.conftest import duck, duck_dicts

BIN = Path(sys.executable).parent

_REPORT = """
import json, otelytics
from opentelemetry import metrics, trace
from otelytics.exporter import drop_counts
otelytics.force_flush()
trace.get_tracer_provider().shutdown()
metrics.get_meter_provider().shutdown()
print("DROPS", json.dumps({f"{s}/{r}": n for (s, r), n in drop_counts().items()}))
"""


def _drops(stdout: str) -> dict[str, int]:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("DROPS "))
    return json.loads(line[6:])


def test_configure_workload_writes_spans_and_metrics(python_run, tmp_path):
    code = """
import otelytics
otelytics.configure(service_name="etl")

@otelytics.track
def fit(rows):
    return len(rows)

@otelytics.track
def bad():
    raise KeyError("x")

with otelytics.workflow("nightly"):
    for i in range(300):
        fit(list(range(i % 10)))
for _ in range(5):
    try:
        bad()
    except KeyError:
        pass
""" + _REPORT
    r = python_run(code, env={"OTELYTICS_DATA_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert _drops(r.stdout) == {}
    spans = f"{tmp_path}/spans/**/*.parquet"
    assert duck(f"select name, span_type, estimator_name, count(*), sum(estimator_data_length), "
                f"count(workflow_name), count_if(status_code = 'ERROR'), "
                f"any_value(error_type), any_value(service_name) from '{spans}' "
                "group by all order by name") == [
        ("bad", "function", "bad", 5, None, 0, 5, "KeyError", "etl"),
        ("fit", "function", "fit", 300, sum(i % 10 for i in range(300)), 300, 0, None, "etl"),
        ("nightly", "workflow", "nightly", 1, None, 1, 0, None, "etl"),
    ]
    calls = duck(f"select sum(value_int) from '{tmp_path}/metrics/**/*.parquet' "
                 "where metric_name = 'otelytics.estimator.calls'")
    assert calls == [(306,)]


_HEAVY = """
import os, sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from otelytics.exporter import ParquetSpanExporter
exporter = ParquetSpanExporter(root=sys.argv[1], max_age_s=0.3, row_group_rows=200)
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=100_000,
                                               schedule_delay_millis=50))
tracer = provider.get_tracer("heavy")
created = 0
for batch in range(10_000):
    for _ in range(500):
        with tracer.start_as_current_span("work") as s:
            s.set_attribute("payload", "x" * 50)
    created += 500
    print("created", created, flush=True)
    if batch % 5 == 4:
        provider.force_flush()  # the batch processor exports...
        exporter.force_flush()  # ...and the exporter publishes
        print("flushed", created, flush=True)
"""


def test_kill_9_during_heavy_writing_leaves_a_readable_dataset(tmp_path):
    root = tmp_path / "ds"
    proc = subprocess.Popen([sys.executable, "-c", _HEAVY, str(root)], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    lines = []
    flushes = 0
    while flushes < 3:
        line = proc.stdout.readline()
        assert line, "the writer process ended early"
        lines.append(line.split())
        flushes += line.startswith("flushed")
    time.sleep(0.4)  # let it get deep into the next batches: rows in memory, staging files open
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    lines += [ln.split() for ln in out.splitlines() if ln.strip()]
    assert proc.returncode == -signal.SIGKILL
    flushed = max(int(n) for kind, n in lines if kind == "flushed")
    created = max(int(n) for kind, n in lines if kind == "created")

    glob = f"{root}/spans/**/*.parquet"
    ((total, distinct),) = duck(f"select count(*), count(distinct span_id) from '{glob}'")
    assert pl.scan_parquet(glob).select(pl.len()).collect().item() == total
    assert total == distinct  # nothing published twice
    # the loss is bounded by what was not yet flushed: everything flushed is there, and at
    # most the spans created since (one unreported batch of 500 included) are missing
    assert flushed <= total <= created + 500


_BROKEN_APP = """
import otelytics
otelytics.configure(service_name="broken")

@otelytics.track
def work(i):
    return i * 2

total = sum(work(i) for i in range(2000))
print("RESULT", total)
""" + _REPORT


def test_unwritable_root_app_finishes_and_drop_is_counted(python_run, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = python_run(_BROKEN_APP, env={"OTELYTICS_DATA_DIR": str(blocker / "data")})
    assert r.returncode == 0, r.stderr
    assert f"RESULT {sum(i * 2 for i in range(2000))}" in r.stdout
    drops = _drops(r.stdout)
    assert drops["spans/shutdown"] == 2000
    assert drops.get("metrics/shutdown", 0) >= 1
    warnings = [ln for ln in r.stderr.splitlines() if "cannot write spans" in ln]
    assert len(warnings) == 1  # warned once, not once per batch
    assert "Traceback" not in r.stderr


def test_full_disk_app_finishes_and_drop_is_counted(python_run, tmp_path):
    # RLIMIT_FSIZE stands in for a full disk: writes past 16 KiB fail with EFBIG
    code = """
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))
import otelytics
otelytics.configure(service_name="full")

@otelytics.track
def work(i, blob):
    return i

for i in range(3000):
    work(i, "y")
print("RESULT done")
""" + _REPORT
    r = python_run(code, env={"OTELYTICS_DATA_DIR": str(tmp_path),
                              "OTELYTICS_CAPTURE_PARAMS": "true",
                              "PYTHONDONTWRITEBYTECODE": "1"})
    assert r.returncode == 0, r.stderr
    assert "RESULT done" in r.stdout and "Traceback" not in r.stderr
    drops = _drops(r.stdout)
    files = list((tmp_path / "spans").glob("dt=*/*.parquet")) if (tmp_path / "spans").exists() \
        else []
    published = duck(f"select count(*) from '{tmp_path}/spans/**/*.parquet'")[0][0] if files \
        else 0
    # the SDK's batch queue may overflow too while the writer retries: counted as well
    lost = sum(drops.get(f"spans/{r}", 0) for r in ("write_error", "shutdown", "queue_full"))
    assert lost > 0
    # every span is either readable or counted (queue_full may count one over: _batch_drops)
    assert 3000 <= published + lost <= 3001


# A switch interval of 1000 s keeps the SDK's export thread off the GIL for the whole loop
# (nothing in it blocks), so the batch queue overflows by construction, not by timing.
_BURST = """
import sys
sys.setswitchinterval(1000)
for i in range(3000):
    work(i)
sys.setswitchinterval(0.005)
print("RESULT done")
"""


def test_batch_queue_overflow_is_counted_not_silent(python_run, tmp_path):
    code = """
import otelytics
otelytics.configure(service_name="burst")

@otelytics.track
def work(i):
    return i
""" + _BURST + _REPORT
    r = python_run(code, env={"OTELYTICS_DATA_DIR": str(tmp_path),
                              "OTEL_BSP_MAX_QUEUE_SIZE": "500",
                              "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "100"})
    assert r.returncode == 0, r.stderr
    drops = _drops(r.stdout)
    published = duck(f"select count(*) from '{tmp_path}/spans/**/*.parquet'")[0][0]
    assert drops.get("spans/queue_full", 0) >= 1500  # 500 slots for 3000 spans
    # exact, or one over when the export thread ran inside the SDK's emit (sdk/_batch_drops.py)
    assert 3000 <= published + drops["spans/queue_full"] <= 3001
    assert set(drops) == {"spans/queue_full"}


def test_batch_queue_overflow_is_counted_under_opentelemetry_instrument(python_run, tmp_path):
    app = tmp_path / "burst.py"
    app.write_text("""
import json, logging
from opentelemetry import trace
from opentelemetry._logs import get_logger_provider
from otelytics.exporter import drop_counts

tracer = trace.get_tracer("burst")
log = logging.getLogger("burst")

def work(i):
    with tracer.start_as_current_span("work"):
        log.warning("item %d", i)
""" + _BURST + """
trace.get_tracer_provider().shutdown()
get_logger_provider().shutdown()
print("DROPS", json.dumps({f"{s}/{r}": n for (s, r), n in drop_counts().items()}))
""")
    root = tmp_path / "data"
    env = {"OTELYTICS_DATA_DIR": str(root), "OTEL_METRICS_EXPORTER": "none",
           "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
           "OTEL_BSP_MAX_QUEUE_SIZE": "500", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "100",
           "OTEL_BLRP_MAX_QUEUE_SIZE": "300", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "100",
           "PATH": f"{BIN}:/usr/bin:/bin"}
    r = python_run(str(app), env=env, prefix=[str(BIN / "opentelemetry-instrument")])
    assert r.returncode == 0, r.stderr
    drops = _drops(r.stdout)
    for table, slots in (("spans", 500), ("logs", 300)):
        published = duck(f"select count(*) from '{root}/{table}/**/*.parquet'")[0][0]
        dropped = drops.get(f"{table}/queue_full", 0)
        assert dropped >= 3000 - slots - 1000, (table, drops)  # export thread: ran at most briefly
        assert 3000 <= published + dropped <= 3001, (table, published, drops)


_WORKER = """
import sys, threading
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from otelytics.exporter import ParquetSpanExporter
proc = int(sys.argv[2])
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(
    ParquetSpanExporter(root=sys.argv[1], max_age_s=0.2, row_group_rows=300),
    max_queue_size=50_000))
tracer = provider.get_tracer("w")

def run(thread):
    for i in range(2500):
        with tracer.start_as_current_span("op") as s:
            s.set_attribute("who", f"{proc}-{thread}-{i}")

threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
for t in threads: t.start()
for t in threads: t.join()
provider.shutdown()
"""


def test_four_processes_times_four_threads_exact_total(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(tmp_path), str(p)], cwd=ROOT,
                              stderr=subprocess.PIPE, text=True) for p in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    glob = f"{tmp_path}/spans/**/*.parquet"
    assert duck(f"select count(*), count(distinct attributes['who']), count(distinct span_id) "
                f"from '{glob}'") == [(4 * 4 * 2500,) * 3]
    names = [f.name for f in (tmp_path / "spans").glob("dt=*/*.parquet")]
    assert len(names) == len(set(names)) and len({n.split("-")[2] for n in names}) == 4
    assert os.listdir(tmp_path / "_staging") == []


def test_fork_child_and_parent_each_write_their_own_spans(python_run, tmp_path):
    code = """
import os, otelytics
from opentelemetry import trace
otelytics.configure(service_name="forky")

@otelytics.track
def parent_work():
    pass

@otelytics.track
def child_work():
    pass

for _ in range(100):
    parent_work()
pid = os.fork()
if pid == 0:
    for _ in range(30):
        child_work()
    trace.get_tracer_provider().shutdown()
    os._exit(0)
for _ in range(50):
    parent_work()
os.waitpid(pid, 0)
"""
    r = python_run(code, env={"OTELYTICS_DATA_DIR": str(tmp_path),
                              "OTEL_METRICS_EXPORTER": "none"})
    assert r.returncode == 0, r.stderr
    rows = duck(f"select name, count(*), count(distinct span_id) from "
                f"'{tmp_path}/spans/**/*.parquet' group by name order by name")
    assert rows == [("child_work", 30, 30), ("parent_work", 150, 150)]


def test_opentelemetry_instrument_writes_spans_and_logs(python_run, tmp_path):
    # traces named explicitly; logs and metrics by the distro's default (parquet)
    env = {"OTEL_TRACES_EXPORTER": "parquet", "OTELYTICS_INSTRUMENT": "inventory:*",
           "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
           "OTEL_SERVICE_NAME": "zero-code-parquet", "OTELYTICS_DATA_DIR": str(tmp_path),
           "PATH": f"{BIN}:/usr/bin:/bin"}
    app = tmp_path / "app.py"
    app.write_text(
        "import logging, runpy, sys\n"
        f"sys.path.insert(0, {str(ROOT / 'examples')!r})\n"
        "logging.getLogger('app').warning('from the app')\n"
        f"runpy.run_path({str(ROOT / 'examples' / 'zero_code_app.py')!r}, run_name='__main__')\n")
    r = python_run(str(app), env=env, prefix=[str(BIN / "opentelemetry-instrument")])
    assert r.returncode == 0, r.stderr
    assert "RESULT total=45" in r.stdout
    spans = duck_dicts(f"select name, service_name, span_type from "
                       f"'{tmp_path}/spans/**/*.parquet' order by start_time")
    assert [s["name"] for s in spans] == [
        "load", "Forecaster.default", "Forecaster.fit", "Forecaster.predict",
        "Forecaster.check", "Forecaster.check", "total"]
    assert {s["service_name"] for s in spans} == {"zero-code-parquet"}
    logs = duck(f"select body, severity_text from '{tmp_path}/logs/**/*.parquet'")
    assert ("from the app", "WARN") in logs or ("from the app", "WARNING") in logs
    calls = duck(f"select sum(value_int) from '{tmp_path}/metrics/**/*.parquet' "
                 "where metric_name = 'otelytics.estimator.calls'")
    assert calls == [(len(spans),)]


def test_s3_root_through_configure(python_run, s3_server):
    uri = s3_uri(s3_server, "app-bucket", "telemetry")
    code = """
import otelytics
otelytics.configure(service_name="s3-app")

@otelytics.track
def step(i):
    return i

for i in range(250):
    step(i)
""" + _REPORT
    r = python_run(code, env={**s3_server["env"], "OTELYTICS_DATA_DIR": uri})
    assert r.returncode == 0, r.stderr
    assert _drops(r.stdout) == {}
    fs, base = pafs.FileSystem.from_uri(uri)
    t = pads.dataset(f"{base}/spans", filesystem=fs, format="parquet", partitioning="hive",
                     schema=SPAN_SCHEMA).to_table(columns=["name", "service_name"])
    assert t.num_rows == 250 and set(t.column("service_name").to_pylist()) == {"s3-app"}
    keys = [i.path for i in fs.get_file_info(pafs.FileSelector(base, recursive=True))]
    assert not [k for k in keys if "_staging" in k]  # object stores: the final key directly


def test_object_store_down_app_finishes_and_drop_is_counted(python_run, s3_server):
    dead = "s3://gone/data?endpoint_override=127.0.0.1:9&scheme=http"  # nothing listens there
    r = python_run(_BROKEN_APP, env={**s3_server["env"], "OTELYTICS_DATA_DIR": dead})
    assert r.returncode == 0, r.stderr
    assert f"RESULT {sum(i * 2 for i in range(2000))}" in r.stdout
    assert _drops(r.stdout)["spans/shutdown"] == 2000
    assert len([ln for ln in r.stderr.splitlines() if "cannot upload spans" in ln]) == 1


def test_spans_exported_by_a_provider_exit_hook_after_ours_still_land(python_run, tmp_path):
    # the provider registers its exit hook before the writer exists, so ours runs first
    code = f"""
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
provider = TracerProvider()
from otelytics.exporter import ParquetSpanExporter
provider.add_span_processor(BatchSpanProcessor(ParquetSpanExporter(root={str(tmp_path)!r}),
                                               schedule_delay_millis=600_000))
tracer = provider.get_tracer("x")
for i in range(777):
    with tracer.start_as_current_span("s"):
        pass
"""
    r = python_run(code)
    assert r.returncode == 0, r.stderr
    assert duck(f"select count(*) from '{tmp_path}/spans/**/*.parquet'") == [(777,)]


def test_parquet_and_otlp_at_once_carry_the_same_spans(python_run, tmp_path):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    received: list[bytes] = []

    class Backend(BaseHTTPRequestHandler):  # a minimal OTLP/HTTP backend
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces":
                received.append(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        r = python_run("examples/zero_code_app.py", env={
            "PATH": f"{BIN}:/usr/bin:/bin", "OTELYTICS_INSTRUMENT": "inventory:*",
            "OTEL_TRACES_EXPORTER": "parquet,otlp", "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "none",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
            "OTELYTICS_DATA_DIR": str(tmp_path)},
            prefix=[str(BIN / "opentelemetry-instrument")])
    finally:
        server.shutdown()
        server.server_close()
    assert r.returncode == 0, r.stderr
    shipped = {s.span_id.hex() for b in received
               for rs in ExportTraceServiceRequest.FromString(b).resource_spans
               for ss in rs.scope_spans for s in ss.spans}
    written = {sid for (sid,) in duck(f"select span_id from '{tmp_path}/spans/**/*.parquet'")}
    assert len(written) == 7 and shipped == written
