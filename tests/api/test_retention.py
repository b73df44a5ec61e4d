"""Retention (issue 12 part 5): finished jobs older than the org's retention are deleted with what
they own; jobs that are not finished never are, however old; an org's override wins over the
setting, and 0 keeps everything."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from helpers import host_iris_app, wait_until
from jobport.services import auth, retention
from jobport.store.db import utcnow

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}



class Org:
    def __init__(self, server, model) -> None:
        self.server, self.client = server, server.client
        self.name = f"ret-{uuid.uuid4().hex[:8]}"
        _, self.key = auth.create_key(server.ctx, self.name)
        self.app_id = host_iris_app(self.client, self.key, model)

    def call(self, method: str, path: str, **kw):
        return self.client.request(method, "/v1/" + path, headers={"API-KEY": self.key}, **kw)

    def parked_job(self) -> str:
        r = self.call("POST", f"apps/{self.app_id}/jobs", json={"inputs": [SETOSA], "pending": True})
        assert r.status_code == 200, r.text
        return r.json()["uuid"]

    def finished_job(self) -> str:
        r = self.call("POST", f"apps/{self.app_id}/jobs", json={"inputs": [SETOSA]})
        assert r.status_code == 200, r.text
        job = r.json()["uuid"]
        wait_until(lambda: self.call("GET", f"jobs/{job}").json()["status"] == "COMPLETED", what="job completed")
        return job

    def exists(self, job: str) -> bool:
        r = self.call("GET", f"jobs/{job}")
        assert r.status_code in (200, 404), r.text
        return r.status_code == 200


def test_finished_jobs_past_retention_go_and_unfinished_ones_stay(server, example_model, monkeypatch):
    org = Org(server, example_model)
    finished, waiting = org.finished_job(), org.parked_job()
    monkeypatch.setattr(server.ctx.settings.retention, "job_days", 30.0)

    retention.prune_once(server.ctx, now=utcnow() + timedelta(days=29))
    assert org.exists(finished) and org.exists(waiting)  # not old enough yet

    report = retention.prune_once(server.ctx, now=utcnow() + timedelta(days=31))
    assert report.jobs >= 1
    assert not org.exists(finished)
    assert org.exists(waiting)  # parked for 31 days, but not finished: never pruned
    assert org.call("GET", f"apps/{org.app_id}/jobs").json()["total"] == 1


def test_an_org_override_wins_and_zero_keeps_everything(server, example_model, monkeypatch):
    kept, short = Org(server, example_model), Org(server, example_model)
    old_kept, old_short = kept.finished_job(), short.finished_job()
    monkeypatch.setattr(server.ctx.settings.retention, "job_days", 0.0)  # the setting keeps everything
    retention.set_org_retention(server.ctx, short.name, 1.0)

    retention.prune_once(server.ctx, now=utcnow() + timedelta(days=400))
    assert kept.exists(old_kept) and not short.exists(old_short)

    retention.set_org_retention(server.ctx, short.name, None)  # back to the setting
    again = short.finished_job()
    retention.prune_once(server.ctx, now=utcnow() + timedelta(days=400))
    assert short.exists(again)
    with pytest.raises(Exception, match="job_days"):
        retention.set_org_retention(server.ctx, short.name, -1)
