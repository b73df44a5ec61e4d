"""`/openapi.json` documents what the routes really send: a schema for every success answer (a named
model, or binary content for downloads), the surface's error body for every error status, 400
instead of FastAPI's 422, the three auth headers as security schemes, and the limits (with their
setting names) where a client meets them."""

from __future__ import annotations

import json
import re

import pytest

from jobport.api.surfaces import SURFACES

# Every surface's routes, the signed downloads and /healthz declare a response model.
TYPED_PREFIXES = (*(surface.prefix for surface in SURFACES), "/blobs", "/healthz")


@pytest.fixture(scope="module")
def spec(server) -> dict:
    r = server.client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def _operations(spec: dict, prefixes: tuple[str, ...] | None = None):
    """(`METHOD /path`, operation) of the paths under `prefixes` (None: every path)."""
    for path, operations in spec["paths"].items():
        if prefixes is None or any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes):
            for method, operation in operations.items():
                yield f"{method.upper()} {path}", operation


def test_validation_errors_are_400_and_auth_headers_are_security_schemes(spec):
    assert "422" not in json.dumps(spec)
    assert {"bearer", "apiKey", "xApiKey"} <= set(spec["components"]["securitySchemes"])
    for name, operation in _operations(spec, ("/v0.5",)):
        assert {"bearer": []} in operation["security"], name
        assert "401" in operation["responses"], name


def test_every_answer_has_a_schema(spec):
    for name, operation in _operations(spec):
        for status, response in operation["responses"].items():
            content = response.get("content")
            assert content, f"{name} {status}: no content"
            for media_type, body in content.items():
                assert body.get("schema"), f"{name} {status} {media_type}: empty schema"


def test_success_answers_are_named_models_or_binary_downloads(spec):
    binary = {"type": "string", "format": "binary"}
    checked = 0
    for name, operation in _operations(spec, TYPED_PREFIXES):
        for status, response in operation["responses"].items():
            if not status.startswith("2"):
                continue
            schemas = {media_type: body["schema"] for media_type, body in response["content"].items()}
            is_download = all(schema == binary for schema in schemas.values())
            is_model = list(schemas) == ["application/json"] and \
                schemas["application/json"].get("$ref", "").startswith("#/components/schemas/")
            assert is_download or is_model, f"{name} {status}: {schemas}"
            checked += 1
    assert checked >= 40


def test_errors_answer_in_the_surface_format(spec):
    archetype_error = {"$ref": "#/components/schemas/ArchetypeError"}
    for name, operation in _operations(spec, ("/v0.5", "/blobs")):
        for status, response in operation["responses"].items():
            if status[0] in "45":
                assert response["content"]["application/json"]["schema"] == archetype_error, f"{name} {status}"


@pytest.mark.parametrize(("operation", "statuses"), [
    ("POST /v0.5/files", {"400", "401", "413"}),
    ("POST /v0.5/files/base64", {"400", "401", "413"}),
    ("GET /v0.5/files/metadata/{file_id}", {"401", "404"}),
    ("GET /v0.5/files/download/{file_id}", {"401", "404"}),
    ("DELETE /v0.5/files/delete/{file_id}", {"401", "404"}),
    ("GET /v0.5/batch/registry/pipelines/{pipeline_id}", {"401", "404"}),
    ("GET /v0.5/batch/registry/pipelines/{pipeline_id}/schema", {"401", "404"}),
    ("GET /v0.5/models", {"401", "503"}),
    ("POST /v0.5/apps", {"400", "401", "409"}),
    ("PATCH /v0.5/apps/{app_id}", {"400", "401", "404"}),
    ("POST /v0.5/apps/{app_id}/versions", {"400", "401", "404", "409"}),
    ("POST /v0.5/apps/{app_id}/versions/{version}/activate", {"401", "404"}),
    ("GET /v0.5/callbacks/{delivery_id}", {"401", "404"}),
    ("POST /v0.5/callbacks/{delivery_id}/replay", {"401", "404", "409"}),
    ("GET /blobs/{key}", {"400", "403", "404"}),
])
def test_error_statuses_a_route_sends_are_documented(spec, operation, statuses):
    method, path = operation.split(" ", 1)
    responses = spec["paths"][path][method.lower()]["responses"]
    assert statuses <= set(responses), sorted(responses)


def test_created_answers_are_201_with_their_model(spec):
    for method, path, model in [("post", "/v0.5/apps", "AppPublic"),
                                ("post", "/v0.5/apps/{app_id}/versions", "AppVersionPublic"),
                                ("post", "/v0.5/callbacks/{delivery_id}/replay", "CallbackDetail")]:
        responses = spec["paths"][path][method]["responses"]
        assert "200" not in responses, path
        assert responses["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/" + model)


def _parameter(spec: dict, method: str, path: str, name: str) -> dict:
    parameters = spec["paths"][path][method]["parameters"]
    return next(p for p in parameters if p["name"] == name)


def test_limits_are_documented_with_their_settings(spec):
    files_limit = _parameter(spec, "get", "/v0.5/files/metadata", "limit")["description"]
    assert "`files_page_default` (100)" in files_limit and "`page_max` (1000" in files_limit
    for path in ("/v0.5/apps", "/v0.5/callbacks", "/v0.5/usage", "/v0.5/batch/registry/pipelines"):
        offset_limit = _parameter(spec, "get", path, "limit")["description"]
        assert "`page_default` (20)" in offset_limit and "`page_max` (1000" in offset_limit, path
    expires = _parameter(spec, "get", "/blobs/{key}", "expires")["description"]
    assert "`signed_url_ttl_seconds` (default 3600)" in expires
    for path in ("/v0.5/files", "/v0.5/files/base64"):
        body = spec["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert body["required"] == ["file"]
        assert "`max_upload_bytes` (default 512 MiB)" in body["properties"]["file"]["description"], path
    rotate = spec["paths"]["/v0.5/callbacks/secret/rotate"]["post"]
    assert "`callback_secret_grace_seconds` (default 86400)" in rotate["description"]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_everything_from_this_server(server, page):
    """Swagger UI and ReDoc come from the installed package: no CDN, no web fonts (blank offline)."""
    html = server.client.get(page)
    assert html.status_code == 200
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""", html.text)
    assets = [u for pair in urls for u in pair if u]
    assert assets and all(u.startswith("/") for u in assets), assets
    assert "http://" not in html.text and "https://" not in html.text.replace("https://github.com", "")
    for asset in assets:
        if asset.startswith("/docs-assets/"):
            assert server.client.get(asset).status_code == 200, asset
