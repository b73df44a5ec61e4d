"""The API's documentation: `/openapi.json` with every status a route sends in its surface's own
error body (validation errors are 400, not FastAPI's 422), the three auth headers as security
schemes, and `/docs` (Swagger UI) and `/redoc` served with assets from the installed
`fastapi-offline` package, so the pages load with no request leaving the host.

Routes declare the error statuses particular to them with `errors(404, 409)`; 400 (any route with
parameters or a body) and 401 (any route behind an API key) are added here, for every route.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from jobport.api.deps import scope_needed

ASSETS = "/docs-assets"
REF = "#/components/schemas/{model}"

DESCRIPTIONS = {
    400: "Bad request: the body names the field and how to fix it",
    401: "Missing or invalid API key",
    403: "Refused: an invalid or expired signed link, or an API key whose scope does not allow the action",
    404: "Not found (also another org's object)",
    409: "Conflict with the object's current state",
    413: "Too large (the limit is a setting)",
    503: "The server is misconfigured (an admin must fix it)",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route: the error statuses it sends besides 400 and 401 (the surface's error
    body is filled in when the schema is built)."""
    return {status: {"description": DESCRIPTIONS[status]} for status in statuses}


def _add_model(schemas: dict[str, Any], model: type[BaseModel]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def _document_errors(schema: dict[str, Any], error_model_for: Callable[[str], type[BaseModel]]) -> None:
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    refs: dict[str, dict[str, str]] = {}
    for path, operations in schema.get("paths", {}).items():
        model = error_model_for(path)
        ref = refs.get(model.__name__) or refs.setdefault(model.__name__, _add_model(schemas, model))
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if responses.pop("422", None) is not None:
                responses.setdefault("400", {"description": DESCRIPTIONS[400]})
            if operation.get("security"):
                responses.setdefault("401", {"description": DESCRIPTIONS[401]})
            for status, response in responses.items():
                if status[0] in "45" and "content" not in response:
                    response["content"] = {"application/json": {"schema": ref}}
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)


def _document_scopes(schema: dict[str, Any], routes: Sequence[Any]) -> None:
    """A 403 on every route that needs a key of scope org or admin (`deps.scope_needed`)."""
    for route in iter_route_contexts(routes):
        needed = scope_needed(route) if isinstance(route.original_route, APIRoute) else None
        for method in (route.methods or ()) if needed is not None else ():
            operation = schema.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if operation is not None:
                operation.setdefault("responses", {}).setdefault("403", {
                    "description": f"The API key's scope does not allow this: it needs scope {needed.value}"
                                   + (" (or admin)" if needed.value != "admin" else "")})


def install(app: FastAPI, error_model_for: Callable[[str], type[BaseModel]],
            tags: Sequence[dict[str, Any]] = ()) -> None:
    """`app` must be built with `docs_url=None, redoc_url=None`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes, tags=list(tags) or None)
            _document_scopes(schema, app.routes)
            _document_errors(schema, error_model_for)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.mount(ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} API",
                                   swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS}/favicon.png",
                                   # no validator badge: it would fetch an image from validator.swagger.io
                                   swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} API",
                              redoc_js_url=f"{ASSETS}/redoc.standalone.js", redoc_favicon_url=f"{ASSETS}/favicon.png",
                              with_google_fonts=False)
