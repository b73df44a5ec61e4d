"""One job's page: its state with per-state times, input counts and progress, inputs and outputs
with signed download links, the event timeline (searchable, downloadable), callback deliveries
(with replay), usage, cancel and retry, "copy as curl" for its surface; and its live updates over
SSE (state, inputs, outputs, timeline), whose event ids are the event rows' ids (a reconnect resumes
after the last one: `Last-Event-ID`, or the `after` that app.js moves on with every event)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from jobport.api.deps import base_url
from jobport.dashboard import streams
from jobport.dashboard.deps import CheckedForm, CsrfToken, SignedIn, UiCtx, form_value
from jobport.dashboard.pages import PREFIX, page, render, utc
from jobport.domain.errors import NotFound
from jobport.services import dashboard as dash
from jobport.services.auth import Principal
from jobport.services.context import AppContext

router = APIRouter()
LIVE_POLL_SECONDS = 0.5


def _links(ctx: AppContext, items: dash.JobItems | dash.JobDetail) -> dict[str, str]:
    """Signed download links of the job's inputs and outputs, by row id (same-origin `/blobs/...`
    links on the local store; the store's own presigned links on S3)."""
    links: dict[str, str] = {}
    for row in items.inputs.items:
        blob_key = row.data.get("blob_key")
        if blob_key:
            links[row.id] = ctx.signer.sign("", blob_key, row.data.get("filename") or row.file_id)[0]
    for item in items.outputs.items:
        out = item.output
        links[out.id] = ctx.signer.sign("", out.blob_key, out.filename, in_store=out.content is None)[0]
    return links


def curl_commands(request: Request, ctx: AppContext, detail: dash.JobDetail) -> list[tuple[str, str]]:
    """How to read this job with curl: on the native API, and on the vendor surface it came from."""
    root = base_url(request, ctx)
    job = detail.job
    native = f'curl -H "Authorization: Bearer $JOBPORT_API_KEY" {root}/v0.5/batch/jobs/{job.id}'
    commands = [("native (Archetype)", native)]
    if job.surface == "superai":
        commands.append(("super.AI", f'curl -H "API-KEY: $JOBPORT_API_KEY" {root}/v1/jobs/{job.seq}'))
    elif job.surface == "gravity":
        commands.append(("Gravity", f'curl -H "x-api-key: $JOBPORT_API_KEY" {root}/api/v1/jobs/{job.uuid}'))
    elif job.surface == "openai" and detail.openai_batch_id:
        commands.append(("OpenAI", f'curl -H "Authorization: Bearer $JOBPORT_API_KEY" '
                                   f'{root}/v1/batches/{detail.openai_batch_id}'))
    return commands


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, ctx: UiCtx, principal: SignedIn, csrf: CsrfToken, job_id: str,
             q: str = "") -> Response:
    detail = dash.job_detail(ctx, principal, job_id, q.strip()[:200] or None)
    last_event = max((e.id for e in detail.events), default=0)
    return page(request, "job.html", title=detail.job.name or detail.job.id, principal=principal, csrf=csrf,
                d=detail, job=detail.job, counts=detail.counts, events=detail.events, links=_links(ctx, detail),
                inputs=detail.inputs, outputs=detail.outputs,
                q=q.strip(), last_event=last_event, curls=curl_commands(request, ctx, detail))


def _events_jsonl(events: list[Any]) -> Iterator[str]:
    for e in events:
        at = utc(e.created_at)
        yield json.dumps({"id": e.id, "created_at": at.isoformat() if at else None, "level": e.level,
                          "event_type": e.event_type, "input_id": e.input_id, "message": e.message,
                          "payload": e.payload}, separators=(",", ":")) + "\n"


@router.get("/jobs/{job_id}/events.jsonl")
def events_download(ctx: UiCtx, principal: SignedIn, job_id: str) -> Response:
    events = dash.job_events(ctx, principal, job_id)
    return StreamingResponse(_events_jsonl(events), media_type="application/x-ndjson",
                             headers={"Content-Disposition": f'attachment; filename="{job_id}-events.jsonl"'})


def _summary_key(changes: dash.JobChanges) -> tuple[object, ...]:
    job = changes.job
    return job.status, job.updated_at, tuple(sorted(changes.counts.items())), job.queue_position


def _live_poll(ctx: AppContext, principal: Principal, job_id: str, after: int, csrf: str) -> streams.Poll:
    seen_event = after
    seen_summary: tuple[object, ...] | None = None

    async def poll() -> tuple[list[str], bool]:
        nonlocal seen_event, seen_summary
        try:
            changes = await run_in_threadpool(dash.job_changes, ctx, principal, job_id, seen_event)
        except NotFound:  # deleted while watched
            return [streams.message("end", "deleted")], True
        messages = [streams.message("timeline", render("_event_rows.html", events=[e]), e.id)
                    for e in changes.events]
        if changes.events:
            seen_event = changes.events[-1].id
        key = _summary_key(changes)
        if key != seen_summary:
            seen_summary = key
            messages.append(streams.message("summary", render("_job_summary.html", job=changes.job,
                                                              counts=changes.counts, csrf=csrf)))
            try:  # the inputs and outputs tables follow the state and counts
                items = await run_in_threadpool(dash.job_items, ctx, principal, job_id)
                links = await run_in_threadpool(_links, ctx, items)
            except NotFound:
                return [streams.message("end", "deleted")], True
            messages.append(streams.message("inputs", render("_inputs.html", job=changes.job, inputs=items.inputs,
                                                             links=links)))
            messages.append(streams.message("outputs", render("_outputs.html", job=changes.job,
                                                              outputs=items.outputs, links=links)))
        finished = changes.ended and len(changes.events) < 200
        if finished:
            messages.append(streams.message("end", "ended"))
        return messages, finished

    return poll


@router.get("/jobs/{job_id}/stream")
def job_stream(request: Request, ctx: UiCtx, principal: SignedIn, csrf: CsrfToken, job_id: str,
               after: int = 0) -> Response:
    """`timeline` events (one per event row, id = the row's id), `summary` when the job's state or
    counts change, and `end` once the job has ended and every event was sent."""
    dash.job_changes(ctx, principal, job_id, 0)  # 404 for a job this key does not see, before streaming
    resume_after = streams.last_event_id(request, after)
    return streams.event_stream(request, _live_poll(ctx, principal, job_id, resume_after, csrf), LIVE_POLL_SECONDS,
                                ctx.settings.ui.stream_max_seconds)


@router.post("/jobs/{job_id}/cancel")
def cancel(ctx: UiCtx, principal: SignedIn, form: CheckedForm, job_id: str) -> Response:
    dash.cancel(ctx, principal, job_id)
    return RedirectResponse(f"{PREFIX}/jobs/{job_id}", status_code=303)


@router.post("/jobs/{job_id}/retry")
def retry(ctx: UiCtx, principal: SignedIn, form: CheckedForm, job_id: str) -> Response:
    dash.retry(ctx, principal, job_id)
    return RedirectResponse(f"{PREFIX}/jobs/{job_id}", status_code=303)


@router.post("/callbacks/{delivery_id}/replay")
def replay(ctx: UiCtx, principal: SignedIn, form: CheckedForm, delivery_id: str) -> Response:
    """Send the delivery again as a new one; back to the Webhooks screen when the form came from
    there (its `back`), else to the job's page."""
    replayed = dash.replay_delivery(ctx, principal, delivery_id)
    back = form_value(form, "back")
    if back.startswith(f"{PREFIX}/webhooks") and "//" not in back and "\\" not in back:
        return RedirectResponse(back, status_code=303)
    job_id = replayed.delivery.job_id
    return RedirectResponse(f"{PREFIX}/jobs/{job_id}" if job_id else f"{PREFIX}/jobs", status_code=303)
