"""`make demo` (`python demo/basic_motions.py`): a machine-state job on real sensor data, end to end, on an
embedded server.

Builds n-shot and inference CSVs from the UEA BasicMotions recordings bundled in aeon (smartwatch
accelerometer + gyroscope; standing, walking, running, badminton), starts `jobport serve` on a free
loopback port, uploads the files, runs one job (40 n-shot files from the official train split, 40
inference files from the test split), downloads the predictions and scores each test recording by
a majority vote over its windows. Prints accuracy and a confusion table; exits 1 below 0.95.
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from jobport.sdk.client import JobportClient
from jobport.testing.datasets import DEMO_CONFIG, write_basic_motions
from jobport.testing.embedded import EmbeddedServer

console = Console()
TARGET = 0.95


def recording_votes(files: list[Path]) -> dict[str, str]:
    """Majority label per inference file stem, from `pred_<stem>_part_<k>.csv` parts."""
    votes: dict[str, Counter[str]] = {}
    for path in files:
        stem = path.name.removeprefix("pred_").rsplit("_part_", 1)[0]
        with open(path, newline="") as handle:
            votes.setdefault(stem, Counter()).update(row["Prediction"] for row in csv.DictReader(handle))
    return {stem: counts.most_common(1)[0][0] for stem, counts in votes.items()}


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="jobport-demo-"))
    console.print("[bold]jobport demo[/bold]: BasicMotions (UEA, bundled in aeon), machine-state-classification")
    manifest = write_basic_motions(work / "data")
    console.print(f"  {len(manifest.shots)} n-shot recordings (train split), "
                  f"{len(manifest.inference)} to classify (test split)")

    with EmbeddedServer(home=work / "home") as server:
        console.print(f"  server {server.url}/v0.5 (docs {server.url}/docs)")
        with JobportClient(f"{server.url}/v0.5", server.key) as client:
            for path, _ in manifest.shots + manifest.inference:
                client.upload_file(path)
            body = {
                "name": "basicmotions-demo",
                "pipeline_type": "batch",
                "pipeline_key": "machine-state-classification",
                "inputs": {
                    "worker.inference": [{"file_id": p.name} for p, _ in manifest.inference],
                    "worker.n_shots": [{"file_id": p.name, "metadata": {"class": label}}
                                       for p, label in manifest.shots],
                },
                "parameters": {"worker": {"parallelism": 2, "config": DEMO_CONFIG}},
            }
            started = time.monotonic()
            job = client.create_job(body)
            position, depth = job.get('queue_position'), job.get('queue_depth')
            console.print(f"  job {job['id']} queued at position {position} of {depth}")
            with Progress(TextColumn("  {task.description}"), BarColumn(),
                          TextColumn("{task.completed}/{task.total} inputs"),
                          TimeElapsedColumn(), console=console) as bar:
                task = bar.add_task("PENDING", total=len(manifest.inference))

                def show(j: dict) -> None:
                    p = j.get("input_progress") or {}
                    bar.update(task, completed=p.get("completed", 0) + p.get("failed", 0), description=j["status"])

                job = client.wait_job(job["id"], timeout=600, on_update=show, interval=0.1, max_interval=0.5)
            seconds = time.monotonic() - started
            if job["status"] != "COMPLETED":
                console.print(f"[red]job ended {job['status']}: {job.get('error')}[/red]")
                return 1
            files = client.download_outputs(job["id"], work / "results")

    predicted = recording_votes(files)
    truth = {p.stem: label for p, label in manifest.inference}
    labels = sorted(set(truth.values()))
    correct = sum(predicted.get(stem) == label for stem, label in truth.items())
    accuracy = correct / len(truth)

    table = Table(title="Confusion (rows: true state, columns: predicted, per recording)")
    table.add_column("true \\ predicted")
    for label in labels:
        table.add_column(label, justify="right")
    for true_label in labels:
        row = Counter(predicted.get(s) for s, t in truth.items() if t == true_label)
        table.add_row(true_label, *(str(row.get(p, 0)) for p in labels))
    console.print(table)
    windows = sum(max(sum(1 for _ in open(f)) - 1, 0) for f in files)
    console.print(f"  {windows} windows classified in {seconds:.1f} s ({len(files)} output files)")
    colour = "green" if accuracy >= TARGET else "red"
    console.print(f"[bold {colour}]per-recording accuracy: {accuracy:.3f} ({correct}/{len(truth)})[/bold {colour}]")
    return 0 if accuracy >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
