"""Callbacks survive a receiver outage and a server restart, with a real `jobport serve` process.

The receiver's port is reserved (bound, not listening: connections are refused) while several jobs
finish, so every callback fails and is retried; the server is stopped with SIGTERM and started
again on the same home; then the receiver starts listening on that port. Every job's terminal
callback must arrive exactly once (raw receipts counted per job, no dedupe by webhook-id), each
verified against its Standard Webhooks signature with the org's secret, and the delivery log
(`jobport callbacks list/get`) must show the failed attempts before the delivered one. Finally
`jobport callbacks replay` sends one again under a new webhook-id.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

from helpers import machine_csv, machine_job_body, wait_until
from jobport.testing.embedded import JOBPORT, EmbeddedServer

JOBS = 4
BACKOFF_ENV = {
    "JOBPORT_CALLBACK_ALLOW_PRIVATE_NETWORKS": "true",
    "JOBPORT_CALLBACK_INITIAL_BACKOFF_SECONDS": "0.3",
    "JOBPORT_CALLBACK_MAX_BACKOFF_SECONDS": "1.5",
    "JOBPORT_CALLBACK_MAX_ATTEMPTS": "200",  # never give up during the outage
    "JOBPORT_CALLBACK_TIMEOUT_SECONDS": "3",
}




class Receiver(ThreadingHTTPServer):
    """Records every raw POST (no dedupe) and answers 200."""

    allow_reuse_address = True

    def __init__(self, port: int) -> None:
        self.received: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                with receiver.lock:
                    receiver.received.append({"headers": dict(self.headers.items()), "body": body})
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def receipts(self) -> list[dict]:
        with self.lock:
            return list(self.received)

    def close(self) -> None:
        self.shutdown()
        self.server_close()


def _cli(server: EmbeddedServer, *args: str) -> str:
    result = subprocess.run([JOBPORT, "callbacks", *args], env=server.env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _cli_json(server: EmbeddedServer, *args: str):
    return json.loads(_cli(server, *args, "--json"))


def test_callbacks_arrive_exactly_once_after_receiver_outage_and_restart(tmp_path):
    # Reserve the receiver's port: bound but not listening, so every attempt is refused.
    reserved = socket.socket()
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reserved.bind(("127.0.0.1", 0))
    port = reserved.getsockname()[1]
    hook = f"http://127.0.0.1:{port}/hook"
    server = EmbeddedServer(home=tmp_path / "home", workers=1, key="e2e-callbacks-key", env=BACKOFF_ENV)
    receiver = None
    try:
        server.start()
        http = server.client()
        for name, state, seed in [("idle.csv", "idle", 1), ("run.csv", "run", 2)]:
            http.post("/v0.5/files", files={"file": (name, machine_csv(state, 120, seed=seed), "text/csv")}
                      ).raise_for_status()
        job_ids = []
        for i in range(JOBS):
            name = f"line{i}.csv"
            http.post("/v0.5/files", files={"file": (name, machine_csv("run" if i % 2 else "idle", 60, seed=10 + i),
                                                     "text/csv")}).raise_for_status()
            body = {**machine_job_body([name], {"idle.csv": "idle", "run.csv": "run"}, name=f"cb-{i}"),
                    "callback_url": hook}
            r = http.post("/v0.5/batch/jobs", json=body)
            assert r.status_code == 201, r.text
            job_ids.append(r.json()["id"])

        def finished():
            jobs = [http.get(f"/v0.5/batch/jobs/{j}").json() for j in job_ids]
            return jobs if all(j["status"] in {"COMPLETED", "FAILED", "CANCELLED"} for j in jobs) else None

        jobs = wait_until(finished, 180, 0.1, "all jobs to finish")
        assert all(j["status"] == "COMPLETED" for j in jobs), jobs

        def retried():
            rows = http.get("/v0.5/callbacks", params={"limit": 100}).json()["callbacks"]
            return rows if len(rows) == JOBS and all(r["attempts"] >= 2 for r in rows) else None

        before = wait_until(retried, 60, 0.1, "every callback to fail at least twice")
        assert {r["job_id"] for r in before} == set(job_ids)
        assert all(r["status"] == "pending" and "cannot reach" in r["last_error"] for r in before), before
        secret = http.get("/v0.5/callbacks/secret").json()["secret"]

        assert server.stop() == 0  # SIGTERM: a clean stop with callbacks still pending
        server.start()
        http = server.client()
        assert http.get("/v0.5/callbacks/secret").json()["secret"] == secret

        reserved.close()
        receiver = Receiver(port)

        def all_delivered():
            rows = http.get("/v0.5/callbacks", params={"limit": 100}).json()["callbacks"]
            return rows if rows and all(r["status"] == "delivered" for r in rows) else None

        after = wait_until(all_delivered, 60, 0.1, "every callback to be delivered")
        assert len(after) == JOBS
        time.sleep(3 * 1.5)  # a further retry window: any duplicate would arrive now

        receipts = receiver.receipts()
        per_job: dict[str, int] = {}
        for got in receipts:
            payload = Webhook(secret).verify(got["body"], got["headers"])  # raises unless signed right
            assert payload["type"] == "job.completed"
            assert payload["data"]["status"] == "COMPLETED"
            per_job[payload["data"]["id"]] = per_job.get(payload["data"]["id"], 0) + 1
        assert per_job == dict.fromkeys(job_ids, 1), per_job
        assert len(receipts) == JOBS

        # The delivery log (through the CLI) shows the refused attempts, then the delivery.
        listed = _cli_json(server, "list", "--status", "delivered")["callbacks"]
        assert {d["job_id"] for d in listed} == set(job_ids)
        by_webhook_id = {g["headers"]["webhook-id"]: g for g in receipts}
        for row in listed:
            assert row["webhook_id"] in by_webhook_id
            detail = _cli_json(server, "get", row["id"])
            log = detail["attempt_log"]
            assert len(log) == detail["attempts"] >= 3
            assert [a["attempt"] for a in log] == list(range(1, len(log) + 1))
            assert all(a["status_code"] is None and "cannot reach" in a["error"] for a in log[:-1])
            assert log[-1]["status_code"] == 200 and log[-1]["error"] is None

        # Text output, and a replay: one more receipt, a new webhook-id, the same payload.
        first = listed[0]
        assert first["id"] in _cli(server, "list", "--job", first["job_id"])
        assert "cannot reach" in _cli(server, "get", first["id"])
        replay = _cli_json(server, "replay", first["id"])
        assert replay["replay_of"] == first["id"] and replay["webhook_id"] != first["webhook_id"]
        extra = wait_until(lambda: receiver.receipts()[JOBS:], 30, 0.1, "the replayed callback")
        assert [g["headers"]["webhook-id"] for g in extra] == [replay["webhook_id"]]
        assert Webhook(secret).verify(extra[0]["body"], extra[0]["headers"]) == json.loads(
            by_webhook_id[first["webhook_id"]]["body"])
    finally:
        reserved.close()
        if receiver is not None:
            receiver.close()
        server.stop()
