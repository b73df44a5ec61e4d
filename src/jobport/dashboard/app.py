"""The dashboard as an ASGI app mounted at `/ui` on the API app (`build_dashboard(parent)`): its
routes, its static files (`/ui/static`, from the package), its security headers, and its error
pages: every bad input is a 4xx page that says what was wrong, a missing session a redirect to the
sign-in form. It reads the application context from the app it is mounted on."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from jobport.dashboard import (
    routes_files,
    routes_job,
    routes_jobs,
    routes_manage,
    routes_new_job,
    routes_overview,
    routes_session,
    routes_usage,
)
from jobport.dashboard.deps import SignInRequired
from jobport.dashboard.pages import PREFIX, page
from jobport.dashboard.security import DashboardHeaders
from jobport.domain.errors import DomainError

STATIC = Path(__file__).parent / "static"
_TITLES = {400: "Bad request", 401: "Not signed in", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
           409: "Conflict", 413: "Too large", 422: "Bad request", 503: "Unavailable"}


def error_page(request: Request, status_code: int, message: str, suggestion: str = "",
               field: str | None = None) -> HTMLResponse:
    return page(request, "error.html", status_code=status_code, title=_TITLES.get(status_code, "Error"),
                code=status_code, message=message, suggestion=suggestion, field=field)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return error_page(request, exc.status_code, exc.message, exc.suggestion, exc.field)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
    return error_page(request, 400, f"{where or 'request'}: {first.get('msg', 'invalid value')}",
                      "Correct the value and try again.", where)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = "no such page" if exc.status_code == 404 else str(exc.detail)
    return error_page(request, exc.status_code, message, "Go back to the jobs list." if exc.status_code == 404 else "")


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    if request.method == "GET" and "text/event-stream" not in request.headers.get("accept", ""):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}", status_code=303)
    return error_page(request, 401, "you are not signed in, or your session ended",
                      "Sign in again with your API key.")


def build_dashboard(parent: FastAPI) -> FastAPI:
    """The `/ui` app; `parent` is the app it is mounted on (its `state.ctx` is the context)."""
    app = FastAPI(title="jobport dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.parent = parent
    # routes_new_job before routes_job: `/jobs/new` is not a job id
    for module in (routes_session, routes_overview, routes_jobs, routes_new_job, routes_job, routes_files,
                   routes_manage, routes_usage):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_middleware(DashboardHeaders)
    return app
