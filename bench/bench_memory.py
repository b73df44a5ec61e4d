"""(g) Memory: RSS of an idle server with its 2 workers, and how much it grows while a 1 GB CSV
goes through the Gravity surface (example Iris ONNX app).

- **idle**: a fresh `EmbeddedServer(workers=2)` (its first start registers the example app), waited
  until both workers exist and the total RSS has been steady for 2 s (at most 90 s). A worker
  imports a pipeline's libraries (numpy, pyarrow, onnxruntime, scikit-learn...) only when it first
  loads that pipeline, and the server only what preflight needs, when a job is posted.
- **warm**: a 1,000-row job first, so that the libraries are loaded (pyarrow and numpy for
  preflight in the server; numpy, pyarrow and onnxruntime in the worker that runs the app, which
  also gets the big job: it holds the pipeline warm); then the figures once steady again.
- **job**: an Iris-like CSV of `--mb` MB (`write_iris_csv`, seeded, 4 feature columns, cached under
  `bench/out/data/`) posted to `/api/v1/jobs` with the example app's `x-api-key`, polled until it
  succeeds. The upload is streamed with httpx (`requests`, what Gravity's SDK uses, would build
  the whole multipart body in memory; that is the client's memory, not measured here). RSS of the
  server and its workers is sampled every 0.1 s: the peak during the job (POST, preflight,
  queue, scoring, writing), then the figures once steady again after it.
- **RSS** is `/proc/<pid>/status` VmRSS. It counts shared library pages in every process that maps
  them; PSS (`/proc/<pid>/smaps_rollup`) shares them out and is shown beside the total.
- **reference**: the RSS of a bare `python -c "import onnxruntime, sklearn, numpy"` (what every
  worker used to carry from its start) and of a bare `python -c pass`.

Targets: idle total (server + 2 workers) <= 300 MB; growth during the job over the warm state
< 200 MB, the same for any file size (the growth over idle adds the one-time library imports).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from common import DATA_DIR, loadavg, machine
from jobport.pipelines.builtin.tabular.example import write_iris_csv
from jobport.testing.embedded import EmbeddedServer

MB_DEFAULT = 1000
WORKERS = 2
WARMUP_ROWS = 1_000
IDLE_TARGET_MB = 300
GROWTH_TARGET_MB = 200
STEADY_TIMEOUT = 90.0
JOB_TIMEOUT = 1800.0
REFERENCE = "import onnxruntime, sklearn, numpy"


def _status_kb(pid: int, field: str, name: str = "status") -> int:
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_mb(pid: int) -> float:
    return _status_kb(pid, "VmRSS:") / 1024


def pss_mb(pid: int) -> float:
    return _status_kb(pid, "Pss:", "smaps_rollup") / 1024


def snapshot(server: EmbeddedServer) -> dict[str, Any]:
    assert server.process is not None
    pids = server.worker_pids()
    server_mb = rss_mb(server.process.pid)
    workers = [rss_mb(p) for p in pids]
    return {"server_mb": server_mb, "workers_mb": workers, "total_mb": server_mb + sum(workers),
            "pss_total_mb": pss_mb(server.process.pid) + sum(pss_mb(p) for p in pids), "n_workers": len(pids)}


def wait_steady(server: EmbeddedServer, workers: int, timeout: float = STEADY_TIMEOUT) -> dict[str, Any]:
    """The figures once `workers` workers run and the total RSS has moved < 1 MB for 2 s."""
    deadline = time.monotonic() + timeout
    history: list[float] = []
    snap = snapshot(server)
    while time.monotonic() < deadline:
        snap = snapshot(server)
        history = history[-7:] + [snap["total_mb"]] if snap["n_workers"] == workers else []
        if len(history) == 8 and max(history) - min(history) < 1.0:
            return {**snap, "steady": True}
        time.sleep(0.25)
    return {**snap, "steady": False}


class PeakSampler(threading.Thread):
    """Peak RSS of the server, of its workers together, and of all of them at the same instant."""

    def __init__(self, server: EmbeddedServer) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.peak = {"server_mb": 0.0, "workers_mb": 0.0, "total_mb": 0.0}
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            snap = snapshot(self.server)
            for name, value in (("server_mb", snap["server_mb"]), ("workers_mb", sum(snap["workers_mb"])),
                                ("total_mb", snap["total_mb"])):
                self.peak[name] = max(self.peak[name], value)
            time.sleep(0.1)


def dataset(mb: int) -> Path:
    """An iris-like CSV of about `mb` MB (features only), generated once."""
    path = DATA_DIR / f"iris_{mb}mb.csv"
    if not path.is_file():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        sample = write_iris_csv(DATA_DIR / "iris_sample.csv", 20_000, with_species=False)
        bytes_per_row = sample.stat().st_size / 20_000
        sample.unlink()
        _write_once(path, math.ceil(mb * 1e6 / bytes_per_row))
    return path


def warmup_csv() -> Path:
    path = DATA_DIR / f"iris_{WARMUP_ROWS}.csv"
    if not path.is_file():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        _write_once(path, WARMUP_ROWS)
    return path


def _write_once(path: Path, rows: int) -> None:
    partial = path.with_suffix(".partial")
    write_iris_csv(partial, rows, with_species=False)
    partial.rename(path)  # a generation cut short is never taken for the cached file


def post_job(server: EmbeddedServer, key: str, path: Path, log=print) -> dict[str, Any]:
    """POST the CSV to the Gravity surface and poll until the job is no longer incomplete."""
    cfg = {"version": None, "mimeType": "text/csv; header=present", "name": f"bench-memory-{path.stem}"}
    headers = {"x-api-key": key}
    sent = time.monotonic()
    with httpx.Client(base_url=server.url, headers=headers, timeout=httpx.Timeout(JOB_TIMEOUT)) as client:
        with open(path, "rb") as f:
            r = client.post("/api/v1/jobs", data={"data": json.dumps(cfg)}, files={"file": (path.name, f, "text/csv")})
        body = r.json()
        if body.get("isError"):
            raise RuntimeError(body.get("errorMessage"))
        job = body["data"]
        posted = time.monotonic() - sent
        log(f"  POST answered in {posted:.1f} s: job {job['id']} {job['status']}")
        deadline = time.monotonic() + JOB_TIMEOUT
        while job["status"] == "incomplete":
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job['id']} still incomplete after {JOB_TIMEOUT:.0f} s")
            time.sleep(0.5)
            job = client.get(f"/api/v1/jobs/{job['id']}").json()["data"]
    if job["status"] != "success":
        raise RuntimeError(f"job ended {job['status']}: {job.get('errorMessage')}")
    return {"records": job["recordCount"], "post_seconds": posted, "seconds": time.monotonic() - sent}


def reference_rss(code: str = REFERENCE) -> float:
    """VmRSS of a fresh interpreter after `code`, in MB."""
    probe = f"{code}\nfor line in open('/proc/self/status'):\n    line.startswith('VmRSS:') and print(line.split()[1])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return int(out.stdout.split()[-1]) / 1024


def _plus(values: list[float]) -> str:
    return " + ".join(f"{v:.0f}" for v in values)


def _describe(name: str, snap: dict[str, Any]) -> str:
    return (f"  {name}: server {snap['server_mb']:.0f} MB + workers {_plus(snap['workers_mb'])}"
            f" MB = {snap['total_mb']:.0f} MB RSS (PSS {snap['pss_total_mb']:.0f} MB)"
            f"{'' if snap['steady'] else ' (not steady)'}")


def run(mb: int = MB_DEFAULT, workers: int = WORKERS, log=print) -> dict[str, Any]:
    path, warmup = dataset(mb), warmup_csv()
    size_mb = path.stat().st_size / 1e6
    # the default upload limit is 512 MiB: room for the file (Gravity posts it in one request)
    limit = {"JOBPORT_MAX_UPLOAD_BYTES": str(max(path.stat().st_size * 2, 512 << 20))}
    with EmbeddedServer(workers=workers, env=limit) as server:
        key = (server.home / "example-app.key").read_text().strip()
        idle = wait_steady(server, workers)
        log(f"server {server.url} (workers={workers}); load average {loadavg()}")
        log(_describe("idle", idle))
        post_job(server, key, warmup, log)
        warm = wait_steady(server, workers, timeout=30.0)
        log(_describe("warm", warm))
        sampler = PeakSampler(server)
        sampler.start()
        try:
            job = post_job(server, key, path, log)
        finally:
            sampler.stop_event.set()
            sampler.join()
        after = wait_steady(server, workers, timeout=30.0)
    peak = sampler.peak
    log(f"  job: {job['records']:,} records ({size_mb:,.0f} MB) in {job['seconds']:.1f} s; peak total "
        f"{peak['total_mb']:.0f} MB (server {peak['server_mb']:.0f}, workers {peak['workers_mb']:.0f})")
    log(_describe("after", after))
    reference, bare = reference_rss(), reference_rss("pass")
    return {"mb": mb, "csv_mb": size_mb, "workers": workers, "idle": idle, "warm": warm, "after": after,
            "peak": peak, "job": job,
            "growth_peak_mb": peak["total_mb"] - warm["total_mb"],
            "growth_after_mb": after["total_mb"] - warm["total_mb"],
            "growth_peak_over_idle_mb": peak["total_mb"] - idle["total_mb"],
            "reference_mb": reference, "bare_python_mb": bare, "machine": machine()}


def table(r: dict[str, Any]) -> str:
    idle, warm, after, peak = r["idle"], r["warm"], r["after"], r["peak"]
    cfg = f"memory, workers={r['workers']}"
    job = f"{cfg}, {r['csv_mb']:,.0f} MB CSV ({r['job']['records']:,} rows), Gravity, example Iris app"

    def ok(value: float, target: float) -> str:
        return "✅" if value <= target else "❌"

    return "\n".join([
        "| benchmark | measure | result | target |", "|---|---|---|---|",
        f"| {cfg}, idle | RSS: server + workers = total (PSS total) | {idle['server_mb']:.0f} + "
        f"{_plus(idle['workers_mb'])} = **{idle['total_mb']:.0f} MB** "
        f"({idle['pss_total_mb']:.0f} MB) | ≤ {IDLE_TARGET_MB} MB {ok(idle['total_mb'], IDLE_TARGET_MB)} |",
        f"| {cfg}, warm (after a {WARMUP_ROWS:,}-row job: libraries loaded) | RSS: server + workers = total | "
        f"{warm['server_mb']:.0f} + {_plus(warm['workers_mb'])} = "
        f"{warm['total_mb']:.0f} MB ({warm['total_mb'] - idle['total_mb']:+.0f} MB over idle) | |",
        f"| {job} | peak RSS during the job: total (server / workers) | {peak['total_mb']:.0f} MB "
        f"({peak['server_mb']:.0f} / {peak['workers_mb']:.0f}) | |",
        f"| 〃 | growth over warm: at the peak / after the job | **{r['growth_peak_mb']:+.0f} MB** / "
        f"{r['growth_after_mb']:+.0f} MB (after: server {after['server_mb']:.0f}, workers "
        f"{_plus(after['workers_mb'])}) | < {GROWTH_TARGET_MB} MB "
        f"{ok(r['growth_peak_mb'], GROWTH_TARGET_MB)} |",
        f"| 〃 | growth over idle at the peak (with the one-time library imports) | "
        f"{r['growth_peak_over_idle_mb']:+.0f} MB | |",
        f"| 〃 | job time (POST incl. upload + preflight) | {r['job']['seconds']:.1f} s "
        f"({r['job']['post_seconds']:.1f} s) | |",
        f"| reference | RSS of `python -c \"{REFERENCE}\"` / of a bare `python -c pass` | "
        f"{r['reference_mb']:.0f} MB / {r['bare_python_mb']:.0f} MB | |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=MB_DEFAULT, help="size of the CSV in MB (generated once, cached)")
    parser.add_argument("--workers", type=int, default=WORKERS)
    args = parser.parse_args()
    result = run(args.mb, args.workers)
    print(table(result))
    print(f"\n{result['machine']}")


if __name__ == "__main__":
    main()
