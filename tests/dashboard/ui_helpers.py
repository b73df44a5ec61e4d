"""Helpers of the dashboard tests: the CSRF token of a page, signing a browser in, submitting a form
with its token, and making queued jobs through the native API."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from helpers import machine_csv, machine_job_body, upload

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(ui, key: str) -> TestClient:
    browser = ui.browser()
    form = browser.get("/ui/login")
    assert form.status_code == 200
    r = browser.post("/ui/login", data={"api_key": key, "csrf_token": csrf_of(form.text), "next": "/ui/jobs"})
    assert r.status_code == 303, r.text
    return browser


def post_form(browser: TestClient, page_url: str, action: str, data: dict):
    """Submit a form of `page_url` to `action` with the page's CSRF token (a list value: repeated)."""
    token = csrf_of(browser.get(page_url).text)
    return browser.post(action, data={**data, "csrf_token": token})


def make_jobs(api, count: int, name: str = "job", **extra) -> list[str]:
    """`count` machine-state jobs of `api`'s org (queued: the app has no scheduler), oldest first."""
    upload(api, "idle.csv", machine_csv("idle", 40, seed=1))
    upload(api, "run.csv", machine_csv("run", 40, seed=2))
    upload(api, "line.csv", machine_csv("idle", 40, seed=3))
    body = machine_job_body(["line.csv"], {"idle.csv": "idle", "run.csv": "run"})
    ids = []
    for i in range(count):
        r = api.post("/v0.5/batch/jobs", json={**body, "name": f"{name}-{i}", **extra})
        assert r.status_code in (200, 201), r.text
        ids.append(r.json()["id"])
    return ids
