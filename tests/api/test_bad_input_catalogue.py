"""The bad-input catalogue: requests a clumsy client or an attacker sends to each of the three
surfaces, each answered with the expected 4xx in that surface's own error body, with words that
name the field or the limit, and with nothing stored (the org's jobs, files, apps, budget, super.AI
jobs and Gravity jobs read back through the API before and after are the same)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from surface_orgs import TOO_BIG, SurfaceOrg, error_text

CSV = b"sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n"
CSV_DATA = '{"mimeType": "text/csv; header=present"}'
JSON = {"Content-Type": "application/json"}
SOME_UUID = "3f0e2b9c-6c1d-4d8e-9a57-0b7f2d5e1c44"


@dataclass(frozen=True)
class Bad:
    surface: str  # archetype, superai or gravity
    method: str
    path: str  # relative to the surface's base; `{app}` is the org's app id
    status: int
    words: tuple[str, ...]  # each must appear in the error's text
    kw: dict[str, Any] = field(default_factory=dict)  # the request's body, as httpx takes it


def job(**changes: Any) -> dict[str, Any]:
    body = {"name": "j", "pipeline_type": "batch", "pipeline_key": "machine-state-classification",
            "inputs": {"worker.inference": [{"file_id": "a.csv"}]}}
    return {**body, **changes}


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def upload(filename: str, content: bytes = CSV, content_type: str = "text/csv") -> dict[str, Any]:
    return {"files": {"file": (filename, content, content_type)}}


def gravity(data: str | None = CSV_DATA, filename: str = "in.csv", content: bytes = CSV) -> dict[str, Any]:
    kw: dict[str, Any] = {"files": {"file": (filename, content, "text/csv")}}
    if data is not None:
        kw["data"] = {"data": data}
    return kw


def raw(body: bytes | str, content_type: str = "application/json") -> dict[str, Any]:
    return {"content": body, "headers": {"Content-Type": content_type}}


ARCHETYPE = [
    Bad("archetype", "GET", f"batch/jobs?offset={TOO_BIG}", 400, ("offset",)),
    Bad("archetype", "GET", "batch/jobs?offset=-1", 400, ("offset",)),
    Bad("archetype", "GET", "batch/jobs?offset=abc", 400, ("offset",)),
    Bad("archetype", "GET", "batch/jobs?limit=0", 400, ("limit",)),
    Bad("archetype", "GET", f"batch/jobs?limit={TOO_BIG}", 400, ("limit",)),
    Bad("archetype", "GET", "batch/jobs?limit=5000", 400, ("limit", "1000")),
    Bad("archetype", "GET", "batch/jobs?status=DONE", 400, ("status",)),
    Bad("archetype", "GET", "batch/jobs?q=" + "q" * 201, 400, ("q",)),
    Bad("archetype", "GET", f"apps?offset={TOO_BIG}", 400, ("offset",)),
    Bad("archetype", "GET", f"usage?offset={2**64}", 400, ("offset",)),
    Bad("archetype", "GET", "usage?since=yesterday", 400, ("since",)),
    Bad("archetype", "GET", f"callbacks?offset={TOO_BIG}", 400, ("offset",)),
    Bad("archetype", "GET", f"batch/registry/pipelines?offset={TOO_BIG}", 400, ("offset",)),
    Bad("archetype", "GET", f"files/metadata?limit={TOO_BIG}", 400, ("limit",)),
    Bad("archetype", "GET", "files/metadata?after=not-a-cursor", 400, ("after", "cursor")),
    Bad("archetype", "GET", f"batch/jobs/job_x/inputs?offset={TOO_BIG}", 400, ("offset",)),
    Bad("archetype", "GET", f"batch/jobs/job_x/inputs/progress?limit={TOO_BIG}", 400, ("limit",)),
    Bad("archetype", "GET", "batch/jobs/job_does_not_exist", 404, ("not found",)),
    Bad("archetype", "POST", "batch/jobs", 400, ("parameters.worker.parallelism", "64-bit"),
        {"json": job(parameters={"worker": {"parallelism": 10**30}})}),
    Bad("archetype", "POST", "batch/jobs", 400, ("parallelism",),
        {"json": job(parameters={"worker": {"parallelism": 0}})}),
    Bad("archetype", "POST", "batch/jobs", 400, ("metadata.n", "64-bit"), {"json": job(metadata={"n": 2**64})}),
    Bad("archetype", "POST", "batch/jobs", 400, ("inputs.worker.inference[0].metadata.x", "64-bit"),
        {"json": job(inputs={"worker.inference": [{"file_id": "a.csv", "metadata": {"x": -(2**70)}}]})}),
    Bad("archetype", "POST", "batch/jobs", 400, ("parameters.worker.config.k", "64-bit"),
        {"json": job(parameters={"worker": {"config": {"k": 2**65}}})}),
    Bad("archetype", "POST", "batch/jobs", 400, ("nest deeper than 64", "JOBPORT_MAX_JSON_DEPTH"),
        raw(b'{"name": "j", "metadata": {"m": ' + deep(80).encode() + b"}}")),
    Bad("archetype", "POST", "batch/jobs", 400, ("nest deeper than 64", "JOBPORT_MAX_JSON_DEPTH"), raw(deep(50_000))),
    Bad("archetype", "POST", "batch/jobs", 400, ("not valid JSON", "at character"), raw('{"name": "j",, }')),
    Bad("archetype", "POST", "batch/jobs", 400, ("finite",), raw('{"name": "j", "priority": NaN}')),
    Bad("archetype", "POST", "batch/jobs", 400, ("finite",), raw('{"name": "j", "priority": 1e999}')),
    Bad("archetype", "POST", "batch/jobs", 400, ("not UTF-8",), raw(b'{"name": "\xff\xfe\xfa"}')),
    Bad("archetype", "POST", "batch/jobs", 400, ("name", "required"), {"json": {"pipeline_type": "batch"}}),
    Bad("archetype", "POST", "batch/jobs", 400, ("metadata.note", "NUL"), {"json": job(metadata={"note": "a\x00b"})}),
    Bad("archetype", "GET", "batch/jobs?q=a%00b", 400, ("q", "NUL")),
    Bad("archetype", "GET", "files/metadata/a%00b.csv", 400, ("file_id", "NUL")),
    Bad("archetype", "POST", "batch/jobs", 400, ("colour", "unknown field"), {"json": job(colour="red")}),
    Bad("archetype", "POST", "batch/jobs", 400, ("priority",), {"json": job(priority=5000)}),
    Bad("archetype", "POST", "batch/jobs", 400, ("callback_url",), {"json": job(callback_url="ftp://x")}),
    Bad("archetype", "POST", "batch/jobs", 400, ("a.csv", "has not been uploaded"), {"json": job()}),
    Bad("archetype", "PUT", "usage/budget", 400, ("budget_units", "64-bit"), {"json": {"budget_units": 2**70}}),
    Bad("archetype", "PUT", "usage/budget", 400, ("budget_units",), {"json": {"budget_units": -1}}),
    Bad("archetype", "PUT", "usage/budget", 400, ("budget_units",), {"json": {"budget_units": "lots"}}),
    Bad("archetype", "POST", "apps", 400, ("config.window", "64-bit"),
        {"json": {"name": "a", "pipeline_key": "tabular-model", "config": {"window": 2**64}}}),
    Bad("archetype", "POST", "apps", 400, ("name",), {"json": {"pipeline_key": "tabular-model"}}),
    Bad("archetype", "POST", "files", 400, ("JOBPORT_MAX_PART_HEADER_BYTES", "8192"), upload("h" * 20_000 + ".csv")),
    Bad("archetype", "POST", "files", 400, ("255 characters",), upload("n" * 5000 + ".csv")),
    Bad("archetype", "POST", "files", 400, ("JOBPORT_MAX_PART_HEADERS",),
        raw(b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n"
            + b"".join(b"X-H%d: v\r\n" % i for i in range(20)) + b"\r\nx\r\n--b--\r\n",
            "multipart/form-data; boundary=b")),
    Bad("archetype", "POST", "files", 400, ("malformed",),
        raw(b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nbroken\r\n\r\nx",
            "multipart/form-data; boundary=b")),
    Bad("archetype", "POST", "files", 400, ("multipart/form-data",), {"json": {"file": "a.csv"}}),
    Bad("archetype", "POST", "files", 400, ("no 'file' part",), {"files": {"other": ("a.csv", CSV, "text/csv")}}),
    Bad("archetype", "POST", "files", 400, ("file type",), upload("a.exe", b"MZ", "application/x-msdownload")),
    Bad("archetype", "POST", "files/base64", 400, ("base64",), upload("a.csv", b"not base64!!")),
    Bad("archetype", "DELETE", "files/delete/never-uploaded.csv", 404, ("not found",)),
]

SUPERAI = [
    Bad("superai", "GET", f"jobs/{TOO_BIG}", 404, ("not found",)),
    Bad("superai", "GET", f"jobs/{'9' * 40}/response", 404, ("not found",)),
    Bad("superai", "POST", f"jobs/{TOO_BIG}/cancel", 404, ("not found",)),
    Bad("superai", "POST", f"jobs/{TOO_BIG}/restart", 404, ("not found",)),
    Bad("superai", "PATCH", f"jobs/{TOO_BIG}/review", 404, ("not found",), {"json": {"correct": True}}),
    Bad("superai", "PATCH", f"jobs/{TOO_BIG}/review", 400, ("response.score", "64-bit"),
        {"json": {"response": {"score": 2**64}}}),
    Bad("superai", "GET", f"operations/{{app}}/{TOO_BIG}", 400, ("operation_id",)),
    Bad("superai", "GET", "operations/{app}/not-a-number", 400, ("operation_id",)),
    Bad("superai", "POST", f"operations/{{app}}/{TOO_BIG}/download-url", 400, ("operation_id",)),
    Bad("superai", "GET", f"apps/{{app}}/jobs?page={TOO_BIG}", 400, ("page",)),
    Bad("superai", "GET", f"apps/{{app}}/jobs?page={10**17}&size=1000", 400, ("page",)),
    Bad("superai", "GET", f"apps/{{app}}/jobs?size={TOO_BIG}", 400, ("size",)),
    Bad("superai", "GET", "apps/{app}/jobs?size=0", 400, ("size",)),
    Bad("superai", "GET", "apps/{app}/jobs?size=1001", 400, ("size", "1000")),
    Bad("superai", "GET", "apps/{app}/jobs?createdStartDate=soon", 400, ("createdStartDate",)),
    Bad("superai", "GET", "apps/{app}/jobs?statusIn=DONE", 400, ("statusIn",)),
    Bad("superai", "GET", "apps/no-such-app/jobs", 404, ("not found",)),
    Bad("superai", "GET", "jobs/12%00", 400, ("job_id", "NUL")),
    Bad("superai", "POST", "apps/{app}/jobs", 400, ("inputs[0].k\x00", "NUL"), {"json": {"inputs": [{"k\x00": 1}]}}),
    Bad("superai", "POST", "apps/{app}/jobs", 400, ("inputs[0].sepal_length", "64-bit"),
        {"json": {"inputs": [{"sepal_length": 2**64}]}}),
    Bad("superai", "POST", "apps/{app}/jobs", 400, ("metadata.n", "64-bit"),
        {"json": {"inputs": [{"sepal_length": 1}], "metadata": {"n": -(2**64)}}}),
    Bad("superai", "POST", "apps/{app}/jobs", 400, ("nest deeper than 64",), raw('{"inputs": ' + deep(100) + "}")),
    Bad("superai", "POST", "apps/{app}/jobs", 400, ("not valid JSON",), raw("{inputs: []}")),
    Bad("superai", "POST", "apps/{app}/jobs", 400, ("finite",), raw('{"inputs": [{"sepal_length": Infinity}]}')),
    Bad("superai", "POST", "apps/{app}/jobs/queue", 400, ("jobIds[0]", "64-bit"), {"json": {"jobIds": [2**70]}}),
    Bad("superai", "PUT", f"apps/{{app}}/jobs/tags?idSearch={TOO_BIG}", 400, ("tags",), {"json": {"tags": []}}),
]

GRAVITY = [
    Bad("gravity", "POST", "", 400, ("JOBPORT_MAX_PART_HEADER_BYTES", "8192"), gravity(filename="g" * 20_000 + ".csv")),
    Bad("gravity", "POST", "", 400, ("255 characters",), gravity(filename="g" * 5000 + ".csv")),
    Bad("gravity", "POST", "", 400, ("data.mapping[0].defaultValue", "64-bit"),
        gravity('{"mimeType": "text/csv; header=present", "mapping": [{"source": "a", "destination": "b", '
                f'"defaultValue": {2**64}}}]}}')),
    Bad("gravity", "POST", "", 400, ("data", "nest deeper than 64"),
        gravity('{"mimeType": "text/csv", "x": ' + deep(70) + "}")),
    Bad("gravity", "POST", "", 400, ("data", "nest deeper than 64"), gravity('{"x": ' + deep(20_000) + "}")),
    Bad("gravity", "POST", "", 400, ("'data' is not valid JSON",), gravity("{mimeType: csv}")),
    Bad("gravity", "POST", "", 400, ("'data' must be a JSON object",), gravity("[1, 2]")),
    Bad("gravity", "POST", "", 400, ("missing 'data'",), gravity(None)),
    Bad("gravity", "POST", "", 400, ("duplicate column name 'petal_width'",),
        gravity(content=b"sepal_length,sepal_width,petal_length,petal_width,petal_width\n5,3,1,0.2,0.3\n")),
    Bad("gravity", "POST", "", 400, ("is empty",), gravity(content=b"")),
    Bad("gravity", "POST", "", 400, ("multipart/form-data",), {"json": {"data": CSV_DATA}}),
    Bad("gravity", "PUT", SOME_UUID, 400, ("name: Input should be a valid string",), {"json": {"name": 5}}),
    Bad("gravity", "PUT", SOME_UUID, 400, ("'body' is not valid JSON",), raw("name=x", "text/plain")),
    Bad("gravity", "PUT", SOME_UUID, 400, ("name", "at least 1 character"), {"json": {"name": ""}}),
    Bad("gravity", "PUT", SOME_UUID, 400, ("name is required",), {"json": {"other": "x"}}),
    Bad("gravity", "PUT", SOME_UUID, 400, ("name: 18446744073709551616", "64-bit"), {"json": {"name": 2**64}}),
    Bad("gravity", "PUT", SOME_UUID, 404, ("not found",), {"json": {"name": "renamed"}}),
    Bad("gravity", "GET", SOME_UUID, 404, ("not found",)),
    Bad("gravity", "GET", "a%00b", 400, ("job_id", "NUL")),
    Bad("gravity", "POST", "", 400, ("data.name", "NUL"), gravity('{"mimeType": "text/csv", "name": "a\\u0000"}')),
    Bad("gravity", "GET", f"result-link/{SOME_UUID}", 404, ("not found",)),
]

CATALOGUE = ARCHETYPE + SUPERAI + GRAVITY



@pytest.fixture(scope="module")
def org(server, example_model) -> SurfaceOrg:
    return SurfaceOrg(server, example_model)


def _case_id(case: Bad) -> str:
    return f"{case.surface}-{case.method}-{case.path[:40]}-{'/'.join(case.words)[:40]}"


def test_the_catalogue_is_at_least_60_cases_on_every_surface():
    assert len(CATALOGUE) >= 60
    assert all(sum(c.surface == s for c in CATALOGUE) >= 15 for s in ("archetype", "superai", "gravity"))


@pytest.mark.parametrize("case", CATALOGUE, ids=_case_id)
def test_a_bad_input_is_a_4xx_in_the_surface_format_and_writes_nothing(org, case):
    before = org.stored()
    kw = {**case.kw, "headers": dict(case.kw.get("headers", {}))}
    r = org.call(case.surface, case.method, case.path, **kw)
    assert r.status_code == case.status, r.text
    words = error_text(case.surface, r)
    for word in case.words:
        assert word in words, f"{word!r} not in {words!r}"
    assert "pydantic.dev" not in words and "error parsing the body" not in words
    assert org.stored() == before
