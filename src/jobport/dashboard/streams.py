"""Server-sent events for the live parts of the pages (htmx's SSE extension swaps each named event's
data into the element that listens for it). A stream polls the database through the services in
the thread pool, stops when the client goes away or after setting `ui_stream_max_seconds` (the
browser then reconnects, sending `Last-Event-ID`), and sends a comment now and then so proxies keep it open."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import Request
from fastapi.responses import StreamingResponse

KEEPALIVE_SECONDS = 15.0

# One poll: the messages to send now, and whether the stream is finished after them.
Poll = Callable[[], Awaitable[tuple[list[str], bool]]]


def message(event: str, data: str, event_id: int | None = None) -> str:
    """One SSE message; `data` may span lines (each becomes a `data:` line)."""
    lines = [f"id: {event_id}"] if event_id is not None else []
    lines.append(f"event: {event}")
    lines += [f"data: {line}" for line in (data.splitlines() or [""])]
    return "\n".join(lines) + "\n\n"


def last_event_id(request: Request, fallback: int) -> int:
    """Where a stream resumes: after the browser's `Last-Event-ID` (the native reconnect) or after
    `fallback` (the URL's `after`, which app.js moves on with every event: htmx's own reconnect
    sends no header), whichever is later."""
    header = request.headers.get("last-event-id", "").strip()
    return max(fallback, int(header)) if header.isdigit() and len(header) < 19 else fallback


async def _polled(request: Request, poll: Poll, interval: float, max_seconds: float) -> AsyncIterator[str]:
    started = last_sent = time.monotonic()
    yield "retry: 2000\n\n"
    while True:
        messages, finished = await poll()
        for text in messages:
            yield text
        now = time.monotonic()
        if messages:
            last_sent = now
        if finished or now - started > max_seconds or await request.is_disconnected():
            return
        if now - last_sent > KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            last_sent = now
        await asyncio.sleep(interval)


def event_stream(request: Request, poll: Poll, interval: float, max_seconds: float) -> StreamingResponse:
    """The stream of `poll`'s messages, every `interval` seconds, for at most `max_seconds`."""
    return StreamingResponse(_polled(request, poll, interval, max_seconds), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
