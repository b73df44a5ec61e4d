"""The dashboard through the ASGI test client, on SQLite and PostgreSQL: sign-in and its cookie, CSRF,
org and scope isolation, the Jobs filters held in the URL, bulk cancel, exports, SSE resume,
same-origin pages with their CSP header, error pages, and the vendored htmx files."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs

from dashboard.ui_helpers import csrf_of, make_jobs, post_form, sign_in
from jobport.services import auth

VENDOR = Path(__file__).parents[2] / "src" / "jobport" / "dashboard" / "static" / "vendor"
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "sse-connect", "hx-get", "hx-post"}


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self.inline_styles = 0
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        self.urls += [v for k, v in attrs if k in URL_ATTRIBUTES and v is not None]
        if tag == "script" and "src" not in values:
            self._in_script = True
        if tag == "style" or "style" in values or any(k.startswith("on") for k in values):
            self.inline_styles += 1

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


def job_statuses(api, ids):
    return [api.get(f"/v0.5/batch/jobs/{i}").json()["status"] for i in ids]


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-job-id="([^"]+)"', html)


def test_sign_in_sets_a_strict_http_only_session_cookie(ui, org):
    browser = ui.browser()
    r = browser.get("/ui/jobs?status=PENDING")
    assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=%2Fui%2Fjobs%3Fstatus%3DPENDING"
    form = browser.get("/ui/login")
    bad = browser.post("/ui/login", data={"api_key": "not-a-key", "csrf_token": csrf_of(form.text)})
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    r = browser.post("/ui/login", data={"api_key": org.key, "csrf_token": csrf_of(form.text), "next": "/ui/jobs"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/jobs"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("jobport_session="))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/ui"} <= flags
    assert org.key not in cookie  # the key itself never travels in the cookie
    page = browser.get("/ui/jobs")
    assert page.status_code == 200 and "Sign out" in page.text
    # an outside target after signing in is refused: back to the dashboard
    r = browser.post("/ui/login", data={"api_key": org.key, "csrf_token": csrf_of(page.text),
                                        "next": "https://evil.example/"})
    assert r.headers["location"] == "/ui/"
    out = post_form(browser, "/ui/jobs", "/ui/logout", {})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert browser.get("/ui/jobs").status_code == 303


def test_a_revoked_key_ends_its_session(ui):
    org_id, key = auth.create_key(ui.ctx, "ui-revoked-org")
    browser = sign_in(ui, key)
    assert browser.get("/ui/jobs").status_code == 200
    principal = auth.authenticate_principal(ui.ctx, key)
    auth.revoke_key(ui.ctx, None, principal.key_id)
    assert browser.get("/ui/jobs").status_code == 303


def test_forms_without_the_csrf_token_are_refused(ui, org):
    [job_id] = make_jobs(org, 1)
    anonymous = ui.browser()
    anonymous.get("/ui/login")
    assert anonymous.post("/ui/login", data={"api_key": org.key}).status_code == 403
    browser = sign_in(ui, org.key)
    r = browser.post(f"/ui/jobs/{job_id}/cancel", data={"csrf_token": "forged"})
    assert r.status_code == 403 and "security token" in r.text
    r = browser.post("/ui/jobs/bulk", data={"bulk": "cancel-selected", "confirm": "yes", "job_id": job_id})
    assert r.status_code == 403
    other = sign_in(ui, org.key)  # another browser's token does not fit this browser's cookie
    token = csrf_of(other.get("/ui/jobs").text)
    assert browser.post(f"/ui/jobs/{job_id}/cancel", data={"csrf_token": token}).status_code == 403
    assert job_statuses(org, [job_id]) == ["PENDING"]
    ok = post_form(browser, f"/ui/jobs/{job_id}", f"/ui/jobs/{job_id}/cancel", {})
    assert ok.status_code == 303 and job_statuses(org, [job_id]) == ["CANCELLED"]


def test_another_orgs_jobs_are_not_found(ui, org):
    [theirs] = make_jobs(org, 1, name="theirs")
    intruder = ui.new_org()
    [mine] = make_jobs(intruder, 1, name="mine")
    browser = sign_in(ui, intruder.key)
    assert row_ids(browser.get("/ui/jobs").text) == [mine]
    for url in (f"/ui/jobs/{theirs}", f"/ui/jobs/{theirs}/events.jsonl", f"/ui/jobs/{theirs}/stream"):
        r = browser.get(url)
        assert r.status_code == 404 and f"job {theirs!r} not found" in r.text.replace("&#39;", "'"), url
    r = post_form(browser, "/ui/jobs", f"/ui/jobs/{theirs}/cancel", {})
    assert r.status_code == 404
    r = post_form(browser, "/ui/jobs", "/ui/jobs/bulk", {"action": "cancel", "confirm": "yes", "job_id": [theirs]})
    assert r.status_code == 200 and "0 done" in r.text
    assert job_statuses(org, [theirs]) == ["PENDING"]
    assert row_ids(browser.get(f"/ui/jobs?q={theirs}").text) == []


def test_an_app_key_sees_only_its_apps_jobs(ui, org, example_model):
    from helpers import host_iris_app

    app_id = host_iris_app(ui.client, org.key, example_model, name="ui-iris")
    native = make_jobs(org, 2, name="native")
    _, app_key = auth.create_key(ui.ctx, next(o.name for o in [auth.authenticate_principal(ui.ctx, org.key).org]),
                                 app="ui-iris")
    browser = sign_in(ui, app_key)
    page = browser.get("/ui/jobs")
    assert page.status_code == 200 and row_ids(page.text) == []
    assert browser.get(f"/ui/jobs/{native[0]}").status_code == 404
    assert browser.get("/ui/jobs?app=some-other-app").status_code == 404
    assert browser.get(f"/ui/jobs?app={app_id}").status_code == 200
    assert browser.get("/ui/system").status_code == 403  # the System page is for admin keys
    overview = browser.get("/ui/overview")
    assert overview.status_code == 200 and 'id="tile-queued"><span class="n">0</span>' in overview.text


def test_filters_round_trip_through_the_url(ui, org):
    tagged = make_jobs(org, 2, name="alpha", tags=["nightly", "eu"], metadata={"team": "ml"})
    make_jobs(org, 1, name="beta", tags=["nightly"], metadata={"team": "ops"})
    browser = sign_in(ui, org.key)
    query = "status=PENDING&tag=nightly&meta=team%3Dml&surface=archetype&pipeline=machine-state-classification"
    page = browser.get(f"/ui/jobs?{query}")
    assert page.status_code == 200
    assert row_ids(page.text) == tagged[::-1]
    html = page.text
    assert '<input type="checkbox" name="status" value="PENDING" checked>' in html
    assert '<input type="text" name="tag" value="nightly">' in html
    assert '<input type="text" name="meta" value="team=ml">' in html
    assert '<option value="archetype" selected>' in html
    export = re.search(r'href="/ui/jobs/export.csv\?([^"]*)"', html).group(1).replace("&amp;", "&")
    assert parse_qs(export) == parse_qs(query)  # the export keeps the view
    assert row_ids(browser.get(f"/ui/jobs?q={tagged[0]}").text) == [tagged[0]]
    assert row_ids(browser.get("/ui/jobs?q=alpha-1").text) == [tagged[1]]
    assert row_ids(browser.get("/ui/jobs?tag=nightly&tag=eu").text) == tagged[::-1]
    assert row_ids(browser.get("/ui/jobs?status=COMPLETED").text) == []
    assert row_ids(browser.get("/ui/jobs?from=2000-01-01&to=2000-01-02").text) == []
    paged = browser.get("/ui/jobs?tag=nightly&per_page=2&page=2")
    assert len(row_ids(paged.text)) == 1 and 'href="/ui/jobs?tag=nightly&amp;per_page=2" rel="prev"' in paged.text


def test_bad_filter_values_answer_a_clear_400_page(ui, org):
    browser = sign_in(ui, org.key)
    for query, field in (("status=DONE", "status"), ("from=yesterday", "from"), ("meta=team", "meta"),
                         ("page=0", "page"), ("per_page=abc", "per_page"), ("surface=fax", "surface"),
                         ("from=2026-02-01&to=2026-01-01", "to")):
        r = browser.get(f"/ui/jobs?{query}")
        assert r.status_code == 400, query
        assert f"<code>{field}</code>" in r.text and 'id="error-message"' in r.text, query
    assert browser.get("/ui/jobs/export.csv?status=DONE").status_code == 400
    assert browser.get("/ui/jobs/job_nope").status_code == 404
    assert browser.get("/ui/jobs/job_nope/stream?after=x").status_code == 400
    assert browser.get("/ui/nowhere").status_code == 404


def test_bulk_cancel_by_filter_after_confirmation(ui, org):
    doomed = make_jobs(org, 3, name="doomed", tags=["bulk"])
    kept = make_jobs(org, 1, name="kept")
    browser = sign_in(ui, org.key)
    confirm = post_form(browser, "/ui/jobs?tag=bulk", "/ui/jobs/bulk", {"bulk": "cancel-filter", "filter": "tag=bulk"})
    assert confirm.status_code == 200 and "Cancel 3 jobs?" in confirm.text
    assert set(re.findall(r'name="job_id" value="([^"]+)"', confirm.text)) == set(doomed)
    assert job_statuses(org, doomed) == ["PENDING"] * 3  # nothing happens before the confirmation
    done = browser.post("/ui/jobs/bulk", data={"action": "cancel", "confirm": "yes", "filter": "tag=bulk",
                                               "job_id": doomed, "csrf_token": csrf_of(confirm.text)})
    assert done.status_code == 200 and "3 done, 0 skipped" in done.text
    assert job_statuses(org, doomed) == ["CANCELLED"] * 3 and job_statuses(org, kept) == ["PENDING"]
    again = post_form(browser, "/ui/jobs", "/ui/jobs/bulk", {"bulk": "cancel-filter", "filter": "tag=bulk"})
    assert "No job of this filter can be cancelled" in again.text
    retry = post_form(browser, "/ui/jobs", "/ui/jobs/bulk", {"action": "retry", "confirm": "yes", "job_id": doomed})
    assert "3 done" in retry.text and job_statuses(org, doomed) == ["PENDING"] * 3


def test_bulk_cancel_of_the_selection(ui, org):
    first, second = make_jobs(org, 2, name="pick")
    browser = sign_in(ui, org.key)
    confirm = post_form(browser, "/ui/jobs", "/ui/jobs/bulk", {"bulk": "cancel-selected", "job_id": [second]})
    assert "Cancel 1 job?" in confirm.text
    empty = post_form(browser, "/ui/jobs", "/ui/jobs/bulk", {"bulk": "cancel-selected"})
    assert empty.status_code == 400 and "no job is selected" in empty.text
    post_form(browser, "/ui/jobs", "/ui/jobs/bulk", {"action": "cancel", "confirm": "yes", "job_id": [second]})
    assert job_statuses(org, [first, second]) == ["PENDING", "CANCELLED"]


def test_exports_hold_the_filtered_list(ui, org):
    wanted = make_jobs(org, 3, name="export", tags=["x"], metadata={"run": "7"})
    make_jobs(org, 1, name="other")
    browser = sign_in(ui, org.key)
    r = browser.get("/ui/jobs/export.csv?tag=x")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'attachment; filename="jobs.csv"' == r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["id"] for row in rows] == wanted[::-1]
    assert {row["status"] for row in rows} == {"PENDING"} and rows[0]["tags"] == "x"
    assert json.loads(rows[0]["metadata"]) == {"run": "7"} and rows[0]["inputs_pending"] == "1"
    lines = browser.get("/ui/jobs/export.jsonl?tag=x&meta=run=7").text.splitlines()
    records = [json.loads(line) for line in lines]
    assert [rec["id"] for rec in records] == wanted[::-1]
    assert records[0]["surface"] == "archetype" and records[0]["created_at"].endswith("Z")


def _sse_ids(body: str) -> list[int]:
    return [int(x) for x in re.findall(r"^id: (\d+)$", body, flags=re.M)]


def test_job_stream_resumes_after_last_event_id(ui, org):
    [job_id] = make_jobs(org, 1, name="streamed")
    browser = sign_in(ui, org.key)
    post_form(browser, f"/ui/jobs/{job_id}", f"/ui/jobs/{job_id}/cancel", {})
    events = [json.loads(line) for line in browser.get(f"/ui/jobs/{job_id}/events.jsonl").text.splitlines()]
    assert len(events) >= 2 and events[-1]["message"] == "Cancelled by request"
    full = browser.get(f"/ui/jobs/{job_id}/stream")
    assert full.status_code == 200 and full.headers["content-type"].startswith("text/event-stream")
    assert _sse_ids(full.text) == [e["id"] for e in events]
    assert "event: summary" in full.text and 'id="job-status">CANCELLED<' in full.text
    assert full.text.rstrip().endswith("event: end\ndata: ended")
    resumed = browser.get(f"/ui/jobs/{job_id}/stream", headers={"Last-Event-ID": str(events[0]["id"])})
    assert _sse_ids(resumed.text) == [e["id"] for e in events[1:]]
    assert _sse_ids(browser.get(f"/ui/jobs/{job_id}/stream?after={events[-1]['id']}").text) == []


def test_new_jobs_banner_counts_jobs_created_after_the_page(ui, org):
    make_jobs(org, 1, name="before")
    browser = sign_in(ui, org.key)
    page = browser.get("/ui/jobs?tag=fresh")
    after = re.search(r'sse-connect="/ui/jobs/stream\?after=(\d+)', page.text).group(1)
    make_jobs(org, 2, name="later", tags=["fresh"])
    make_jobs(org, 1, name="untagged")
    with browser.stream("GET", f"/ui/jobs/stream?after={after}&tag=fresh") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: <a"):
                assert "2 new jobs" in line and 'href="/ui/jobs?tag=fresh"' in line
                break


def test_job_page_shows_inputs_with_working_downloads_and_a_searchable_timeline(ui, org):
    [job_id] = make_jobs(org, 1, name="detailed", metadata={"team": "ml"})
    browser = sign_in(ui, org.key)
    page = browser.get(f"/ui/jobs/{job_id}")
    assert page.status_code == 200
    assert 'id="job-status">PENDING<' in page.text and "detailed-0" in page.text
    assert "1 pending of 1 input" in page.text and 'href="/ui/jobs?meta=team%3Dml"' in page.text
    link = re.search(r'<a href="(/blobs/[^"]+)" download>line.csv</a>', page.text).group(1).replace("&amp;", "&")
    download = browser.get(link)
    assert download.status_code == 200 and download.content.startswith(b"timestamp,a,b,c")
    assert "curl -H &#34;Authorization: Bearer $JOBPORT_API_KEY&#34;" in page.text
    post_form(browser, f"/ui/jobs/{job_id}", f"/ui/jobs/{job_id}/cancel", {})
    searched = browser.get(f"/ui/jobs/{job_id}?q=cancelled+by")
    assert "Cancelled by request" in searched.text and searched.text.count('<tr id="ev-') == 1
    assert 'id="job-status">CANCELLED<' in searched.text


def test_overview_counts_and_links_to_the_filtered_list(ui):
    org = ui.new_org()
    ids = make_jobs(org, 3, name="ov")
    browser = sign_in(ui, org.key)
    post_form(browser, f"/ui/jobs/{ids[0]}", f"/ui/jobs/{ids[0]}/cancel", {})
    page = browser.get("/ui/overview")
    assert page.status_code == 200
    assert '<a class="tile" href="/ui/jobs?status=PENDING&amp;status=PREEMPTED" id="tile-queued"><span class="n">2' \
           in page.text
    assert 'href="/ui/jobs?status=CANCELLED"' in page.text and "<svg" in page.text
    listed = browser.get("/ui/jobs?status=PENDING&status=PREEMPTED")
    assert set(row_ids(listed.text)) == set(ids[1:])


def test_every_page_is_same_origin_under_the_csp(ui, org):
    [job_id] = make_jobs(org, 1, name="csp")
    admin = sign_in(ui, "ui-admin-key")
    pages = ["/ui/login", "/ui/overview", "/ui/jobs", f"/ui/jobs/{job_id}", "/ui/system", "/ui/jobs?status=BAD",
             "/ui/nowhere", "/ui/apps", "/ui/keys", "/ui/webhooks", "/ui/usage", "/ui/usage?from=bad"]
    for url in pages:
        r = admin.get(url)
        assert r.status_code in (200, 400, 404), url
        assert "default-src 'self'" in r.headers["content-security-policy"], url
        parser = Links()
        parser.feed(r.text)
        assert parser.urls, url
        for target in parser.urls:
            assert target.startswith("/") and not target.startswith("//") or target.startswith("http://testserver/"), \
                (url, target)
        assert parser.inline_scripts == 0 and parser.inline_styles == 0, url
    static = admin.get("/ui/static/app.css")
    assert static.status_code == 200 and "default-src 'self'" in static.headers["content-security-policy"]


def test_vendored_htmx_files_match_their_recorded_sha256(ui):
    recorded = json.loads((VENDOR / "VERSIONS.json").read_text())["files"]
    assert {f["package"]: f["version"].split(".")[0] for f in recorded} == {"htmx.org": "2", "htmx-ext-sse": "2"}
    browser = ui.browser()
    for entry in recorded:
        served = browser.get(f"/ui/static/vendor/{entry['file']}")
        assert served.status_code == 200
        assert hashlib.sha256(served.content).hexdigest() == entry["sha256"] == \
            hashlib.sha256((VENDOR / entry["file"]).read_bytes()).hexdigest()
    page = sign_in(ui, "ui-admin-key").get("/ui/jobs").text
    assert '<script src="/ui/static/vendor/htmx.min.js" defer>' in page
    assert '<script src="/ui/static/vendor/sse.min.js" defer>' in page
