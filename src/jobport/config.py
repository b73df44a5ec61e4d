"""Settings: every limit and path of the server, read from `JOBPORT_*` environment variables and
grouped by concern (`settings.engine.workers`, `settings.callbacks.max_attempts`...). A group's
fields keep the environment names they always had: the group's prefix plus the field's name
(`JOBPORT_WORKERS`, `JOBPORT_CALLBACK_MAX_ATTEMPTS`, `JOBPORT_SUPERAI_PAGE_MAX`).

Defaults suit the embedded single-machine server (`jobport serve`): SQLite and a blob directory
under `JOBPORT_HOME` (default `./.jobport`). Each field's description is its documentation
(`docs/operations.md` lists them all; a test checks). Unsafe combinations stop the server at start.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from jobport.blobs import MIN_PART_BYTES, NEEDS_BOTO3, AddressingStyle, BlobConfig, parse_s3_url
from jobport.log import LogFormat


class EngineSettings(BaseSettings):
    """How work runs: executor, workers, leases, the scheduler's pace."""

    model_config = SettingsConfigDict(env_prefix="JOBPORT_", extra="forbid")

    executor: Literal["local", "ray", "inline"] = Field(
        "local", description="How tasks run: `local` (warm worker processes on this machine), `ray` (warm Ray "
                             "actors on a Ray cluster, resources per pipeline: needs `pip install 'jobport[ray]'`) or "
                             "`inline` (in the scheduler's own thread, one at a time: the fake twin used by unit "
                             "tests).")
    workers: int = Field(
        default_factory=lambda: max(1, os.cpu_count() or 1),
        ge=1,
        description="Warm worker processes of the local executor (default: CPU count).",
    )
    worker_prefetch: int = Field(
        4, ge=1, le=64, description="Tasks each worker holds: the one it runs plus the next ones waiting in its pipe "
                                   "(hides scheduler round trips for short tasks such as single records).")
    warm_models_per_worker: int = Field(2, ge=1, description="Loaded pipelines each worker keeps warm (LRU).")
    chunk_size: int = Field(
        256, ge=1, le=10_000, description="Small jobs (at most `chunk_max_records` records, e.g. super.AI jobs) of "
                                          "the same app or pipeline config are leased, sent to one worker and scored "
                                          "in one batched call, up to this many inputs at once (1: no chunks).")
    chunk_max_records: int = Field(
        64, ge=1, description="A job of at most this many records is small: its input goes in chunks.")
    inline_output_bytes: int = Field(
        16 * 1024, ge=0, le=1024 * 1024,
        description="An output of a chunked (small) job up to this size is stored in its database row instead of "
                    "as a blob of its own (0: always a blob).")
    chunk_linger_seconds: float = Field(
        0.005, ge=0, le=1.0, description="A chunk that is not full waits until its oldest job has been queued this "
                                         "long, so that jobs created one by one still travel together.")
    lease_seconds: float = Field(30.0, gt=0, description="An input lease expires this long after its last renewal.")
    lifecycle_interval_seconds: float = Field(
        1.0, gt=0, description="How often the scheduler expires jobs past their window and applies org budgets.")
    scheduler_tick_seconds: float = Field(0.25, gt=0, description="Longest the scheduler sleeps between passes.")
    ray_address: str | None = Field(
        None, description="Executor `ray`: `host:port` of the Ray cluster's GCS (the head node's `ray start --head "
                          "--port`); the scheduler must run on a node of that cluster. Unset: a private single-node "
                          "Ray started inside the scheduler process.")
    ray_node_ip_address: str | None = Field(
        None, description="Executor `ray`: the IP address of the Ray node the scheduler runs on, as that node was "
                          "started (`--node-ip-address`); unset: Ray's own detection. A loopback cluster needs it "
                          "(127.0.0.2: Ray rewrites 127.0.0.1).")
    ray_namespace: str = Field("jobport", min_length=1,
                               description="Executor `ray`: the Ray namespace of jobport's actors.")
    ray_idle_actor_seconds: float = Field(
        300.0, gt=0, description="Executor `ray`: an actor (a warm pipeline) without work for this long is released, "
                                 "freeing its CPUs, GPUs and memory on the cluster.")
    ray_max_actors: int | None = Field(
        None, ge=1, description="Executor `ray`: most actors at once (each holds `worker_prefetch` tasks); unset: "
                                "the cluster's CPU count when the scheduler connects.")
    ray_connect_timeout_seconds: float = Field(
        10.0, gt=0, description="Executor `ray`: time limit to reach the cluster and connect at start; an "
                                "unreachable or lost cluster is reported on /readyz and retried, queued jobs wait.")
    ray_object_store_bytes: int = Field(
        256 * 1024 * 1024, ge=80 * 1024 * 1024,
        description="Executor `ray` without `ray_address`: the private Ray's object store (only messages travel "
                    "through it; inputs and outputs go through the blob store).")

    @model_validator(mode="after")
    def _ray_installed(self) -> EngineSettings:
        if self.executor == "ray" and importlib.util.find_spec("ray") is None:
            raise ValueError("executor=ray needs the ray package: pip install 'jobport[ray]'")
        return self


class LimitSettings(BaseSettings):
    """What one request may ask for: sizes, counts, pages, link lifetimes."""

    model_config = SettingsConfigDict(env_prefix="JOBPORT_", extra="forbid")

    max_upload_bytes: int = Field(512 * 1024 * 1024, ge=1,
                                  description="Largest file accepted by POST /v0.5/files (413 above).")
    max_json_body_bytes: int = Field(4 * 1024 * 1024, ge=1, description="Largest JSON request body.")
    signed_url_ttl_seconds: int = Field(3600, ge=1, description="Lifetime of signed output download URLs.")
    page_default: int = Field(20, ge=1, description="Default `limit` of offset-paged lists.")
    page_max: int = Field(1000, ge=1, description="Largest `limit` of paged lists (400 above).")
    files_page_default: int = Field(100, ge=1, description="Default `limit` of GET /files/metadata.")
    list_count_max: int = Field(
        10_000, ge=1, description="The total of a job's inputs, outputs, events or progress entries, of callbacks and "
                                  "of usage entries is counted up to this many rows; above, the list reports at least "
                                  "this many, and always more than the rows up to the end of the page while more "
                                  "follow.")
    search_count_max: int = Field(
        1_000, ge=1, description="The same for job lists with a filter the job counters cannot answer (Archetype `q`, "
                                 "super.AI date ranges, `tags`, `correct`, `statusIn` with one of REVIEWED and "
                                 "COMPLETED): each row counted is "
                                 "read to test the filter.")
    count_fold_rows: int = Field(
        100, ge=0, description="PostgreSQL: the job counters' triggers append one row per write statement; a list "
                               "that read more than this many such rows of an org (or of its batches) folds them "
                               "into one row per key.")
    max_inputs_per_job: int = Field(10_000, ge=1, description="Most input items one job may name.")
    max_parallelism: int = Field(64, ge=1, description="Largest `parameters.worker.parallelism` accepted.")
    max_json_depth: int = Field(
        64, ge=2, le=200, description="Deepest nesting of arrays and objects in a JSON request body (the body itself "
                                      "is level 1); 400 above. At most 200: stored documents wrap the values again.")
    max_part_header_bytes: int = Field(
        8192, ge=1024, le=1024 * 1024, description="Longest header line of one multipart part (e.g. a "
                                                   "Content-Disposition with its filename); 400 above.")
    max_part_headers: int = Field(16, ge=1, le=1000, description="Most header lines of one multipart part; 400 above.")


class CallbackSettings(BaseSettings):
    """Callbacks (jobport/callbacks; docs/operations.md "Callbacks")."""

    model_config = SettingsConfigDict(env_prefix="JOBPORT_CALLBACK_", extra="forbid")

    max_attempts: int = Field(
        10, ge=1, description="Attempts of one callback delivery before it is `failed` (the first is immediate).")
    initial_backoff_seconds: float = Field(
        30.0, gt=0, description="Wait before the first retry; later waits grow geometrically up to the maximum.")
    max_backoff_seconds: float = Field(
        43200.0, gt=0, description="Wait before the last retry (and cap of Retry-After); with the defaults the "
                                   "10 attempts span about 20 h.")
    timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one callback attempt.")
    allow_private_networks: bool = Field(
        False, description="Allow callback URLs on loopback/private addresses (development, trusted receivers); "
                           "cloud metadata addresses stay refused.")
    concurrency: int = Field(8, ge=1, description="Callback attempts sent at once by one server process.")
    batch_size: int = Field(32, ge=1, description="Most due callbacks claimed by one deliverer pass.")
    poll_seconds: float = Field(
        1.0, gt=0, description="Longest the deliverer sleeps between looks for due callbacks (it is woken at once "
                               "by callbacks enqueued in its own process).")
    secret_grace_seconds: float = Field(
        86400.0, ge=0, description="After a secret rotation the old secret also signs callbacks for this long.")


class SuperAISettings(BaseSettings):
    """The super.AI surface (`/v1`)."""

    model_config = SettingsConfigDict(env_prefix="JOBPORT_SUPERAI_", extra="forbid")

    inputs_max_bytes: int = Field(
        4 * 1024 * 1024, ge=1, description="Largest super.AI create body and inputsFileUrl file (4 MB, as the vendor).")
    max_jobs_per_request: int = Field(10_000, ge=1, description="Most inputs (jobs) in one super.AI create.")
    page_default: int = Field(10, ge=1, description="Default `size` of super.AI job lists.")
    page_max: int = Field(1000, ge=1, description="Largest `size` of super.AI job lists (400 above).")


class GravitySettings(BaseSettings):
    """The Gravity surface (`/api/v1/jobs`)."""

    model_config = SettingsConfigDict(env_prefix="JOBPORT_GRAVITY_", extra="forbid")

    wait_seconds: float = Field(
        30.0, ge=0, description="Gravity POST /api/v1/jobs waits this long for the job to finish before answering.")
    sync_max_records: int = Field(
        100_000, ge=0, description="Gravity jobs with more records answer `incomplete` at once (the client polls).")
    latest_limit: int = Field(100, ge=1, description="Jobs returned by GET /api/v1/jobs/latest.")


class OpenAISettings(BaseSettings):
    """The OpenAI Batch API surface (`/v1/files`, `/v1/batches`)."""

    model_config = SettingsConfigDict(env_prefix="JOBPORT_OPENAI_", extra="forbid")

    max_requests_per_batch: int = Field(
        50_000, ge=1, description="Most request lines in one batch input file (OpenAI's limit); more fails the batch.")
    max_file_bytes: int = Field(
        200 * 1024 * 1024, ge=1, description="Largest file uploaded to /v1/files (OpenAI's 200 MB); 413 above.")
    max_reported_errors: int = Field(
        100, ge=1, description="Most validation errors listed in a failed batch's `errors.data`.")
    page_default: int = Field(20, ge=1, description="Default `limit` of GET /v1/batches and GET /v1/files.")
    page_max: int = Field(10_000, ge=1, description="Largest `limit` of GET /v1/batches and /v1/files (400 above).")
    max_completion_window_seconds: int = Field(
        86_400, ge=1, description="Longest `completion_window` a batch may ask for (OpenAI accepts only 24h).")
    chat_default_max_tokens: int = Field(
        256, ge=1, description="Tokens a chat completion line generates at most when it gives no max_tokens.")
    chat_max_tokens: int = Field(
        4096, ge=1, description="Largest max_tokens / max_completion_tokens a chat completion line may ask for.")
    chunk_lines: int = Field(
        16, ge=1, le=1024, description="Request lines run through the model together (one batched decode, one "
                                       "output part committed, one progress update).")
    embedding_chunk_lines: int = Field(
        256, ge=1, le=1024, description="Request lines of an embeddings batch run together (one output part, one "
                                        "progress update): embedding a line is far cheaper than a chat line.")
    embedding_max_inputs: int = Field(
        2048, ge=1, description="Most texts in one /v1/embeddings line's `input` (OpenAI's limit).")


class DashboardSettings(BaseSettings):
    """The web dashboard (`/ui`)."""

    model_config = SettingsConfigDict(env_prefix="JOBPORT_UI_", extra="forbid")

    bulk_action_max: int = Field(
        500, ge=1, description="Jobs one bulk cancel or retry of the dashboard acts on at most (run it again for "
                               "the rest).")
    export_max_rows: int = Field(100_000, ge=1, description="Rows of one dashboard CSV or JSONL export at most.")
    job_page_items: int = Field(
        100, ge=1, le=10_000, description="Inputs, and outputs, a job's page shows at most (the API lists them all).")
    job_page_events: int = Field(
        1_000, ge=1, le=100_000, description="Events a job's page shows at most (the JSONL download has them all).")
    stream_max_seconds: float = Field(
        300.0, gt=0, description="A live (SSE) stream of the dashboard is closed after this long; the browser "
                                 "reconnects and resumes.")
    session_max_seconds: int = Field(
        12 * 3600, ge=60, description="A dashboard sign-in lasts this long, then the API key is asked for again.")
    usage_max_days: int = Field(
        366, ge=1, description="Longest date range the dashboard's Usage screen and its CSV cover (400 above).")


class UploadSettings(BaseSettings):
    """Direct uploads in parts (Archetype `POST /v0.5/files/uploads/initiate` ... `complete`)."""

    model_config = SettingsConfigDict(env_prefix="JOBPORT_UPLOAD_", extra="forbid")

    part_size_bytes: int = Field(
        128 * 1024 * 1024, ge=1, le=5 * 1024 ** 3,
        description="Size of each part of a direct upload (the last one is smaller); each part is one signed PUT.")
    max_parts: int = Field(
        2000, ge=1, le=100_000, description="Most parts of one direct upload: the largest file is this many times "
                                             "`upload_part_size_bytes` (400 above).")
    expiry_seconds: int = Field(
        86_400, ge=60, description="An upload not completed this long after it was initiated expires: its part "
                                   "URLs stop working and its parts are deleted.")
    sweep_batch: int = Field(
        100, ge=1, description="Expired uploads removed per sweep (each initiate and each retention pass sweeps "
                               "once).")


class FetchSettings(BaseSettings):
    """Fetching user-supplied URLs (super.AI `inputsFileUrl`)."""

    model_config = SettingsConfigDict(env_prefix="JOBPORT_FETCH_", extra="forbid")

    allow_private_networks: bool = Field(
        False, description="Let inputsFileUrl reach loopback/private/link-local hosts (cloud metadata stays refused).")
    timeout_seconds: float = Field(10.0, gt=0, description="Time limit of one inputsFileUrl fetch.")
    max_concurrent: int = Field(
        32, ge=1, description="inputsFileUrl fetches running at once in one server process, in threads of their own "
                              "(never the request thread pool); more wait their turn without holding a request "
                              "thread.")
    max_per_org: int = Field(
        4, ge=1, description="inputsFileUrl fetches of one org running at once in one server process; one more is "
                             "answered 429 (limit `fetch_max_per_org`) with Retry-After.")


class QuotaSettings(BaseSettings):
    """Request rates and job quotas per API key and per org (docs/operations.md "Limits"); each can be
    overridden for one org (`jobport limits set`). 0 turns a limit off. Rates are counted by each
    server process on its own (N API replicas let N times the rate through)."""

    model_config = SettingsConfigDict(env_prefix="JOBPORT_QUOTA_", extra="forbid")

    key_requests_per_second: float = Field(
        1000.0, ge=0, description="Requests one API key may make per second, on average (token bucket refill rate); "
                                  "0: no per-key rate limit.")
    key_request_burst: int = Field(
        2000, ge=1, description="Requests one API key may make at once before the per-key rate applies (bucket size).")
    org_requests_per_second: float = Field(
        2000.0, ge=0, description="Requests all keys of one org may make per second, on average; 0: no per-org rate "
                                  "limit.")
    org_request_burst: int = Field(
        4000, ge=1, description="Requests all keys of one org may make at once before the per-org rate applies.")
    concurrent_jobs: int = Field(
        100_000, ge=0, description="Jobs of one org that may be queued or running at once (every status but parked "
                                   "and the terminal ones); a create that would pass it is a 429. 0: no quota.")
    queued_inputs: int = Field(
        200_000, ge=0, description="Pending inputs of one org's queued or running jobs; a create that would pass it "
                                   "is a 429. 0: no quota.")
    usage_cache_seconds: float = Field(
        2.0, ge=0, description="How long a server process admits creates on its own upper bound of an org's quota "
                               "usage (the last count plus what it admitted since) instead of counting the org's "
                               "queued jobs and pending inputs again; a create that would not fit under the bound "
                               "is decided on a fresh count. With several API replicas, each misses what the "
                               "others admitted within this window. 0: count on every create.")


class HttpSettings(BaseSettings):
    """The HTTP server's own protections."""

    model_config = SettingsConfigDict(env_prefix="JOBPORT_HTTP_", extra="forbid")

    body_read_timeout_seconds: float = Field(
        30.0, gt=0, description="Longest wait for the next part of a request body; a client that stops sending "
                                "mid-body gets a 408 and its connection closed.")
    key_cache_seconds: float = Field(
        2.0, ge=0, description="How long a process reuses an API key's lookup (org, scope, app) instead of asking "
                               "the database on every request; a key revoked through this process answers 401 at "
                               "once, through another replica within this time. 0: look up every request.")
    request_id_max_chars: int = Field(
        128, ge=1, le=1024, description="Longest `X-Request-ID` taken from a request (letters, digits and `._:/+=@-`); "
                                        "a longer or otherwise invalid one is replaced by a generated id.")
    drain_seconds: float = Field(
        0.0, ge=0, le=300, description="After SIGTERM, keep serving this long with `/readyz` answering 503 "
                                       "(`draining`) before the server stops taking connections, so that a load "
                                       "balancer stops sending it requests first. 0: stop at once.")


class RetentionSettings(BaseSettings):
    """How long finished work is kept (the retention service; docs/operations.md "Retention")."""

    model_config = SettingsConfigDict(env_prefix="JOBPORT_RETENTION_", extra="forbid")

    job_days: float = Field(
        0, ge=0, description="Finished jobs (completed, failed, cancelled, expired) older than this many days are "
                             "deleted with their inputs, outputs, events, progress, callbacks and files; 0 keeps "
                             "them forever. Per-org override: `jobport orgs retention`. Jobs that are not finished "
                             "are never pruned.")
    idempotency_hours: float = Field(
        24, gt=0, description="How long the answer to a create sent with an `Idempotency-Key` is replayed to "
                              "retries; older keys are forgotten (and pruned).")
    interval_seconds: float = Field(300, gt=0, description="Time between two passes of the retention service.")
    batch_size: int = Field(200, ge=1, description="Most jobs one retention pass deletes per org.")


class LogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOBPORT_LOG_", extra="forbid")

    format: LogFormat = Field(
        "console", description="Log lines as readable text (`console`) or one JSON object per line (`json`).")
    level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="The lowest level logged (jobport's own records and uvicorn's).")
    access: bool = Field(
        True, description="One `request` record per HTTP request served (method, path, status, duration, request "
                          "id, route, org); probes (`/healthz`, `/readyz`, `/metrics`) only at `debug`.")


class S3Settings(BaseSettings):
    """The S3-compatible blob store chosen by `blobs_url=s3://bucket/prefix` (docs/operations.md
    "S3-compatible blob store")."""

    model_config = SettingsConfigDict(env_prefix="JOBPORT_S3_", extra="forbid")

    endpoint_url: str | None = Field(
        None, description="S3 API endpoint of a server other than AWS (MinIO, Ceph RGW...: `http://minio:9000`); "
                          "unset: AWS S3 in `s3_region`.")
    region: str = Field("us-east-1", description="Region the requests are signed for (AWS: the bucket's region).")
    access_key_id: str | None = Field(
        None, description="Access key id; unset (with the secret): boto3's default credential chain (AWS_* "
                          "environment, shared config files, instance or pod role).")
    secret_access_key: SecretStr | None = Field(
        None, description="Secret access key that goes with `s3_access_key_id`.")
    session_token: SecretStr | None = Field(
        None, description="Session token of temporary credentials (with `s3_access_key_id`), if any.")
    part_size_bytes: int = Field(
        8 * 1024 * 1024, ge=MIN_PART_BYTES, le=5 * 1024 ** 3,
        description="Multipart part size: a blob is uploaded in parts of this size while it is written (a "
                    "smaller blob in one request); S3's minimum is 5 MiB. Each writer holds up to 3 parts in memory.")
    addressing_style: AddressingStyle = Field(
        "auto", description="Bucket in the host name (`virtual`), in the path (`path`: most MinIO and on-premise "
                            "servers) or boto3's choice (`auto`).")
    connect_timeout_seconds: float = Field(5.0, gt=0, description="Time limit to connect to the S3 endpoint.")
    read_timeout_seconds: float = Field(60.0, gt=0, description="Time limit of one read from the S3 endpoint.")
    max_attempts: int = Field(
        3, ge=1, le=20, description="Attempts of one S3 request on throttling, 5xx and connection errors (the "
                                    "first included) before the store is reported unavailable (503).")

    @field_validator("endpoint_url", "access_key_id", "secret_access_key", "session_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # `JOBPORT_S3_ENDPOINT_URL=` in a compose file means unset


GROUPS = ("engine", "limits", "callbacks", "superai", "gravity", "uploads", "fetch", "log", "s3", "quotas", "http",
          "retention", "openai", "ui")
S3_PRESIGN_MAX_SECONDS = 7 * 24 * 3600  # SigV4 presigned links live at most 7 days


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOBPORT_", extra="forbid")

    home: Path = Field(Path(".jobport"), description="Directory for the SQLite database, blobs and secrets.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<home>/jobport.db. postgresql://... for PostgreSQL."
    )
    role: Literal["all", "api", "scheduler"] = Field(
        "all", description="What `jobport serve` runs: `all` (API, scheduler and workers in one process tree: the "
                           "embedded default), `api` (a stateless API replica) or `scheduler` (the scheduler and the "
                           "callback deliverer; one is active, others stand by). `api` and `scheduler` need "
                           "PostgreSQL.")
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
    blob_store: Literal["local", "memory"] = Field(
        "local", description="Where files and outputs live: `local` (a directory under home) or `memory` (the "
                             "process's memory, lost at exit: tests and throwaway servers; needs `executor=inline`). "
                             "`blobs_url` replaces it.")
    blobs_url: str | None = Field(
        None, description="`s3://bucket/optional/prefix`: keep files and outputs in an S3-compatible bucket under "
                          "that prefix, shared by every replica and worker node (settings `s3_*`); download links "
                          "are then presigned S3 URLs. Unset: `blob_store`.")
    models_file: Path | None = Field(
        None, description="TOML model catalogue for language-model pipelines (`jobport models list`); "
                          "default <home>/models.toml. Jobs can only name models listed here or built in.",
    )
    example_app: bool = Field(
        True, description="Register the example app `iris-classifier` (and a key bound to it) on first start.")
    otel: bool = Field(
        False, description="Trace HTTP requests and SQL statements with OpenTelemetry (the `otel` extra); the "
                           "exporter follows the standard `OTEL_*` variables (docs/operations.md \"Tracing\").")

    engine: EngineSettings = Field(default_factory=EngineSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    callbacks: CallbackSettings = Field(default_factory=CallbackSettings)
    superai: SuperAISettings = Field(default_factory=SuperAISettings)
    gravity: GravitySettings = Field(default_factory=GravitySettings)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    uploads: UploadSettings = Field(default_factory=UploadSettings)
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    quotas: QuotaSettings = Field(default_factory=QuotaSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    ui: DashboardSettings = Field(default_factory=DashboardSettings)

    @model_validator(mode="after")
    def _refuse_unsafe_combinations(self) -> Settings:
        """Fail closed: a setting that would make the server unsafe or inconsistent stops it at start."""
        problems = []
        if self.blob_store == "memory" and self.engine.executor != "inline":
            problems.append("blob_store=memory needs executor=inline: worker processes cannot read the server "
                            "process's memory (set JOBPORT_EXECUTOR=inline, or use blob_store=local)")
        problems += self._blob_problems()
        if self.role != "all" and not self.resolved_database_url.startswith("postgresql"):
            problems.append(f"role={self.role} needs PostgreSQL (set JOBPORT_DATABASE_URL=postgresql://...): replicas "
                            "and standby schedulers share one database and wake each other through it")
        for name in ("admin_key", "secret_key"):
            if "REPLACE_ME" in (getattr(self, name) or ""):
                problems.append(f"{name} is still the template's REPLACE_ME placeholder: set a real value")
        if self.secret_key is not None and len(self.secret_key) < 32:
            problems.append("secret_key must be at least 32 characters: it signs download links (leave it unset "
                            "to have one generated)")
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            problems.append("public_url must start with http:// or https://")
        for default, most in (("page_default", "page_max"), ("files_page_default", "page_max"),
                              ("superai_page_default", "superai_page_max")):
            low, high = self.value_of(default), self.value_of(most)
            if isinstance(low, int) and isinstance(high, int) and low > high:
                problems.append(f"{default} ({low}) is above {most} ({high})")
        if self.callbacks.initial_backoff_seconds > self.callbacks.max_backoff_seconds:
            problems.append("callback_initial_backoff_seconds is above callback_max_backoff_seconds")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("blobs_url", mode="before")
    @classmethod
    def _empty_url_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    def _blob_problems(self) -> list[str]:
        s3 = self.s3
        if self.blobs_url is None:
            if s3.endpoint_url is not None or s3.access_key_id is not None:
                return ["s3_endpoint_url or s3_access_key_id is set but blobs_url is not: set "
                        "JOBPORT_BLOBS_URL=s3://bucket/prefix to keep blobs in S3 (or unset JOBPORT_S3_*)"]
            return []
        problems = []
        try:
            parse_s3_url(self.blobs_url)
        except ValueError as err:
            problems.append(f"blobs_url {err}")
        if self.blob_store == "memory":
            problems.append("blob_store=memory and blobs_url are both set: choose one (unset JOBPORT_BLOB_STORE to "
                            "keep blobs in S3)")
        if s3.endpoint_url is not None and not s3.endpoint_url.startswith(("http://", "https://")):
            problems.append(f"s3_endpoint_url must start with http:// or https:// (got {s3.endpoint_url!r})")
        if (s3.access_key_id is None) != (s3.secret_access_key is None):
            problems.append("s3_access_key_id and s3_secret_access_key go together: set both, or neither to use "
                            "the default AWS credential chain")
        if self.limits.signed_url_ttl_seconds > S3_PRESIGN_MAX_SECONDS:
            problems.append(f"signed_url_ttl_seconds ({self.limits.signed_url_ttl_seconds}) is above "
                            f"{S3_PRESIGN_MAX_SECONDS} (7 days), the longest an S3 presigned link lives")
        if importlib.util.find_spec("boto3") is None:
            problems.append(NEEDS_BOTO3)
        return problems

    @classmethod
    def locate(cls, name: str) -> tuple[str | None, str]:
        """Where the setting with the environment name `JOBPORT_<NAME>` lives: (group or None for a
        top-level setting, field), e.g. `callback_max_attempts` -> ("callbacks", "max_attempts")."""
        if name in cls.model_fields and name not in GROUPS:
            return None, name
        for group in GROUPS:
            model = cls.model_fields[group].annotation
            assert isinstance(model, type) and issubclass(model, BaseSettings)
            prefix = str(model.model_config.get("env_prefix", "")).lower().removeprefix("jobport_")
            if name.startswith(prefix) and name[len(prefix):] in model.model_fields:
                return group, name[len(prefix):]
        raise KeyError(f"no setting is called {name!r}")

    def value_of(self, name: str) -> object:
        """The value of the setting `JOBPORT_<NAME>`."""
        group, field = self.locate(name)
        return getattr(self if group is None else getattr(self, group), field)

    @classmethod
    def default_of(cls, name: str) -> object:
        """The documented default of the setting `JOBPORT_<NAME>`."""
        group, field = cls.locate(name)
        model = cls if group is None else cls.model_fields[group].annotation
        assert isinstance(model, type) and issubclass(model, BaseSettings)
        return model.model_fields[field].get_default(call_default_factory=True)

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
        if self.blobs_url is None:
            return BlobConfig(self.blob_store, self.blob_root)
        bucket, prefix = parse_s3_url(self.blobs_url)
        s3 = self.s3
        return BlobConfig(
            "s3", self.blob_root, bucket=bucket, prefix=prefix, endpoint_url=s3.endpoint_url, region=s3.region,
            access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key.get_secret_value() if s3.secret_access_key else None,
            session_token=s3.session_token.get_secret_value() if s3.session_token else None,
            part_size_bytes=s3.part_size_bytes, addressing_style=s3.addressing_style,
            connect_timeout_seconds=s3.connect_timeout_seconds, read_timeout_seconds=s3.read_timeout_seconds,
            max_attempts=s3.max_attempts)
