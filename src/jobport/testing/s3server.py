"""An S3 server for tests and benchmarks: moto's S3 (`python -m moto.server`) in a child process on
a free loopback port, with a bucket created, and the settings that point a jobport server at it.

    with S3Server() as s3:                          # or: s3 = S3Server().start() ... s3.stop()
        EmbeddedServer(env=s3.env("run-1"))         # JOBPORT_BLOBS_URL, JOBPORT_S3_* of a child server
        make_settings(home=..., **s3.settings_values("run-1"))   # an in-process server
        s3.create_bucket("other"); s3.client().list_objects_v2(Bucket=s3.bucket)

A child process (not moto's in-process server) so that separate `jobport serve` processes reach
it and it outlives test-worker details; it is stopped by its PID. moto accepts any credentials and
keeps every object in that process's memory: stopping it forgets them. Needs the `test` extra
(moto[server], boto3).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from jobport.testing.embedded import free_port

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


class S3Server:
    def __init__(self, bucket: str = "jobport", region: str = REGION) -> None:
        self.bucket = bucket
        self.region = region
        self.port = free_port()
        self.access_key_id = ACCESS_KEY
        self.secret_access_key = SECRET_KEY
        self.process: subprocess.Popen[bytes] | None = None
        self._log = Path(tempfile.mkstemp(prefix="moto-s3-", suffix=".log")[1])

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def url(self, prefix: str = "") -> str:
        """`s3://bucket/prefix`: the `blobs_url` of a jobport server storing under `prefix`."""
        return f"s3://{self.bucket}/{prefix.strip('/')}".rstrip("/")

    def settings_values(self, prefix: str = "", **overrides: Any) -> dict[str, Any]:
        """Flat setting names (as `tests/helpers.make_settings` takes them) for this server."""
        values: dict[str, Any] = {
            "blobs_url": self.url(prefix), "s3_endpoint_url": self.endpoint_url, "s3_region": self.region,
            "s3_access_key_id": self.access_key_id, "s3_secret_access_key": self.secret_access_key,
            "s3_addressing_style": "path"}
        values.update(overrides)
        return values

    def env(self, prefix: str = "", **overrides: Any) -> dict[str, str]:
        """The same as environment variables (`JOBPORT_BLOBS_URL`, `JOBPORT_S3_*`) of a server process."""
        values = self.settings_values(prefix, **overrides)
        return {f"JOBPORT_{name.upper()}": str(value) for name, value in values.items()}

    def start(self, timeout: float = 60.0) -> S3Server:
        with open(self._log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=dict(os.environ))
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto server did not answer on {self.endpoint_url} in {timeout}s")
            time.sleep(0.1)
        self.create_bucket(self.bucket)
        return self

    def _answers(self) -> bool:
        try:
            httpx.get(self.endpoint_url, timeout=1)
        except httpx.HTTPError:
            return False
        return True

    def log_tail(self, chars: int = 3000) -> str:
        return self._log.read_text(errors="replace")[-chars:]

    def client(self) -> Any:
        """A boto3 S3 client of this server."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region,
                            aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key,
                            config=Config(s3={"addressing_style": "path"}))

    def create_bucket(self, name: str) -> None:
        where = {} if self.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
        self.client().create_bucket(Bucket=name, **where)

    def stop(self) -> None:
        """Terminate the server by its PID (SIGTERM, SIGKILL after 10 s)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._log.unlink(missing_ok=True)
