"""Errors on the wire. Each surface answers in its own format (its `render.error_body`): a router
built with `surface_route(error_body)` turns domain errors and request validation errors of its
routes into that format, and checks parameters and every JSON body against the storage rules
first (64-bit integers, finite numbers, no NUL in text, nesting at most `max_json_depth`:
`jobport.domain.bounds`); the app-level handlers (`install`) cover what no route handled (unknown
paths, wrong methods) by the surface the path belongs to. Validation errors are 400, never 422.

`UnexpectedErrors`, the outermost middleware, answers an exception nothing else handled with a 500
in the surface's format. Without it Starlette sends its own 500 and re-raises, and uvicorn then
closes the keep-alive connection under the client's next request."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobport.config import Settings
from jobport.domain import bounds
from jobport.domain.errors import DomainError, Problem
from jobport.domain.ids import error_uid

log = structlog.get_logger("jobport.api")

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_DEPTH = int(str(Settings.default_of("max_json_depth")))


def validation_problems(exc: RequestValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        where = loc[0] if loc else "body"
        field = ".".join(_join_loc(loc[1:])) if where == "body" else ".".join(loc[1:]) or where
        if err["type"] == "json_invalid":
            problems.append(_invalid_json(err))
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


def _invalid_json(err: Any) -> Problem:
    """FastAPI's `json_invalid` error: the parser's reason and the character position it stopped at."""
    reason = (err.get("ctx") or {}).get("error")
    position = err["loc"][1] if len(err["loc"]) > 1 else None
    detail = f": {reason} at character {position}" if reason and isinstance(position, int) else ""
    return Problem(f"request body is not valid JSON{detail}", "body",
                   "Send a JSON object with Content-Type: application/json.", "invalid_json")


def _join_loc(parts: list[str]) -> list[str]:
    out: list[str] = []
    for p in parts:
        if p.isdigit() and out:
            out[-1] = f"{out[-1]}[{p}]"
        else:
            out.append(p)
    return out


def _max_depth(request: Request) -> int:
    ctx = getattr(request.app.state, "ctx", None)
    return ctx.settings.limits.max_json_depth if ctx is not None else _DEFAULT_DEPTH


def _has_json_body(request: Request, declares_body: bool) -> bool:
    """A body read as JSON: one with a JSON content type, or without a content type on a route
    whose body FastAPI parses (`declares_body`). Other bodies (multipart, file bytes) are never
    read here: they stream into the blob store."""
    if request.method not in _BODY_METHODS:
        return False
    content_type = request.headers.get("content-type", "")
    if not content_type:
        return declares_body and request.headers.get("content-length", "0") not in ("", "0")
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def json_problem(value: Any, max_depth: int, root: str = "") -> Problem | None:
    """What `jobport.domain.bounds` finds wrong in a parsed JSON document, as a problem naming where."""
    found = bounds.json_problem(value, max_depth, root)
    if found is None:
        return None
    if found.code == "too_deeply_nested":
        suggestion = (f"Nest arrays and objects at most {max_depth} levels deep (setting JOBPORT_MAX_JSON_DEPTH), "
                      "or send the deep part as a JSON string.")
    else:
        suggestion = "Send integers between -2^63 and 2^63-1 and finite numbers; send larger values as strings."
    return Problem(found.message, found.path or root or "body", suggestion, found.code)


def parameter_problem(request: Request) -> Problem | None:
    """A path or query parameter whose text cannot be queried (a NUL character)."""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        message = bounds.text_problem(name, str(value))
        if message is not None:
            return Problem(message, name, f"Remove the NUL character from '{name}'.", "invalid_parameter")
    return None


async def body_problem(request: Request, declares_body: bool = True) -> Problem | None:
    """The JSON body's first value that cannot be stored, or a body too deeply nested to parse.
    Invalid JSON is left to the route, which answers it with the parser's position. The parsed body
    stays cached on the request, so FastAPI does not parse it again."""
    if not _has_json_body(request, declares_body):
        return None
    depth = _max_depth(request)
    try:
        value = await request.json()
    except RecursionError:
        return Problem(f"body: arrays and objects nest deeper than {depth} levels", "body",
                       f"Nest at most {depth} levels deep (setting JOBPORT_MAX_JSON_DEPTH).", "too_deeply_nested")
    except UnicodeDecodeError:
        return Problem("request body is not UTF-8 text", "body", "Send the JSON encoded as UTF-8.", "invalid_json")
    except json.JSONDecodeError:
        return None
    except ValueError as err:  # e.g. an integer of more digits than Python converts
        return Problem(f"request body cannot be read as JSON: {err}", "body",
                       "Send integers between -2^63 and 2^63-1; send larger values as strings.", "invalid_json")
    return json_problem(value, depth)


ErrorBody = Callable[[list[Problem]], dict[str, Any]]


def surface_route(error_body: ErrorBody) -> type[APIRoute]:
    """A route class answering errors in one surface's format: `APIRouter(route_class=...)`."""

    class SurfaceRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()
            declares_body = self.body_field is not None

            async def handle(request: Request) -> Response:
                problem = parameter_problem(request) or await body_problem(request, declares_body)
                if problem is not None:
                    return JSONResponse(error_body([problem]), status_code=400)
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


class UnexpectedErrors:
    """ASGI middleware, added last (outermost): an exception that escaped every handler is logged
    with a reference and answered 500 in the error format of the path's surface, so the connection
    stays usable. An exception after the response began cannot be answered: it propagates and the
    server closes the connection (the client sees a truncated response, not a wrong one)."""

    def __init__(self, app: ASGIApp, error_body_for: Callable[[str], ErrorBody]) -> None:
        self.app = app
        self.error_body_for = error_body_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:
                raise
            reference = error_uid()
            path = scope.get("path", "")
            log.exception("unhandled error", method=scope.get("method"), path=path, reference=reference)
            body = self.error_body_for(path)([Problem(
                f"internal server error (reference {reference})", None,
                "Retry the request; if it fails again, give the reference to the server's operator.",
                "internal_error")])
            await JSONResponse(body, status_code=500)(scope, receive, send)
