"""Finalizing a batch whose job ended: its result parts become the batch's output file (lines that
answered 200) and error file (the others), and every request the job never ran (cancelled, expired
or failed first) gets an error line, so each `custom_id` appears exactly once across the two files.
Blobs are written first; the file rows and the batch's final status then commit together through a
guarded UPDATE, so two readers finalizing at once leave one result (the loser drops its blobs)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import IO, Any

import orjson

from jobport.blobs import keys
from jobport.domain.statuses import JobStatus
from jobport.domain.times import as_utc
from jobport.pipelines.builtin.openai_batch.lines import is_success, unfinished_line
from jobport.services.context import AppContext
from jobport.services.files import new_file_uid
from jobport.services.openai_batches import files
from jobport.store import openai_batches as store
from jobport.store.db import transaction, utcnow
from jobport.store.tables import Job, JobOutput, OpenAIBatch

# job status -> (batch status, the timestamp it stamps, error code of requests never run)
ENDINGS = {
    JobStatus.COMPLETED: ("completed", "completed_at", "batch_failed"),
    JobStatus.FAILED: ("failed", "failed_at", "batch_failed"),
    JobStatus.CANCELLED: ("cancelled", "cancelled_at", "batch_cancelled"),
    JobStatus.EXPIRED: ("expired", "expired_at", "batch_expired"),
}
UNFINISHED = {"batch_failed": "The batch failed before this request ran.",
              "batch_cancelled": "The batch was cancelled before this request ran.",
              "batch_expired": "This request could not be executed before the completion window expired."}


class _Writer:
    """One result file being written: its blob, bytes and lines (the blob exists once a line is written)."""

    def __init__(self, ctx: AppContext, org_id: str) -> None:
        self.ctx, self.org_id = ctx, org_id
        self.uid = new_file_uid()
        self.key = keys.org_file(org_id, self.uid)
        self.lines = self.num_bytes = 0
        self._cm: Any = None
        self._fh: IO[bytes] | None = None
        self.sha = hashlib.sha256()

    def write(self, line: dict[str, Any]) -> None:
        if self._fh is None:
            self._cm = self.ctx.blobs.writer(self.key)
            self._fh = self._cm.__enter__()
        data = orjson.dumps(line) + b"\n"
        assert self._fh is not None
        self._fh.write(data)
        self.sha.update(data)
        self.lines += 1
        self.num_bytes += len(data)

    def close(self) -> None:
        if self._cm is not None:
            self._cm.__exit__(None, None, None)

    def drop(self) -> None:
        if self._cm is not None:
            self.ctx.blobs.delete(self.key)


def _part_lines(ctx: AppContext, output: JobOutput) -> Iterator[dict[str, Any]]:
    if output.content is not None:
        raw_lines = output.content.splitlines()
    else:
        with ctx.blobs.open(output.blob_key) as handle:
            raw_lines = handle.read().splitlines()
    for raw in raw_lines:
        if raw.strip():
            yield orjson.loads(raw)


def _input_custom_ids(ctx: AppContext, org_id: str, file_id: str) -> Iterator[str]:
    with ctx.sessions() as session:
        found = store.get_file(session, org_id, file_id)
    if found is None:  # the input file was deleted meanwhile: only the finished lines can be written
        return
    with ctx.blobs.open(found[1].blob_key) as handle:
        for raw in handle:
            if raw.strip():
                value = orjson.loads(raw)
                yield value["custom_id"]


def _write_results(ctx: AppContext, batch: OpenAIBatch, job: Job, unfinished_code: str) -> tuple[_Writer, _Writer]:
    ok, bad = _Writer(ctx, batch.org_id), _Writer(ctx, batch.org_id)
    seen: set[str] = set()
    with ctx.sessions() as session:
        outputs = store.job_outputs(session, job.id)
    try:
        for output in outputs:
            for line in _part_lines(ctx, output):
                seen.add(str(line.get("custom_id")))
                (ok if is_success(line) else bad).write(line)
        for custom_id in _input_custom_ids(ctx, batch.org_id, batch.input_file_id):
            if custom_id not in seen:
                seen.add(custom_id)
                bad.write(unfinished_line(custom_id, unfinished_code, UNFINISHED[unfinished_code]))
    except BaseException:
        for writer in (ok, bad):
            writer.close()
            writer.drop()
        raise
    ok.close()
    bad.close()
    return ok, bad


def _tokens(ctx: AppContext, job_id: str) -> dict[str, int]:
    with ctx.sessions() as session:
        progress = store.latest_progress(session, [job_id]).get(job_id, {})
    return {name: int(progress.get(name, 0)) for name in ("input_tokens", "output_tokens")}


def _ended_at(job: Job) -> datetime:
    return as_utc(job.completed_at or job.failed_at or job.cancelled_at or job.updated_at) or utcnow()


def finalize(ctx: AppContext, batch: OpenAIBatch, job: Job) -> OpenAIBatch:
    """The batch with its final status and files (written now, or by whoever finalized it first)."""
    status, stamp, unfinished_code = ENDINGS[JobStatus(job.status)]
    ok, bad = _write_results(ctx, batch, job, unfinished_code)
    now = utcnow()
    expires = (now + timedelta(seconds=batch.output_expires_after["seconds"])
               if batch.output_expires_after else None)
    values: dict[str, Any] = {"status": status, stamp: now, "request_completed": ok.lines,
                              "request_failed": bad.lines, **_tokens(ctx, job.id)}
    if status in ("completed", "failed"):
        values["finalizing_at"] = _ended_at(job)
    if status == "failed":
        values["errors"] = {"object": "list", "data": [{
            "code": (job.error or {}).get("code") or "batch_failed", "line": None, "param": None,
            "message": (job.error or {}).get("message") or "The batch's job failed."}]}
    try:
        with transaction(ctx.sessions) as session:
            for writer, kind in ((ok, "output"), (bad, "error")):
                if writer.lines:
                    row = files.add_file(session, batch.org_id, f"file-{uuid.uuid4().hex[:24]}", writer.uid,
                                         f"{batch.id}_{kind}.jsonl", "batch_output", writer.num_bytes,
                                         writer.sha.hexdigest(), expires)
                    values[f"{kind}_file_id"] = row.id
            if not store.update_batch_if(session, batch.id, ["in_progress", "cancelling"], values):
                raise _AlreadyFinal
    except _AlreadyFinal:
        ok.drop()
        bad.drop()
    with ctx.sessions() as session:
        fresh = store.get_batch(session, batch.org_id, batch.id)
    assert fresh is not None
    return fresh


def finalize_orphan(ctx: AppContext, batch: OpenAIBatch) -> OpenAIBatch:
    """A batch whose job was deleted (through the native API, or by retention) before it was
    finalized: `failed`, with nothing left to write."""
    now = utcnow()
    error = {"code": "job_deleted", "line": None, "param": None,
             "message": f"The batch's job {batch.job_id} was deleted before its results were written."}
    with transaction(ctx.sessions) as session:
        store.update_batch_if(session, batch.id, ["in_progress", "cancelling"], {
            "status": "failed", "failed_at": now, "errors": {"object": "list", "data": [error]}})
        fresh = store.get_batch(session, batch.org_id, batch.id)
    assert fresh is not None
    return fresh


class _AlreadyFinal(Exception):
    """Another reader finalized the batch first."""
