"""Lists that stay fast, on SQLite and PostgreSQL. Totals come from maintained job counters
(database triggers, `store/counts.py`) or from bounded counts (`store/listing.py`): the totals a
user sees in the super.AI, Archetype and batch lists stay right through create, parking, queueing,
completion, failure, cancel, restart, retry and delete; totals above their cap (`search_count_max`,
`list_count_max`) are lower bounds that still lead a client walking the pages to the last job;
PostgreSQL's appended counter rows fold. And every statement of every list (and of GET one job)
reads through an index: no full scan of a table, no sort of the jobs table (SQLite `EXPLAIN QUERY
PLAN`; PostgreSQL `EXPLAIN` with sequential scans and sorts turned off, so that any left in a plan
had no index to replace them).
The one list order without an index, super.AI `sortBy=uuid`, is documented in docs/compat.md."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from helpers import add_failing_version, wait_until
from jobport.services import app_job_ops, auth, files
from jobport.services import apps as app_service
from jobport.services import callbacks as callback_service
from jobport.services import usage as usage_service
from jobport.services.jobs import queries
from jobport.store import jobs as job_store
from jobport.store.counts import job_counts

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
ENDED = ("COMPLETED", "FAILED", "CANCELED", "EXPIRED")



class App:
    """A fresh org with the Iris model as an app, and the list totals it shows on each surface."""

    def __init__(self, server, model) -> None:
        self.client, self.ctx = server.client, server.ctx
        self.org_id, key = auth.create_key(self.ctx, f"totals-{uuid.uuid4().hex[:8]}")
        self.sai, self.native = {"API-KEY": key}, {"Authorization": f"Bearer {key}"}
        self.client.post("/v0.5/files", headers=self.native,
                         files={"file": ("iris.onnx", Path(model.path).read_bytes(), "application/octet-stream")})
        self.config = model.config
        r = self.client.post("/v0.5/apps", headers=self.native, json={
            "name": "iris", "pipeline_key": "tabular-model", "config": model.config,
            "references": {"worker.model": [{"file_id": "iris.onnx"}]}})
        assert r.status_code == 201, r.text
        self.app_id = r.json()["id"]

    def v1(self, method: str, path: str, **kw):
        r = self.client.request(method, "/v1/" + path, headers=self.sai, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def v05(self, method: str, path: str, **kw):
        r = self.client.request(method, "/v0.5/" + path, headers=self.native, **kw)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def create(self, n: int, **body) -> tuple[str, list[str]]:
        """(batch id, numeric ids of its jobs)."""
        created = self.v1("POST", f"apps/{self.app_id}/jobs", json={"inputs": [SETOSA] * n, **body})
        return created["batchId"], [str(i) for i in
                                    self.v1("GET", f"apps/{self.app_id}/batches/{created['batchId']}")["jobIds"]]

    def superai_total(self, **params) -> int:
        page = self.v1("GET", f"apps/{self.app_id}/jobs", params={"size": 2, **params})
        assert page["pages"] == -(-page["total"] // 2)
        return page["total"]

    def native_total(self, **params) -> int:
        return self.v05("GET", "batch/jobs", params={"limit": 2, **params})["total"]

    def totals(self) -> dict[str, int]:
        return {"all": self.superai_total(), "parked": self.superai_total(statusIn="PENDING"),
                "scheduled": self.superai_total(statusIn=["SCHEDULED", "IN_PROGRESS"]),
                "completed": self.superai_total(statusIn="COMPLETED"), "failed": self.superai_total(statusIn="FAILED"),
                "canceled": self.superai_total(statusIn="CANCELED"), "native": self.native_total(),
                "native_pending": self.native_total(status="PENDING"),
                "native_batch": self.native_total(pipeline_type="batch"),
                "native_training": self.native_total(pipeline_type="training")}

    def wait(self, ref: str, statuses=ENDED) -> str:
        return wait_until(lambda: (s := self.v1("GET", f"jobs/{ref}")["status"]) in statuses and s, timeout=60)

    def batch_counts(self, batch_id: str) -> dict[str, int]:
        listed = self.v1("GET", f"apps/{self.app_id}/batches", params={"all": True})["batches"]
        return next(b["counts"] for b in listed if b["batchId"] == batch_id)


@pytest.fixture
def app(server, example_model) -> App:
    return App(server, example_model)


def _expect(app: App, **expected: int) -> None:
    zero = {"all": 0, "parked": 0, "scheduled": 0, "completed": 0, "failed": 0, "canceled": 0, "native": 0,
            "native_pending": 0, "native_batch": 0, "native_training": 0}
    assert app.totals() == {**zero, **expected}


def test_totals_follow_every_status_move_and_delete(app):
    _expect(app)
    parked_batch, parked = app.create(3, pending=True)
    _expect(app, all=3, parked=3, native=3, native_pending=3, native_batch=3)

    run_batch, run = app.create(2)
    for ref in run:
        assert app.wait(ref) == "COMPLETED"
    add_failing_version(app.client, app.native, app.app_id, app.config)  # jobs made from now on fail
    failing = app.v1("POST", f"apps/{app.app_id}/jobs", json={"inputs": [SETOSA]})["uuid"]
    assert app.wait(failing) == "FAILED"
    _expect(app, all=6, parked=3, completed=2, failed=1, native=6, native_pending=3, native_batch=6)
    assert app.batch_counts(run_batch) == {"COMPLETED": 2} and app.batch_counts(parked_batch) == {}

    by_native = {job["id"]: job for job in app.v05("GET", "batch/jobs", params={"limit": 100})["jobs"]}
    parked_native = [job_id for job_id, job in by_native.items() if job["status"] == "PENDING"]
    assert len(parked_native) == 3

    app.v05("POST", f"batch/jobs/{parked_native[0]}/cancel")  # a parked job cancelled (native surface)
    _expect(app, all=6, parked=2, completed=2, failed=1, canceled=1, native=6, native_pending=2, native_batch=6)
    assert app.batch_counts(parked_batch) == {"CANCELED": 1}  # super.AI spelling (S2)

    app.v05("DELETE", f"batch/jobs/{parked_native[1]}")
    _expect(app, all=5, parked=1, completed=2, failed=1, canceled=1, native=5, native_pending=1, native_batch=5)

    restarted = app.v1("POST", f"jobs/{failing}/restart")  # FAILED -> queued again; it fails again
    assert restarted["status"] in ("SCHEDULED", "IN_PROGRESS", "FAILED")
    assert app.wait(failing) == "FAILED"
    retried = app.v05("POST", f"batch/jobs/{parked_native[0]}/retry")  # CANCELLED -> PENDING -> runs
    assert retried["status"] == "PENDING"
    wait_until(lambda: app.totals()["completed"] == 3, timeout=60)
    _expect(app, all=5, parked=1, completed=3, failed=1, native=5, native_pending=1, native_batch=5)

    queued = app.v1("POST", f"apps/{app.app_id}/jobs/queue")["queued"]  # the last parked one
    assert queued == 1
    wait_until(lambda: app.totals()["completed"] == 4, timeout=60)
    _expect(app, all=5, completed=4, failed=1, native=5, native_batch=5)
    assert app.batch_counts(parked_batch) == {"COMPLETED": 2}
    assert app.batch_counts(run_batch) == {"COMPLETED": 2}


def test_totals_over_the_cap_lead_a_page_walk_to_the_end(app, monkeypatch):
    _, (ran,) = app.create(1)
    assert app.wait(ran) == "COMPLETED"
    batch_id, ids = app.create(7, pending=True, tags=["t"])
    app.create(1, pending=True)
    job_id = next(j["id"] for j in app.v05("GET", "batch/jobs", params={"limit": 100})["jobs"]
                  if j["status"] == "COMPLETED")
    events = app.v05("GET", f"batch/jobs/{job_id}/events")
    assert events["total"] >= 3
    monkeypatch.setattr(app.ctx.settings.limits, "search_count_max", 3)
    monkeypatch.setattr(app.ctx.settings.limits, "list_count_max", 2)

    # answered by the counters: exact whatever the cap
    assert app.superai_total() == 9 and app.native_total() == 9
    # tags: a bounded count; at least the cap, and more than the rows up to the page's end while more follow
    seen, page, totals = [], 0, []
    while page * 2 < (totals[-1] if totals else 1):
        body = app.v1("GET", f"apps/{app.app_id}/jobs", params={"tags": "t", "size": 2, "page": page})
        seen += [j["id"] for j in body["jobs"]]
        totals.append(body["total"])
        page += 1
    assert seen == ids and totals == [3, 5, 7, 7]
    # past the end a page is empty and the total still the bounded count
    assert app.v1("GET", f"apps/{app.app_id}/jobs", params={"tags": "t", "size": 4, "page": 5})["total"] == 3
    assert app.v1("GET", f"apps/{app.app_id}/jobs", params={"tags": "t", "size": 4, "page": 1})["total"] == 7
    assert app.native_total(q="tabular") == 3
    # the export walks a batch (a narrow filter) to its end
    op = app.v1("POST", f"apps/{app.app_id}/job_responses", params={"batchId": batch_id})["operationId"]
    assert app.v1("GET", f"operations/{app.app_id}/{op}")["jobCount"] == 7
    # per-job lists are bounded the same way (their own cap); one that ends on its first page is exact
    assert app.v05("GET", f"batch/jobs/{job_id}/inputs")["total"] == 1
    walked, offset, total = [], 0, 1
    while offset < total:
        page = app.v05("GET", f"batch/jobs/{job_id}/events", params={"limit": 1, "offset": offset})
        walked += page["events"]
        total, offset = page["total"], offset + 1
        assert total >= min(2, events["total"]) and total <= events["total"]
    assert walked == events["events"] and total == events["total"]


def test_counter_rows_fold_and_keep_the_totals(app, monkeypatch, server):
    for _ in range(4):
        app.create(2, pending=True)
    app.v1("POST", f"apps/{app.app_id}/jobs/queue")
    wait_until(lambda: app.superai_total(statusIn="COMPLETED") == 8, timeout=60)

    def rows() -> tuple[int, int]:
        """(counter rows of the org, distinct keys among them)."""
        c = job_counts.c
        keys = select(c.surface, c.app_id, c.pipeline_type, c.status).where(c.org_id == app.org_id).distinct()
        with app.ctx.sessions() as session:
            return (int(session.scalar(select(func.count()).select_from(job_counts).where(c.org_id == app.org_id))),
                    int(session.scalar(select(func.count()).select_from(keys.subquery()))))

    before, keys = rows()
    assert before > keys if server.backend == "postgresql" else before == keys  # PostgreSQL appends a row per change
    monkeypatch.setattr(app.ctx.settings.limits, "count_fold_rows", 0)
    assert app.superai_total() == 8 and app.native_total() == 8  # the first read folds
    assert rows() == (1, 1) if server.backend == "postgresql" else rows() == (keys, keys)  # one key with jobs left
    assert app.superai_total() == 8 and app.superai_total(statusIn="COMPLETED") == 8 and app.native_total() == 8


# ---- every list reads through an index -----------------------------------------------------------

TABLES = ("jobs", "job_inputs", "job_outputs", "job_events", "job_progress", "files", "apps", "batches",
          "usage_entries", "callback_deliveries", "job_counts", "batch_counts")
SQLITE_SCAN = re.compile(rf"^SCAN ({'|'.join(TABLES)})\b")
PG_SEQ_SCAN = re.compile(rf"Seq Scan on ({'|'.join(TABLES)})\b")
PG_SORT = re.compile(r"(^|->)\s*(Incremental )?Sort\s+\(")  # a Sort node, not a Merge Append's "Sort Key"


def _statements(ctx, call: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The SELECT statements `call` runs in this thread (the scheduler's own are left out)."""
    me, seen = threading.get_ident(), []

    def grab(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() == me and statement.lstrip().upper().startswith(("SELECT", "(SELECT", "WITH")):
            seen.append((statement, parameters))

    event.listen(ctx.db, "before_cursor_execute", grab)
    try:
        call()
    finally:
        event.remove(ctx.db, "before_cursor_execute", grab)
    return seen


def _sorts_limited_ranges(lines: list[str]) -> bool:
    """A PostgreSQL plan whose sort only orders index ranges each cut to offset + limit rows (the
    merge of the ranges of a sort by status: each range's status is fixed, so they come in seq order)."""
    scans = [i for i, line in enumerate(lines) if re.search(r"Scan.* on jobs\b", line)]
    return bool(scans) and all(i > 0 and "Limit" in lines[i - 1] for i in scans)


def _plan_problems(ctx, statement: str, parameters: Any) -> list[str]:
    reads_jobs = re.search(r"\bFROM jobs\b", statement) is not None
    pages = reads_jobs and "ORDER BY" in statement and "LIMIT" in statement
    with ctx.db.connect() as conn:
        if ctx.db.dialect.name == "sqlite":
            lines = [str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
            bad = [line for line in lines if SQLITE_SCAN.match(line)]
            bad += [line for line in lines if pages and "TEMP B-TREE FOR ORDER BY" in line]
        else:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            if pages:
                conn.execute(text("SET LOCAL enable_sort = off"))
            lines = [row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters)]
            bad = [line for line in lines if PG_SEQ_SCAN.search(line)]
            if pages and any(PG_SORT.search(line) for line in lines) and not _sorts_limited_ranges(lines):
                bad += [line for line in lines if PG_SORT.search(line)]
            conn.rollback()
    return [f"{line}  <-  {statement[:300]}" for line in bad]


def test_every_list_reads_through_indexes(app):
    app.create(3, pending=True, tags=["t"])
    _, done = app.create(1, callbackUrl="http://127.0.0.1:9/hook")
    assert app.wait(done[0]) == "COMPLETED"
    ctx, org, app_id, sai = app.ctx, app.org_id, app.app_id, "superai"
    job_id = app.v05("GET", "batch/jobs", params={"limit": 1})["jobs"][0]["id"]
    f = app_job_ops.JobFilter
    one = app.v1("GET", f"jobs/{done[0]}")
    since = datetime.fromisoformat(one["created"])

    def superai(flt: app_job_ops.JobFilter | None = None, sort: str = "id", order: str = "asc", page: int = 0):
        return lambda: app_job_ops.list_jobs(ctx, org, app_id, sai, flt or f(), page, 2, sort, order)

    def newest(app_ref: str | None):
        def run():
            with ctx.sessions() as session:
                job_store.latest_of_surface(session, org, sai, app_ref, 100)
        return run

    lists = {
        "super.AI jobs": superai(),
        "super.AI jobs, page 1, desc": superai(order="desc", page=1),
        "super.AI statusIn": superai(f(status_in=("PENDING", "SCHEDULED"))),
        "super.AI REVIEWED": superai(f(status_in=("REVIEWED",))),
        "super.AI sort created": superai(sort="created", order="desc"),
        "super.AI sort completed": superai(sort="completed"),
        "super.AI sort status": superai(sort="status"),
        "super.AI statusIn sort created": superai(f(status_in=("COMPLETED",)), sort="created"),
        "super.AI created range": superai(f(created_start=since), sort="created"),
        "super.AI completed range": superai(f(completed_start=since), sort="completed", order="desc"),
        "super.AI tags": superai(f(tags=("t",))),
        "super.AI correct": superai(f(correct=True)),
        "super.AI batch (export filter)": superai(f(batch_id=one["batchId"])),
        "super.AI idSearch (export filter)": superai(f(id_search=done[0])),
        "super.AI batches": lambda: app_job_ops.batches(ctx, org, app_id, unprocessed_only=True),
        "super.AI batch": lambda: app_job_ops.batch(ctx, org, app_id, one["batchId"]),
        "super.AI one job": lambda: app_job_ops.find_job(ctx, org, done[0], sai),
        "super.AI one job by uuid": lambda: app_job_ops.find_job(ctx, org, one["uuid"], sai),
        "Gravity latest of the org": newest(None),
        "Gravity latest of an app": newest(app_id),
        "native jobs": lambda: queries.list_jobs(ctx, org, pipeline_type=None, statuses=None, text=None, offset=2,
                                                 limit=2),
        "native status": lambda: queries.list_jobs(ctx, org, pipeline_type=None, statuses=["PENDING", "PARKED"],
                                                   text=None, offset=0, limit=2),
        "native pipeline type": lambda: queries.list_jobs(ctx, org, pipeline_type="batch", statuses=None, text=None,
                                                          offset=0, limit=2),
        "native text": lambda: queries.list_jobs(ctx, org, pipeline_type=None, statuses=None, text="iris",
                                                 offset=0, limit=2),
        "native text and status": lambda: queries.list_jobs(ctx, org, pipeline_type="batch", statuses=["COMPLETED"],
                                                            text="tabular", offset=0, limit=2),
        "native one job": lambda: queries.job_with_counts(ctx, org, job_id),
        "job inputs": lambda: queries.list_inputs(ctx, org, job_id, None, None, 0, 2),
        "job inputs progress": lambda: queries.inputs_progress(ctx, org, job_id, None, None, True, 10),
        "job outputs": lambda: queries.list_outputs(ctx, org, job_id, None, None, 0, 2),
        "job events": lambda: queries.list_events(ctx, org, job_id, None, None, None, 0, 2),
        "job progress": lambda: queries.list_progress(ctx, org, job_id, None, None, 0, 2),
        "files": lambda: files.list_page(ctx, org, 2),
        "apps": lambda: app_service.list_apps(ctx, org, 0, 2),
        "callbacks": lambda: callback_service.list_deliveries(ctx, org, job_id=None, status=None, offset=0, limit=2),
        "usage entries": lambda: usage_service.report(ctx, org, None, None, 0, 2),
    }
    problems = {}
    for name, call in lists.items():
        statements = _statements(ctx, call)
        assert statements, name
        found = [p for statement, parameters in statements for p in _plan_problems(ctx, statement, parameters)]
        if found:
            problems[name] = found
    assert not problems, "\n".join(f"{name}:\n  " + "\n  ".join(p) for name, p in problems.items())
