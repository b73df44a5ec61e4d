"""`/metrics` (issue 14 part 2): Prometheus text that `prometheus_client.parser` reads, after real
jobs ran: the database-read figures and the process's own counters and histograms (HTTP requests
by route template, jobs submitted and finished, queue wait and run time, scheduler ticks, worker
slots), with server-wide labels only; and each role's process exposes what happened in it."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from helpers import machine_csv, machine_job_body, make_settings, upload, wait_until
from jobport.server import create_app

LABELS = {"pipeline_type", "status", "version", "role", "surface", "method", "route", "status_class", "result", "le"}
ID_LIKE = re.compile(r"(job|org|inp|key|fil)_[0-9a-z]{20,}")
BATCH_DONE = (("pipeline_type", "batch"), ("status", "COMPLETED"))


def scrape(client) -> dict[str, dict[tuple, float]]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def run_machine_job(api) -> str:
    upload(api, "idle.csv", machine_csv("idle", 120, seed=1))
    upload(api, "run.csv", machine_csv("run", 120, seed=2))
    upload(api, "line.csv", machine_csv("idle", 60, seed=3))
    job = api.post("/v0.5/batch/jobs", json=machine_job_body(["line.csv"], {"idle.csv": "idle", "run.csv": "run"}))
    assert job.status_code in (200, 201), job.text
    return job.json()["id"]


def test_metrics_count_jobs_that_ran_and_carry_no_per_org_labels(api):
    before = scrape(api.client)
    job_id = run_machine_job(api)
    done = dict(pipeline_type="batch", status="COMPLETED")
    finished_before = value(before, "jobport_jobs_finished_total", **done)

    def counted() -> dict | None:  # the scheduler counts a finish right after its commit: wait for it
        found = scrape(api.client)
        return found if value(found, "jobport_jobs_finished_total", **done) > finished_before else None

    wait_until(counted, what="the finish counted")
    assert api.get(f"/v0.5/batch/jobs/{job_id}").json()["status"] == "COMPLETED"
    after = scrape(api.client)

    # the database-read figures
    assert after["jobport_jobs"][BATCH_DONE] == before.get("jobport_jobs", {}).get(BATCH_DONE, 0) + 1
    assert set(after["jobport_jobs_queued"]) >= {(("pipeline_type", "batch"),), (("pipeline_type", "training"),)}
    assert after["jobport_oldest_queued_age_seconds"][()] >= 0
    assert after["jobport_callbacks_pending"][()] >= 0 and after["jobport_billed_units"][()] >= 0
    assert after["jobport_scheduler_heartbeat_age_seconds"][()] >= 0  # this server's scheduler reports
    assert any(dict(labels).get("version") for labels in after["jobport_build_info"])

    # this process's own: one job submitted on the native surface, one finished, each observed
    def grew(name: str, **labels) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("jobport_jobs_submitted_total", pipeline_type="batch", surface="archetype") == 1
    assert grew("jobport_jobs_finished_total", **done) == 1
    assert grew("jobport_job_run_duration_seconds_count", **done) == 1
    assert grew("jobport_job_queue_wait_seconds_count", pipeline_type="batch") >= 1
    assert value(after, "jobport_job_queue_wait_seconds_bucket", pipeline_type="batch", le="+Inf") >= 1
    assert value(after, "jobport_scheduler_ticks_total") > 0
    assert value(after, "jobport_scheduler_tick_duration_seconds_count") > 0
    assert value(after, "jobport_scheduler_last_tick_timestamp_seconds") > 0
    assert "jobport_worker_slots_available" in after and "jobport_worker_tasks_in_flight" in after
    results = ("delivered", "failed", "given_up")
    assert set(after["jobport_callback_attempts_total"]) == {(("result", r),) for r in results}

    # HTTP requests by route template and status class, never by raw URL
    polled = dict(method="GET", route="/v0.5/batch/jobs/{job_id}", status_class="2xx")
    assert grew("jobport_http_requests_total", **polled) >= 1
    assert grew("jobport_http_request_duration_seconds_count", **polled) >= 1
    created = dict(method="POST", route="/v0.5/batch/jobs", status_class="2xx")
    assert grew("jobport_http_requests_total", **created) == 1

    labels = {name for samples in after.values() for key in samples for name, _ in key}
    assert labels <= LABELS
    values = [v for samples in after.values() for key in samples for _, v in key]
    assert not [v for v in values if ID_LIKE.search(v) or job_id in v or api.org_id in v]


def test_unmatched_paths_share_one_route_label(api):
    api.get("/no/such/path/job_01abc")
    api.get("/another/unknown")
    found = scrape(api.client)
    routes = {dict(k).get("route") for k in found["jobport_http_requests_total"]}
    assert "unmatched" in routes and not [r for r in routes if "no/such" in r or "unknown" in r]
    assert value(found, "jobport_http_requests_total", method="GET", route="unmatched", status_class="4xx") >= 2


def test_two_apps_in_one_process_count_apart(tmp_path):
    settings = make_settings(home=tmp_path, executor="inline", blob_store="memory", example_app=False)
    with TestClient(create_app(settings, run_scheduler=False)) as one, \
            TestClient(create_app(settings.model_copy(update={"home": tmp_path / "two"}), run_scheduler=False)) as two:
        for _ in range(3):
            one.get("/healthz")
        two.get("/healthz")
        ops = dict(method="GET", route="/healthz", status_class="2xx")
        assert value(scrape(one), "jobport_http_requests_total", **ops) == 3
        assert value(scrape(two), "jobport_http_requests_total", **ops) == 1


def test_each_role_exposes_what_happened_in_its_process(own_pg_database, tmp_path):
    """A job created on an API replica and run by a scheduler process: the replica counts the
    submission and its HTTP requests, the scheduler process the start, the finish and its ticks."""
    # one home: the two processes share its blob directory
    common = dict(home=tmp_path, database_url=own_pg_database, executor="inline", example_app=False,
                  admin_key="roles-admin-key")
    scheduler_app = create_app(make_settings(role="scheduler", **common))
    api_app = create_app(make_settings(role="api", **common))
    with TestClient(scheduler_app) as scheduler, TestClient(api_app) as replica:
        from conftest import Api

        api = Api(replica, "roles-admin-key", "")
        job_id = run_machine_job(api)
        done = dict(pipeline_type="batch", status="COMPLETED")
        wait_until(lambda: value(scrape(scheduler), "jobport_jobs_finished_total", **done) == 1, timeout=60,
                   what="the scheduler process to count the finish")
        assert api.get(f"/v0.5/batch/jobs/{job_id}").json()["status"] == "COMPLETED"
        on_scheduler, on_replica = scrape(scheduler), scrape(replica)
    assert value(on_scheduler, "jobport_job_run_duration_seconds_count", **done) == 1
    assert value(on_scheduler, "jobport_job_queue_wait_seconds_count", pipeline_type="batch") == 1
    assert value(on_scheduler, "jobport_scheduler_ticks_total") > 0
    assert value(on_scheduler, "jobport_jobs_submitted_total", pipeline_type="batch", surface="archetype") == 0
    assert value(on_replica, "jobport_jobs_submitted_total", pipeline_type="batch", surface="archetype") == 1
    assert value(on_replica, "jobport_jobs_finished_total", **done) == 0
    assert "jobport_scheduler_ticks_total" in on_replica and value(on_replica, "jobport_scheduler_ticks_total") == 0
    assert value(on_replica, "jobport_http_requests_total", method="POST", route="/v0.5/batch/jobs",
                 status_class="2xx") == 1
    # both read the same server-wide figures from the database
    assert on_replica["jobport_jobs"][BATCH_DONE] == on_scheduler["jobport_jobs"][BATCH_DONE] == 1
