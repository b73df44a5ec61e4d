"""The dashboard's management screens through the ASGI test client, on SQLite and PostgreSQL: Apps
(activate/deactivate seen by the native API), Keys (a created key works on the API, a revoked one
gets 401), Webhooks (filters in the URL, replay makes a new delivery, the signing secret and its
rotation), Usage (per app and day, and its CSV); org and scope isolation and CSRF on every new
POST; the `ui_*` settings honoured; the job page's live inputs/outputs, copy buttons and OpenAI
command; the time-range filter in the browser's zone; and a stream resumed from its URL's `after`."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.ui_helpers import csrf_of, make_jobs, post_form, sign_in
from jobport.callbacks import outbox
from jobport.services import auth
from jobport.services.dashboard import JobFilter
from jobport.store.db import transaction

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
HOOK = "https://1.1.1.1/hook"  # never called: these apps run no deliverer


def org_name(ui, key: str) -> str:
    return auth.authenticate_principal(ui.ctx, key).org.name


@pytest.fixture
def iris(ui, org, example_model):
    """An Iris app of `org` (host_iris_app): its id and name."""
    from helpers import host_iris_app

    name = f"iris-{uuid.uuid4().hex[:6]}"
    return host_iris_app(ui.client, org.key, example_model, name=name), name


def app_key(ui, org, app_name: str) -> str:
    return auth.create_key(ui.ctx, org_name(ui, org.key), app=app_name)[1]


# ---- Apps ------------------------------------------------------------------------------------------------

def test_apps_screen_lists_versions_and_deactivation_shows_on_the_native_api(ui, org, iris):
    app_id, name = iris
    browser = sign_in(ui, org.key)
    page = browser.get("/ui/apps")
    assert page.status_code == 200 and f'id="app-{app_id}"' in page.text and name in page.text
    assert "tabular-model" in page.text and 'class="active-version">1.0.0<' in page.text.replace("\n", "")
    version = org.get(f"/v0.5/apps/{app_id}").json()["versions"][0]
    pricing = version["pricing"]
    if pricing["units_per_group"]:
        assert f"{pricing['units_per_group']} unit" in page.text and f"per {pricing['records_per_group']} record" \
            in page.text
    action = f"/ui/apps/{app_id}/versions/{version['version']}/deactivate"
    assert f'action="{action}"' in page.text
    assert browser.post(action, data={"csrf_token": "forged"}).status_code == 403  # CSRF
    assert org.get(f"/v0.5/apps/{app_id}").json()["versions"][0]["active"] is True
    r = post_form(browser, "/ui/apps", action, {})
    assert r.status_code == 303
    native = org.get(f"/v0.5/apps/{app_id}").json()
    assert native["versions"][0]["active"] is False and native["latest_version"] is None
    page = browser.get("/ui/apps")
    assert "none active" in page.text and "Activate</button>" in page.text
    post_form(browser, "/ui/apps", f"/ui/apps/{app_id}/versions/{version['version']}/activate", {})
    assert org.get(f"/v0.5/apps/{app_id}").json()["versions"][0]["active"] is True
    bad = post_form(browser, "/ui/apps", f"/ui/apps/{app_id}/versions/9.9.9/activate", {})
    assert bad.status_code == 404 and "<code>version</code>" in bad.text
    assert post_form(browser, "/ui/apps", f"/ui/apps/{app_id}/versions/1.0.0/explode", {}).status_code == 404


def test_apps_of_another_org_and_app_keys(ui, org, iris):
    app_id, name = iris
    intruder = ui.new_org()
    other = sign_in(ui, intruder.key)
    assert f'id="app-{app_id}"' not in other.get("/ui/apps").text
    r = post_form(other, "/ui/apps", f"/ui/apps/{app_id}/versions/1.0.0/deactivate", {})
    assert r.status_code == 404
    assert org.get(f"/v0.5/apps/{app_id}").json()["versions"][0]["active"] is True
    scoped = sign_in(ui, app_key(ui, org, name))
    page = scoped.get("/ui/apps")
    assert page.status_code == 200 and f'id="app-{app_id}"' in page.text and "Deactivate</button>" not in page.text
    r = post_form(scoped, "/ui/apps", f"/ui/apps/{app_id}/versions/1.0.0/deactivate", {})
    assert r.status_code == 403 and "scope org" in r.text
    assert scoped.get("/ui/apps?page=0").status_code == 400


# ---- Keys ------------------------------------------------------------------------------------------------

def test_a_key_created_on_the_keys_screen_works_and_revoked_gets_401(ui, org):
    browser = sign_in(ui, org.key)
    page = browser.get("/ui/keys")
    assert page.status_code == 200 and 'id="keys"' in page.text and "this session" in page.text
    assert browser.post("/ui/keys", data={"name": "ci", "scope": "org"}).status_code == 403  # no CSRF token
    created = post_form(browser, "/ui/keys", "/ui/keys", {"name": "ci-runner", "scope": "org"})
    assert created.status_code == 201
    plaintext = re.search(r'<pre class="curl" id="new-key-value">([^<]+)</pre>', created.text).group(1)
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert ui.client.get("/v0.5/batch/jobs", headers=headers).status_code == 200
    again = browser.get("/ui/keys")
    assert plaintext not in again.text and "ci-runner" in again.text  # shown once
    key_id = auth.authenticate_principal(ui.ctx, plaintext).key_id
    assert f'action="/ui/keys/{key_id}/revoke"' in again.text
    assert browser.post(f"/ui/keys/{key_id}/revoke", data={"csrf_token": "forged"}).status_code == 403
    assert ui.client.get("/v0.5/batch/jobs", headers=headers).status_code == 200
    r = post_form(browser, "/ui/keys", f"/ui/keys/{key_id}/revoke", {})
    assert r.status_code == 303
    assert ui.client.get("/v0.5/batch/jobs", headers=headers).status_code == 401
    assert "revoked" in browser.get("/ui/keys").text


def test_keys_screen_isolation_scopes_and_bad_input(ui, org, iris):
    _, name = iris
    victim_id = auth.authenticate_principal(ui.ctx, org.key).key_id
    intruder = ui.new_org()
    other = sign_in(ui, intruder.key)
    assert victim_id not in other.get("/ui/keys").text
    r = post_form(other, "/ui/keys", f"/ui/keys/{victim_id}/revoke", {})
    assert r.status_code == 404
    assert org.get("/v0.5/batch/jobs").status_code == 200
    bad = post_form(other, "/ui/keys", "/ui/keys", {"scope": "emperor"})
    assert bad.status_code == 400 and "<code>scope</code>" in bad.text
    admin_try = post_form(other, "/ui/keys", "/ui/keys", {"scope": "admin"})
    assert admin_try.status_code == 403  # an org key makes no admin keys
    missing = post_form(other, "/ui/keys", "/ui/keys", {"scope": "app"})
    assert missing.status_code == 400 and "<code>app</code>" in missing.text
    browser = sign_in(ui, org.key)
    app_id = org.get("/v0.5/apps").json()["apps"][0]["id"]
    made = post_form(browser, "/ui/keys", "/ui/keys", {"scope": "app", "app": app_id, "name": "bound"})
    assert made.status_code == 201
    scoped = sign_in(ui, app_key(ui, org, name))
    assert scoped.get("/ui/keys").status_code == 403
    assert post_form(scoped, "/ui/apps", "/ui/keys", {"scope": "org"}).status_code == 403
    assert 'href="/ui/keys"' not in scoped.get("/ui/apps").text  # not in an app key's navigation


# ---- Webhooks ----------------------------------------------------------------------------------------------

def settle(ui, org_id: str, status: str = outbox.FAILED) -> None:
    """Record one attempt of every pending delivery of the org, ending it as `status` (these apps run
    no deliverer); other orgs' deliveries are left due as they were."""
    now = datetime.now(UTC)
    with transaction(ui.ctx.sessions) as session:
        for claim in outbox.claim_due(session, now=now + timedelta(seconds=5), lease_until=now, limit=1000):
            if claim.org_id == org_id:
                outbox.record(session, claim, status=status, started_at=now, duration_ms=12,
                              status_code=500 if status == outbox.FAILED else 200,
                              error="HTTP 500" if status == outbox.FAILED else None, next_attempt_at=None)


def test_webhooks_screen_filters_replays_and_rotates(ui, org):
    first, second = make_jobs(org, 2, name="hooked", callback_url=HOOK)
    browser = sign_in(ui, org.key)
    for job_id in (first, second):
        post_form(browser, f"/ui/jobs/{job_id}", f"/ui/jobs/{job_id}/cancel", {})
    settle(ui, org.org_id)
    native = org.get("/v0.5/callbacks").json()["callbacks"]
    assert {d["job_id"] for d in native} == {first, second} and {d["status"] for d in native} == {"failed"}
    page = browser.get("/ui/webhooks")
    assert page.status_code == 200 and all(f'data-delivery-id="{d["id"]}"' in page.text for d in native)
    event = native[0]["event_type"]
    only_first = browser.get(f"/ui/webhooks?job_id={first}&status=failed&event_type={event}")
    ids = re.findall(r'data-delivery-id="([^"]+)"', only_first.text)
    assert ids == [d["id"] for d in native if d["job_id"] == first]
    assert f'value="{first}"' in only_first.text and '<option value="failed" selected>' in only_first.text
    assert re.findall(r'data-delivery-id="', browser.get("/ui/webhooks?status=delivered").text) == []
    assert re.findall(r'data-delivery-id="', browser.get("/ui/webhooks?event_type=job.nothing").text) == []
    bad = browser.get("/ui/webhooks?status=lost")
    assert bad.status_code == 400 and "<code>status</code>" in bad.text
    # replay: a new delivery of the same payload, back on the filtered screen
    target = ids[0]
    back = f"/ui/webhooks?job_id={first}"
    assert browser.post(f"/ui/callbacks/{target}/replay", data={"csrf_token": "x", "back": back}).status_code == 403
    r = post_form(browser, back, f"/ui/callbacks/{target}/replay", {"back": back})
    assert r.status_code == 303 and r.headers["location"] == back
    after = org.get("/v0.5/callbacks", params={"job_id": first}).json()["callbacks"]
    assert len(after) == 2 and after[0]["replay_of"] == target and after[0]["status"] == "pending"
    assert f"replay of {target}" in browser.get(back).text
    # the signing secret, and its rotation (CSRF-checked)
    secret = org.get("/v0.5/callbacks/secret").json()
    assert f'<pre class="curl" id="secret-value">{secret["secret"]}</pre>' in page.text
    assert browser.post("/ui/webhooks/secret/rotate", data={"csrf_token": "x"}).status_code == 403
    assert post_form(browser, "/ui/webhooks", "/ui/webhooks/secret/rotate", {}).status_code == 303
    rotated = org.get("/v0.5/callbacks/secret").json()
    assert rotated["secret"] != secret["secret"] and rotated["previous_secret_expires_at"]
    assert rotated["secret"] in browser.get("/ui/webhooks").text


def test_webhooks_of_another_org_and_app_keys(ui, org, iris):
    _, name = iris
    [job_id] = make_jobs(org, 1, name="hooked", callback_url=HOOK)
    owner = sign_in(ui, org.key)
    post_form(owner, f"/ui/jobs/{job_id}", f"/ui/jobs/{job_id}/cancel", {})
    settle(ui, org.org_id, outbox.DELIVERED)
    [delivery] = org.get("/v0.5/callbacks", params={"job_id": job_id}).json()["callbacks"]
    intruder = sign_in(ui, ui.new_org().key)
    assert delivery["id"] not in intruder.get("/ui/webhooks").text
    assert delivery["id"] not in intruder.get(f"/ui/webhooks?job_id={job_id}").text
    assert post_form(intruder, "/ui/webhooks", f"/ui/callbacks/{delivery['id']}/replay", {}).status_code == 404
    scoped = sign_in(ui, app_key(ui, org, name))
    page = scoped.get("/ui/webhooks")
    assert page.status_code == 200 and delivery["id"] not in page.text  # not of its app's jobs
    assert "needs a key of scope org" in page.text and 'id="secret-value"' not in page.text
    assert post_form(scoped, "/ui/webhooks", "/ui/webhooks/secret/rotate", {}).status_code == 403
    assert post_form(scoped, "/ui/webhooks", f"/ui/callbacks/{delivery['id']}/replay", {}).status_code == 404
    assert len(org.get("/v0.5/callbacks", params={"job_id": job_id}).json()["callbacks"]) == 1


# ---- Usage -------------------------------------------------------------------------------------------------

def test_usage_screen_and_csv_per_app_and_day(ui, org, iris):
    app_id, name = iris
    r = ui.client.post(f"/v1/apps/{app_id}/jobs", headers={"API-KEY": org.key},
                       json={"inputs": [SETOSA, VIRGINICA, SETOSA]})
    assert r.status_code in (200, 201), r.text
    native = org.get("/v0.5/usage").json()
    assert native["totals"]["jobs"] == 3
    browser = sign_in(ui, org.key)
    page = browser.get("/ui/usage")
    assert page.status_code == 200 and name in page.text
    assert f'id="usage-jobs">{native["totals"]["jobs"]}<' in page.text
    assert f'id="usage-billed">{native["totals"]["billed_units"]} units<' in page.text
    today = datetime.now(UTC).date().isoformat()
    download = browser.get(f"/ui/usage.csv?from={today}&to={today}")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"] == f'attachment; filename="usage-{today}-{today}.csv"'
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert rows == [{"day": today, "app_id": app_id, "app_name": name, "jobs": "3",
                     "records": str(native["totals"]["records"]),
                     "record_groups": str(native["totals"]["record_groups"]),
                     "billed_units": str(native["totals"]["billed_units"]),
                     "billed_usd": f'{native["totals"]["billed_units"] / 1000:.3f}'}]
    assert list(csv.DictReader(io.StringIO(browser.get("/ui/usage.csv?from=2000-01-01&to=2000-01-31").text))) == []
    intruder = sign_in(ui, ui.new_org().key)
    assert name not in intruder.get("/ui/usage").text
    assert list(csv.DictReader(io.StringIO(intruder.get(f"/ui/usage.csv?from={today}").text))) == []
    for query, field in (("from=yesterday", "from"), ("to=2026-13-01", "to"), ("from=2026-02-01&to=2026-01-01", "to"),
                         ("from=2000-01-01&to=2026-01-01", "from"), ("from=9999-12-31&to=9999-12-31", "to")):
        bad = browser.get(f"/ui/usage?{query}")
        assert bad.status_code == 400 and f"<code>{field}</code>" in bad.text, query
    assert browser.get("/ui/usage.csv?from=nope").status_code == 400


# ---- settings ----------------------------------------------------------------------------------------------

def test_the_ui_settings_are_honoured(ui, org, monkeypatch):
    limits = ui.ctx.settings.ui
    monkeypatch.setattr(limits, "bulk_action_max", 2)
    monkeypatch.setattr(limits, "export_max_rows", 3)
    monkeypatch.setattr(limits, "job_page_items", 1)
    monkeypatch.setattr(limits, "job_page_events", 1)
    monkeypatch.setattr(limits, "session_max_seconds", 600)
    ids = make_jobs(org, 4, name="capped", tags=["cap"])
    browser = sign_in(ui, org.key)
    login = browser.post("/ui/login", data={"api_key": org.key, "csrf_token": csrf_of(browser.get("/ui/jobs").text)})
    cookie = next(c for c in login.headers.get_list("set-cookie") if c.startswith("jobport_session="))
    assert "max-age=600" in cookie.lower()
    confirm = post_form(browser, "/ui/jobs?tag=cap", "/ui/jobs/bulk", {"bulk": "cancel-filter", "filter": "tag=cap"})
    assert "Whole filter (up to 2)" in browser.get("/ui/jobs").text
    targets = re.findall(r'name="job_id" value="([^"]+)"', confirm.text)
    assert len(targets) == 2
    done = browser.post("/ui/jobs/bulk", data={"action": "cancel", "confirm": "yes", "job_id": ids,
                                               "csrf_token": csrf_of(confirm.text)})
    assert "2 done" in done.text
    statuses = [org.get(f"/v0.5/batch/jobs/{i}").json()["status"] for i in ids]
    assert statuses.count("CANCELLED") == 2 and statuses.count("PENDING") == 2
    exported = list(csv.DictReader(io.StringIO(browser.get("/ui/jobs/export.csv").text)))
    assert len(exported) == 3
    page = browser.get(f"/ui/jobs/{ids[0]}")
    assert page.text.count('<tr id="ev-') == 1  # job_page_events
    inputs = org.get(f"/v0.5/batch/jobs/{ids[0]}/inputs").json()
    total = inputs.get("total", len(inputs.get("inputs", [])))
    assert total >= 2  # the inference file and the n-shots
    assert f"The first 1 of {total}" in page.text and page.text.count('<tr><td class="mono small">inp_') == 1


def test_session_lifetime_setting_ends_a_session(ui, org, monkeypatch):
    browser = sign_in(ui, org.key)
    assert browser.get("/ui/jobs").status_code == 200
    monkeypatch.setattr(ui.ctx.settings.ui, "session_max_seconds", 60)
    import time
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 120)
    assert browser.get("/ui/jobs").status_code == 303  # older than the lifetime: sign in again


# ---- the job page ------------------------------------------------------------------------------------------

def test_job_page_copy_buttons_and_live_inputs_and_outputs(ui, org):
    [job_id] = make_jobs(org, 1, name="live")
    browser = sign_in(ui, org.key)
    page = browser.get(f"/ui/jobs/{job_id}")
    assert '<button type="button" class="ghost copy" data-copy="curl-1">Copy</button>' in page.text
    assert '<pre class="curl" id="curl-1">' in page.text
    assert 'id="job-inputs" sse-swap="inputs"' in page.text and 'id="job-outputs" sse-swap="outputs"' in page.text
    post_form(browser, f"/ui/jobs/{job_id}", f"/ui/jobs/{job_id}/cancel", {})
    stream = browser.get(f"/ui/jobs/{job_id}/stream").text
    assert "event: inputs" in stream and "event: outputs" in stream
    inputs = stream.split("event: inputs", 1)[1].split("\n\n", 1)[0]
    assert "line.csv" in inputs and '<table id="inputs">' in inputs


def test_openai_jobs_get_the_batch_command(ui, org):
    import json

    lines = [json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/embeddings",
                         "body": {"model": "text-embedding-3-small", "input": f"text {i}"}}) for i in range(2)]
    headers = {"Authorization": f"Bearer {org.key}"}
    r = ui.client.post("/v1/files", headers=headers, data={"purpose": "batch"},
                       files={"file": ("batch.jsonl", "\n".join(lines).encode(), "application/jsonl")})
    assert r.status_code == 200, r.text
    r = ui.client.post("/v1/batches", headers=headers, json={"input_file_id": r.json()["id"],
                                                             "endpoint": "/v1/embeddings", "completion_window": "24h"})
    if r.status_code != 200 or not r.json().get("id"):
        pytest.skip(f"this build's OpenAI surface refused the batch: {r.status_code} {r.text[:200]}")
    batch = r.json()
    browser = sign_in(ui, org.key)
    listed = browser.get("/ui/jobs?surface=openai").text
    job_ids = re.findall(r'<tr data-job-id="([^"]+)"', listed)
    if not job_ids:
        pytest.skip(f"the batch made no job ({batch.get('status')})")
    page = browser.get(f"/ui/jobs/{job_ids[0]}")
    assert f'curl -H &#34;Authorization: Bearer $JOBPORT_API_KEY&#34; http://testserver/v1/batches/{batch["id"]}' \
        in page.text
    assert org.get(f"/v1/batches/{batch['id']}").json()["id"] == batch["id"]


# ---- the time-range filter and the stream's resumption ----------------------------------------------------

def test_time_range_in_the_browsers_zone_stays_in_the_url(ui, org):
    [job_id] = make_jobs(org, 1, name="zoned")
    created = datetime.fromisoformat(org.get(f"/v0.5/batch/jobs/{job_id}").json()["created_at"].replace("Z", "+00:00"))
    browser = sign_in(ui, org.key)
    # the same wall-clock hour means another instant in Tokyo (UTC+9) than in UTC
    local = created.astimezone(UTC) + timedelta(hours=9)
    start, end = (local - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"), \
        (local + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    in_tokyo = browser.get(f"/ui/jobs?from={start}&to={end}&tz=Asia/Tokyo")
    assert job_id in in_tokyo.text
    assert job_id not in browser.get(f"/ui/jobs?from={start}&to={end}").text  # UTC: nine hours later
    assert job_id in browser.get(f"/ui/jobs?from={start}&to={end}&tz=%2B09:00").text
    assert 'name="tz" value="Asia/Tokyo"' in in_tokyo.text
    export = re.search(r'href="/ui/jobs/export.csv\?([^"]*)"', in_tokyo.text).group(1)
    assert "tz=Asia%2FTokyo" in export  # the URL keeps the whole view
    assert JobFilter.parse({"tz": ["Europe/Berlin"]}).query_string() == ""  # no times, no zone in the URL
    assert browser.get("/ui/jobs?from=0001-01-01&tz=%2B14:00").status_code == 400  # out of range, not a 500
    for zone in ("Mars/Olympus", "%2B99:00", "..%2F..%2Fetc", "zone.tab", "Europe"):
        bad = browser.get(f"/ui/jobs?from=2026-01-01&tz={zone}")
        assert bad.status_code == 400 and "<code>tz</code>" in bad.text, zone


def test_a_stream_resumes_from_its_urls_after_when_the_header_is_older(ui, org):
    [job_id] = make_jobs(org, 1, name="resumed")
    browser = sign_in(ui, org.key)
    post_form(browser, f"/ui/jobs/{job_id}", f"/ui/jobs/{job_id}/cancel", {})
    ids = [int(x) for x in re.findall(r"^id: (\d+)$", browser.get(f"/ui/jobs/{job_id}/stream").text, flags=re.M)]
    assert len(ids) >= 2
    resumed = browser.get(f"/ui/jobs/{job_id}/stream?after={ids[-2]}", headers={"Last-Event-ID": str(ids[0])})
    assert [int(x) for x in re.findall(r"^id: (\d+)$", resumed.text, flags=re.M)] == ids[-1:]
