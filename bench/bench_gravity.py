"""(d) Gravity surface: rows/s of a 1M-row CSV through the example Iris app end to end, versus
onnxruntime called directly on the same rows, and the peak RSS of the server and its worker.

- **data**: a 1,000,000-row, 4-feature Iris-like CSV (`write_iris_csv`, seeded; ~26 MB), cached
  under `bench/out/data/`.
- **direct**: `direct_predict_csv`: pyarrow's streaming CSV reader + one onnxruntime session over
  chunks of 10,000 rows, in this process (scores only, writes nothing).
- **direct full**: the same reader and model, also writing the output CSV the job writes (input
  columns as text + label + 3 probabilities) with pyarrow's CSV writer: the like-for-like baseline.
- **e2e**: an `EmbeddedServer(workers=1)`; the client posts the file the way Gravity's SDK does
  (`requests`, `data=json.dumps(cfg)`, `files={'file': ...}`); the job answers `incomplete` at once
  (over `JOBPORT_GRAVITY_SYNC_MAX_RECORDS`), the client polls `GET /api/v1/jobs/{id}` every 0.2 s,
  then downloads the result link. Time = POST sent → the job's `lastUpdatedUtc` at success, so it
  includes the upload, the preflight pass that counts and validates every row (billing), the
  queue, reading, scoring and writing the full output CSV (inputs + label + 3 probabilities).
- **RSS**: `/proc/<pid>/status` VmRSS of the server process and of its worker(s), sampled every
  0.1 s during the job; the peaks are reported (the worker's baseline is its RSS before the job).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from typing import Any

import requests

from common import DATA_DIR, epoch, loadavg, machine, median
from jobport.pipelines.builtin.tabular.example import build_example_model, direct_predict_csv, write_iris_csv
from jobport.testing.embedded import EmbeddedServer

ROWS = 1_000_000
JOB_TIMEOUT = 1200.0


def dataset(rows: int = ROWS) -> Path:
    path = DATA_DIR / f"iris_{rows}.csv"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_iris_csv(path, rows, with_species=False)
    return path


def direct_full(model_path: Path, csv_path: Path, out_path: Path, chunk_rows: int = 10_000) -> tuple[int, float]:
    """The fairer baseline: read, score AND write the same output CSV (input columns as text plus
    label and probabilities) in this process with pyarrow + onnxruntime: (rows, seconds)."""
    import numpy as np
    import onnxruntime as ort
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from jobport.pipelines.builtin.tabular.example import FEATURES, OUTPUTS

    started = time.perf_counter()
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    reader = pacsv.open_csv(str(csv_path), read_options=pacsv.ReadOptions(block_size=1 << 20),
                            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in FEATURES}))
    rows = 0
    writer = None
    for batch in reader:
        matrix = np.column_stack([batch.column(n).to_numpy(zero_copy_only=False).astype(np.float32) for n in FEATURES])
        label, proba = session.run(None, {input_name: matrix})
        columns = [*batch.columns, pa.array(label), *(pa.array(proba[:, i]) for i in range(proba.shape[1]))]
        table = pa.Table.from_arrays(columns, names=[*batch.schema.names, *OUTPUTS])
        if writer is None:
            writer = pacsv.CSVWriter(str(out_path), table.schema)
        writer.write_table(table)
        rows += batch.num_rows
    if writer is not None:
        writer.close()
    return rows, time.perf_counter() - started


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    kids = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return kids


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_server = self.peak_workers = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.peak_server = max(self.peak_server, _rss_kb(self.pid))
            self.peak_workers = max(self.peak_workers, sum(_rss_kb(c) for c in _children(self.pid)))
            time.sleep(0.1)


def e2e_run(server: EmbeddedServer, key: str, path: Path) -> dict[str, Any]:
    base = server.url + "/"
    cfg = {"version": None, "mimeType": "text/csv; header=present", "name": "bench-1M"}
    baseline_workers = sum(_rss_kb(c) for c in _children(server.process.pid))
    sampler = RssSampler(server.process.pid)
    sampler.start()
    sent = time.time()
    with open(path, "rb") as f:
        r = requests.post(base + "api/v1/jobs", headers={"x-api-key": key}, data={"data": json.dumps(cfg)},
                          files={"file": f})
    answered = time.time()
    body = r.json()
    if body["isError"]:
        raise RuntimeError(body["errorMessage"])
    job = body["data"]
    deadline = time.monotonic() + JOB_TIMEOUT
    while job["status"] == "incomplete":
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job['id']} still incomplete after {JOB_TIMEOUT} s")
        time.sleep(0.2)
        job = requests.get(base + f"api/v1/jobs/{job['id']}", headers={"x-api-key": key}).json()["data"]
    sampler.stop_event.set()
    sampler.join()
    if job["status"] != "success":
        raise RuntimeError(f"job ended {job['status']}: {job['errorMessage']}")
    link = requests.get(base + f"api/v1/jobs/result-link/{job['id']}", headers={"x-api-key": key}).json()["data"]
    head = requests.get(link, stream=True)
    first_lines = next(head.iter_lines())
    head.close()
    seconds = epoch(job["lastUpdatedUtc"]) - sent
    return {"seconds": seconds, "rows_per_s": job["recordCount"] / seconds, "records": job["recordCount"],
            "post_seconds": answered - sent, "processing_ms": job["processingTimeMS"],
            "billed": job["billedUsage"], "peak_server_mb": sampler.peak_server / 1024,
            "peak_workers_mb": sampler.peak_workers / 1024, "baseline_workers_mb": baseline_workers / 1024,
            "output_header": first_lines.decode()}


def run(reps: int = 2, rows: int = ROWS, log=print) -> dict[str, Any]:
    path = dataset(rows)
    model = build_example_model(DATA_DIR / "iris_model")
    direct, full, e2e = [], [], []
    with EmbeddedServer(workers=1) as server:
        key = (server.home / "example-app.key").read_text().strip()
        log(f"server {server.url} (workers=1); {path.stat().st_size / 1e6:.0f} MB CSV; load average {loadavg()}")
        # uncounted warm-up, as in (b) and (e): the server imports its CSV reader (pyarrow) on its
        # first Gravity POST and the worker loads the model on its first job
        e2e_run(server, key, dataset(1_000))
        for rep in range(reps):
            n, seconds = direct_predict_csv(Path(model.path), path)
            direct.append({"seconds": seconds, "rows_per_s": n / seconds})
            log(f"rep {rep}: direct {n:,} rows in {seconds:.2f} s = {n / seconds:,.0f} rows/s")
            n, seconds = direct_full(Path(model.path), path, DATA_DIR / "iris_direct_out.csv")
            full.append({"seconds": seconds, "rows_per_s": n / seconds})
            log(f"rep {rep}: direct read+score+write {n:,} rows in {seconds:.2f} s = {n / seconds:,.0f} rows/s")
            e = e2e_run(server, key, path)
            e2e.append(e)
            log(f"rep {rep}: e2e {e['records']:,} rows in {e['seconds']:.2f} s = {e['rows_per_s']:,.0f} rows/s "
                f"(POST {e['post_seconds']:.2f} s, processing {e['processing_ms'] / 1000:.2f} s); peak RSS server "
                f"{e['peak_server_mb']:.0f} MB, workers {e['peak_workers_mb']:.0f} MB")
    d = median([x["rows_per_s"] for x in direct])
    f = median([x["rows_per_s"] for x in full])
    e = median([x["rows_per_s"] for x in e2e])
    return {"rows": rows, "reps": reps, "direct_rows_per_s": d, "e2e_rows_per_s": e, "ratio": e / d,
            "full_rows_per_s": f, "ratio_full": e / f,
            "e2e_seconds": median([x["seconds"] for x in e2e]),
            "direct_seconds": median([x["seconds"] for x in direct]),
            "post_seconds": median([x["post_seconds"] for x in e2e]),
            "processing_seconds": median([x["processing_ms"] for x in e2e]) / 1000,
            "peak_server_mb": max(x["peak_server_mb"] for x in e2e),
            "peak_workers_mb": max(x["peak_workers_mb"] for x in e2e),
            "baseline_workers_mb": e2e[0]["baseline_workers_mb"], "machine": machine()}


def table(r: dict[str, Any]) -> str:
    cfg = f"Gravity, {r['rows']:,}-row CSV, example Iris ONNX app, workers=1"
    return "\n".join([
        "| benchmark | measure | result |", "|---|---|---|",
        f"| {cfg} | rows/s: e2e / direct onnxruntime, median of {r['reps']} | {r['e2e_rows_per_s']:,.0f} / "
        f"{r['direct_rows_per_s']:,.0f} = **{r['ratio']:.3f}** |",
        f"| 〃 | rows/s: e2e / direct read + score + write the same output CSV | {r['e2e_rows_per_s']:,.0f} / "
        f"{r['full_rows_per_s']:,.0f} = **{r['ratio_full']:.3f}** |",
        f"| 〃 | e2e time (POST incl. upload + preflight / job processing) / direct | {r['e2e_seconds']:.2f} s "
        f"({r['post_seconds']:.2f} s / {r['processing_seconds']:.2f} s) / {r['direct_seconds']:.2f} s |",
        "| 〃 | peak RSS: server process / worker process(es) (worker before the job) | "
        f"{r['peak_server_mb']:.0f} MB / "
        f"{r['peak_workers_mb']:.0f} MB ({r['baseline_workers_mb']:.0f} MB) |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args()
    result = run(args.reps, args.rows)
    print(table(result))
    print(f"\n{result['machine']}")


if __name__ == "__main__":
    main()
