"""An embedded `jobport serve` in a child process on a free loopback port, with its own home.

Used by `make demo` and the benchmarks: start it, talk to it over HTTP, stop it (SIGTERM).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedServer:
    def __init__(self, home: str | Path | None = None, workers: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        self._own_home = home is None
        self.home = Path(home or tempfile.mkdtemp(prefix="jobport-"))
        self.port = free_port()
        self.key = "jp_embedded_" + secrets.token_urlsafe(16)
        self.workers = workers
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> "EmbeddedServer":
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPORT_")}
        env.update(JOBPORT_HOME=str(self.home), JOBPORT_ADMIN_KEY=self.key, **self.extra_env)
        if self.workers:
            env["JOBPORT_WORKERS"] = str(self.workers)
        jobport = str(Path(sys.executable).parent / "jobport")
        self.home.mkdir(parents=True, exist_ok=True)
        self._log = open(self.home / "server.log", "ab")
        self.process = subprocess.Popen([jobport, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                        env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jobport serve exited; log: {self.home / 'server.log'}")
            try:
                r = httpx.get(f"{self.url}/healthz", timeout=1)
                if r.status_code == 200 and r.json().get("scheduler") == "running":
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("jobport serve did not become healthy in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> "EmbeddedServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
