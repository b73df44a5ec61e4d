"""The dashboard in Chromium (Debian's /usr/bin/chromium through Playwright; never `playwright
install`) against a real server on 127.0.0.1: sign in, a filter that survives a reload, bulk cancel
with its confirmation, the dark-mode toggle, a job page that turns COMPLETED live once the
scheduler runs the job, and an upload through the Files screen with a job made by the New job form.
Every request to a host other than 127.0.0.1 is aborted and fails the test.
Screenshots are saved under the test's tmp dir."""

from __future__ import annotations

import os
import re
import threading
import time

import httpx
import pytest

from helpers import machine_csv, machine_job_body, make_settings
from jobport.server import create_app, start_background
from jobport.testing.embedded import free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ADMIN_KEY = "browser-admin-key"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium at /usr/bin/chromium")


@pytest.fixture
def live(tmp_path):
    """A real uvicorn server on 127.0.0.1 whose scheduler starts when the test says (`start_scheduler`)."""
    import uvicorn

    settings = make_settings(home=tmp_path / "home", admin_key=ADMIN_KEY, workers=1)
    app = create_app(settings, run_scheduler=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    url = f"http://127.0.0.1:{server.config.port}"
    backgrounds = []

    def start_scheduler():
        backgrounds.append(start_background(app.state.ctx, True))

    try:
        yield url, start_scheduler
    finally:
        for background in backgrounds:
            background.stop()
        server.should_exit = True
        thread.join(timeout=30)


def make_job(client: httpx.Client, name: str, tags: list[str]) -> str:
    for file_name, state, seed in (("idle.csv", "idle", 1), ("run.csv", "run", 2), ("line.csv", "run", 3)):
        r = client.post("/v0.5/files", files={"file": (file_name, machine_csv(state, 120, seed=seed), "text/csv")})
        assert r.status_code == 200, r.text
    body = machine_job_body(["line.csv"], {"idle.csv": "idle", "run.csv": "run"}, name=name)
    r = client.post("/v0.5/batch/jobs", json={**body, "tags": tags})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_the_dashboard_in_chromium(live, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, start_scheduler = live
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30) as api:
        watched = make_job(api, "watched-live", ["live"])
        doomed = [make_job(api, f"doomed-{i}", ["bulk"]) for i in range(2)]
        make_job(api, "bystander", ["other"])
    outside: list[str] = []

    def only_loopback(route):
        if route.request.url.startswith(url + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1360, "height": 900}, color_scheme="light")
        context.route("**/*", only_loopback)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        try:
            # sign in
            page.goto(f"{url}/ui/jobs")
            expect(page).to_have_url(f"{url}/ui/login?next=%2Fui%2Fjobs")
            page.fill("#api-key", ADMIN_KEY)
            page.click("#login-form button[type=submit]")
            expect(page).to_have_url(f"{url}/ui/jobs")
            expect(page.locator("#jobs-table tbody tr[data-job-id]")).to_have_count(4)

            # a filter, kept by a reload
            page.fill("#f-tag", "bulk")
            page.click("#apply-filter")
            expect(page).to_have_url(re.compile(r"/ui/jobs\?.*\btag=bulk\b"))
            page.reload()
            expect(page.locator("#jobs-table tbody tr[data-job-id]")).to_have_count(2)
            expect(page.locator('input[name="tag"][value="bulk"]')).to_have_count(1)

            # bulk cancel of the whole filter, after its confirmation
            page.click("#bulk-cancel-filter")
            expect(page.locator("h1")).to_have_text("Cancel 2 jobs?")
            page.click("#bulk-confirm")
            expect(page.locator("#bulk-result")).to_have_text("2 done, 0 skipped.")
            page.click("#bulk-back")
            expect(page.locator("#jobs-table .badge")).to_have_text(["CANCELLED", "CANCELLED"])
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api:
                assert [api.get(f"/v0.5/batch/jobs/{i}").json()["status"] for i in doomed] == ["CANCELLED"] * 2
            page.goto(f"{url}/ui/jobs")
            assert page.locator("#f-tz").input_value()  # the browser's zone, for the time range
            page.screenshot(path=str(shots / "dashboard-jobs.png"), full_page=True)
            for screen, marker in (("apps", "h1"), ("keys", "#keys"), ("webhooks", "#deliveries"),
                                   ("usage", "#usage-days")):
                page.goto(f"{url}/ui/{screen}")
                expect(page.locator(marker)).to_have_count(1)

            # dark mode: the toggle switches it, localStorage keeps it across pages
            light = page.evaluate("getComputedStyle(document.body).backgroundColor")
            page.click("#theme-toggle")
            expect(page.locator("html")).to_have_attribute("data-theme", "dark")
            page.goto(f"{url}/ui/overview")
            expect(page.locator("html")).to_have_attribute("data-theme", "dark")
            assert page.evaluate("getComputedStyle(document.body).backgroundColor") != light
            page.click("#theme-toggle")  # dark -> light
            expect(page.locator("html")).to_have_attribute("data-theme", "light")

            # the job page turns COMPLETED live once the scheduler runs the job
            page.goto(f"{url}/ui/jobs/{watched}")
            expect(page.locator("#job-status")).to_have_text("PENDING")
            page.wait_for_timeout(500)  # the page's event stream is open
            start_scheduler()
            expect(page.locator("#job-status")).to_have_text("COMPLETED", timeout=90_000)
            expect(page.locator("#timeline-rows tr").last).to_contain_text("job.completed")
            expect(page.locator("#job-completed-at time")).to_have_count(1)
            # inputs and outputs follow live; the stream's URL moved on to the last event received
            expect(page.locator("#outputs tbody a[download]").first).to_be_visible(timeout=30_000)
            expect(page.locator("#inputs tbody tr").first).to_contain_text("completed")
            last_row = page.locator("#timeline-rows tr").last.get_attribute("id").removeprefix("ev-")
            assert f"after={last_row}" in page.locator("#live").get_attribute("sse-connect")
            page.click("button[data-copy=curl-1]")
            expect(page.locator("button[data-copy=curl-1]")).to_have_text("Copied")
            page.screenshot(path=str(shots / "dashboard-job.png"), full_page=True)

            # upload through the Files screen (a file chooser) and create a job through the New job form
            page.goto(f"{url}/ui/files")
            page.set_input_files("#upload-file", files=[
                {"name": n, "mimeType": "text/csv", "buffer": machine_csv(state, 60, seed=seed)}
                for n, state, seed in (("b-line.csv", "run", 5), ("b-idle.csv", "idle", 6), ("b-run.csv", "run", 7))])
            page.click("#upload-submit")
            expect(page.locator("#uploaded")).to_contain_text("b-line.csv")
            expect(page.locator('#files-table tr[data-file-id="b-run.csv"]')).to_have_count(1)
            page.click("#nav-new-job")
            expect(page).to_have_url(f"{url}/ui/jobs/new")
            page.wait_for_load_state("load")  # app.js has wired the menu
            page.select_option("#pipeline-select", "machine-state-classification")  # app.js shows its form
            expect(page.locator("#new-job-form")).to_be_visible()
            page.fill("#job-name", "from-the-browser")
            page.select_option('select[name="in:worker.inference"]', ["b-line.csv"])
            for shot, label in (("b-idle.csv", "idle"), ("b-run.csv", "run")):
                page.check(f'input[name="in:worker.n_shots"][value="{shot}"]')
                page.fill(f'input[name="class:worker.n_shots:{shot}"]', label)
            page.fill("#job-parameters", '{"worker": {"config": {"reader_config": {"data_columns": ["a", "b", "c"], '
                                         '"timestamp_column": "timestamp", "window_size": 16, "step_size": 4}}}}')
            page.click("#create-job")
            expect(page).to_have_url(re.compile(r"/ui/jobs/job_[0-9a-z]+$"))
            expect(page.locator("#job-status")).to_have_count(1)
            expect(page.locator("main")).to_contain_text("from-the-browser")
            page.goto(f"{url}/ui/overview")
            expect(page.locator("#chart-timings")).to_have_count(1)
            page.screenshot(path=str(shots / "dashboard-overview.png"), full_page=True)
        finally:
            browser.close()
    assert outside == [], f"requests left the loopback host: {outside}"
    assert not [e for e in errors if "Content Security Policy" in e], errors
    assert all((shots / name).stat().st_size > 10_000 for name in
               ("dashboard-jobs.png", "dashboard-job.png", "dashboard-overview.png"))
    print(f"screenshots in {shots}")
