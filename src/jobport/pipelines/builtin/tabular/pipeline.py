"""`tabular-model`: a tabular model (ONNX, or scikit-learn saved with skops) over record files.

Each input on `worker.data` (CSV, JSON array or JSONL) is read chunk by chunk; the input mapping
turns records into feature columns, the model scores the chunk, and the output records (input
fields, outputs, output mapping) are appended to one output file on `worker.result`, in the input's
format, named `data_<input stem>.<ext>` unless `output_filename` says otherwise. The model file
comes on `worker.model` (a reference: loaded once per warm worker).

A record that cannot be read, mapped or coerced fails its input with a message naming the line
and the column; nothing of that input's output is published. Small inputs of many jobs (super.AI
records) come in chunks to `process_batch`: one model call for the whole chunk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from jobport.pipelines.builtin.tabular.config import TabularModelConfig
from jobport.pipelines.builtin.tabular.errors import RecordError
from jobport.pipelines.builtin.tabular.mapping import Features, InputMapping
from jobport.pipelines.builtin.tabular.preflight import PreflightResult, preflight
from jobport.pipelines.builtin.tabular.readers import Chunk, InputSource
from jobport.pipelines.builtin.tabular.results import OutputBuilder
from jobport.pipelines.builtin.tabular.stream import FeatureStream
from jobport.pipelines.builtin.tabular.writers import RecordWriter, open_writer
from jobport.pipelines.sdk import (
    CreateProblem,
    FileFacts,
    FileRef,
    InputError,
    LoadContext,
    LoadError,
    OutputSink,
    PipelineBase,
    PipelineSpec,
    Port,
    ProcessResult,
)

if TYPE_CHECKING:  # numpy and the model runtimes are imported in a worker, when a model loads
    import numpy as np

    from jobport.pipelines.builtin.tabular.models import ModelRunner

DATA_PORT = "worker.data"
MODEL_PORT = "worker.model"
RESULT_PORT = "worker.result"
CONFIG_FIELD = "parameters.worker.config"
MODEL_SUFFIXES = (".onnx", ".skops")


class TabularWorker:
    """Holds one loaded model; scores every input of every job that uses the same model file."""

    def __init__(self, runner: ModelRunner) -> None:
        self.runner: ModelRunner | None = runner

    def process(self, item: FileRef, sink: OutputSink, config: TabularModelConfig) -> ProcessResult:
        assert self.runner is not None, "worker used after close()"
        return _FileRun(self.runner, item, sink, config).execute()

    def process_batch(self, items: Sequence[tuple[FileRef, OutputSink]], config: TabularModelConfig
                      ) -> list[ProcessResult | InputError]:
        """Small inputs (single records of many jobs) read one by one, scored in ONE model call, and
        written each to its own output exactly as `process` writes it. An input that cannot be read
        fails alone; a model error raises (the engine then runs the inputs one by one)."""
        assert self.runner is not None, "worker used after close()"
        started = time.perf_counter()
        runs: list[_FileRun] = [_FileRun(self.runner, item, sink, config) for item, sink in items]
        outcomes: list[ProcessResult | InputError | None] = [None] * len(runs)
        read: list[tuple[int, list[tuple[Chunk, Features]]]] = []
        for i, run in enumerate(runs):
            try:
                pairs = list(run.stream)
            except InputError as err:
                outcomes[i] = err
                continue
            if sum(chunk.rows for chunk, _ in pairs) == 0:
                outcomes[i] = RecordError(f"{run.item.filename} has no records", code="empty_file")
                continue
            read.append((i, pairs))
        if read:
            scored = self.runner.predict(_concatenated([f for _, pairs in read for _, f in pairs]))
            seconds = (time.perf_counter() - started) / len(runs)
            offset = 0
            for i, pairs in read:
                rows = sum(chunk.rows for chunk, _ in pairs)
                outcomes[i] = runs[i].publish(pairs, [column[offset:offset + rows] for column in scored], seconds)
                offset += rows
        return [o if o is not None else InputError("not processed", code="internal_error") for o in outcomes]

    def close(self) -> None:
        self.runner = None


class _FileRun:
    def __init__(self, runner: ModelRunner, item: FileRef, sink: OutputSink, config: TabularModelConfig) -> None:
        self.runner, self.item, self.sink, self.config = runner, item, sink, config
        self.builder = OutputBuilder(config)
        source = InputSource(item.filename, item.opener, item.path)
        self.stream = FeatureStream(config, source, keep_inputs=self.builder.reads_input_fields())

    def publish(self, pairs: list[tuple[Chunk, Features]], outputs: list[np.ndarray], seconds: float) -> ProcessResult:
        """Write the output of a file scored elsewhere (`process_batch`), with the events `execute` has."""
        name = self.config.output_name(self.item.stem)
        done = 0
        with self.sink.open_output(RESULT_PORT, name) as out:
            writer = open_writer(self.config.record_format, out)
            for chunk, _ in pairs:
                self._write(writer, chunk, [column[done:done + chunk.rows] for column in outputs])
                done += chunk.rows
            writer.close()
        self.sink.progress("inference", f"{done:,}/{done:,} records of {self.item.filename}", items_processed=done,
                           items_total=done)
        return self._finished(done, seconds, name)

    def execute(self) -> ProcessResult:
        started = time.perf_counter()
        total = self.stream.estimated_records()
        name = self.config.output_name(self.item.stem)
        done = 0
        with self.sink.open_output(RESULT_PORT, name) as out:
            writer = open_writer(self.config.record_format, out)
            for chunk, features in self.stream:
                outputs = self.runner.predict(features)
                self._write(writer, chunk, outputs)
                done += chunk.rows
                count = f"{done:,}/{total:,}" if total else f"{done:,}"
                self.sink.progress(
                    "inference",
                    f"{count} records of {self.item.filename}",
                    items_processed=done,
                    items_total=max(total, done) if total is not None else None,
                )
            if done == 0:
                raise RecordError(f"{self.item.filename} has no records", code="empty_file")
            writer.close()
        return self._finished(done, time.perf_counter() - started, name)

    def _finished(self, done: int, seconds: float, name: str) -> ProcessResult:
        rate = round(done / max(seconds, 1e-9), 1)
        summary = {
            "records": done,
            "seconds": round(seconds, 3),
            "records_per_second": rate,
            "model": self.runner.kind,
            "output": name,
        }
        message = f"{self.item.filename}: {done:,} records scored in {seconds:.2f} s ({rate:,} records/s)"
        self.sink.event("INFO", "inference.usage", message, summary)
        return ProcessResult(items=done, failed_items=0, summary=summary)

    def _write(self, writer: RecordWriter, chunk: Chunk, outputs: list[np.ndarray]) -> None:
        if chunk.table is not None and self.builder.columnar:
            writer.write_table(self.builder.as_table(chunk.table, outputs))
            return
        inputs = chunk.records
        if inputs is None and chunk.table is not None and self.builder.reads_input_fields():
            inputs = chunk.table.to_pylist()
        writer.write_records(self.builder.as_records(inputs, outputs))


def _concatenated(features: list[Features]) -> Features:
    """The feature columns of many chunks as one (the same columns in each: one mapping, one config)."""
    import numpy as np

    if len(features) == 1:
        return features[0]
    return {name: np.concatenate([f[name] for f in features]) for name in features[0]}


class TabularModelPipeline(PipelineBase):
    spec = PipelineSpec(
        key="tabular-model",
        version="1.0.0",
        name="Tabular model",
        description=(
            "Scores CSV, JSON or JSONL records with a tabular model (ONNX, or scikit-learn saved with skops), "
            "with Gravity-style input and output mapping; writes one output file per input in the same format."
        ),
        config_model=TabularModelConfig,
        inputs=[
            Port(DATA_PORT, "Record files (CSV, JSON array or JSONL), one output file each"),
            Port(MODEL_PORT, "The model file: .onnx, or .skops (scikit-learn)", distribute="replicate", tracked=False),
        ],
        outputs=[Port(RESULT_PORT, "Scored records, in the input's format")],
        default_parallelism=1,
    )

    def load_key(self, config: TabularModelConfig) -> Any:
        # The model is checked against the declared features and outputs; the rest applies per input.
        return {
            "features": [f.model_dump() for f in config.features],
            "outputs": [o.model_dump() for o in config.outputs],
        }

    def load(self, config: TabularModelConfig, references: Sequence[FileRef], context: LoadContext) -> TabularWorker:
        models = [ref for ref in references if ref.port_name == MODEL_PORT]
        if len(models) != 1:
            raise LoadError(f"{MODEL_PORT} needs exactly one model file; got {len(models)}", code="invalid_model_file")
        ref = models[0]
        started = time.perf_counter()
        try:
            if ref.path:
                source: str | bytes = ref.path
            else:
                with ref.open() as handle:
                    source = handle.read()
        except OSError as err:
            raise LoadError(f"model file {ref.filename} could not be read: {err}", code="invalid_model_file") from None
        from jobport.pipelines.builtin.tabular.models import load_model  # numpy, onnxruntime or skops

        runner = load_model(source, ref.filename, config.features, config.outputs)
        context.emit(
            "INFO",
            "model.loaded",
            f"Model {ref.filename} ({runner.kind}) ready in {time.perf_counter() - started:.2f} s",
            {"model": ref.filename, "kind": runner.kind, "sha256": ref.sha256},
        )
        return TabularWorker(runner)

    def preflight(
        self, config: TabularModelConfig, opener: Callable[[], BinaryIO], *, name: str = "file", path: str | None = None
    ) -> PreflightResult:
        """Validate and count a record file before a job is stored (see `preflight.preflight`)."""
        return preflight(config, opener, name=name, path=path)

    def check_create(
        self, config: TabularModelConfig, inputs: Mapping[str, Sequence[FileFacts]]
    ) -> Iterator[CreateProblem]:
        for i, facts in enumerate(inputs.get(MODEL_PORT, ())):
            if Path(facts.file_id).suffix.lower() not in MODEL_SUFFIXES:
                yield CreateProblem(
                    f"inputs.{MODEL_PORT}[{i}].file_id",
                    f"model file {facts.file_id} is neither .onnx nor .skops",
                    "Export the model to ONNX (skl2onnx) or save a scikit-learn model with skops.io.dump; "
                    "pickles are refused.",
                )
        fmt = config.record_format
        if fmt.kind != "csv":
            return
        mapping = InputMapping(config)
        for i, facts in enumerate(inputs.get(DATA_PORT, ())):
            headers = facts.attributes.get("column_headers")
            if fmt.header and isinstance(headers, list):
                yield from _missing_columns(
                    mapping, [str(h) for h in headers], f"inputs.{DATA_PORT}[{i}]", facts.file_id
                )

    def check_references(self, config: TabularModelConfig, references: Sequence[FileRef]) -> Iterator[CreateProblem]:
        """The model loads, and its inputs and outputs fit the declared `features` and `outputs`."""
        try:
            self.load(config, references, LoadContext())
        except LoadError as err:
            yield CreateProblem(f"references.{MODEL_PORT}[0].file_id", err.message,
                                "Upload a model that onnxruntime (.onnx) or skops (.skops) loads, whose inputs "
                                "and outputs match the app's `features` and `outputs`.", err.code)

    def config_warnings(self, config: TabularModelConfig) -> list[str]:
        fmt = config.record_format
        if config.columns and not (fmt.kind == "csv" and not fmt.header):
            return [f"columns is used only with text/csv; header=absent; it is ignored for '{config.mime_type}'"]
        return []


def _missing_columns(mapping: InputMapping, headers: list[str], where: str, file_id: str) -> Iterator[CreateProblem]:
    present = set(headers)
    for source in mapping.sources:
        column = source.path.segments[0].key
        if column in present or source.default is not None:
            continue
        yield CreateProblem(
            f"{CONFIG_FIELD}.{source.config_field}",
            f"file {file_id} ({where}) has no column '{column}' for feature '{source.feature}'; its columns: "
            f"{', '.join(headers)}",
            f"Map feature '{source.feature}' from one of the file's columns with a mapping rule "
            "{source, destination}, or give it a defaultValue.",
        )
