"""SIGKILL the server in the middle of a multi-input job and start it again: the job completes,
completed inputs are not redone, no input's rows appear twice in the outputs, and the worker
processes died with the server."""

import csv
import io
import os
from pathlib import Path

from helpers import machine_csv, machine_job_body, wait_until

ROWS = 60000
WINDOW, STEP = 16, 1


def _processes_with_home(home: Path) -> list[int]:
    marker = f"JOBPORT_HOME={home}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if marker in env.split(b"\0"):
            found.append(int(pid))
    return found




def test_sigkill_mid_job_then_restart_completes_without_redoing_work(live_server):
    http = live_server.client()
    for name, state, seed in [("idle.csv", "idle", 1), ("run.csv", "run", 2)]:
        upload = {"file": (name, machine_csv(state, 300, seed=seed), "text/csv")}
        http.post("/v0.5/files", files=upload).raise_for_status()
    names = []
    for i in range(4):
        state = "idle" if i % 2 else "run"
        upload = {"file": (f"in{i}.csv", machine_csv(state, ROWS, seed=20 + i), "text/csv")}
        http.post("/v0.5/files", files=upload).raise_for_status()
        names.append(f"in{i}.csv")
    body = machine_job_body(names, {"idle.csv": "idle", "run.csv": "run"},
                            reader_config={"window_size": WINDOW, "step_size": STEP}, flush_every_n_iteration=10)
    job_id = http.post("/v0.5/batch/jobs", json=body).json()["id"]

    def inputs():
        return http.get(f"/v0.5/batch/jobs/{job_id}/inputs", params={"port_name": "worker.inference"}).json()["inputs"]

    def partway():
        rows = inputs()
        done = [r for r in rows if r["status"] == "completed"]
        running = [r for r in rows if r["status"] == "processing"]
        if done and running:
            outs = http.get(f"/v0.5/batch/jobs/{job_id}/outputs", params={"input_id": running[0]["id"]}).json()
            if outs["total"] >= 1:
                return rows
        return None

    before = wait_until(partway, 120, 0.1, "one input completed and another part-way")
    completed_before = {r["id"]: r["completed_at"] for r in before if r["status"] == "completed"}
    interrupted = next(r["id"] for r in before if r["status"] == "processing")

    live_server.kill()
    wait_until(lambda: not _processes_with_home(live_server.home), 5, 0.1, "worker processes to die with the server")

    live_server.start()
    http = live_server.client()
    wait_until(lambda: http.get(f"/v0.5/batch/jobs/{job_id}").json()["status"] in {"COMPLETED", "FAILED"},
               240, 0.1, "job end")
    job = http.get(f"/v0.5/batch/jobs/{job_id}").json()
    assert job["status"] == "COMPLETED", job
    assert job["input_progress"] == {"pending": 0, "processing": 0, "completed": 4, "failed": 0}

    after = {r["id"]: r for r in inputs()}
    for input_id, completed_at in completed_before.items():
        assert after[input_id]["completed_at"] == completed_at, "a completed input was redone"
        assert after[input_id]["attempts"] == 1
    # the crash was the server's, not the input's: it ran again without spending an attempt, and the
    # interruption counts as the job's preemption (DESIGN, Execution / Failures)
    assert after[interrupted]["attempts"] == 1
    assert job["preemption_count"] >= 1

    events = http.get(f"/v0.5/batch/jobs/{job_id}/events", params={"limit": 1000}).json()["events"]
    successes = [e["input_id"] for e in events if e["event_type"] == "inference.success"]
    assert sorted(successes) == sorted(after), "each input succeeds exactly once"
    assert any(e["event_type"] == "input.preempted" and e["input_id"] == interrupted for e in events)

    outputs = http.get(f"/v0.5/batch/jobs/{job_id}/outputs", params={"limit": 1000}).json()["outputs"]
    keys = [(o["input_id"], o["data"]["filename"]) for o in outputs]
    assert len(keys) == len(set(keys)), "an output file is listed twice"
    expected_windows = (ROWS - WINDOW) // STEP + 1
    for input_id in after:
        parts = sorted((o for o in outputs if o["input_id"] == input_id), key=lambda o: o["data"]["filename"])
        stamps = []
        for part in parts:
            text = _download(part["data"]["ref"])
            stamps += [int(row["timestamp"]) for row in csv.DictReader(io.StringIO(text))]
        assert len(stamps) == expected_windows, (input_id, len(stamps))
        assert len(set(stamps)) == len(stamps), "a window was written twice"


def _download(url: str) -> str:
    import httpx

    r = httpx.get(url, timeout=30)
    r.raise_for_status()
    return r.text


def test_sigterm_exits_cleanly_and_the_job_resumes(live_server):
    http = live_server.client()
    for name, state, seed in [("idle.csv", "idle", 1), ("run.csv", "run", 2), ("long.csv", "run", 3)]:
        rows = 60000 if name == "long.csv" else 300
        upload = {"file": (name, machine_csv(state, rows, seed=seed), "text/csv")}
        http.post("/v0.5/files", files=upload).raise_for_status()
    body = machine_job_body(["long.csv"], {"idle.csv": "idle", "run.csv": "run"}, reader_config={"step_size": 1})
    job_id = http.post("/v0.5/batch/jobs", json=body).json()["id"]
    counts = f"/v0.5/batch/jobs/{job_id}/inputs/progress/counts"
    wait_until(lambda: http.get(counts).json()["processing"] == 1, 60, 0.1, "input processing")

    # exit status 0: a clean stop (the harness kills with SIGKILL only after 30 s)
    assert live_server.stop() == 0
    # workers are gone at once; multiprocessing's resource tracker leaves when it sees EOF
    wait_until(lambda: not _processes_with_home(live_server.home), 5, 0.1, "every child process to exit")

    live_server.start()
    http = live_server.client()
    wait_until(lambda: http.get(f"/v0.5/batch/jobs/{job_id}").json()["status"] == "COMPLETED",
               240, 0.1, "job completion")
    # the clean stop handed its running input back itself (no attempt spent): the restart had
    # nothing to recover
    preempted = http.get(f"/v0.5/batch/jobs/{job_id}/events", params={"event_type": "input.preempted"}).json()
    assert [e["payload"]["reason"] for e in preempted["events"]] == ["scheduler_stopped"]
