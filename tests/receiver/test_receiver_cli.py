"""``otelytics serve`` user errors: one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import signal
import socket

from tests.conftest import run_python

SERVE = "from otelytics.analysis.cli import main; raise SystemExit(main())"


def _serve(*args: str, env: dict[str, str] | None = None):
    return run_python(SERVE, "serve", *args, env=env, timeout=60)


def test_missing_data_dir_and_bad_flags(tmp_path):
    r = _serve(env={"OTELYTICS_DATA_DIR": ""})  # run_python sets a temporary one otherwise
    assert r.returncode == 2 and "OTELYTICS_DATA_DIR" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = _serve("--data-dir", str(tmp_path), "--tls-cert", "x.pem")
    assert r.returncode == 2 and "--tls-key" in r.stderr
    r = _serve("--data-dir", str(tmp_path), "--token-file", str(tmp_path / "nope"))
    assert r.returncode == 2 and "--token-file" in r.stderr and "Traceback" not in r.stderr
    r = _serve("--data-dir", str(tmp_path), "--http-port", "-1", "--grpc-port", "-1")
    assert r.returncode == 2 and "off" in r.stderr


def test_port_in_use_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = _serve("--data-dir", str(tmp_path), "--http-port", str(port), "--grpc-port", "0")
    assert r.returncode == 1 and "cannot listen" in r.stderr and "Traceback" not in r.stderr


def test_data_dir_from_environment_and_sigint_exits_0(serve, tmp_path):
    server = serve(data_dir=str(tmp_path / "d"))
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(30) == 0
    r = _serve("--http-port", "-1", "--grpc-port", "0", "--spool-dir", str(tmp_path / "sp"),
               env={"OTELYTICS_DATA_DIR": str(tmp_path / "d"), "OTELYTICS_SERVE_HOST": "::9"})
    assert r.returncode == 1 and "cannot listen on ::9" in r.stderr
