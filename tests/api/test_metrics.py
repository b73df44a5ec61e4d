"""`/metrics` (issue 14 part 2, the database-read figures): Prometheus text that
`prometheus_client.parser` reads, after real jobs ran; server-wide labels only."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from helpers import machine_csv, machine_job_body, upload, wait_for


def scrape(client) -> dict[str, dict[tuple, float]]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_metrics_count_jobs_that_ran_and_carry_no_per_org_labels(api):
    before = scrape(api.client)
    done_before = before.get("jobport_jobs", {}).get((("pipeline_type", "batch"), ("status", "COMPLETED")), 0)
    upload(api, "idle.csv", machine_csv("idle", 120, seed=1))
    upload(api, "run.csv", machine_csv("run", 120, seed=2))
    upload(api, "line.csv", machine_csv("idle", 60, seed=3))
    job = api.post("/v0.5/batch/jobs", json=machine_job_body(["line.csv"], {"idle.csv": "idle", "run.csv": "run"}))
    assert wait_for(api, job.json()["id"])["status"] == "COMPLETED"

    after = scrape(api.client)
    assert after["jobport_jobs"][(("pipeline_type", "batch"), ("status", "COMPLETED"))] == done_before + 1
    assert set(after["jobport_jobs_queued"]) >= {(("pipeline_type", "batch"),), (("pipeline_type", "training"),)}
    assert after["jobport_oldest_queued_age_seconds"][()] >= 0
    assert after["jobport_callbacks_pending"][()] >= 0 and after["jobport_billed_units"][()] >= 0
    assert after["jobport_scheduler_heartbeat_age_seconds"][()] >= 0  # this server's scheduler reports
    assert any(dict(labels).get("version") for labels in after["jobport_build_info"])
    labels = {name for samples in after.values() for key in samples for name, _ in key}
    assert labels <= {"pipeline_type", "status", "version", "role"}
