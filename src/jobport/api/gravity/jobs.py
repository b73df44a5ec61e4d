"""Gravity routes: `POST /api/v1/jobs` (multipart `data` + `file`), `GET /api/v1/jobs/latest`,
`GET/PUT /api/v1/jobs/{id}` and `GET /api/v1/jobs/result-link/{id}`. Job ids are the job's UUID."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from jobport.api.deps import CtxDep, CurrentPrincipal, base_url
from jobport.api.errors import json_problem, surface_route
from jobport.api.gravity import schemas
from jobport.api.gravity.render import envelope, error_envelope, job_public
from jobport.api.idempotency import IdempotencyKey
from jobport.api.multipart import FileReceiver, receive_file
from jobport.api.openapi import errors
from jobport.blobs import keys
from jobport.callbacks.urls import guard_for, validate_callback_url
from jobport.domain.errors import Invalid, Problem
from jobport.domain.ids import new_id
from jobport.services import idempotency
from jobport.services.auth import Principal
from jobport.services.context import AppContext
from jobport.services.files import new_file_uid
from jobport.services.jobs import posted_file
from jobport.services.jobs.posted_file import FileJobRequest, MappingRule, PostedFile
from jobport.services.views import Job

SURFACE = "gravity"
OUTPUT_PORT = "worker.result"
router = APIRouter(tags=["gravity"], route_class=surface_route(error_envelope))

MULTIPART_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["data", "file"],
    "properties": {"data": {"type": "string", "description": "JSON of the job settings (GravityJobData)"},
                   "file": {"type": "string", "format": "binary", "description": "The records (CSV, JSON, JSONL)"}},
}}}}}


def _parse_data(fields: dict[str, bytes], max_depth: int) -> schemas.GravityJobData:
    raw = fields.get("data")
    if raw is None or not raw.strip():
        raise Invalid("missing 'data' form field", field="data", code="missing_parameter",
                      suggestion='Send a form field "data" holding JSON such as '
                                 '{"mimeType": "text/csv; header=present"}.')
    value = _json_object(raw, "data", max_depth, 'Send the job settings as a JSON object (json.dumps(config)).')
    try:
        return schemas.GravityJobData.model_validate(value)
    except ValidationError as err:
        raise Invalid.from_problems(_field_problems(err, "data.")) from None


def _json_object(raw: bytes, name: str, max_depth: int, suggestion: str) -> dict[str, Any]:
    """A JSON object parsed with exact integers, held to the storage rules (`api.errors.json_problem`)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise Invalid(f"{name}: arrays and objects nest deeper than {max_depth} levels", field=name,
                      code="too_deeply_nested",
                      suggestion=f"Nest at most {max_depth} levels deep (setting JOBPORT_MAX_JSON_DEPTH).") from None
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        raise Invalid(f"{name!r} is not valid JSON: {err}", field=name, code="invalid_json",
                      suggestion=suggestion) from None
    problem = json_problem(value, max_depth, root=name)
    if problem is not None:
        raise Invalid.from_problems([problem])
    if not isinstance(value, dict):
        raise Invalid(f"{name!r} must be a JSON object", field=name, code="invalid_json", suggestion=suggestion)
    return value


def _field_problems(err: ValidationError, prefix: str) -> list[Problem]:
    """Pydantic's errors as plain sentences naming each field (no URLs, no input dumps)."""
    problems = []
    for item in err.errors(include_url=False, include_input=False):
        loc = prefix + ".".join(str(p) for p in item["loc"])
        message = f"{loc} is required" if item["type"] == "missing" else f"{loc}: {item['msg']}"
        suggestion = 'Give the input mime type, e.g. "text/csv; header=present".' if loc == "data.mimeType" else ""
        problems.append(Problem(message, loc, suggestion, "invalid_parameter"))
    return problems


def _rules(rules: list[schemas.GravityMappingRule] | None) -> list[MappingRule] | None:
    return [MappingRule(r.source, r.destination, r.defaultValue) for r in rules] if rules else None


@router.post("", summary="Create a job: multipart `data` (JSON settings) + `file`",
             response_model=schemas.GravityJobEnvelope,
             responses=errors(413), openapi_extra=MULTIPART_BODY)
async def create_job(request: Request, ctx: CtxDep, who: CurrentPrincipal,
                     idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    app = await run_in_threadpool(posted_file.bound_app, ctx, who)
    job_id = new_id("job")
    receiver = FileReceiver(ctx.blobs, who.org.id, ctx.settings.limits.max_upload_bytes, any_type=True,
                            blob_key=keys.job_input(job_id, new_file_uid()))
    fields: dict[str, bytes] = {}
    await receive_file(request, receiver, fields)
    try:
        data = _parse_data(fields, ctx.settings.limits.max_json_depth)
        assert receiver.stats is not None and receiver.file_id
        if receiver.stats.num_bytes == 0:
            raise Invalid(f"file {receiver.file_id!r} is empty", field="file", code="invalid_file_size",
                          suggestion="Send a file with records.")
        if data.callbackUrl:
            await run_in_threadpool(validate_callback_url, data.callbackUrl, guard_for(ctx.settings),
                                    field="data.callbackUrl")
        job_uuid = posted_file.new_job_uuid()
        submission = FileJobRequest(
            principal=who, app=app, surface=SURFACE, version=data.version,
            mime_type=posted_file.resolve_mime_type(data.mimeType, receiver.file_type, receiver.file_id),
            name=data.name or data.jobName, mapping=_rules(data.mapping), output_mapping=_rules(data.outputMapping),
            callback_url=data.callbackUrl,
            file=PostedFile(filename=receiver.file_id, blob_key=receiver.blob_key, num_bytes=receiver.stats.num_bytes,
                            sha256=receiver.stats.sha256))
        digest = idempotency.fingerprint(fields.get("data") or b"", receiver.stats.sha256, receiver.file_id)
        job = await run_in_threadpool(_submit_once, ctx, who, submission, job_id, job_uuid, idempotency_key, digest)
    except BaseException:
        ctx.blobs.delete_prefix(keys.job_prefix(job_id))
        raise
    if (job.record_count or 0) <= ctx.settings.gravity.sync_max_records:
        job = await posted_file.wait_until_ended(ctx, job, ctx.settings.gravity.wait_seconds)
    return envelope(job_public(job))


def _submit_once(ctx: AppContext, who: Principal, submission: FileJobRequest, job_id: str, job_uuid: str,
                 key: str | None, digest: str) -> Job:
    """Submit, unless the Idempotency-Key already made a job: then that job as it is now (and this
    request's copy of the file is dropped)."""
    made: list[Job] = []

    def create() -> idempotency.Answer:
        made.append(posted_file.submit(ctx, submission, job_id, job_uuid))
        return idempotency.Answer(200, {"job": job_uuid})

    answer = idempotency.run_once(ctx, who.org.id, "gravity.jobs", key, digest, create)
    if made:
        return made[0]
    ctx.blobs.delete_prefix(keys.job_prefix(job_id))
    return posted_file.find_job(ctx, who, answer.body["job"], SURFACE)


@router.get("/latest", summary="The caller's latest jobs, newest first", response_model=schemas.GravityJobListEnvelope)
def latest_jobs(ctx: CtxDep, who: CurrentPrincipal) -> dict[str, Any]:
    return envelope([job_public(j) for j in posted_file.latest_jobs(ctx, who, SURFACE)])


@router.get("/result-link/{job_id}", summary="A signed link to the job's output file (no auth needed; expires)",
            response_model=schemas.GravityLinkEnvelope, responses=errors(404))
def result_link(job_id: str, request: Request, ctx: CtxDep, who: CurrentPrincipal) -> dict[str, Any]:
    output = posted_file.result_output(ctx, who, job_id, SURFACE, OUTPUT_PORT)
    url, _ = ctx.signer.sign(base_url(request, ctx), output.blob_key, output.filename,
                             in_store=output.content is None)
    return envelope(url)


@router.get("/{job_id}", summary="One job", response_model=schemas.GravityJobEnvelope, responses=errors(404))
def get_job(job_id: str, ctx: CtxDep, who: CurrentPrincipal) -> dict[str, Any]:
    return envelope(job_public(posted_file.find_job(ctx, who, job_id, SURFACE)))


@router.put("/{job_id}", summary="Rename a job", response_model=schemas.GravityJobEnvelope, responses=errors(404),
            openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                "schema": schemas.GravityJobRename.model_json_schema()}}}})
async def rename_job(job_id: str, request: Request, ctx: CtxDep, who: CurrentPrincipal) -> dict[str, Any]:
    suggestion = 'Send Content-Type: application/json with {"name": "..."}, a name of 1 to 500 characters.'
    value = _json_object(await request.body() or b"null", "body", ctx.settings.limits.max_json_depth, suggestion)
    try:
        body = schemas.GravityJobRename.model_validate(value)
    except ValidationError as err:
        problems = _field_problems(err, "")
        problems[0].suggestion = suggestion
        raise Invalid.from_problems(problems) from None
    name = body.name or body.jobName
    if not name:
        raise Invalid("name is required", field="name", code="missing_parameter",
                      suggestion='Send {"name": "new name"}.')
    job = await run_in_threadpool(posted_file.rename, ctx, who, job_id, SURFACE, name)
    return envelope(job_public(job))
