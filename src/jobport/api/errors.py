"""Errors on the wire. Each surface answers in its own format (its `render.error_body`): a router
built with `surface_route(error_body)` turns domain errors and request validation errors of its
routes into that format; the app-level handlers (`install`) cover what no route handled (unknown
paths, wrong methods) by the surface the path belongs to. Validation errors are 400, never 422."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from jobport.domain.errors import DomainError, Problem


def validation_problems(exc: RequestValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        where = loc[0] if loc else "body"
        field = ".".join(_join_loc(loc[1:])) if where == "body" else ".".join(loc[1:]) or where
        if err["type"] == "json_invalid":
            problems.append(Problem("request body is not valid JSON", "body",
                                    "Send a JSON object with Content-Type: application/json.", "invalid_json"))
            continue
        code = "missing_parameter" if err["type"] == "missing" else "invalid_parameter"
        if err["type"] == "extra_forbidden":
            message, suggestion = f"{field}: unknown field", "Remove it; see the API reference for accepted fields."
        elif err["type"] == "missing":
            message, suggestion = f"{field}: field required", f"Add '{field}' to the {where}."
        else:
            message, suggestion = f"{field}: {err['msg']}", f"Fix '{field}' in the {where}."
        problems.append(Problem(message, field or where, suggestion, code))
    return problems


def _join_loc(parts: list[str]) -> list[str]:
    out: list[str] = []
    for p in parts:
        if p.isdigit() and out:
            out[-1] = f"{out[-1]}[{p}]"
        else:
            out.append(p)
    return out


ErrorBody = Callable[[list[Problem]], dict[str, Any]]


def surface_route(error_body: ErrorBody) -> type[APIRoute]:
    """A route class answering errors in one surface's format: `APIRouter(route_class=...)`."""

    class SurfaceRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Response:
                try:
                    return await handler(request)
                except DomainError as exc:
                    return JSONResponse(error_body(exc.problems), status_code=exc.status_code)
                except RequestValidationError as exc:
                    return JSONResponse(error_body(validation_problems(exc)), status_code=400)

            return handle

    return SurfaceRoute


def install(app: FastAPI, error_body_for: Callable[[str], ErrorBody]) -> None:
    """Exception handlers that answer in the error format of the surface a path belongs to."""

    def _body(request: Request, problems: list[Problem]) -> dict[str, Any]:
        return error_body_for(request.url.path)(problems)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError):
        return JSONResponse(_body(request, exc.problems), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return JSONResponse(_body(request, validation_problems(exc)), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(exc.status_code, "http_error")
        suggestion = "Check the path against /docs." if exc.status_code in (404, 405) else ""
        return JSONResponse(_body(request, [Problem(str(exc.detail), None, suggestion, code)]),
                            status_code=exc.status_code)
