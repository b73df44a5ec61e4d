"""A scheduler driven pass by pass on the inline executor (the in-process fake twin of the worker
processes) with the in-memory blob store over SQLite under `tmp_path`: no HTTP, no processes.

`world` is one org on one such server: upload files, create machine-state jobs (file inputs) or
record jobs of a hosted Iris model (an app), run scheduler passes until something a user can see
holds, and read jobs, inputs, events and outputs back through the query services."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from helpers import machine_csv, machine_job_body, make_settings
from jobport.blobs import keys
from jobport.config import Settings
from jobport.domain.statuses import JobStatus
from jobport.engine.executors.inline import InlineExecutor
from jobport.engine.scheduler import Scheduler
from jobport.pipelines.builtin.tabular.example import ExampleModel, build_example_model
from jobport.server import build_context, build_scheduler, prepare
from jobport.services import apps as app_service
from jobport.services import auth
from jobport.services import files as file_service
from jobport.services.context import AppContext
from jobport.services.jobs.create import JobCreate, create_job
from jobport.services.jobs.records import RecordJobsRequest, create_record_jobs
from jobport.store import jobs as job_store
from jobport.store.tables import App
from worldviews import JobViews

SHOTS = {"shot_idle.csv": "idle", "shot_run.csv": "run"}
ENDED = {JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value, JobStatus.EXPIRED.value}


def settings_for(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(home=home, blob_store="memory", executor="inline", example_app=False,
                                  scheduler_tick_seconds=0.01, admin_key="k", workers=1, worker_prefetch=4,
                                  lease_seconds=30)
    return make_settings(**{**values, **overrides})


def new_scheduler(ctx: AppContext) -> Scheduler:
    """A scheduler that took the lock (recovery done, executor started), known to `ctx` so that
    services' cancels reach it (`ctx.stop_running` -> `scheduler.cancel`, run on its next pass)."""
    scheduler = build_scheduler(ctx)
    assert scheduler.take_lock()
    ctx.scheduler = scheduler
    return scheduler


@dataclass
class World(JobViews):
    ctx: AppContext
    scheduler: Scheduler
    org_id: str
    _shots: bool = field(default=False, repr=False)

    @property
    def executor(self) -> InlineExecutor:
        executor = self.scheduler.executor
        assert isinstance(executor, InlineExecutor)
        return executor

    # ---- creating work ------------------------------------------------------------------------

    def upload(self, name: str, data: bytes, content_type: str = "text/csv") -> None:
        uid = file_service.new_file_uid()
        stats = file_service.UploadStats(is_csv=content_type == "text/csv")
        with self.ctx.blobs.writer(keys.org_file(self.org_id, uid)) as out:
            out.write(data)
            stats.feed(data)
        file_service.record_upload(self.ctx, self.org_id, name, uid, content_type, stats)

    def machine_job(self, inputs: dict[str, bytes] | int, *, name: str = "job", priority: int = 0,
                    parallelism: int = 1) -> str:
        """A machine-state job over `inputs` (file name -> CSV, or a count of small 'run' CSVs) with
        the two shared n-shot files; returns its id."""
        if isinstance(inputs, int):
            inputs = {f"{name}_{i}.csv": machine_csv("run", 32, seed=i) for i in range(inputs)}
        if not self._shots:
            for file_id, state in SHOTS.items():
                self.upload(file_id, machine_csv(state, 64))
            self._shots = True
        for file_id, data in inputs.items():
            self.upload(file_id, data)
        body = machine_job_body(list(inputs), SHOTS, name=name, parallelism=parallelism)
        job, created = create_job(self.ctx, self.org_id, JobCreate.model_validate({**body, "priority": priority}))
        assert created
        return job.id

    def iris_app(self, model: ExampleModel, name: str = "iris", **app_settings: Any) -> App:
        """The Iris ONNX model hosted with `tabular-model` (billed 5 units per record)."""
        self.upload("iris.onnx", model.path.read_bytes(), "application/octet-stream")
        body = app_service.AppCreate(name=name, pipeline_key="tabular-model", config=model.config,
                                     references={"worker.model": [app_service.ReferenceIn(file_id="iris.onnx")]},
                                     pricing=app_service.PricingIn(records_per_group=1, units_per_group=5),
                                     **app_settings)
        return app_service.create_app(self.ctx, self.org_id, body)

    def record_jobs(self, app: App, records: list[dict[str, Any]]) -> list[str]:
        """One job per record (a super.AI-style create request); returns their job ids."""
        _, uuids = create_record_jobs(self.ctx, RecordJobsRequest(self.org_id, app, records, surface="superai"))
        with self.ctx.sessions() as session:
            return [job_store.get_by_uuid(session, self.org_id, u).id for u in uuids]

    # ---- driving the scheduler ----------------------------------------------------------------

    def scheduler_dies(self) -> None:
        """The active scheduler's process dies: no `release_lock` (its leases stay in the database);
        only the lock's file descriptor goes, as the kernel drops it with the process."""
        self.scheduler.lock.release()
        self.ctx.scheduler = None

    def new_scheduler(self) -> Scheduler:
        """Another scheduler takes the lock (and recovers), on the same database and blob store."""
        self.scheduler = new_scheduler(self.ctx)
        return self.scheduler

    def run_passes(self, n: int) -> None:
        for _ in range(n):
            self.scheduler.run_pass()

    def run_until(self, predicate: Callable[[], Any], passes: int = 200, what: str = "the condition") -> Any:
        """Run scheduler passes until `predicate()` is truthy (checked before each pass); at most `passes`."""
        for _ in range(passes):
            value = predicate()
            if value:
                return value
            self.scheduler.run_pass()
        value = predicate()
        assert value, f"{what} did not hold after {passes} scheduler passes"
        return value

    def run_until_ended(self, *job_ids: str, passes: int = 200) -> None:
        self.run_until(lambda: all(self.status(j) in ENDED for j in job_ids), passes, f"jobs {job_ids} ending")

    # ---- what a user sees: worldviews.JobViews ------------------------------------------

    def blob_keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.ctx.blobs.blobs if k.startswith(prefix))  # the memory store's dict

    def ran_jobs(self) -> list[str]:
        """Job id of every task the executor ran, in order."""
        return [task.job_id for task in self.executor.ran]


@pytest.fixture
def ctx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AppContext]:
    marker = request.node.get_closest_marker("settings")
    overrides = marker.kwargs if marker else {}
    context = build_context(settings_for(tmp_path, lifecycle_interval_seconds=0.001, **overrides))
    prepare(context)
    yield context
    context.db.dispose()


@pytest.fixture
def world(ctx: AppContext) -> Iterator[World]:
    org_id, _ = auth.create_key(ctx, "org-a")
    scheduler = new_scheduler(ctx)
    yield World(ctx, scheduler, org_id)
    if isinstance(ctx.scheduler, Scheduler):
        ctx.scheduler.release_lock()


@pytest.fixture(scope="session")
def iris_model(tmp_path_factory: pytest.TempPathFactory) -> ExampleModel:
    return build_example_model(tmp_path_factory.mktemp("iris"))
