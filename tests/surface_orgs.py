"""One org as each vendor's client sees it, for the bad-input tiers: the Iris example model hosted as
an app, an org key (Archetype `/v0.5`, super.AI `/v1`) and a key bound to the app (Gravity), what
each surface's error body must look like, and a snapshot of everything the org has stored, read
back through the API (to show that a refused request wrote nothing)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from jobport.services import auth

INT64_MAX = 2**63 - 1
TOO_BIG = 2**63  # the first integer the database cannot hold


class SurfaceOrg:
    def __init__(self, server, model) -> None:
        self.client = server.client
        self.name = f"bad-input-{uuid.uuid4().hex[:8]}"
        _, self.key = auth.create_key(server.ctx, self.name)
        r = self.archetype("POST", "files", files={"file": ("iris.onnx", Path(model.path).read_bytes(),
                                                            "application/octet-stream")})
        assert r.status_code == 200, r.text
        r = self.archetype("POST", "apps", json={
            "name": "iris", "pipeline_key": "tabular-model", "config": model.config,
            "references": {"worker.model": [{"file_id": "iris.onnx"}]}})
        assert r.status_code == 201, r.text
        self.app_id = r.json()["id"]
        _, self.app_key = auth.create_key(server.ctx, self.name, app=self.app_id)

    def archetype(self, method: str, path: str, **kw):
        return self.client.request(method, f"/v0.5/{path}", headers={"Authorization": f"Bearer {self.key}",
                                                                     **kw.pop("headers", {})}, **kw)

    def superai(self, method: str, path: str, **kw):
        return self.client.request(method, f"/v1/{path}", headers={"API-KEY": self.key, **kw.pop("headers", {})},
                                   **kw)

    def gravity(self, method: str, path: str = "", **kw):
        url = "/api/v1/jobs" + (f"/{path}" if path else "")
        return self.client.request(method, url, headers={"x-api-key": self.app_key, **kw.pop("headers", {})}, **kw)

    def call(self, surface: str, method: str, path: str, **kw):
        return getattr(self, surface)(method, path.format(app=self.app_id), **kw)

    def stored(self) -> dict[str, Any]:
        """What the org has, as its clients can read it."""
        return {
            "jobs": self._json(self.archetype("GET", "batch/jobs"))["total"],
            "files": self._json(self.archetype("GET", "files/info"))["num_files"],
            "apps": self._json(self.archetype("GET", "apps"))["total"],
            "budget": self._json(self.archetype("GET", "usage"))["budget_units"],
            "superai_jobs": self._json(self.superai("GET", f"apps/{self.app_id}/jobs"))["total"],
            "gravity_jobs": len(self._json(self.gravity("GET", "latest"))["data"]),
        }

    @staticmethod
    def _json(r) -> Any:
        assert r.status_code == 200, r.text
        return r.json()


def error_text(surface: str, r) -> str:
    """The error's words after checking the body is the surface's own error format."""
    body = r.json()
    if surface == "archetype":
        assert set(body) == {"errors"} and body["errors"], body
        for item in body["errors"]:
            assert {"code", "message", "suggestion", "error_uid"} <= set(item), item
        return " ".join(f"{e['message']} {e['suggestion']} {e.get('field', '')}" for e in body["errors"])
    if surface == "superai":
        assert set(body) <= {"message", "field"} and isinstance(body["message"], str), body
        return f"{body['message']} {body.get('field', '')}"
    assert body["data"] is None and body["isError"] is True and isinstance(body["errorMessage"], str), body
    assert set(body) == {"data", "isError", "errorMessage"}, body
    return body["errorMessage"]
