"""Fixtures: ``otelytics serve`` as a real subprocess on ephemeral ports, and payload builders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


class Server:
    """A running ``otelytics serve`` child process."""

    def __init__(self, data_dir: str, spool_dir: Path, extra: list[str], env: dict[str, str],
                 log: Path, preexec: Any = None) -> None:
        self.data_dir = data_dir
        self.spool_dir = spool_dir
        self.extra = extra
        self.env = env
        self.log = log
        self.preexec = preexec
        self.proc: subprocess.Popen[bytes] | None = None
        self.http_port = self.grpc_port = 0

    def start(self, timeout: float = 30.0) -> Server:
        ready = self.spool_dir.parent / f"ready-{time.monotonic_ns()}.json"
        cmd = [sys.executable, "-m", "otelytics.analysis.cli", "serve", "--data-dir",
               self.data_dir, "--spool-dir", str(self.spool_dir), "--http-port", "0",
               "--grpc-port", "0", "--ready-file", str(ready), *self.extra]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELYTICS_"))}
        env.update(self.env)
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "ab"),  # noqa: SIM115
                                     preexec_fn=self.preexec)
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited {self.proc.returncode}: {self.stderr()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve not ready: {self.stderr()}")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        self.http_port, self.grpc_port = info["http_port"], info["grpc_port"]
        return self

    def stderr(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def terminate(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """``serve(*flags, data_dir=None, env={}, preexec=None)`` starts a receiver; all are
    stopped afterwards."""
    started: list[Server] = []

    def _start(*extra: str, data_dir: str | None = None, env: dict[str, str] | None = None,
               spool_dir: Path | None = None, preexec: Any = None) -> Server:
        server = Server(data_dir or str(tmp_path / "data"), spool_dir or tmp_path / "spool",
                        list(extra), env or {}, tmp_path / f"serve-{len(started)}.log",
                        preexec)
        started.append(server)
        return server.start()

    yield _start
    for s in started:
        if s.proc is not None and s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(10)
