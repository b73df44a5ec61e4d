"""The pipeline SDK: what a pipeline declares (spec, ports, config model) and how it runs.

A pipeline is a class with a `spec` and a `load(config, references, context) -> Worker` factory.
The engine calls `load` once per warm worker for a given (pipeline, version, config, references)
and then `Worker.process(item, sink)` for each tracked input, possibly across many jobs; a worker
that also has `process_batch` (`BatchWorker`) gets small inputs of many jobs in one call.

Errors:
- `InputError` from `process` fails that one input (an event names the column or setting); the job
  goes on with its other inputs.
- `LoadError` from `load` fails the job: without its model or reference index no input can run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

PortMode = Literal["plain_file_list", "n_shot_file_list"]
RUN_PORT = "run"  # the tracked input of a `runs_once` pipeline's job (an empty JSON record)
Distribute = Literal["scatter", "replicate"]
EventLevel = Literal["INFO", "WARN", "ERROR", "SUCCESS", "FAILED"]


@dataclass(frozen=True)
class Port:
    """An input or output port of a pipeline component (Archetype port definition)."""

    name: str
    description: str
    mode: PortMode = "plain_file_list"
    distribute: Distribute = "scatter"
    required: bool = True
    tracked: bool = True

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "mode": self.mode,
            "distribute": self.distribute,
            "required": self.required,
            "tracked": self.tracked,
        }


@dataclass(frozen=True)
class Pricing:
    """Billing: `units_per_group` units of $0.001 for every `records_per_group` records."""

    records_per_group: int = 1000
    units_per_group: int = 1


@dataclass(frozen=True)
class RetryPolicy:
    """How often an input is retried when its worker process dies (not when the pipeline raises)."""

    max_attempts: int = 3

    def public(self) -> dict[str, Any]:
        return {"max_attempts": self.max_attempts}


@dataclass(frozen=True)
class Resources:
    """What one warm worker of the pipeline's component reserves on a Ray cluster (executor `ray`):
    CPUs (also its BLAS/OpenMP threads), GPUs (fractions share one) and memory in bytes (None: no
    reservation). An app may override them (`merged`); the local executor ignores them."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in RESOURCE_NAMES:  # normalized: floats, whole bytes
            object.__setattr__(self, name, _check_resource(name, getattr(self, name)))

    def merged(self, overrides: Mapping[str, Any] | None) -> Resources:
        """These resources with `overrides` (`{"num_gpus": 1}`) applied; ValueError names a key that is
        not a resource or a value that is not a non-negative number."""
        if not overrides:
            return self
        unknown = sorted(str(k) for k in overrides if k not in RESOURCE_NAMES)
        if unknown:
            raise ValueError(f"unknown resource {', '.join(map(repr, unknown))}: the resources are "
                             f"{', '.join(RESOURCE_NAMES)}")
        values = {name: _check_resource(name, value) for name, value in overrides.items()}
        return replace(self, **values)

    def ray_options(self) -> dict[str, Any]:
        """The options of a Ray actor reserving these resources."""
        options: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        if self.memory_bytes is not None:
            options["memory"] = self.memory_bytes
        return options


RESOURCE_NAMES = ("num_cpus", "num_gpus", "memory_bytes")


def _check_resource(name: str, value: Any) -> Any:
    if name == "memory_bytes" and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"resource {name} must be a number, got {value!r}")
    if value < 0:
        raise ValueError(f"resource {name} must not be negative, got {value}")
    if name == "memory_bytes":
        if value != int(value):
            raise ValueError(f"resource memory_bytes must be a whole number of bytes, got {value}")
        return int(value)
    return float(value)


@dataclass(frozen=True)
class PipelineSpec:
    key: str
    version: str
    name: str
    description: str
    config_model: type[BaseModel]
    inputs: Sequence[Port]
    outputs: Sequence[Port]
    pipeline_type: Literal["batch", "training"] = "batch"
    component: str = "worker"
    default_parallelism: int = 1
    pricing: Pricing = field(default_factory=Pricing)
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    resources: Resources = field(default_factory=Resources)  # of one warm worker (executor `ray`)
    # A pipeline whose inputs are all references (e.g. an evaluation over labelled recordings) runs
    # once per job: the job gets one tracked input of its own, `RUN_PORT`, processed like any other.
    runs_once: bool = False

    def input_port(self, name: str) -> Port | None:
        return next((p for p in self.inputs if p.name == name), None)


@dataclass(frozen=True)
class FileRef:
    """A file the worker may read: an input to process or a reference (n-shot) file.

    `open()` streams the bytes from the blob store; `path` is set when the blob store is a local
    directory (readers such as pyarrow are faster on a path).
    """

    input_id: str
    port_name: str
    file_id: str
    filename: str
    metadata: Mapping[str, Any]
    sha256: str
    num_bytes: int
    opener: Callable[[], BinaryIO]
    path: str | None = None

    @property
    def stem(self) -> str:
        name = self.filename
        return name.rsplit(".", 1)[0] if "." in name else name

    def open(self) -> BinaryIO:
        return self.opener()


class OutputSink(Protocol):
    """Where a worker sends what it produces while processing one input."""

    def open_output(self, port_name: str, filename: str) -> AbstractContextManager[BinaryIO]:
        """A writable binary file; on a clean exit it is committed and listed as a job output."""

    def event(
        self,
        level: EventLevel,
        event_type: str,
        message: str,
        payload: Mapping[str, Any] | None = None,
    ) -> None: ...

    def progress(
        self,
        step: str,
        message: str,
        items_processed: int,
        items_total: int | None,
        payload: Mapping[str, Any] | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class HostContext:
    """What the hosting server tells every pipeline once, when its registry is built (in the server
    and in each worker process): server-wide resources a pipeline may need."""

    models_file: Path | None = None  # the admin's model catalogue of language-model pipelines


@dataclass
class LoadContext:
    """What `load` gets besides config and references: a way to emit job events while loading."""

    emit: Callable[[EventLevel, str, str, Mapping[str, Any] | None], None] = (
        lambda level, event_type, message, payload=None: None
    )


@dataclass(frozen=True)
class ProcessResult:
    """What a worker reports after one input: counts shown in events and progress."""

    items: int = 0
    failed_items: int = 0
    summary: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Worker(Protocol):
    def process(self, item: FileRef, sink: OutputSink, config: BaseModel) -> ProcessResult:
        """Process one tracked input with the job's validated config (the same model as `load`'s
        unless the pipeline's `load_key` leaves some settings out of the warm-worker key)."""

    def close(self) -> None: ...


@runtime_checkable
class BatchWorker(Protocol):
    """A worker that can also score many small inputs (single records, across jobs) in one call.

    The engine sends inputs of the same worker key and config in chunks (`engine.chunk_size`) and
    calls `process_batch` with one (input, sink) pair per input; it returns one entry per pair, in
    order: the `ProcessResult` of that input, or the `InputError` that fails only that input. Each
    input's outputs, events and progress go to its own sink, exactly as `process` would write
    them. If `process_batch` raises, the engine runs the chunk's inputs one by one with `process`,
    so one bad record never fails its neighbours."""

    def process_batch(self, items: Sequence[tuple[FileRef, OutputSink]], config: BaseModel
                      ) -> Sequence[ProcessResult | InputError]: ...


class InputError(Exception):
    """This input cannot be processed (bad column, non-numeric data, too short...)."""

    def __init__(self, message: str, code: str = "invalid_input") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class LoadError(Exception):
    """The pipeline cannot be loaded with this config and these references: the job fails."""

    def __init__(self, message: str, code: str = "pipeline_load_failed") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CreateProblem:
    """A problem found at job creation: becomes a 400 naming `field`."""

    field: str
    message: str
    suggestion: str = ""
    code: str = "invalid_parameter"


@dataclass
class Preflight:
    """What `Pipeline.preflight(config, opener)` returns for a file posted with a
    request (Gravity): its records (what app jobs bill) and problems that make the request a 400."""

    records: int
    problems: list[CreateProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class FileFacts:
    """What the server knows about an uploaded file at create time (from the Files API)."""

    file_id: str
    num_bytes: int
    attributes: Mapping[str, Any]
    metadata: Mapping[str, Any]


class Pipeline(Protocol):
    spec: ClassVar[PipelineSpec]

    def load(
        self, config: BaseModel, references: Sequence[FileRef], context: LoadContext
    ) -> Worker: ...

    def check_create(
        self, config: BaseModel, inputs: Mapping[str, Sequence[FileFacts]]
    ) -> Iterator[CreateProblem]:
        """Cheap create-time checks from file attributes (no file reads). Optional."""
        ...

    def config_warnings(self, config: BaseModel) -> list[str]:
        """Warnings about the config to record as WARN events when the job is created. Optional."""
        ...

    def check_references(self, config: BaseModel, references: Sequence[FileRef]) -> Iterator[CreateProblem]:
        """Checks that read an app version's reference files when the version is created (e.g. the
        model loads and matches the declared features and outputs), so that a broken app is a 400
        instead of jobs that fail and are billed. Optional; runs in the API process."""
        ...

    def check_files(self, config: BaseModel, files: Sequence[FileRef]) -> Iterator[CreateProblem]:
        """Checks that read a job's input files at creation (tracked and reference inputs), after
        `check_create` found nothing: problems only the content shows (a training file with one
        class). Optional; runs in the API process outside any transaction, so keep it bounded."""
        ...

    def load_key(self, config: BaseModel) -> Any:
        """The part of the config `load` depends on (JSON-able)."""
        ...

    def configure(self, host: HostContext) -> None:
        """Called once after construction with the server's resources."""
        ...

    def preflight(self, config: BaseModel, opener: Callable[[], BinaryIO]) -> Preflight | None:
        """Check and count the records of a file posted with a request (app jobs bill by it) before
        the job is stored; None when the pipeline does not look (the file counts as 1 record)."""
        ...


class PipelineBase:
    """Convenience base: no create-time checks and no config warnings unless overridden; every
    config setting is part of the warm-worker key."""

    spec: ClassVar[PipelineSpec]

    def load_key(self, config: BaseModel) -> Any:
        """What `load` depends on: jobs whose load keys (and reference files) match share warm workers."""
        return config.model_dump(mode="json")

    def check_create(
        self, config: BaseModel, inputs: Mapping[str, Sequence[FileFacts]]
    ) -> Iterator[CreateProblem]:
        return iter(())

    def config_warnings(self, config: BaseModel) -> list[str]:
        return []

    def check_references(self, config: BaseModel, references: Sequence[FileRef]) -> Iterator[CreateProblem]:
        return iter(())

    def check_files(self, config: BaseModel, files: Sequence[FileRef]) -> Iterator[CreateProblem]:
        return iter(())

    def configure(self, host: HostContext) -> None:
        return None

    def preflight(self, config: BaseModel, opener: Callable[[], BinaryIO]) -> Preflight | None:
        return None
