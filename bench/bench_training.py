"""(h) Training jobs: `tabular-training` and `machine-state-evaluation` end to end vs the same work in-process.

Data (generated once under `bench/out/data/`, never downloaded):
- training: `make_classification` with `--rows` rows (default 100,000), 20 features, 3 classes,
  seed 0, written as CSV (full float precision);
- evaluation: `--recordings` (default 12) synthetic 3-channel recordings of three machine states
  (level, oscillation, jitter), `--recording-rows` rows each (default 400).

Per repetition, alternating:
- direct training: in this process, read the CSV with pyarrow (as the worker does), hold out 20%
  (stratified, seed 0), fit the same estimator (`--family`, default random_forest with
  `--trees` trees, n_jobs = this process's OpenMP pool, as in the worker) and predict the
  held-out rows; then, timed apart, the same worker code in-process (`TrainingWorker.process`
  with an in-memory sink: also the baseline, ONNX + skops export, confusion matrix, importances);
- e2e training: through an `EmbeddedServer(workers=1)` (its worker's pools get every core), the
  CSV uploaded beforehand, create the training job and wait for COMPLETED;
- direct evaluation: `read_recordings` + leave-one-recording-out (`held_out`) + the grid, the
  loop the evaluation worker runs, in this process;
- e2e evaluation: the `machine-state-evaluation` job over the same uploaded recordings.

The e2e time runs from just before the create request is sent (client clock) to the job's
`completed_at` (server clock, same machine). Ratio = direct seconds / e2e seconds (target ≥ 0.9).
Both sides' thread pools match: BLAS one thread, OpenMP every core (the worker's
`_limit_threads`; `threadpool_limits` here). Medians over the repetitions; the accuracies of both
sides are printed (they must agree).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from common import DATA_DIR, MemorySink, epoch, loadavg, machine, median, thread_pools
from jobport.sdk.client import JobportClient
from jobport.testing.embedded import EmbeddedServer

FEATURES = 20
READER = {"data_columns": ["a", "b", "c"], "timestamp_column": "timestamp", "window_size": 32, "step_size": 8}
SEARCH = {"window_sizes": [16, 32], "n_neighbors": [1, 5], "metrics": ["euclidean"], "folds": 3}


def training_csv(rows: int) -> Path:
    path = DATA_DIR / f"training_{rows}x{FEATURES}.csv"
    if path.exists():
        return path
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=rows, n_features=FEATURES, n_informative=8, n_classes=3, random_state=0)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([f"f{i}" for i in range(FEATURES)] + ["label"])
        for row, target in zip(x, y, strict=True):
            writer.writerow([*map(repr, row.tolist()), f"class_{target}"])
    return path


def recordings(count: int, rows: int) -> list[tuple[Path, str]]:
    """`count` recordings, the states in turn, each `rows` rows of 3 channels."""
    folder = DATA_DIR / f"recordings_{count}x{rows}"
    states = ("idle", "run", "fault")
    found = [(folder / f"rec_{i:03d}_{states[i % 3]}.csv", states[i % 3]) for i in range(count)]
    if all(p.exists() for p, _ in found):
        return found
    folder.mkdir(parents=True, exist_ok=True)
    for i, (path, state) in enumerate(found):
        rng, t = np.random.default_rng(i), np.arange(rows)
        channels = []
        for c in range(3):
            if state == "idle":
                channels.append(0.1 * rng.standard_normal(rows) + 0.2 * c)
            elif state == "run":
                channels.append(3.0 + 1.5 * np.sin(2 * np.pi * t / 8 + c) + 0.2 * rng.standard_normal(rows))
            else:
                channels.append(1.5 + 0.8 * np.sign(np.sin(2 * np.pi * t / 3 + c)) + 0.3 * rng.standard_normal(rows))
        lines = ["timestamp,a,b,c"] + [f"{j}," + ",".join(f"{ch[j]:.5f}" for ch in channels) for j in range(rows)]
        path.write_text("\n".join(lines) + "\n")
    return found


def training_config(family: str, trees: int) -> dict[str, Any]:
    params = {"n_estimators": trees} if family == "random_forest" else {}
    return {"task": "classification", "label": "label", "model": {"family": family, "params": params}, "seed": 0}


def direct_training(path: Path, config: dict[str, Any]) -> dict[str, float]:
    """Read, split, fit and measure in this process, as the worker does (no export)."""
    from sklearn.model_selection import train_test_split

    from jobport.pipelines.builtin.training.config import TrainingConfig
    from jobport.pipelines.builtin.training.data import design, read_table
    from jobport.pipelines.builtin.training.fit import estimator

    parsed = TrainingConfig.model_validate(config)
    started = time.perf_counter()
    data = design(read_table(_ref(path, "worker.train"), parsed.max_rows), parsed, path.name)
    x_fit, x_out, y_fit, y_out = train_test_split(data.x, data.y, test_size=0.2, random_state=0, stratify=data.y)
    model = estimator(parsed).fit(x_fit, y_fit)
    accuracy = float(np.mean(model.predict(x_out) == y_out))
    return {"seconds": time.perf_counter() - started, "accuracy": accuracy}


def worker_training(path: Path, config: dict[str, Any]) -> float:
    """`TrainingWorker.process` in this process (read, fit, measure, export), no engine."""
    from jobport.pipelines.builtin.training.config import TrainingConfig
    from jobport.pipelines.builtin.training.worker import TrainingWorker

    started = time.perf_counter()
    TrainingWorker(None).process(_ref(path, "worker.train"), MemorySink(), TrainingConfig.model_validate(config))
    return time.perf_counter() - started


def direct_evaluation(files: list[tuple[Path, str]], config: dict[str, Any]) -> dict[str, float]:
    """The evaluation worker's loop in this process: read, leave one recording out, the grid."""
    from jobport.pipelines.builtin.machine_state.evaluation import grid, held_out, read_recordings, summarise
    from jobport.pipelines.builtin.machine_state.evaluation_config import EvaluationConfig

    parsed = EvaluationConfig.model_validate(config)
    started = time.perf_counter()
    found = read_recordings(parsed, [_ref(p, "worker.n_shots", {"class": c}) for p, c in files])
    loro = held_out(parsed, found, [[i] for i in range(len(found))], _ignore, "leave_one_recording_out")
    if parsed.search is not None:
        grid(parsed, found, _ignore)
    return {"seconds": time.perf_counter() - started, "accuracy": summarise(loro)["recording_accuracy"]}


def e2e(jp: JobportClient, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Seconds from create-sent to completed_at, and the job."""
    sent = time.time()
    job = jp.wait_job(jp.create_job(body)["id"], timeout=1800, interval=0.1, max_interval=0.25)
    if job["status"] != "COMPLETED":
        raise RuntimeError(f"job {job['id']} ended {job['status']}: {job.get('error')}")
    return epoch(job["completed_at"]) - sent, job


def _report(jp: JobportClient, job_id: str, filename: str) -> dict[str, Any]:
    import httpx

    ref = next(o["data"]["ref"] for o in jp.job_outputs(job_id) if o["data"]["filename"] == filename)
    result: dict[str, Any] = httpx.get(ref, timeout=60).json()
    return result


def run(reps: int, rows: int, family: str, trees: int, count: int, recording_rows: int, log=print) -> dict[str, Any]:
    train_path, files = training_csv(rows), recordings(count, recording_rows)
    t_config = training_config(family, trees)
    e_config = {"reader_config": READER, "search": SEARCH}
    direct_t, worker_t, e2e_t, direct_e, e2e_e = [], [], [], [], []
    accuracy: dict[str, float] = {}
    # the direct side's pools as the worker's (`local_worker._limit_threads`): BLAS 1 thread, OpenMP every core
    with EmbeddedServer(workers=1) as server, JobportClient(server.url, server.key, timeout=120) as jp, \
            threadpool_limits(limits=1, user_api="blas"):
        log(f"server {server.url} (workers=1); load average {loadavg()}; pools here: {thread_pools()}")
        train_id = jp.upload_file(train_path)["file_id"]
        shots = [{"file_id": jp.upload_file(p)["file_id"], "metadata": {"class": c}} for p, c in files]
        t_body = {"name": "bench-train", "pipeline_type": "training", "pipeline_key": "tabular-training",
                  "inputs": {"worker.train": [{"file_id": train_id}]},
                  "parameters": {"worker": {"config": t_config}}}
        e_body = {"name": "bench-eval", "pipeline_type": "training", "pipeline_key": "machine-state-evaluation",
                  "inputs": {"worker.n_shots": shots}, "parameters": {"worker": {"config": e_config}}}
        for rep in range(reps):
            found = direct_training(train_path, t_config)
            direct_t.append(found["seconds"])
            accuracy["direct training"] = found["accuracy"]
            worker_t.append(worker_training(train_path, t_config))
            seconds, job = e2e(jp, t_body)
            e2e_t.append(seconds)
            accuracy["e2e training"] = _report(jp, job["id"], "metrics.json")["metrics"]["accuracy"]
            found = direct_evaluation(files, e_config)
            direct_e.append(found["seconds"])
            accuracy["direct evaluation"] = found["accuracy"]
            seconds, job = e2e(jp, e_body)
            e2e_e.append(seconds)
            accuracy["e2e evaluation"] = _report(jp, job["id"], "evaluation.json")[
                "leave_one_recording_out"]["recording_accuracy"]
            log(f"  rep {rep}: training direct {direct_t[-1]:.2f} s, worker in-process {worker_t[-1]:.2f} s, "
                f"e2e {e2e_t[-1]:.2f} s; evaluation direct {direct_e[-1]:.2f} s, e2e {e2e_e[-1]:.2f} s")
        log(f"load average at the end: {loadavg()}; accuracies {accuracy}")
    return {"rows": rows, "family": family, "trees": trees, "recordings": count, "recording_rows": recording_rows,
            "reps": reps, "accuracy": accuracy,
            "training": {"direct_s": median(direct_t), "worker_s": median(worker_t), "e2e_s": median(e2e_t),
                         "ratio": median(direct_t) / median(e2e_t), "ratio_worker": median(worker_t) / median(e2e_t)},
            "evaluation": {"direct_s": median(direct_e), "e2e_s": median(e2e_e),
                           "ratio": median(direct_e) / median(e2e_e)}}


def table(r: dict[str, Any]) -> str:
    t, e = r["training"], r["evaluation"]
    what = f"{r['family']}" + (f" ({r['trees']} trees)" if r["family"] == "random_forest" else "")
    return "\n".join([
        "| job | data | direct (median) | in-process worker | e2e (median) | **ratio direct/e2e** |",
        "|---|---|---|---|---|---|",
        f"| tabular-training, {what} | {r['rows']:,} rows x {FEATURES} features, hold-out 0.2 | {t['direct_s']:.2f} s "
        f"| {t['worker_s']:.2f} s (ratio {t['ratio_worker']:.3f}) | {t['e2e_s']:.2f} s | **{t['ratio']:.3f}** |",
        f"| machine-state-evaluation, LORO + grid of 4 | {r['recordings']} recordings x {r['recording_rows']} rows "
        f"| {e['direct_s']:.2f} s | | {e['e2e_s']:.2f} s | **{e['ratio']:.3f}** |"])


def _ref(path: Path, port: str, metadata: dict[str, Any] | None = None):
    from jobport.pipelines.sdk import FileRef

    return FileRef(input_id=f"inp_{path.stem}", port_name=port, file_id=path.name, filename=path.name,
                   metadata=metadata or {}, sha256="", num_bytes=path.stat().st_size,
                   opener=lambda: path.open("rb"), path=str(path))


def _ignore(*args: Any) -> None:
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions per side (median reported)")
    parser.add_argument("--rows", type=int, default=100_000, help="training rows")
    parser.add_argument("--family", default="random_forest", help="tabular-training model.family")
    parser.add_argument("--trees", type=int, default=100, help="random_forest n_estimators")
    parser.add_argument("--recordings", type=int, default=12, help="evaluation recordings")
    parser.add_argument("--recording-rows", type=int, default=400, help="rows per recording")
    args = parser.parse_args()
    print(machine())
    result = run(args.reps, args.rows, args.family, args.trees, args.recordings, args.recording_rows)
    print()
    print(table(result))


if __name__ == "__main__":
    main()
