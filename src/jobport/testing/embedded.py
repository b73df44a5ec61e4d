"""An embedded `jobport serve` in a child process on a free loopback port, with its own home.

Used by `make demo`, the benchmarks and the end-to-end tests: start it, talk to it over HTTP,
stop it with SIGTERM (or kill it with SIGKILL to test recovery) and start it again on the same home.
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

JOBPORT = str(Path(sys.executable).parent / "jobport")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedServer:
    def __init__(self, home: str | Path | None = None, workers: int | None = None,
                 env: dict[str, str] | None = None, key: str | None = None, role: str = "all") -> None:
        self._own_home = home is None
        self.home = Path(home or tempfile.mkdtemp(prefix="jobport-"))
        self.port = free_port()
        self.key = key or "jp_embedded_" + secrets.token_urlsafe(16)
        self.workers = workers
        self.extra_env = env or {}
        self.role = role
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The server's environment; also right for `jobport` client commands against it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPORT_")}
        env.update(JOBPORT_HOME=str(self.home), JOBPORT_ADMIN_KEY=self.key, JOBPORT_URL=self.url,
                   JOBPORT_API_KEY=self.key, **self.extra_env)
        if self.workers:
            env["JOBPORT_WORKERS"] = str(self.workers)
        return env

    def start(self, timeout: float = 90.0) -> EmbeddedServer:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / "server.log", "ab") as log:
            self.process = subprocess.Popen([JOBPORT, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                                             "--role", self.role], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.home / "server.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"jobport serve exited with {self.process.returncode}:\n{tail}")
            try:
                if self._started():
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("jobport serve did not become healthy in time")

    def _started(self) -> bool:
        """role all: its scheduler is the active one; api: ready; scheduler: active or standing by."""
        if self.role == "api":
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        r = httpx.get(f"{self.url}/healthz", timeout=1)
        wanted = ("running",) if self.role == "all" else ("running", "standby")
        return r.status_code == 200 and r.json().get("scheduler") in wanted

    def health(self) -> dict:
        return httpx.get(f"{self.url}/healthz", timeout=5).json()

    def worker_pids(self) -> list[int]:
        """PIDs of the server's local worker processes (its spawned children, not the resource tracker)."""
        assert self.process is not None
        children = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.process.pid and b"spawn_main" in Path(f"/proc/{entry}/cmdline").read_bytes():
                children.append(int(entry))
        return children

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a crash)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int | None:
        """SIGTERM and wait; returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=30)

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)
