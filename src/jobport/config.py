"""Settings: every limit and path of the server, read from `JOBPORT_*` environment variables.

Defaults suit the embedded single-machine server (`jobport serve`): SQLite and a blob directory
under `JOBPORT_HOME` (default `./.jobport`). Each field's description is its documentation
(`docs/operations.md` lists them).
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from jobport.blobs import BlobConfig, BlobKind
from jobport.log import LogFormat


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOBPORT_", extra="ignore")

    home: Path = Field(Path(".jobport"), description="Directory for the SQLite database, blobs and secrets.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<home>/jobport.db. postgresql://... for PostgreSQL."
    )
    admin_key: str | None = Field(
        None, description="If set, this exact API key is registered for the default org at start."
    )
    default_org: str = Field("default", description="Name of the org created on first start.")
    secret_key: str | None = Field(
        None, description="Key that signs download URLs; default: generated once, stored 0600 under home."
    )
    public_url: str | None = Field(
        None, description="Base URL put in signed links; default: the URL the request came in on."
    )

    log_format: LogFormat = Field(
        "console", description="Log lines as readable text (`console`) or one JSON object per line (`json`).")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="The lowest level logged (jobport's own records and uvicorn's).")
    blob_store: BlobKind = Field(
        "local", description="Where files and outputs live: `local` (a directory under home) or `memory` (the "
                             "process's memory, lost at exit: tests and throwaway servers; needs `executor=inline`).")
    executor: Literal["local", "inline"] = Field(
        "local", description="How tasks run: `local` (warm worker processes) or `inline` (in the scheduler's own "
                             "thread, one at a time: the fake twin used by unit tests).")
    workers: int = Field(
        default_factory=lambda: max(1, os.cpu_count() or 1),
        ge=1,
        description="Warm worker processes of the local executor (default: CPU count).",
    )
    worker_prefetch: int = Field(
        4, ge=1, le=64, description="Tasks each worker holds: the one it runs plus the next ones waiting in its pipe "
                                   "(hides scheduler round trips for short tasks such as single records).")
    warm_models_per_worker: int = Field(2, ge=1, description="Loaded pipelines each worker keeps warm (LRU).")
    lease_seconds: float = Field(30.0, gt=0, description="An input lease expires this long after its last renewal.")
    lifecycle_interval_seconds: float = Field(
        1.0, gt=0, description="How often the scheduler expires jobs past their window and applies org budgets.")
    scheduler_tick_seconds: float = Field(0.25, gt=0, description="Longest the scheduler sleeps between passes.")

    max_upload_bytes: int = Field(512 * 1024 * 1024, ge=1,
                                  description="Largest file accepted by POST /v0.5/files (413 above).")
    signed_url_ttl_seconds: int = Field(3600, ge=1, description="Lifetime of signed output download URLs.")
    page_default: int = Field(20, ge=1, description="Default `limit` of offset-paged lists.")
    page_max: int = Field(1000, ge=1, description="Largest `limit` of paged lists (400 above).")
    files_page_default: int = Field(100, ge=1, description="Default `limit` of GET /files/metadata.")
    max_inputs_per_job: int = Field(10_000, ge=1, description="Most input items one job may name.")
    max_parallelism: int = Field(64, ge=1, description="Largest `parameters.worker.parallelism` accepted.")
    example_app: bool = Field(
        True, description="Register the example app `iris-classifier` (and a key bound to it) on first start.")
    gravity_wait_seconds: float = Field(
        30.0, ge=0, description="Gravity POST /api/v1/jobs waits this long for the job to finish before answering.")
    gravity_sync_max_records: int = Field(
        100_000, ge=0, description="Gravity jobs with more records answer `incomplete` at once (the client polls).")
    gravity_latest_limit: int = Field(100, ge=1, description="Jobs returned by GET /api/v1/jobs/latest.")
    superai_inputs_max_bytes: int = Field(
        4 * 1024 * 1024, ge=1, description="Largest super.AI create body and inputsFileUrl file (4 MB, as the vendor).")
    superai_max_jobs_per_request: int = Field(10_000, ge=1, description="Most inputs (jobs) in one super.AI create.")
    superai_page_default: int = Field(10, ge=1, description="Default `size` of super.AI job lists.")
    superai_page_max: int = Field(1000, ge=1, description="Largest `size` of super.AI job lists (400 above).")
    fetch_allow_private_networks: bool = Field(
        False, description="Let inputsFileUrl reach loopback/private/link-local hosts (cloud metadata stays refused).")
    fetch_timeout_seconds: float = Field(10.0, gt=0, description="Time limit of one inputsFileUrl fetch.")
    models_file: Path | None = Field(
        None, description="TOML model catalogue for language-model pipelines (`jobport models list`); "
                          "default <home>/models.toml. Jobs can only name models listed here or built in.",
    )
    max_json_body_bytes: int = Field(4 * 1024 * 1024, ge=1, description="Largest JSON request body.")

    # -- callbacks (jobport/callbacks; docs/operations.md "Callbacks") --
    callback_max_attempts: int = Field(
        10, ge=1, description="Attempts of one callback delivery before it is `failed` (the first is immediate).")
    callback_initial_backoff_seconds: float = Field(
        30.0, gt=0, description="Wait before the first retry; later waits grow geometrically up to the maximum.")
    callback_max_backoff_seconds: float = Field(
        43200.0, gt=0, description="Wait before the last retry (and cap of Retry-After); with the defaults the "
                                   "10 attempts span about 20 h.")
    callback_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one callback attempt.")
    callback_allow_private_networks: bool = Field(
        False, description="Allow callback URLs on loopback/private addresses (development, trusted receivers); "
                           "cloud metadata addresses stay refused.")
    callback_concurrency: int = Field(8, ge=1, description="Callback attempts sent at once by one server process.")
    callback_batch_size: int = Field(32, ge=1, description="Most due callbacks claimed by one deliverer pass.")
    callback_poll_seconds: float = Field(
        1.0, gt=0, description="Longest the deliverer sleeps between looks for due callbacks (it is woken at once "
                               "by callbacks enqueued in its own process).")
    callback_secret_grace_seconds: float = Field(
        86400.0, ge=0, description="After a secret rotation the old secret also signs callbacks for this long.")

    @model_validator(mode="after")
    def _refuse_unsafe_combinations(self) -> Settings:
        """Fail closed: a setting that would make the server unsafe or inconsistent stops it at start."""
        problems = []
        if self.blob_store == "memory" and self.executor != "inline":
            problems.append("blob_store=memory needs executor=inline: worker processes cannot read the server "
                            "process's memory (set JOBPORT_EXECUTOR=inline, or use blob_store=local)")
        if self.secret_key is not None and len(self.secret_key) < 32:
            problems.append("secret_key must be at least 32 characters: it signs download links (leave it unset "
                            "to have one generated)")
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            problems.append("public_url must start with http:// or https://")
        for default, most in (("page_default", "page_max"), ("files_page_default", "page_max"),
                              ("superai_page_default", "superai_page_max")):
            if getattr(self, default) > getattr(self, most):
                problems.append(f"{default} ({getattr(self, default)}) is above {most} ({getattr(self, most)})")
        if self.callback_initial_backoff_seconds > self.callback_max_backoff_seconds:
            problems.append("callback_initial_backoff_seconds is above callback_max_backoff_seconds")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{(self.home / 'jobport.db').resolve()}"

    @property
    def models_path(self) -> Path:
        return self.models_file or self.home / "models.toml"

    @property
    def blob_root(self) -> Path:
        return self.home / "blobs"

    @property
    def blobs(self) -> BlobConfig:
        return BlobConfig(self.blob_store, self.blob_root)

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
