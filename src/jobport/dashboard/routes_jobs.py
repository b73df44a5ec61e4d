"""The Jobs screen: every surface's jobs in one list, filtered by the URL's query (so a reload or a
shared link shows the same view), paged; CSV and JSONL exports of the filtered list; bulk cancel
and retry of the selected jobs or of the whole filter (capped, after a confirmation page); and the
"N new jobs" banner, live over SSE."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from jobport.dashboard import streams
from jobport.dashboard.deps import CheckedForm, CsrfToken, SignedIn, UiCtx, form_value, form_values
from jobport.dashboard.pages import page, render, utc
from jobport.domain.statuses import JobStatus
from jobport.services import dashboard as dash

router = APIRouter()
NEW_JOBS_POLL_SECONDS = 3.0
FILTER_NAMES = ("status", "pipeline", "app", "surface", "from", "to", "tz", "tag", "meta", "q", "page", "per_page")
EXPORT_COLUMNS = ("id", "name", "status", "surface", "pipeline_key", "pipeline_version", "app_id", "app_version",
                  "priority", "created_at", "started_at", "completed_at", "failed_at", "cancelled_at",
                  "inputs_pending", "inputs_processing", "inputs_completed", "inputs_failed", "record_count",
                  "billed_usage", "retry_count", "tags", "metadata")


def job_filter(request: Request) -> dash.JobFilter:
    return dash.JobFilter.parse({name: request.query_params.getlist(name) for name in FILTER_NAMES})


def _filter_from_text(query: str) -> dash.JobFilter:
    return dash.JobFilter.parse(parse_qs(query, keep_blank_values=False))


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, ctx: UiCtx, principal: SignedIn, csrf: CsrfToken) -> Response:
    chosen = job_filter(request)
    listed = dash.list_jobs(ctx, principal, chosen)
    return page(request, "jobs.html", title="Jobs", principal=principal, csrf=csrf, filter=chosen, listed=listed,
                choices=dash.filter_choices(ctx, principal), statuses=[s.value for s in JobStatus],
                surfaces=dash.SURFACES, newest=dash.newest_job_number(ctx, principal),
                pages=max(1, -(-listed.total // chosen.per_page)), bulk_max=ctx.settings.ui.bulk_action_max,
                page_sizes=dash.PAGE_SIZES)


@router.get("/jobs/stream")
def new_jobs_stream(request: Request, ctx: UiCtx, principal: SignedIn, after: int = 0) -> Response:
    """`newjobs` events: how many jobs of the filter were created after job number `after`."""
    chosen = job_filter(request)
    shown = {"count": 0}

    async def poll() -> tuple[list[str], bool]:
        count = await run_in_threadpool(dash.count_new_jobs, ctx, principal, chosen, after)
        if count == shown["count"]:
            return [], False
        shown["count"] = count
        banner = render("_new_jobs.html", count=count, cap=dash.NEW_JOBS_COUNT_MAX, filter=chosen)
        return [streams.message("newjobs", banner)], False

    return streams.event_stream(request, poll, NEW_JOBS_POLL_SECONDS, ctx.settings.ui.stream_max_seconds)


def _export_record(row: dash.JobRow) -> dict[str, object]:
    job, counts = row.job, row.counts
    values: dict[str, object] = {column: getattr(job, column, None) for column in EXPORT_COLUMNS}
    for moment in ("created_at", "started_at", "completed_at", "failed_at", "cancelled_at"):
        at = utc(getattr(job, moment))
        values[moment] = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if at is not None else None
    values.update(surface=job.surface or "archetype", tags=job.tags, metadata=job.job_metadata,
                  **{f"inputs_{k}": counts.get(k, 0) for k in ("pending", "processing", "completed", "failed")})
    return values


def _csv_lines(rows: Iterator[dash.JobRow]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        record = _export_record(row)
        metadata = row.job.job_metadata
        record.update(tags=";".join(str(t) for t in row.job.tags or []),
                      metadata=json.dumps(metadata) if metadata is not None else "")
        writer.writerow(record)
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _jsonl_lines(rows: Iterator[dash.JobRow]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(_export_record(row), separators=(",", ":")) + "\n"


@router.get("/jobs/export.{fmt}")
def export(request: Request, ctx: UiCtx, principal: SignedIn, fmt: str) -> Response:
    if fmt not in ("csv", "jsonl"):
        return Response(f"no export format {fmt!r}: use export.csv or export.jsonl", status_code=404,
                        media_type="text/plain")
    chosen = job_filter(request)
    dash.list_jobs(ctx, principal, chosen)  # a bad filter answers 400 here, before the stream starts
    rows = dash.export_jobs(ctx, principal, chosen)
    body = _csv_lines(rows) if fmt == "csv" else _jsonl_lines(rows)
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    return StreamingResponse(body, media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="jobs.{fmt}"'})


@router.post("/jobs/bulk", response_class=HTMLResponse)
def bulk(request: Request, ctx: UiCtx, principal: SignedIn, form: CheckedForm, csrf: CsrfToken) -> Response:
    """Without `confirm=yes`: the confirmation page listing what the action would act on. With it:
    the action on exactly the ids confirmed, and what came of each."""
    action, _, scope = (form_value(form, "bulk") or form_value(form, "action")).partition("-")
    filter_text = form_value(form, "filter")
    back = f"/ui/jobs?{filter_text}" if filter_text else "/ui/jobs"
    if form_value(form, "confirm") == "yes":
        targets = dash.bulk_targets(ctx, principal, action, form_values(form, "job_id"), None)
        result = dash.run_bulk(ctx, principal, action, targets)
        return page(request, "bulk_done.html", title="Bulk action", principal=principal, csrf=csrf, result=result,
                    back=back)
    by_filter = scope == "filter"
    chosen = _filter_from_text(filter_text) if by_filter else None
    targets = dash.bulk_targets(ctx, principal, action, form_values(form, "job_id"), chosen)
    return page(request, "bulk_confirm.html", title="Confirm", principal=principal, csrf=csrf, action=action,
                targets=targets, by_filter=by_filter, filter_text=filter_text, back=back,
                cap=ctx.settings.ui.bulk_action_max)
