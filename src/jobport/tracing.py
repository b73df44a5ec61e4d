"""Optional OpenTelemetry tracing (`JOBPORT_OTEL=1`; the packages of the `otel` extra): one span
per HTTP request (FastAPI instrumentation; the probes and `/metrics` are left out) and one per SQL
statement (SQLAlchemy instrumentation), the statements of a request under its span.

Imported only when tracing is on. Where spans go follows the standard variables:
`OTEL_TRACES_EXPORTER` = `otlp`, `console` or `none` (default: `otlp` when
`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, else `console`:
one JSON object per span on stdout); `otlp` needs an OTLP exporter package
(`opentelemetry-exporter-otlp-proto-http`, or `-grpc` with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`),
which reads its own `OTEL_EXPORTER_OTLP_*` settings. `OTEL_SERVICE_NAME` names the service
(default `jobport`). The tracer provider is the app's own (`app.state.tracer_provider`), not the
process-wide default.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

UNTRACED_URLS = "/healthz,/readyz,/metrics"


def _otlp_exporter() -> SpanExporter:
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

            return Grpc()
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

        return Http()
    except ImportError as err:
        package = "opentelemetry-exporter-otlp-proto-" + ("grpc" if protocol == "grpc" else "http")
        raise RuntimeError(f"OTEL_TRACES_EXPORTER=otlp needs the package {package}: install it, or set "
                           "OTEL_TRACES_EXPORTER=console") from err


def exporters() -> list[SpanExporter]:
    """The exporters `OTEL_TRACES_EXPORTER` names (comma-separated); an unknown name stops the start."""
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    names = os.environ.get("OTEL_TRACES_EXPORTER") or ("otlp" if endpoint else "console")
    found: list[SpanExporter] = []
    for name in (n.strip().lower() for n in names.split(",") if n.strip()):
        if name == "none":
            continue
        if name == "console":
            found.append(ConsoleSpanExporter())
        elif name == "otlp":
            found.append(_otlp_exporter())
        else:
            raise RuntimeError(f"OTEL_TRACES_EXPORTER={names!r}: {name!r} is not one of otlp, console, none")
    return found


def start() -> TracerProvider:
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "jobport"}))
    provider = TracerProvider(resource=resource)
    for exporter in exporters():
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def trace_app(app: Any, provider: TracerProvider) -> None:
    """Before the app serves: a span per request (route template as its name)."""
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED_URLS)


def trace_engine(engine: Any, provider: TracerProvider) -> None:
    # skip_dep_check: the instrumentation declares SQLAlchemy < 2.1 and we run 2.1, whose engine
    # events (before/after_cursor_execute) it uses are unchanged; without it, it silently does nothing
    SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=provider, skip_dep_check=True)


def stop(provider: TracerProvider) -> None:
    """Detach the SQL instrumentation and send the spans still buffered."""
    SQLAlchemyInstrumentor().uninstrument()
    provider.shutdown()
