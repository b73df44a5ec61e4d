"""No input gets a 500, and a 500 does not cost the connection (issue 12): integers past 64 bits
in queries, paths and JSON bodies, multipart part headers past the limit, deep nesting and invalid
JSON are 4xx in each surface's own error format naming the field and the limit; a duplicate CSV
header and Gravity's rename errors are plain sentences; and a fault nothing handled is a 500 in
the surface's format after which the client's keep-alive connection still serves it (a real
uvicorn server, with a service made to raise)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from helpers import machine_job_body, make_settings
from jobport.server import create_app
from jobport.services import app_job_ops, auth
from jobport.services.jobs import posted_file, queries
from surface_orgs import TOO_BIG, SurfaceOrg, error_text

CSV_MIME = "text/csv; header=present"
IRIS_CSV = b"sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n"



@pytest.fixture(scope="module")
def org(server, example_model) -> SurfaceOrg:
    return SurfaceOrg(server, example_model)


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def gravity_post(org: SurfaceOrg, data: str, filename: str = "iris.csv", content: bytes = IRIS_CSV):
    return org.gravity("POST", data={"data": data}, files={"file": (filename, content, "text/csv")})


# ---- D1: integers past 64 bits in queries and paths ------------------------------------------------

@pytest.mark.parametrize(("surface", "path", "field"), [
    ("archetype", f"batch/jobs?offset={TOO_BIG}", "offset"),
    ("archetype", f"batch/jobs?offset={10**18 + 1}", "offset"),
    ("archetype", f"batch/jobs/job_01h/inputs?offset={TOO_BIG}", "offset"),
    ("archetype", f"batch/jobs/job_01h/events?offset={TOO_BIG}", "offset"),
    ("archetype", f"apps?offset={TOO_BIG}", "offset"),
    ("archetype", f"usage?offset={TOO_BIG}", "offset"),
    ("archetype", f"callbacks?offset={TOO_BIG}", "offset"),
    ("archetype", f"batch/registry/pipelines?offset={TOO_BIG}", "offset"),
    ("archetype", f"batch/jobs?limit={TOO_BIG}", "limit"),
    ("superai", f"apps/{{app}}/jobs?page={TOO_BIG}", "page"),
    ("superai", f"apps/{{app}}/jobs?page={10**17}&size=100", "page"),
    ("superai", f"apps/{{app}}/jobs?size={TOO_BIG}", "size"),
    ("superai", f"operations/{{app}}/{TOO_BIG}", "operation_id"),
])
def test_an_integer_past_the_range_in_a_query_or_path_is_a_400_naming_it(org, surface, path, field):
    r = org.call(surface, "GET", path)
    assert r.status_code == 400, r.text
    assert field in error_text(surface, r)


def test_an_operation_download_url_past_the_range_is_a_400(org):
    r = org.superai("POST", f"operations/{org.app_id}/{TOO_BIG}/download-url?secondsTtl={TOO_BIG * 4}")
    assert r.status_code == 400 and "operation_id" in error_text("superai", r)


@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("GET", "", None), ("GET", "/response", None), ("POST", "/cancel", None), ("POST", "/restart", None),
    ("PATCH", "/review", {"correct": True}),
])
@pytest.mark.parametrize("ref", [str(TOO_BIG), "9" * 40])
def test_a_superai_job_id_past_the_range_is_not_found(org, method, suffix, body, ref):
    r = org.superai(method, f"jobs/{ref}{suffix}", json=body)
    assert r.status_code == 404, r.text
    assert "not found" in error_text("superai", r)


def test_an_id_search_past_the_range_selects_no_job(org):
    r = org.superai("PUT", f"apps/{org.app_id}/jobs/tags?idSearch={TOO_BIG}", json={"tags": ["x"]})
    assert r.status_code == 200, r.text
    assert r.json()["updated"] == 0
    r = org.superai("DELETE", f"apps/{org.app_id}/jobs/tags?idSearch={TOO_BIG}", json={"tags": ["x"]})
    assert r.status_code == 200 and r.json()["updated"] == 0


# ---- D2: integers past 64 bits (and other numbers that cannot be stored) in JSON bodies --------------

def test_a_parallelism_past_64_bits_is_a_400_naming_it_and_creates_nothing(org):
    before = org.stored()
    body = machine_job_body(["a.csv"], {"b.csv": "idle"}, parallelism=10**30)
    r = org.archetype("POST", "batch/jobs", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 400, r.text
    [error] = r.json()["errors"]
    assert error["field"] == "parameters.worker.parallelism" and error["code"] == "number_out_of_range"
    assert str(10**30) in error["message"] and "2^63-1" in error["suggestion"]
    assert org.stored() == before


@pytest.mark.parametrize(("value", "words"), [(2**64, "64-bit integer range"), (-(2**63) - 1, "64-bit integer range"),
                                             (10**400, "an integer of 401 digits")])
def test_a_huge_integer_in_metadata_is_a_400_naming_where(org, value, words):
    body = machine_job_body(["a.csv"], {"b.csv": "idle"})
    body["metadata"] = {"counts": [1, 2, value]}
    r = org.archetype("POST", "batch/jobs", json=body)
    assert r.status_code == 400, r.text
    [error] = r.json()["errors"]
    assert error["field"] == "metadata.counts[2]" and words in error["message"]


def test_the_largest_64_bit_integers_are_accepted_in_metadata(org):
    body = machine_job_body(["nope.csv"], {"b.csv": "idle"})
    body["metadata"] = {"big": 2**63 - 1, "small": -(2**63)}
    r = org.archetype("POST", "batch/jobs", json=body)
    assert r.status_code == 400  # for the files it names, not for the numbers
    assert {e["code"] for e in r.json()["errors"]} == {"file_not_found"}


def test_a_budget_past_64_bits_is_a_400_and_leaves_the_budget_unchanged(org):
    assert org.archetype("PUT", "usage/budget", json={"budget_units": 2**63 - 1}).status_code == 200
    r = org.archetype("PUT", "usage/budget", json={"budget_units": 2**70})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"] == "budget_units"
    assert org.stored()["budget"] == 2**63 - 1
    assert org.archetype("PUT", "usage/budget", json={"budget_units": None}).status_code == 200


def test_superai_and_gravity_bodies_follow_the_same_rule(org):
    before = org.stored()
    r = org.superai("POST", f"apps/{org.app_id}/jobs", json={"inputs": [{"sepal_length": 2**64}]})
    assert r.status_code == 400 and r.json()["field"] == "inputs[0].sepal_length", r.text
    r = org.superai("POST", f"apps/{org.app_id}/jobs", json={"inputs": [{"x": 1}], "metadata": {"n": -(2**80)}})
    assert r.status_code == 400 and "metadata.n" in r.json()["message"], r.text
    data = ('{"mimeType": "text/csv; header=present", "mapping": [{"source": "sepal_length", '
            f'"destination": "sepal_length", "defaultValue": {2**64}}}]}}')
    r = gravity_post(org, data)
    assert r.status_code == 400, r.text
    assert "data.mapping[0].defaultValue" in error_text("gravity", r)
    assert org.stored() == before


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_number_that_is_not_finite_is_a_400(org, text):
    r = org.archetype("PUT", "usage/budget", content=f'{{"budget_units": {text}}}',
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert "not a finite number" in error_text("archetype", r)


# ---- nesting and invalid JSON -----------------------------------------------------------------------

@pytest.mark.parametrize("depth", [65, 5000, 100_000])
def test_a_body_nested_too_deep_names_the_limit_on_every_surface(org, depth):
    text = "[" * depth + "]" * depth if depth > 1000 else None
    for surface, method, path in (("archetype", "POST", "batch/jobs"), ("superai", "POST", "apps/{app}/jobs"),
                                  ("gravity", "PUT", str(uuid.uuid4()))):
        kw = {"content": text, "headers": {"Content-Type": "application/json"}} if text else {
            "json": {"name": "n", "metadata": nested(depth)}}
        r = org.call(surface, method, path, **kw)
        assert r.status_code == 400, (surface, r.text)
        words = error_text(surface, r)
        assert "nest deeper than 64 levels" in words and "JOBPORT_MAX_JSON_DEPTH" in words, words
        assert "error parsing the body" not in words


def test_nesting_up_to_the_limit_is_accepted(org):
    body = machine_job_body(["nope.csv"], {"b.csv": "idle"})
    body["metadata"] = nested(63)  # the body is level 1: metadata's innermost object is level 64
    r = org.archetype("POST", "batch/jobs", json=body)
    assert {e["code"] for e in r.json()["errors"]} == {"file_not_found"}


def test_invalid_json_says_what_and_where(org):
    r = org.archetype("POST", "batch/jobs", content=b'{"name": "x",, }', headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert error["code"] == "invalid_json" and "at character 13" in error["message"], error


# ---- D3: multipart part headers -----------------------------------------------------------------------

@pytest.mark.parametrize("surface", ["archetype", "gravity"])
def test_a_part_header_past_the_limit_is_a_400_naming_the_setting(org, surface):
    before = org.stored()
    name = "x" * 20_000 + ".csv"
    if surface == "archetype":
        r = org.archetype("POST", "files", files={"file": (name, IRIS_CSV, "text/csv")})
    else:
        r = gravity_post(org, '{"mimeType": "text/csv; header=present"}', filename=name)
    assert r.status_code == 400, r.text
    words = error_text(surface, r)
    assert "8192 bytes" in words and "JOBPORT_MAX_PART_HEADER_BYTES" in words
    assert org.stored() == before


@pytest.mark.parametrize("surface", ["archetype", "gravity"])
def test_a_5000_character_filename_is_a_400_naming_the_name_limit(org, surface):
    name = "y" * 5000 + ".csv"
    if surface == "archetype":
        r = org.archetype("POST", "files", files={"file": (name, IRIS_CSV, "text/csv")})
    else:
        r = gravity_post(org, '{"mimeType": "text/csv; header=present"}', filename=name)
    assert r.status_code == 400, r.text
    assert "255 characters" in error_text(surface, r)


def test_a_malformed_multipart_body_is_a_400(org):
    body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nno-colon-header\r\n\r\nx"
    r = org.archetype("POST", "files", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["code"] == "invalid_multipart"


# ---- signed links ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path"), [("GET", "/blobs/orgs/x/a.csv?filename=a.csv"),
                                              ("PUT", "/uploads/upl_x/parts/1?")])
def test_a_signed_link_with_a_non_ascii_signature_is_refused(org, method, path):
    future = int(time.time()) + 3600
    # file bytes without a content type (as a part PUT sends them): never read as JSON
    r = org.client.request(method, f"{path}&expires={future}&signature=%C3%A9t%C3%A9", content=b"\xff\xfe\x00")
    assert r.status_code == 403, r.text
    assert "invalid" in error_text("archetype", r)


# ---- messages ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "words"), [
    ({"name": 5}, "name: Input should be a valid string"),
    ({"name": ""}, "name: String should have at least 1 character"),
    ({"jobName": "x" * 501}, "jobName: String should have at most 500 characters"),
    ("not json", "'body' is not valid JSON"),
])
def test_gravity_rename_errors_are_plain_sentences_in_the_envelope(org, body, words):
    kw = {"json": body} if isinstance(body, dict) else {"content": body}
    r = org.gravity("PUT", str(uuid.uuid4()), **kw)
    assert r.status_code == 400, r.text
    message = error_text("gravity", r)
    assert words in message and "pydantic" not in message and "input_value" not in message, message


def test_a_duplicate_csv_header_is_refused_at_create_naming_the_column(org):
    before = org.stored()
    csv = b"sepal_length,sepal_width,petal_length,petal_width,sepal_length\n5.1,3.5,1.4,0.2,9\n"
    r = gravity_post(org, '{"mimeType": "text/csv; header=present"}', content=csv)
    assert r.status_code == 400, r.text
    message = error_text("gravity", r)
    assert "duplicate column name 'sepal_length' in the CSV header" in message, message
    assert "is not a number" not in message
    assert org.stored() == before


def test_a_repeated_column_picked_with_a_selector_still_works(org):
    csv = b"sepal_length,sepal_width,petal_length,petal_width,sepal_length\n5.1,3.5,1.4,0.2,9\n"
    data = ('{"mimeType": "text/csv; header=present", "mapping": [{"source": "sepal_length[0]", '
            '"destination": "sepal_length"}]}')
    r = gravity_post(org, data, content=csv)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["recordCount"] == 1


# ---- a 500 keeps the connection ----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(tmp_path) -> Iterator[tuple[str, object]]:
    """The app under a real uvicorn server in a thread of this process (so a service can be patched)."""
    app = create_app(make_settings(home=tmp_path, executor="inline", example_app=False), run_scheduler=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_config=None,
                                                 log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def _boom(*args, **kwargs):
    raise RuntimeError("an unexpected fault")


def _client_port(response: httpx.Response) -> int:
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


@pytest.mark.parametrize(("surface", "target", "path"), [
    ("archetype", (queries, "list_jobs"), "/v0.5/batch/jobs"),
    ("superai", (app_job_ops, "find_job"), "/v1/jobs/1"),
    ("gravity", (posted_file, "latest_jobs"), "/api/v1/jobs/latest"),
])
def test_an_unexpected_fault_is_a_500_in_the_surface_format_and_the_connection_stays_open(
        tmp_path, monkeypatch, surface, target, path):
    with live_server(tmp_path) as (url, app):
        _, key = auth.create_key(app.state.ctx, "faults")
        headers = {"Authorization": f"Bearer {key}", "API-KEY": key, "x-api-key": key}
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            assert client.get("/v0.5/files/info").status_code == 200
            monkeypatch.setattr(*target, _boom)
            failed = client.get(path)
            assert failed.status_code == 500, failed.text
            words = error_text(surface, failed)
            assert "internal server error (reference err-" in words and "RuntimeError" not in words
            assert failed.headers.get("connection") != "close"
            port = _client_port(failed)
            monkeypatch.undo()
            after = client.get("/v0.5/files/info")
            assert after.status_code == 200
            assert _client_port(after) == port  # the same keep-alive connection served it
