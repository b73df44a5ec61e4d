"""The `machine-state-classification` pipeline: encoder + k-nearest neighbours over sliding windows.

`load` reads the n-shot files (one class label each in `metadata.class`), fits the encoder on
their windows, standardises the features over them and builds a KNN index: `MachineStateModel`.
The returned `MachineStateWorker` then classifies every window of each inference CSV and writes
`pred_<stem>_part_<k>.csv` parts (`<timestamp_column>,Prediction`) to `worker.results`, publishing
a part every `flush_every_n_iteration` batches. `direct.py` drives the same model without the engine.
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from jobport.pipelines.builtin.machine_state.config import REAL_ENCODER, MachineStateConfig
from jobport.pipelines.builtin.machine_state.encoder import Encoder
from jobport.pipelines.builtin.machine_state.reader import (
    Source,
    WindowBatch,
    WindowedSeries,
    count_windows,
    read_windows,
)
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

INFERENCE_PORT = "worker.inference"
NSHOT_PORT = "worker.n_shots"
KNN_BLOCK = 1024  # windows per KNN query
RESULTS_PORT = "worker.results"
CONFIG_FIELD = "parameters.worker.config"
ENCODER_SEED = 0
FIT_SAMPLE = 4096  # reference windows used to fit channel scaling and biases
ENCODE_CHUNK = 512  # windows per encoder call while building the index

Emit = Callable[[str, str, str, Mapping[str, Any] | None], None]
# An n-shot file: (filename, path or a callable opening a binary stream, class label).
Shot = tuple[str, Source | Callable[[], Source], Any]


def alias_warning(model_type: str) -> str:
    return (
        f"model_type '{model_type}' is accepted as an alias of jobport's {REAL_ENCODER} encoder; "
        "predictions will not match the vendor's model, and any number of data_columns is accepted. "
        f"Set model_type to '{REAL_ENCODER}' to silence this warning."
    )


def n_neighbors_message(n_neighbors: int, n_windows: int, config: MachineStateConfig) -> str:
    rc = config.reader_config
    return (
        f"n_neighbors must be <= number of samples in index: n_neighbors={n_neighbors} but the "
        f"n-shot files give {n_windows} windows (window_size={rc.window_size}, "
        f"step_size={rc.step_size}). Lower classifier_config.n_neighbors, lower "
        "reader_config.step_size or window_size, or add longer n-shot files."
    )


class MachineStateModel:
    """Encoder, feature scaler and KNN index fitted on the n-shot windows."""

    def __init__(
        self,
        config: MachineStateConfig,
        encoder: Encoder,
        scaler: StandardScaler,
        knn: KNeighborsClassifier,
    ) -> None:
        self.config = config
        self.encoder = encoder
        self.scaler = scaler
        self.knn = knn

    @classmethod
    def build(
        cls, config: MachineStateConfig, shots: Sequence[Shot], emit: Emit | None = None
    ) -> MachineStateModel:
        """`shots`: (filename, path or stream opener, class label). Raises `LoadError`."""
        started = time.perf_counter()
        series, labels = _read_shots(config, shots)
        total = sum(s.n_windows for s in series)
        classes = Counter()
        for s, label in zip(series, labels, strict=False):
            classes[label] += s.n_windows
        if len(classes) < 2:
            raise LoadError(
                f"the n-shot files hold {len(classes)} class ({', '.join(classes) or 'none'}); at least "
                "2 distinct metadata.class values are needed to classify.",
                code="too_few_classes",
            )
        k = config.classifier_config.n_neighbors
        if total < k:
            raise LoadError(n_neighbors_message(k, total, config), code="too_few_samples")

        rng = np.random.default_rng(ENCODER_SEED)
        sample = np.sort(rng.choice(total, min(total, FIT_SAMPLE), replace=False))
        encoder = Encoder.fit(_gather(series, sample), seed=ENCODER_SEED)
        features = np.concatenate(
            [encoder.transform(b.windows) for s in series for b in s.batches(ENCODE_CHUNK)]
        )
        scaler = StandardScaler().fit(features)
        window_labels = np.concatenate([np.full(s.n_windows, label, dtype=object)
                                        for s, label in zip(series, labels, strict=False)])
        cc = config.classifier_config
        knn = KNeighborsClassifier(n_neighbors=k, metric=cc.metric, weights=cc.weights)
        model = cls(config, encoder, scaler, knn)
        knn.fit(model._embed_features(features), window_labels)
        if emit is not None:
            seconds = round(time.perf_counter() - started, 3)
            emit(
                "INFO",
                "index.built",
                f"Built the n-shot index: {total:,} windows from {len(shots)} files, "
                f"{len(classes)} classes, {encoder.dim} features in {seconds} s",
                {
                    "windows": total,
                    "files": len(shots),
                    "classes": dict(classes),
                    "feature_dim": encoder.dim,
                    "encoder": REAL_ENCODER,
                    "seconds": seconds,
                },
            )
        return model

    def _embed_features(self, features: np.ndarray) -> np.ndarray:
        x = self.scaler.transform(features).astype(np.float32, copy=False)
        if self.config.classifier_config.normalize_embeddings:
            x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return self.knn.predict(self._embed_features(self.encoder.transform(windows)))

    def predict_series(self, series: WindowedSeries) -> Iterator[tuple[WindowBatch, np.ndarray]]:
        """Encode `batch_size` windows at a time; query the KNN index in blocks of at least
        KNN_BLOCK windows (sklearn's fixed cost per query dominates small ones)."""
        batches: list[WindowBatch] = []
        features: list[np.ndarray] = []
        queued = 0
        for batch in series.batches(self.config.batch_size):
            batches.append(batch)
            features.append(self._embed_features(self.encoder.transform(batch.windows)))
            queued += len(batch.windows)
            if queued >= KNN_BLOCK:
                yield from self._classify(batches, features)
                batches, features, queued = [], [], 0
        if batches:
            yield from self._classify(batches, features)

    def _classify(self, batches: list[WindowBatch],
                  features: list[np.ndarray]) -> Iterator[tuple[WindowBatch, np.ndarray]]:
        labels = self.knn.predict(np.concatenate(features))
        offset = 0
        for batch in batches:
            yield batch, labels[offset : offset + len(batch.windows)]
            offset += len(batch.windows)


class MachineStateWorker:
    """Classifies inference CSVs with a model built once in `load`; reused across inputs and jobs."""

    def __init__(self, model: MachineStateModel) -> None:
        self.model: MachineStateModel | None = model

    def process(self, item: FileRef, sink: OutputSink, config: MachineStateConfig | None = None) -> ProcessResult:
        """`config` is the job's; it equals the one the model was built with (the whole config is
        the warm-worker key), so the model's own is used."""
        model = self.model
        if model is None:
            raise RuntimeError("worker is closed")
        config = model.config
        series = read_windows(item.path or item.open(), config.reader_config, name=item.filename)
        total = series.n_windows
        counts: Counter[str] = Counter()
        pending: list[tuple[WindowBatch, np.ndarray]] = []
        part, done = 0, 0
        for batch, labels in model.predict_series(series):
            pending.append((batch, labels))
            counts.update(labels.tolist())
            if len(pending) == config.flush_every_n_iteration or batch.start + len(labels) == total:
                rows = self._write_part(sink, item, part, pending)
                done += rows
                sink.event(
                    "INFO",
                    "inference.batch",
                    f"Batch {part} for {item.filename}: {rows:,} success",
                    {"part": part, "rows": rows, "windows_done": done, "windows_total": total},
                )
                sink.progress(
                    "inference",
                    f"{done:,}/{total:,} windows of {item.filename} classified",
                    items_processed=done,
                    items_total=total,
                )
                pending, part = [], part + 1
        return ProcessResult(
            items=total,
            summary={"windows": total, "parts": part, "predictions": dict(sorted(counts.items()))},
        )

    def _write_part(
        self, sink: OutputSink, item: FileRef, part: int, batches: list[tuple[WindowBatch, np.ndarray]]
    ) -> int:
        assert self.model is not None
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow([self.model.config.reader_config.timestamp_column, "Prediction"])
        rows = 0
        for batch, labels in batches:
            writer.writerows(zip(batch.timestamps.to_pylist(), labels.tolist(), strict=False))
            rows += len(labels)
        with sink.open_output(RESULTS_PORT, f"pred_{item.stem}_part_{part}.csv") as out:
            out.write(text.getvalue().encode("utf-8"))
        return rows

    def close(self) -> None:
        self.model = None


class MachineStatePipeline(PipelineBase):
    spec = PipelineSpec(
        key="machine-state-classification",
        version="1.1.1",
        name="Machine State Classification",
        description=(
            "Classifies every sliding window of multichannel sensor CSVs into the machine states "
            "given by labelled n-shot example files (encoder + k-nearest neighbours)."
        ),
        config_model=MachineStateConfig,
        inputs=[
            Port(INFERENCE_PORT, "Input files", "plain_file_list", "scatter", True, True),
            Port(NSHOT_PORT, "N-Shot example files", "n_shot_file_list", "replicate", True, False),
        ],
        outputs=[Port(RESULTS_PORT, "Machine-state classification results")],
        default_parallelism=1,
    )

    def load(
        self, config: MachineStateConfig, references: Sequence[FileRef], context: LoadContext
    ) -> MachineStateWorker:
        # The omega_* alias warning is recorded once, at job creation (config_warnings).
        shots = [
            (ref.filename, ref.path or ref.opener, ref.metadata.get("class"))
            for ref in references
            if ref.port_name == NSHOT_PORT
        ]
        return MachineStateWorker(MachineStateModel.build(config, shots, context.emit))

    def check_create(
        self, config: MachineStateConfig, inputs: Mapping[str, Sequence[FileFacts]]
    ) -> Iterator[CreateProblem]:
        shots = inputs.get(NSHOT_PORT, ())
        if not shots:
            return
        rc, k = config.reader_config, config.classifier_config.n_neighbors
        total, rows_known, classes = 0, True, set()
        for i, facts in enumerate(shots):
            label = facts.metadata.get("class")
            if label is None or str(label) == "":
                yield CreateProblem(
                    f"inputs.{NSHOT_PORT}[{i}].metadata.class",
                    f"n-shot file {facts.file_id} has no metadata.class label.",
                    "Give every n-shot file metadata {\"class\": \"<state name>\"}.",
                    code="missing_parameter",
                )
            else:
                classes.add(str(label))
            headers = facts.attributes.get("column_headers")
            if isinstance(headers, list):
                for key, col in [("timestamp_column", rc.timestamp_column)] + [
                    ("data_columns", c) for c in rc.data_columns
                ]:
                    if col not in headers:
                        yield CreateProblem(
                            f"{CONFIG_FIELD}.reader_config.{key}",
                            f"n-shot file {facts.file_id} has no column '{col}'; its columns: "
                            f"{', '.join(map(str, headers))}",
                            f"Set reader_config.{key} to columns present in every n-shot file.",
                        )
            rows = facts.attributes.get("num_rows")
            if not isinstance(rows, int):
                rows_known = False
                continue
            windows = count_windows(rows, rc.window_size, rc.step_size)
            if windows == 0:
                yield CreateProblem(
                    f"{CONFIG_FIELD}.reader_config.window_size",
                    f"n-shot file {facts.file_id} has {rows} rows, fewer than window_size={rc.window_size}.",
                    "Lower reader_config.window_size or use longer n-shot files.",
                )
            total += windows
        if len(classes) < 2:
            yield CreateProblem(
                f"inputs.{NSHOT_PORT}",
                f"the n-shot files hold {len(classes)} distinct class label(s); at least 2 are needed.",
                "Add n-shot files of at least one more machine state (metadata.class).",
            )
        if rows_known and total < k:
            yield CreateProblem(
                f"{CONFIG_FIELD}.classifier_config.n_neighbors",
                n_neighbors_message(k, total, config),
                f"Use n_neighbors <= {total}, a smaller step_size, or longer n-shot files.",
            )

    def config_warnings(self, config: MachineStateConfig) -> list[str]:
        return [alias_warning(config.model_type)] if config.is_alias else []


def _read_shots(config: MachineStateConfig, shots: Sequence[Shot]) -> tuple[list[WindowedSeries], list[str]]:
    series, labels = [], []
    for name, source, label in shots:
        if label is None or str(label) == "":
            raise LoadError(f"n-shot file {name} has no metadata.class label.", code="invalid_n_shot_file")
        try:
            series.append(read_windows(source() if callable(source) else source, config.reader_config, name))
        except InputError as exc:
            raise LoadError(f"n-shot file {exc.message}", code="invalid_n_shot_file") from None
        except OSError as exc:
            raise LoadError(f"n-shot file {name} could not be read: {exc}", code="invalid_n_shot_file") from exc
        labels.append(str(label))
    return series, labels


def _gather(series: Sequence[WindowedSeries], indices: np.ndarray) -> np.ndarray:
    """Windows at global `indices` (sorted) across the files, as one array."""
    bounds = np.cumsum([0] + [s.n_windows for s in series])
    parts = []
    for s, lo, hi in zip(series, bounds[:-1], bounds[1:], strict=False):
        local = indices[(indices >= lo) & (indices < hi)] - lo
        if len(local):
            parts.append(s.view[local])
    return np.concatenate(parts)
