"""The job services without HTTP or a scheduler: validating a create request (each problem names
its field), idempotent replays, retry (only failed inputs run again), delete (the job's blobs go
with it), cancel and queueing parked jobs. Work a scheduler would have done (leases, results,
outputs) is written with the store's own statements."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from helpers import machine_csv, machine_job_body, make_settings
from jobport.blobs import keys
from jobport.domain.errors import Conflict, Invalid, NotFound
from jobport.domain.ids import new_id
from jobport.domain.statuses import InputStatus, JobStatus
from jobport.server import build_context, prepare
from jobport.services import apps as app_service
from jobport.services import auth
from jobport.services import files as file_service
from jobport.services.context import AppContext
from jobport.services.jobs import control, queries
from jobport.services.jobs.create import JobCreate, create_job
from jobport.services.jobs.records import RecordJobsRequest, create_record_jobs
from jobport.store import jobs as job_store
from jobport.store.db import transaction, utcnow
from jobport.store.tables import JobOutput

SHOTS = {"idle.csv": "idle", "run.csv": "run"}
INFERENCE = ["a.csv", "b.csv", "c.csv"]


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AppContext]:
    context = build_context(make_settings(home=tmp_path, blob_store="memory", executor="inline", example_app=False,
                                     admin_key="k", workers=1))
    prepare(context)
    yield context  # no scheduler: waking it and stopping running work are no-ops
    context.db.dispose()


def _upload(ctx: AppContext, org_id: str, name: str, data: bytes, content_type: str = "text/csv") -> None:
    uid = file_service.new_file_uid()
    stats = file_service.UploadStats(is_csv=content_type == "text/csv")
    with ctx.blobs.writer(keys.org_file(org_id, uid)) as out:
        out.write(data)
        stats.feed(data)
    file_service.record_upload(ctx, org_id, name, uid, content_type, stats)


@pytest.fixture
def org_id(ctx: AppContext) -> str:
    org, _ = auth.create_key(ctx, "org-a")
    for i, name in enumerate(INFERENCE):
        _upload(ctx, org, name, machine_csv("run", 32, seed=i))
    for name, state in SHOTS.items():
        _upload(ctx, org, name, machine_csv(state, 64))
    return org


def _body(**changes: Any) -> dict[str, Any]:
    return {**machine_job_body(INFERENCE, SHOTS), **changes}


def _create(ctx: AppContext, org_id: str, body: dict[str, Any], key: str | None = None):
    return create_job(ctx, org_id, JobCreate.model_validate(body), idempotency_key=key)


def _invalid(ctx: AppContext, org_id: str, body: dict[str, Any]) -> Invalid:
    with pytest.raises(Invalid) as err:
        _create(ctx, org_id, body)
    return err.value


def _job_count(ctx: AppContext, org_id: str) -> int:
    return queries.list_jobs(ctx, org_id, pipeline_type=None, statuses=None, text=None, offset=0, limit=100).total


# ---- validation ---------------------------------------------------------------------------------

def test_a_valid_body_queues_a_pending_job_with_its_inputs(ctx, org_id):
    job, created = _create(ctx, org_id, _body())

    assert created and job.status == "PENDING"
    found = queries.job_with_counts(ctx, org_id, job.id)
    assert found.counts == {"pending": 3, "processing": 0, "completed": 0, "failed": 0}
    page = queries.list_inputs(ctx, org_id, job.id, None, None, 0, 100)
    assert sorted(i.file_id for i in page.items if i.tracked) == INFERENCE
    assert sorted(i.file_id for i in page.items if not i.tracked) == sorted(SHOTS)  # n-shots: references


def test_an_unknown_port_is_invalid_and_named(ctx, org_id):
    body = _body()
    body["inputs"]["worker.nope"] = [{"file_id": "a.csv"}]

    err = _invalid(ctx, org_id, body)

    assert err.field == "inputs.worker.nope" and err.code == "invalid_port"
    assert "unknown port" in err.message
    assert _job_count(ctx, org_id) == 0


def test_an_n_shot_file_without_a_class_is_invalid_and_named(ctx, org_id):
    body = _body()
    body["inputs"]["worker.n_shots"][1] = {"file_id": "run.csv"}

    err = _invalid(ctx, org_id, body)

    assert err.field == "inputs.worker.n_shots[1].metadata.class"
    assert err.code == "missing_parameter"
    assert _job_count(ctx, org_id) == 0


def test_an_unknown_config_setting_is_invalid_and_named(ctx, org_id):
    body = _body()
    body["parameters"]["worker"]["config"]["bogus"] = 1

    err = _invalid(ctx, org_id, body)

    assert err.field == "parameters.worker.config.bogus"
    assert err.code == "invalid_parameter" and "unknown setting" in err.message


def test_a_file_not_uploaded_is_invalid_and_named(ctx, org_id):
    body = _body()
    body["inputs"]["worker.inference"].append({"file_id": "missing.csv"})

    err = _invalid(ctx, org_id, body)

    assert err.field == "inputs.worker.inference[3].file_id" and err.code == "file_not_found"


def test_every_problem_of_a_body_is_reported_at_once(ctx, org_id):
    body = _body()
    body["inputs"]["worker.nope"] = [{"file_id": "a.csv"}]
    body["inputs"]["worker.n_shots"][0] = {"file_id": "idle.csv"}
    body["parameters"]["worker"]["config"]["bogus"] = 1
    body["parameters"]["worker"]["parallelism"] = 10_000

    err = _invalid(ctx, org_id, body)

    assert {p.field for p in err.problems} == {
        "inputs.worker.nope", "inputs.worker.n_shots[0].metadata.class", "parameters.worker.config.bogus",
        "parameters.worker.parallelism"}


def test_an_unknown_pipeline_or_version_is_invalid_and_named(ctx, org_id):
    err = _invalid(ctx, org_id, _body(pipeline_key="no-such-pipeline"))
    assert err.field == "pipeline_key" and err.code == "invalid_pipeline"

    err = _invalid(ctx, org_id, _body(pipeline_version="9.9.9"))
    assert err.field == "pipeline_version" and err.code == "invalid_model_version"
    assert _job_count(ctx, org_id) == 0


# ---- idempotency --------------------------------------------------------------------------------

def test_the_same_body_with_the_same_key_replays_the_job(ctx, org_id):
    first, created = _create(ctx, org_id, _body(), key="k-1")
    again, replayed = _create(ctx, org_id, _body(), key="k-1")

    assert created and not replayed
    assert again.id == first.id
    assert _job_count(ctx, org_id) == 1


def test_another_body_with_the_same_key_is_a_conflict(ctx, org_id):
    _create(ctx, org_id, _body(), key="k-1")

    with pytest.raises(Conflict) as err:
        _create(ctx, org_id, _body(name="another name"), key="k-1")

    assert err.value.code == "idempotency_key_reused" and err.value.field == "Idempotency-Key"
    assert _job_count(ctx, org_id) == 1


def test_keys_are_per_org_and_no_key_never_replays(ctx, org_id):
    other_org, _ = auth.create_key(ctx, "org-b")
    for name in [*INFERENCE, *SHOTS]:
        _upload(ctx, other_org, name, machine_csv("run" if name != "idle.csv" else "idle", 64))

    mine, _ = _create(ctx, org_id, _body(), key="k-1")
    theirs, created = _create(ctx, other_org, _body(), key="k-1")
    twice = [_create(ctx, org_id, _body())[0].id for _ in range(2)]

    assert created and theirs.id != mine.id
    assert len(set(twice)) == 2 and _job_count(ctx, org_id) == 3


# ---- retry --------------------------------------------------------------------------------------

def _write_output(ctx: AppContext, session, job_id: str, input_id: str) -> str:
    key = keys.job_output(job_id, input_id, "pred.csv")
    with ctx.blobs.writer(key) as out:
        out.write(b"timestamp,Prediction\n0,run\n")
    job_store.add_output(session, JobOutput(id=new_id("out"), job_id=job_id, input_id=input_id,
                                            port_name="worker.results", filename="pred.csv", file_type="text/csv",
                                            blob_key=key, num_bytes=ctx.blobs.size(key), attributes={},
                                            created_at=utcnow()))
    return key


@pytest.fixture
def failed_job(ctx, org_id) -> dict[str, Any]:
    """A FAILED job as a scheduler would have left it: a.csv completed with an output, b.csv failed
    with a partial output, c.csv failed."""
    job, _ = _create(ctx, org_id, _body())
    with transaction(ctx.sessions) as session:
        leased = job_store.lease_for_jobs(session, {job.id: 3}, "sch_gone", utcnow() + timedelta(seconds=30))
        ids = {row.file_id: row.id for row in leased[job.id]}
        job_store.finish_input(session, ids["a.csv"], InputStatus.COMPLETED)
        job_store.finish_input(session, ids["b.csv"], InputStatus.FAILED, "b.csv: bad row")
        job_store.finish_input(session, ids["c.csv"], InputStatus.FAILED, "c.csv: bad row")
        kept = _write_output(ctx, session, job.id, ids["a.csv"])
        stale = _write_output(ctx, session, job.id, ids["b.csv"])
        assert ctx.transitions.move(session, job.id, JobStatus.FAILED, "failed", values={
            "error": {"code": "all_inputs_failed", "message": "x"}})
    return {"id": job.id, "inputs": ids, "kept": kept, "stale": stale}


def test_retry_requeues_only_the_failed_inputs(ctx, org_id, failed_job):
    job = control.retry_job(ctx, org_id, failed_job["id"])

    assert job.status == "PENDING" and job.retry_count == 1
    assert job.error is None and job.failed_at is None
    rows = {i.file_id: i for i in queries.list_inputs(ctx, org_id, job.id, None, None, 0, 100).items if i.tracked}
    assert (rows["a.csv"].status, rows["a.csv"].attempts) == ("completed", 1)
    for name in ("b.csv", "c.csv"):
        assert (rows[name].status, rows[name].attempts, rows[name].error_message) == ("pending", 0, None)
    events = queries.list_events(ctx, org_id, job.id, None, "job.retried", None, 0, 10).items
    assert len(events) == 1


def test_retry_drops_the_outputs_of_the_failed_inputs_only(ctx, org_id, failed_job):
    control.retry_job(ctx, org_id, failed_job["id"])

    outputs = queries.list_outputs(ctx, org_id, failed_job["id"], None, None, 0, 100).items
    assert [o.output.blob_key for o in outputs] == [failed_job["kept"]]
    assert ctx.blobs.exists(failed_job["kept"]) and not ctx.blobs.exists(failed_job["stale"])


def test_only_ended_unfinished_jobs_can_be_retried(ctx, org_id, failed_job):
    control.retry_job(ctx, org_id, failed_job["id"])

    with pytest.raises(Conflict) as err:
        control.retry_job(ctx, org_id, failed_job["id"])  # PENDING now
    assert err.value.code == "invalid_state"


# ---- delete, cancel, other orgs -----------------------------------------------------------------

def test_delete_removes_the_job_and_its_blobs(ctx, org_id, failed_job):
    prefix = keys.job_prefix(failed_job["id"])
    assert any(k.startswith(prefix) for k in ctx.blobs.blobs)

    assert control.delete_job(ctx, org_id, failed_job["id"]) == failed_job["id"]

    assert not any(k.startswith(prefix) for k in ctx.blobs.blobs)
    with pytest.raises(NotFound):
        control.get_job(ctx, org_id, failed_job["id"])
    assert file_service.get(ctx, org_id, "a.csv").file_id == "a.csv"  # the org's uploads stay
    assert ctx.blobs.exists(file_service.get(ctx, org_id, "a.csv").blob_key)


def test_deleting_a_waiting_job_cancels_it_first(ctx, org_id):
    job, _ = _create(ctx, org_id, _body())

    control.delete_job(ctx, org_id, job.id)

    assert _job_count(ctx, org_id) == 0


def test_cancel_of_a_pending_job(ctx, org_id):
    job, _ = _create(ctx, org_id, _body())

    cancelled = control.cancel_job(ctx, org_id, job.id)

    assert cancelled.status == "CANCELLED" and cancelled.cancelled_at is not None
    with pytest.raises(Conflict):
        control.cancel_job(ctx, org_id, job.id)


def test_another_orgs_job_is_not_found(ctx, org_id):
    job, _ = _create(ctx, org_id, _body())
    other_org, _ = auth.create_key(ctx, "org-b")

    for call in (control.get_job, control.cancel_job, control.retry_job, control.delete_job):
        with pytest.raises(NotFound):
            call(ctx, other_org, job.id)
    assert control.get_job(ctx, org_id, job.id).status == "PENDING"


# ---- parked jobs (record jobs of an app) --------------------------------------------------------

def test_parked_record_jobs_wait_until_queued(ctx, org_id):
    _upload(ctx, org_id, "m.onnx", b"a model (never loaded here)", "application/octet-stream")
    app = app_service.create_app(ctx, org_id, app_service.AppCreate(
        name="m", pipeline_key="tabular-model",
        config={"mime_type": "text/csv; header=present", "features": [{"name": "x", "type": "number"}],
                "outputs": [{"name": "label", "type": "string"}]},
        references={"worker.model": [app_service.ReferenceIn(file_id="m.onnx")]}),
        check_files=False)  # the jobs stay parked: the model is never loaded
    request = RecordJobsRequest(org_id, app, [{"x": 1}, {"x": 2}, {"x": 3}], surface="superai", parked=True)
    _, uuids = create_record_jobs(ctx, request)
    with ctx.sessions() as session:
        jobs = [job_store.get_by_uuid(session, org_id, u) for u in uuids]
    assert {j.status for j in jobs} == {"PARKED"}

    assert control.queue_parked(ctx, org_id, app.id, {str(jobs[0].seq), jobs[1].uuid}) == 2
    assert [control.get_job(ctx, org_id, j.id).status for j in jobs] == ["PENDING", "PENDING", "PARKED"]
    assert control.queue_parked(ctx, org_id, app.id) == 1
    assert control.get_job(ctx, org_id, jobs[2].id).status == "PENDING"
    assert control.queue_parked(ctx, org_id, app.id) == 0
