"""`Idempotency-Key` on every create of every surface (issue 12 part 6): super.AI job creation,
Gravity submit and file uploads. The same key and request answer the first response and create
nothing more; the same key with another request is a 409 in the surface's format; a request that
failed keeps nothing, so a corrected retry may reuse its key; keys of different orgs never meet."""

from __future__ import annotations

import uuid

import pytest

from helpers import host_iris_app
from jobport.services import auth

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
IRIS_CSV = b"sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"



class Org:
    """An org hosting the Iris model as an app, with an org key and a key bound to the app."""

    def __init__(self, server, model) -> None:
        self.client, self.ctx = server.client, server.ctx
        self.name = f"idem-{uuid.uuid4().hex[:8]}"
        _, self.key = auth.create_key(self.ctx, self.name)
        self.native = {"Authorization": f"Bearer {self.key}"}
        self.app_id = host_iris_app(self.client, self.key, model)
        _, self.app_key = auth.create_key(self.ctx, self.name, app="iris")

    def superai_create(self, key: str | None, inputs: list[dict]):
        headers = {"API-KEY": self.key, **({"Idempotency-Key": key} if key else {})}
        return self.client.post(f"/v1/apps/{self.app_id}/jobs", headers=headers, json={"inputs": inputs})

    def superai_total(self) -> int:
        return self.client.get(f"/v1/apps/{self.app_id}/jobs", headers={"API-KEY": self.key}).json()["total"]

    def gravity_submit(self, key: str | None, csv: bytes = IRIS_CSV):
        headers = {"x-api-key": self.app_key, **({"Idempotency-Key": key} if key else {})}
        return self.client.post("/api/v1/jobs", headers=headers,
                                data={"data": '{"mimeType": "text/csv; header=present"}'},
                                files={"file": ("iris.csv", csv, "text/csv")})

    def gravity_jobs(self) -> list[str]:
        r = self.client.get("/api/v1/jobs/latest", headers={"x-api-key": self.app_key})
        return [job["id"] for job in r.json()["data"]]

    def upload(self, key: str | None, name: str, content: bytes):
        headers = {**self.native, **({"Idempotency-Key": key} if key else {})}
        return self.client.post("/v0.5/files", headers=headers, files={"file": (name, content, "text/csv")})


@pytest.fixture
def org(server, example_model) -> Org:
    return Org(server, example_model)


def test_superai_create_replays_and_refuses_another_body(org):
    first = org.superai_create("k-1", [SETOSA, SETOSA])
    assert first.status_code == 200, first.text
    again = org.superai_create("k-1", [SETOSA, SETOSA])
    assert again.status_code == 200 and again.json() == first.json()
    assert org.superai_total() == 2  # nothing created twice
    other = org.superai_create("k-1", [SETOSA])
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["message"]
    assert org.superai_total() == 2
    assert org.superai_create("k-2", [SETOSA]).status_code == 200
    assert org.superai_total() == 3


def test_a_failed_create_keeps_nothing_so_the_key_may_be_reused(org):
    bad = org.superai_create("k-fix", [{}])
    assert bad.status_code == 400
    fixed = org.superai_create("k-fix", [SETOSA])
    assert fixed.status_code == 200, fixed.text
    assert org.superai_total() == 1


def test_gravity_submit_replays_the_same_job(org):
    first = org.gravity_submit("g-1")
    assert first.status_code == 200, first.text
    again = org.gravity_submit("g-1")
    assert again.status_code == 200 and again.json()["data"]["id"] == first.json()["data"]["id"]
    assert org.gravity_jobs().count(first.json()["data"]["id"]) == 1 and len(org.gravity_jobs()) == 1
    other = org.gravity_submit("g-1", IRIS_CSV + b"4.9,3.0,1.4,0.2\n")
    assert other.status_code == 409 and other.json()["isError"] is True
    assert "Idempotency-Key" in other.json()["errorMessage"]
    assert len(org.gravity_jobs()) == 1


def test_file_upload_replays_and_another_content_under_the_same_key_changes_nothing(org):
    first = org.upload("f-1", "data.csv", b"a,b\n1,2\n")
    assert first.status_code == 200, first.text
    again = org.upload("f-1", "data.csv", b"a,b\n1,2\n")
    assert again.status_code == 200 and again.json() == first.json()
    other = org.upload("f-1", "data.csv", b"a,b\n9,9\n")
    assert other.status_code == 409 and other.json()["errors"][0]["code"] == "idempotency_key_reused"
    listed = org.client.get("/v0.5/files/metadata", headers=org.native).json()
    files = listed if isinstance(listed, list) else listed.get("files", listed.get("data", []))
    data = next(f for f in files if f["file_id"] == "data.csv")
    assert data["num_bytes"] == len(b"a,b\n1,2\n")  # the 409 left the first upload as it was


def test_keys_of_different_orgs_never_meet(server, example_model):
    one, two = Org(server, example_model), Org(server, example_model)
    assert one.superai_create("shared", [SETOSA]).status_code == 200
    assert two.superai_create("shared", [SETOSA, SETOSA]).status_code == 200
    assert (one.superai_total(), two.superai_total()) == (1, 2)


def test_a_bad_key_is_a_400(org):
    r = org.superai_create("x" * 300, [SETOSA])
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["message"]
