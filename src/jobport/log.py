"""Logging, configured once per process (`configure`): structlog for jobport's own records, and
the standard library's (uvicorn, alembic) through the same renderer. `log_format` picks a
human-readable console line or one JSON object per line (for log shippers); `log_level` the floor.
Context bound with `structlog.contextvars` is merged into every record, and so are the fields of
the HTTP request being served (`set_request_fields`, by `api.observability`): its request id, and
its route and org once they are known. Those are read when a record is made, not bound up front,
because the route is known only after routing and the org only after authentication, which runs
in other threads and tasks than the middleware (a copied context would not carry a later bind)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from typing import Any, Literal

import structlog

LogFormat = Literal["console", "json"]
RequestFields = Callable[[], Mapping[str, Any]]
_configured = False
_request_fields: ContextVar[RequestFields | None] = ContextVar("jobport_request_fields", default=None)


def set_request_fields(fields: RequestFields) -> Token[RequestFields | None]:
    """Records made from here on (in this context and the ones copied from it) carry `fields()`;
    undo with `reset_request_fields(token)`."""
    return _request_fields.set(fields)


def reset_request_fields(token: Token[RequestFields | None]) -> None:
    _request_fields.reset(token)


def add_request_fields(_logger: Any, _method: str, event_dict: Any) -> Any:
    """Processor: the current request's fields, unless the record names them itself."""
    fields = _request_fields.get()
    if fields is not None:
        for name, value in fields().items():
            if value is not None:
                event_dict.setdefault(name, value)
    return event_dict


def configure(log_format: LogFormat = "console", level: str = "info") -> None:
    global _configured
    if _configured:
        return
    _configured = True
    numeric = logging.getLevelName(level.upper())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_request_fields,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if log_format == "json" else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=[
        structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
