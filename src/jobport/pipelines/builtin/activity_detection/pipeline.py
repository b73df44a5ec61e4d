"""`activity-detection`: each line of a JSONL file of InferenceRecords goes through a language
model from the server's catalogue; the output has one JSONL line per input line, in order:
`{"line_index": i, "prediction": "..."}`, or `{"line_index": i, "prediction": null, "error": "..."}`
for a line that cannot be parsed or run. A bad line never fails the job.

Output parts `pred_<stem>_part_<k>.jsonl` are written every `flush_every_n_iteration` batches, so
finished lines can be downloaded while the file runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO

import orjson

from jobport.pipelines.builtin.activity_detection import media
from jobport.pipelines.builtin.activity_detection.config import ActivityDetectionConfig
from jobport.pipelines.builtin.activity_detection.records import (
    EXPECTED,
    InferenceRecord,
    check_parts,
    describe_non_jsonl,
    messages_for,
    parse_line,
    user_text,
)
from jobport.pipelines.lm.backends import CatalogueModels, ChatBackend, Completion, Sampling
from jobport.pipelines.lm.catalogue import CatalogueError, ModelEntry, resolve
from jobport.pipelines.sdk import (
    CreateProblem,
    FileFacts,
    FileRef,
    LoadContext,
    LoadError,
    OutputSink,
    PipelineBase,
    PipelineSpec,
    Port,
    Preflight,
    Pricing,
    ProcessResult,
    Resources,
)

DATA_PORT = "worker.data"
RESULT_PORT = "worker.result"
CONFIG_FIELD = "parameters.worker.config"
PROMPT_OVERHEAD_TOKENS = 32  # chat template tokens around the messages
MAX_TRUNCATION_EVENTS = 20  # per input; the rest are counted in the summary


class RecordWorker:
    """Runs records through one loaded backend; reused for every job naming the same model."""

    def __init__(self, backend: ChatBackend) -> None:
        self.backend = backend

    def process(self, item: FileRef, sink: OutputSink, config: ActivityDetectionConfig) -> ProcessResult:
        run = _FileRun(self.backend, item, sink, config)
        return run.execute()

    def close(self) -> None:
        self.backend.close()


class _FileRun:
    """One input file: stream lines, batch them through the model, write parts and events."""

    def __init__(self, backend: ChatBackend, item: FileRef, sink: OutputSink, config: ActivityDetectionConfig) -> None:
        self.backend, self.item, self.sink, self.config = backend, item, sink, config
        g = config.generation
        self.sampling = Sampling(g.max_new_tokens, g.do_sample, g.temperature, g.top_p, g.top_k, g.repetition_penalty)
        budget = config.token_budget
        if backend.context_tokens:
            budget = min(budget, backend.context_tokens - g.max_new_tokens - PROMPT_OVERHEAD_TOKENS)
        self.budget = budget
        self.pending_lines: list[bytes] = []
        self.part = 0
        self.done = self.failed = self.parse_failed = self.truncated = 0
        self.tokens_in = self.tokens_out = 0
        self.model_seconds = 0.0
        self.first_line_seconds: float | None = None
        self.started = time.perf_counter()

    def _lines(self) -> Iterator[bytes]:
        with self.item.open() as handle:
            for raw in handle:
                yield raw.rstrip(b"\r\n")

    def _count_lines(self) -> int:
        with self.item.open() as handle:
            return sum(1 for _ in handle)

    def execute(self) -> ProcessResult:
        total = self._count_lines()
        batch: list[tuple[int, bytes]] = []
        batches_in_part = 0
        head = b""
        for index, line in enumerate(self._lines()):
            if index < 20:
                head += line + b"\n"
            batch.append((index, line))
            if len(batch) == self.config.batch_size:
                self._run_batch(batch, total)
                batch, batches_in_part = [], batches_in_part + 1
                if batches_in_part == self.config.flush_every_n_iteration:
                    self._flush()
                    batches_in_part = 0
        if batch:
            self._run_batch(batch, total)
        self._flush()
        if total and self.parse_failed == total:
            self.sink.event("ERROR", "inference.format",
                            f"{self.item.filename} looks like {describe_non_jsonl(head)}, not JSONL: no line is a "
                            f"JSON object. {EXPECTED}", {"lines": total})
        summary = {
            "records": total, "succeeded": self.done, "failed": self.failed, "truncated": self.truncated,
            "tokens_in": self.tokens_in, "tokens_out": self.tokens_out,
            "tokens_per_second": round(self.tokens_out / self.model_seconds, 1) if self.model_seconds else 0.0,
            "first_line_seconds": round(self.first_line_seconds, 3) if self.first_line_seconds is not None else None,
            "model": self.backend.name,
        }
        self.sink.event("INFO", "inference.usage",
                        f"{self.item.filename}: {total} records, {self.tokens_in} tokens in, {self.tokens_out} tokens "
                        f"out, {summary['tokens_per_second']} tokens/s", summary)
        return ProcessResult(items=total, failed_items=self.failed, summary=summary)

    def _prepare(self, index: int, line: bytes) -> tuple[list[dict[str, Any]] | None, str | None]:
        if not line.strip():
            return None, "empty line: expected a JSON object"
        record, error = parse_line(line)
        if error:
            if error.startswith("parse error"):
                self.parse_failed += 1
            return None, error
        assert record is not None
        error = check_parts(record, self.backend.multimodal, self.backend.name)
        if error:
            return None, error
        try:
            text = self._fit(index, record, user_text(record))
            parts = []
            for part in record.inputs or []:
                if part.type == "image":
                    parts.append(media.image_part(part.data))
                elif part.type == "video":
                    parts.extend(media.video_parts(part.data, self.config.max_video_frames))
        except ValueError as err:
            return None, str(err)
        return messages_for(record, text, parts), None

    def _fit(self, index: int, record: InferenceRecord, text: str) -> str:
        """Cut the user text so that system + user fit the per-record token budget."""
        system_tokens = self.backend.count_tokens(record.system) if record.system else 0
        room = self.budget - system_tokens
        if room <= 0:
            raise ValueError(f"system prompt alone exceeds token_budget={self.budget}")
        used = self.backend.count_tokens(text)
        if used <= room:
            return text
        cut = _truncate(self.backend, text, room)
        self.truncated += 1
        if self.truncated <= MAX_TRUNCATION_EVENTS:
            self.sink.event("WARN", "inference.truncation",
                            f"{self.item.filename} line {index}: prompt of {used + system_tokens} tokens exceed "
                            f"token_budget={self.budget}; cut to {self.budget}",
                            {"line_index": index, "prompt_tokens": used + system_tokens, "token_budget": self.budget})
        return cut

    def _run_batch(self, batch: list[tuple[int, bytes]], total: int) -> None:
        prepared = [(index, *self._prepare(index, line)) for index, line in batch]
        runnable = [(index, messages) for index, messages, error in prepared if messages is not None]
        answers: dict[int, Completion] = {}
        if runnable:
            started = time.perf_counter()
            results = self.backend.complete([m for _, m in runnable], self.sampling)
            elapsed = time.perf_counter() - started
            self.model_seconds += elapsed
            if self.first_line_seconds is None:
                self.first_line_seconds = time.perf_counter() - self.started
            answers = {index: result for (index, _), result in zip(runnable, results, strict=False)}
        for index, _messages, error in prepared:
            result = answers.get(index)
            if error is None and result is not None and result.error:
                error = result.error
            if error is not None:
                self.failed += 1
                row = {"line_index": index, "prediction": None, "error": error}
            else:
                assert result is not None
                self.done += 1
                self.tokens_in += result.prompt_tokens
                self.tokens_out += result.completion_tokens
                row = {"line_index": index, "prediction": result.text}
            self.pending_lines.append(orjson.dumps(row))
        processed = self.done + self.failed
        self.sink.progress("inference", f"{processed:,}/{total:,} records of {self.item.filename}",
                           items_processed=processed, items_total=total,
                           payload={"tokens_in": self.tokens_in, "tokens_out": self.tokens_out})

    def _flush(self) -> None:
        if not self.pending_lines:
            return
        name = f"pred_{self.item.stem}_part_{self.part}.jsonl"
        with self.sink.open_output(RESULT_PORT, name) as out:
            out.write(b"\n".join(self.pending_lines) + b"\n")
        rows = len(self.pending_lines)
        self.sink.event("INFO", "inference.batch",
                        f"Batch {self.part} for {self.item.filename}: {rows:,} lines written",
                        {"part": self.part, "rows": rows, "succeeded_so_far": self.done, "failed_so_far": self.failed})
        self.pending_lines, self.part = [], self.part + 1


def _truncate(backend: ChatBackend, text: str, max_tokens: int) -> str:
    """The longest prefix of `text` within `max_tokens` (binary search on characters)."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if backend.count_tokens(text[:mid]) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


class ActivityDetectionPipeline(CatalogueModels, PipelineBase):
    spec = PipelineSpec(
        key="activity-detection",
        version="0.0.20",
        name="Activity Detection",
        description="A language model over a JSONL file of prompt records (system, instruction, prompt, "
                    "inputs); one JSONL prediction per input line, per-line errors never fail the job.",
        config_model=ActivityDetectionConfig,
        inputs=[Port(DATA_PORT, "JSONL file of InferenceRecords, one per line")],
        outputs=[Port(RESULT_PORT, "One JSONL line {line_index, prediction[, error]} per input line")],
        default_parallelism=1,
        pricing=Pricing(records_per_group=1, units_per_group=1),
        # a GGUF model in-process: its weights and context (1 GiB covers the small catalogue models)
        resources=Resources(num_cpus=1.0, memory_bytes=1024 ** 3),
    )

    def _entry(self, config: ActivityDetectionConfig) -> tuple[ModelEntry, bool]:
        return resolve(config.model_variant, self._catalogue())

    def load_key(self, config: ActivityDetectionConfig) -> dict[str, Any]:
        # Generation settings are applied per input: jobs that name the same model share warm workers.
        try:
            return {"model": self._entry(config)[0].name}
        except (KeyError, CatalogueError):
            return {"model": config.model_variant}

    def load(self, config: ActivityDetectionConfig, references: Sequence[FileRef],
             context: LoadContext) -> RecordWorker:
        try:
            entry, _ = self._entry(config)
        except KeyError:
            raise LoadError(f"model_variant {config.model_variant!r} is not in the model catalogue",
                            code="invalid_model_version") from None
        except CatalogueError as err:
            raise LoadError(str(err), code="model_catalogue_invalid") from None
        started = time.perf_counter()
        try:
            backend = self._backend_factory(entry)
        except (OSError, ValueError, ImportError) as err:
            raise LoadError(f"model {entry.name} could not be loaded: {err}", code="model_load_failed") from None
        context.emit("INFO", "model.loaded", f"Model {entry.name} ({entry.kind}) ready in "
                     f"{time.perf_counter() - started:.2f} s", {"model": entry.name, "kind": entry.kind})
        return RecordWorker(backend)

    def check_create(self, config: ActivityDetectionConfig,
                     inputs: Mapping[str, Sequence[FileFacts]]) -> Iterator[CreateProblem]:
        try:
            entries = self._catalogue()
            resolve(config.model_variant, entries)
        except CatalogueError as err:
            yield CreateProblem(f"{CONFIG_FIELD}.model_variant", f"the model catalogue is invalid: {err}",
                                "Ask the server admin to fix the models file.", "model_catalogue_invalid")
        except KeyError:
            names = ", ".join(sorted(entries))
            yield CreateProblem(f"{CONFIG_FIELD}.model_variant", f"unknown model_variant {config.model_variant!r}",
                                f"Use one of the server's models: {names} (see `jobport models list`).",
                                "invalid_model_version")
        for i, facts in enumerate(inputs.get(DATA_PORT, ())):
            lines = facts.attributes.get("num_lines")
            if facts.num_bytes == 0 or lines == 0:
                yield CreateProblem(f"inputs.{DATA_PORT}[{i}].file_id", f"file {facts.file_id} has no records",
                                    "Upload a JSONL file with one InferenceRecord per line.", "empty_file")

    def preflight(self, config: ActivityDetectionConfig, opener: Callable[[], BinaryIO]) -> Preflight:
        """A file posted with a request (app jobs): one record per non-blank line, billed as such."""
        records = 0
        with opener() as handle:
            for line in handle:
                records += bool(line.strip())
        if not records:
            return Preflight(0, [CreateProblem("file", "the file has no records",
                                               "Send a JSONL file with one InferenceRecord per line.", "empty_file")])
        return Preflight(records)

    def config_warnings(self, config: ActivityDetectionConfig) -> list[str]:
        try:
            entry, via_alias = self._entry(config)
        except (KeyError, CatalogueError):
            return []
        if via_alias:
            return [f"model_variant {config.model_variant!r} is accepted as an alias of this server's model "
                    f"{entry.name!r}; name it directly to silence this warning"]
        return []
