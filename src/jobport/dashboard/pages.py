"""Rendering: the Jinja2 environment of the package's templates (autoescaped) with the filters the
pages use (times as `<time>` in UTC that `app.js` shows in local time, durations, status classes,
SVG bar geometry), and `page()` that renders a full page or a fragment."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from jobport import __version__
from jobport.dashboard.security import CSRF_FIELD
from jobport.domain.statuses import QUEUED, TERMINAL, JobStatus

PREFIX = "/ui"
TEMPLATES = Path(__file__).parent / "templates"


def utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def time_tag(moment: datetime | None) -> Markup:
    """`<time>` with the UTC time as text and title; app.js turns the text into local time."""
    at = utc(moment)
    if at is None:
        return Markup('<span class="muted">—</span>')
    iso = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{0}" title="{1}">{1}</time>').format(iso, shown)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def size(num_bytes: int | None) -> str:
    """`812 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`."""
    if num_bytes is None:
        return "—"
    if num_bytes < 1024:
        return f"{num_bytes} B"
    value = float(num_bytes)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def status_class(status: str) -> str:
    moved = JobStatus(status) if status in JobStatus.__members__ else None
    if moved is JobStatus.COMPLETED:
        return "ok"
    if moved in (JobStatus.FAILED, JobStatus.EXPIRED):
        return "bad"
    if moved is JobStatus.CANCELLED:
        return "off"
    if moved in QUEUED or moved in (JobStatus.PARKED, JobStatus.SUSPENDED):
        return "wait"
    return "run"


def is_terminal(status: str) -> bool:
    return status in {s.value for s in TERMINAL}


def csrf_input(token: str) -> Markup:
    return Markup('<input type="hidden" name="{0}" value="{1}">').format(CSRF_FIELD, escape(token))


def bar_width(value: float | None, highest: float, full: float = 300.0) -> float:
    """The length in SVG units of a bar of `value` on a scale whose longest bar is `highest`."""
    if not value or highest <= 0:
        return 0.0
    return round(max(1.0, full * value / highest), 1)


def input_total(counts: dict[str, int]) -> int:
    return sum(counts.get(k, 0) for k in ("pending", "processing", "completed", "failed"))


environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                          trim_blocks=True, lstrip_blocks=True)
environment.filters.update(time=time_tag, duration=duration, status_class=status_class, bar=bar_width,
                           size=size)
environment.globals.update(prefix=PREFIX, version=__version__, csrf_input=csrf_input, is_terminal=is_terminal,
                           input_total=input_total)


def render(template: str, **values: Any) -> str:
    return environment.get_template(template).render(**values)


def page(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """A page of the dashboard; `values` are the template's, plus the request."""
    return HTMLResponse(render(template, request=request, **values), status_code=status_code)
