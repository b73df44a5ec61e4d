"""The dashboard's Files and New job screens through the ASGI test client, on SQLite and PostgreSQL:
an upload through the form is listed in the UI and by the native API; a machine-state job created
through the form (two ports, class metadata, config) shows the same inputs, metadata and config on
the native API; bad JSON, a missing port and an unknown file come back on the form as the domain's
errors naming the field; CSRF, org isolation, app keys, the size limit and delete."""

from __future__ import annotations

import html
import json
import re
import uuid

from dashboard.test_screens import app_key, iris  # noqa: F401  (iris: a fixture)
from dashboard.ui_helpers import csrf_of, post_form, sign_in
from helpers import machine_csv, upload

READER = {"data_columns": ["a", "b", "c"], "timestamp_column": "timestamp", "window_size": 16, "step_size": 4}


def _names() -> tuple[str, str, str]:
    tag = uuid.uuid4().hex[:6]
    return f"line-{tag}.csv", f"idle-{tag}.csv", f"run-{tag}.csv"


def upload_form(browser, files: list[tuple[str, bytes]], token: str | None = ""):
    if token == "":
        token = csrf_of(browser.get("/ui/files").text)
    data = {"csrf_token": token} if token is not None else {}
    return browser.post("/ui/files", data=data, files=[("file", (n, c, "text/csv")) for n, c in files])


def native_files(org) -> dict[str, dict]:
    r = org.get("/v0.5/files/metadata", params={"limit": 100})
    assert r.status_code == 200, r.text
    return {f["file_id"]: f for f in r.json()["data"]}


def job_form(names: tuple[str, str, str], **changes) -> dict:
    line, idle, run = names
    data = {"pipeline": "machine-state-classification", "name": "from-the-form", "priority": "5",
            "tags": "ui, nightly", "in:worker.inference": [line], "in:worker.n_shots": [idle, run],
            f"class:worker.n_shots:{idle}": "idle", f"class:worker.n_shots:{run}": "run",
            f"meta:worker.n_shots:{run}": '{"source": "bench"}',
            "parameters": json.dumps({"worker": {"config": {"reader_config": READER}}})}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_upload_through_the_form_is_listed_in_the_ui_and_by_the_native_api(ui, org):
    browser = sign_in(ui, org.key)
    line, idle, _ = _names()
    r = upload_form(browser, [(line, machine_csv("idle", 30, seed=1)), (idle, machine_csv("idle", 20, seed=2))])
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/ui/files?uploaded=")
    page = browser.get(r.headers["location"])
    assert page.status_code == 200 and 'id="uploaded"' in page.text
    assert f'data-file-id="{line}"' in page.text and f'data-file-id="{idle}"' in page.text
    assert "30 rows × 4 columns" in page.text
    listed = native_files(org)
    assert listed[line]["file_attributes"]["num_rows"] == 30 and listed[idle]["file_type"] == "text/csv"
    # download: a redirect to a signed link that answers without the session
    link = browser.get(f"/ui/files/{line}/download")
    assert link.status_code == 303 and "signature=" in link.headers["location"]
    assert ui.client.get(link.headers["location"]).content == machine_csv("idle", 30, seed=1)
    # no file chosen, a bad type: 400 pages naming the field
    empty = browser.post("/ui/files", data={"csrf_token": csrf_of(browser.get("/ui/files").text)},
                         files=[("file", ("", b"", "application/octet-stream"))])  # what a browser sends
    assert empty.status_code == 400 and "no file chosen" in empty.text
    bad = browser.post("/ui/files", data={"csrf_token": csrf_of(browser.get("/ui/files").text)},
                       files=[("file", ("x.bin", b"123", "application/zip"))])
    assert bad.status_code == 400 and "is not accepted" in bad.text and "<code>file</code>" in bad.text


def test_upload_needs_csrf_and_respects_the_size_limit(ui, org, monkeypatch):
    browser = sign_in(ui, org.key)
    name = f"nocsrf-{uuid.uuid4().hex[:6]}.csv"
    assert upload_form(browser, [(name, b"a,b\n1,2\n")], token=None).status_code == 403
    assert upload_form(browser, [(name, b"a,b\n1,2\n")], token="forged").status_code == 403
    assert name not in native_files(org)
    monkeypatch.setattr(ui.ctx.settings.limits, "max_upload_bytes", 100)
    big = upload_form(browser, [(name, b"a,b\n" + b"1,2\n" * 100)])
    assert big.status_code == 413 and "larger than the limit of 100 bytes" in big.text
    assert name not in native_files(org)


def test_create_a_machine_state_job_through_the_form(ui, org):
    names = _names()
    line, idle, run = names
    for n, state in zip(names, ("idle", "idle", "run"), strict=True):
        upload(org, n, machine_csv(state, 40, seed=len(n)))
    browser = sign_in(ui, org.key)
    assert 'href="/ui/jobs/new"' in browser.get("/ui/jobs").text and 'href="/ui/files"' in browser.get("/ui/jobs").text
    picked = browser.get("/ui/jobs/new")
    assert picked.status_code == 200 and "machine-state-classification" in picked.text
    form = browser.get("/ui/jobs/new?pipeline=machine-state-classification")
    assert form.status_code == 200
    assert 'name="in:worker.inference"' in form.text and f'name="class:worker.n_shots:{idle}"' in form.text
    prefilled = re.search(r'<textarea name="parameters"[^>]*>(.*?)</textarea>', form.text, re.S)
    assert prefilled and "config" in json.loads(html.unescape(prefilled.group(1)))["worker"]
    r = post_form(browser, "/ui/jobs/new?pipeline=machine-state-classification", "/ui/jobs/new", job_form(names))
    assert r.status_code == 303, r.text
    job_id = r.headers["location"].rsplit("/", 1)[-1]
    assert r.headers["location"] == f"/ui/jobs/{job_id}"
    assert browser.get(r.headers["location"]).status_code == 200
    job = org.get(f"/v0.5/batch/jobs/{job_id}").json()
    assert job["name"] == "from-the-form" and job["pipeline_key"] == "machine-state-classification"
    assert job["parameters"]["worker"]["config"]["reader_config"] == READER
    assert job.get("tags") == ["ui", "nightly"] and job.get("priority") == 5
    inputs = org.get(f"/v0.5/batch/jobs/{job_id}/inputs", params={"limit": 100}).json()
    seen = {(i["port_name"], i["file_id"]): i["data"]["metadata"] for i in inputs["inputs"]}
    assert set(seen) == {("worker.inference", line), ("worker.n_shots", idle), ("worker.n_shots", run)}
    assert seen[("worker.n_shots", idle)] == {"class": "idle"}
    assert seen[("worker.n_shots", run)] == {"class": "run", "source": "bench"}


def test_bad_values_come_back_on_the_form_naming_the_field(ui, org):
    names = _names()
    for n in names:
        upload(org, n, machine_csv("idle", 30))
    browser = sign_in(ui, org.key)
    url = "/ui/jobs/new?pipeline=machine-state-classification"

    def refused(**changes) -> str:
        r = post_form(browser, url, "/ui/jobs/new", job_form(names, **changes))
        assert r.status_code == 400, r.text
        assert 'id="form-problems"' in r.text and 'id="new-job-form"' in r.text  # the form again, values kept
        return r.text

    text = refused(parameters="{not json")
    assert '<code class="problem-field">parameters</code>' in text and "not valid JSON" in text
    assert "{not json" in text
    assert "problem-field\">parameters</code>" in refused(parameters="[1, 2]")
    text = refused(**{"in:worker.inference": None})
    assert "<code class=\"problem-field\">inputs.worker.inference</code>" in text and "required port" in text
    text = refused(**{"in:worker.inference": ["nobody-uploaded-this.csv"]})
    assert "inputs.worker.inference[0].file_id" in text and "has not been uploaded" in text
    text = refused(**{f"class:worker.n_shots:{names[1]}": ""})
    assert "inputs.worker.n_shots[0].metadata.class" in text
    text = refused(parameters=json.dumps({"worker": {"config": {"reader_config": {**READER, "window_size": "x"}}}}))
    assert "parameters.worker.config" in text
    assert "priority" in refused(priority="high")
    assert "problem-field\">name</code>" in refused(name="")
    assert post_form(browser, url, "/ui/jobs/new", job_form(names, pipeline="no-such-pipeline")).status_code == 400
    # CSRF
    r = browser.post("/ui/jobs/new", data=job_form(names))
    assert r.status_code == 403
    assert org.get("/v0.5/batch/jobs", params={"limit": 100}).json().get("total", 0) == 0


def test_another_orgs_file_answers_404_and_delete_removes_it(ui, org):
    other = ui.new_org()
    theirs = f"theirs-{uuid.uuid4().hex[:6]}.csv"
    upload(other, theirs, machine_csv("idle", 10))
    mine = f"mine-{uuid.uuid4().hex[:6]}.csv"
    upload(org, mine, machine_csv("idle", 10))
    browser = sign_in(ui, org.key)
    assert browser.get(f"/ui/files/{theirs}/download").status_code == 404
    assert post_form(browser, "/ui/files", f"/ui/files/{theirs}/delete", {"confirm": "yes"}).status_code == 404
    assert theirs in native_files(other) and f'data-file-id="{theirs}"' not in browser.get("/ui/files").text
    # a job of this org naming the other org's file: the domain's error
    form = post_form(browser, "/ui/jobs/new?pipeline=machine-state-classification", "/ui/jobs/new",
                     job_form((theirs, mine, mine)))
    assert form.status_code == 400 and "inputs.worker.inference[0].file_id" in form.text
    # delete: a confirmation page, then the file is gone (CSRF checked)
    assert browser.post(f"/ui/files/{mine}/delete", data={"confirm": "yes"}).status_code == 403
    confirm = post_form(browser, "/ui/files", f"/ui/files/{mine}/delete", {})
    assert confirm.status_code == 200 and 'id="delete-confirm"' in confirm.text
    assert mine in native_files(org)
    done = browser.post(f"/ui/files/{mine}/delete", data={"confirm": "yes", "csrf_token": csrf_of(confirm.text)})
    assert done.status_code == 303 and done.headers["location"] == "/ui/files"
    assert mine not in native_files(org)
    assert f'data-file-id="{mine}"' not in browser.get("/ui/files").text


def test_app_keys_can_neither_upload_nor_create_jobs(ui, org, iris):  # noqa: F811
    _, name = iris
    scoped = sign_in(ui, app_key(ui, org, name))
    files = scoped.get("/ui/files")
    assert files.status_code == 200 and 'id="upload-form"' not in files.text
    assert 'href="/ui/jobs/new"' not in scoped.get("/ui/jobs").text
    assert scoped.get("/ui/jobs/new").status_code == 403
    token = csrf_of(files.text)
    r = scoped.post("/ui/files", data={"csrf_token": token}, files=[("file", ("x.csv", b"a\n1\n", "text/csv"))])
    assert r.status_code == 403 and "scope" in r.text
    assert scoped.post("/ui/jobs/new", data={"csrf_token": token, "pipeline": "machine-state-classification"}
                       ).status_code == 403


def test_files_screen_pages(ui, org):
    for i in range(3):
        upload(org, f"p{i}-{uuid.uuid4().hex[:4]}.csv", b"a\n1\n")
    browser = sign_in(ui, org.key)
    from jobport.dashboard import routes_files

    old = routes_files.PER_PAGE
    routes_files.PER_PAGE = 2
    try:
        first = browser.get("/ui/files")
        assert first.text.count("data-file-id=") == 2 and 'rel="next"' in first.text
        cursor = re.search(r'href="/ui/files\?after=([^"]+)" rel="next"', first.text).group(1)
        second = browser.get(f"/ui/files?after={cursor}")
        assert second.text.count("data-file-id=") == 1 and 'rel="first"' in second.text
    finally:
        routes_files.PER_PAGE = old
    assert browser.get("/ui/files?after=garbage").status_code == 400
