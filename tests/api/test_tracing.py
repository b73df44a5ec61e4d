"""Optional OpenTelemetry tracing (`JOBPORT_OTEL=1`, the `otel` extra): a span per request named by
its route template, the request's SQL statements as its children; probes are not traced; the
exporter follows `OTEL_TRACES_EXPORTER`."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402

from helpers import make_settings  # noqa: E402
from jobport.server import create_app  # noqa: E402


def test_requests_and_their_sql_statements_become_spans(tmp_path, monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")  # only the in-memory exporter below
    settings = make_settings(home=tmp_path, executor="inline", blob_store="memory", example_app=False,
                             admin_key="tracing-admin-key", otel=True, http_key_cache_seconds=0)
    app = create_app(settings, run_scheduler=False)
    spans = InMemorySpanExporter()
    app.state.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    with TestClient(app) as client:
        spans.clear()  # the start's migrations
        client.get("/healthz")
        # no request span for a probe (a pool `connect` span from elsewhere in the process may appear)
        assert [s.name for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER] == []
        r = client.get("/v0.5/batch/jobs", headers={"Authorization": "Bearer tracing-admin-key"})
        assert r.status_code == 200
        finished = spans.get_finished_spans()
    [server] = [s for s in finished if s.kind is SpanKind.SERVER]
    assert server.name == "GET /v0.5/batch/jobs" and server.attributes["http.route"] == "/v0.5/batch/jobs"
    sql = [s for s in finished if s.attributes and s.attributes.get("db.system") == "sqlite"]
    assert sql and all(s.context.trace_id == server.context.trace_id for s in sql)
    assert server.resource.attributes["service.name"] == "jobport"


def test_tracing_is_off_by_default_and_a_bad_exporter_stops_the_start(tmp_path, monkeypatch):
    settings = make_settings(home=tmp_path, executor="inline", blob_store="memory", example_app=False)
    assert not hasattr(create_app(settings, run_scheduler=False).state, "tracer_provider")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(RuntimeError, match="OTEL_TRACES_EXPORTER"):
        create_app(settings.model_copy(update={"otel": True}), run_scheduler=False)
