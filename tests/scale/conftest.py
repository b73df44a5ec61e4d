"""The scale tier (marker `scale`, every test under tests/scale): a Ray cluster of two nodes on
loopback for the whole session (`ray_cluster`: head A on 127.0.0.2, worker node B on 127.0.0.3,
see jobport.testing.raycluster), and `ray_world`: one org on a server whose scheduler runs its
tasks on that cluster (SQLite and a local blob directory under `tmp_path`, which both nodes
share), driven pass by pass from the test like tests/unit/engine's `world`."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from helpers import machine_csv, machine_job_body, make_settings
from jobport.blobs import keys
from jobport.domain.statuses import JobStatus
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
from jobport.testing.raycluster import HEAD_IP, LocalRayCluster
from worldviews import JobViews

HERE = Path(__file__).resolve().parent
if importlib.util.find_spec("ray") is None:  # the `ray` extra is not installed: nothing to run it on
    collect_ignore = ["test_ray_executor.py"]
SHOTS = {"shot_idle.csv": "idle", "shot_run.csv": "run"}
ENDED = {JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value, JobStatus.EXPIRED.value}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.scale)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LocalRayCluster]:
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed (pip install 'jobport[ray]')")
    cluster = LocalRayCluster()
    cluster.start()
    cluster.apply_driver_env()  # this process is the driver: the scheduler runs here
    try:
        yield cluster
    finally:
        cluster.stop()


@dataclass
class RayWorld(JobViews):
    ctx: AppContext
    scheduler: Scheduler
    org_id: str
    cluster: LocalRayCluster
    _shots: bool = field(default=False, repr=False)

    @property
    def executor(self) -> Any:
        return self.scheduler.executor

    # ---- creating work ------------------------------------------------------------------------

    def upload(self, name: str, data: bytes, content_type: str = "text/csv") -> None:
        uid = file_service.new_file_uid()
        stats = file_service.UploadStats(is_csv=content_type == "text/csv")
        with self.ctx.blobs.writer(keys.org_file(self.org_id, uid)) as out:
            out.write(data)
            stats.feed(data)
        file_service.record_upload(self.ctx, self.org_id, name, uid, content_type, stats)

    def machine_job(self, inputs: dict[str, bytes], *, name: str = "job", parallelism: int = 1,
                    **config: Any) -> str:
        if not self._shots:
            for file_id, state in SHOTS.items():
                self.upload(file_id, machine_csv(state, 64))
            self._shots = True
        for file_id, data in inputs.items():
            self.upload(file_id, data)
        body = machine_job_body(list(inputs), SHOTS, name=name, parallelism=parallelism, **config)
        job, created = create_job(self.ctx, self.org_id, JobCreate.model_validate(body))
        assert created
        return job.id

    def iris_app(self, model: ExampleModel, name: str = "iris") -> App:
        self.upload("iris.onnx", model.path.read_bytes(), "application/octet-stream")
        body = app_service.AppCreate(name=name, pipeline_key="tabular-model", config=model.config,
                                     references={"worker.model": [app_service.ReferenceIn(file_id="iris.onnx")]})
        return app_service.create_app(self.ctx, self.org_id, body)

    def record_jobs(self, app: App, records: list[dict[str, Any]]) -> list[str]:
        _, uuids = create_record_jobs(self.ctx, RecordJobsRequest(self.org_id, app, records, surface="superai"))
        with self.ctx.sessions() as session:
            return [job_store.get_by_uuid(session, self.org_id, u).id for u in uuids]

    # ---- driving the scheduler ----------------------------------------------------------------

    def run_until(self, predicate: Callable[[], Any], seconds: float = 60.0, what: str = "the condition") -> Any:
        """Run scheduler passes until `predicate()` is truthy (checked before each pass), for at most `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            self.scheduler.run_pass()
        value = predicate()
        assert value, f"{what} did not hold after {seconds} s of scheduler passes"
        return value

    def run_until_ended(self, *job_ids: str, seconds: float = 90.0) -> None:
        self.run_until(lambda: all(self.status(j) in ENDED for j in job_ids), seconds, f"jobs {job_ids} ending")

    # ---- what a user sees: worldviews.JobViews ------------------------------------------


def ray_settings(home: Path, cluster: LocalRayCluster, **overrides: Any) -> Any:
    values: dict[str, Any] = dict(home=home, blob_store="local", executor="ray", ray_address=cluster.address,
                                  ray_node_ip_address=HEAD_IP, example_app=False, scheduler_tick_seconds=0.05,
                                  admin_key="k", worker_prefetch=2, lease_seconds=30,
                                  ray_connect_timeout_seconds=30, lifecycle_interval_seconds=0.5)
    return make_settings(**{**values, **overrides})


def all_nodes_up(cluster: LocalRayCluster) -> LocalRayCluster:
    """The session's cluster with every node running (one a test killed is started again)."""
    for name, node in cluster.nodes.items():
        if not node.alive:
            cluster.start_node(name)
    return cluster


def open_world(home: Path, cluster: LocalRayCluster, **overrides: Any) -> RayWorld:
    """A server on `cluster` (every node running) whose scheduler took the lock and connected."""
    all_nodes_up(cluster)
    ctx = build_context(ray_settings(home, cluster, **overrides))
    prepare(ctx)
    org_id, _ = auth.create_key(ctx, "org-a")
    scheduler = build_scheduler(ctx)
    assert scheduler.take_lock(), scheduler.problem  # recovery, then the executor connects to the cluster
    ctx.scheduler = scheduler
    return RayWorld(ctx, scheduler, org_id, cluster)


def close_world(world: RayWorld) -> None:
    if isinstance(world.ctx.scheduler, Scheduler):
        world.ctx.scheduler.release_lock()
    world.ctx.db.dispose()


@pytest.fixture
def ray_world_with(tmp_path: Path, ray_cluster: LocalRayCluster) -> Iterator[Callable[..., RayWorld]]:
    """`ray_world_with(**settings)`: a `ray_world` on settings of its own (`ray_address=None`...)."""
    opened: list[RayWorld] = []

    def make(**overrides: Any) -> RayWorld:
        opened.append(open_world(tmp_path / f"home{len(opened)}", ray_cluster, **overrides))
        return opened[-1]

    try:
        yield make
    finally:
        for world in opened:
            close_world(world)


@pytest.fixture
def ray_world(ray_world_with: Callable[..., RayWorld]) -> RayWorld:
    return ray_world_with()


@pytest.fixture
def make_ray_settings() -> Callable[..., Any]:
    """`ray_settings` for tests that build their own server."""
    return ray_settings


@pytest.fixture(scope="session")
def iris_model(tmp_path_factory: pytest.TempPathFactory) -> ExampleModel:
    return build_example_model(tmp_path_factory.mktemp("iris"))
