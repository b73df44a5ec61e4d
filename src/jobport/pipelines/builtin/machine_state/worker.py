"""The worker side of `machine-state-classification`: the n-shot model (encoder, feature scaler, KNN
index) and the worker that classifies inference CSVs with it.

Imported by `MachineStatePipeline.load` (and `direct.py`) only: numpy and scikit-learn come with
it, so a server or an idle worker that merely knows the pipeline's spec never loads them.
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
from jobport.pipelines.builtin.machine_state.pipeline import RESULTS_PORT, n_neighbors_message
from jobport.pipelines.builtin.machine_state.reader import Source, WindowBatch, WindowedSeries, read_windows
from jobport.pipelines.sdk import FileRef, InputError, LoadError, OutputSink, ProcessResult

KNN_BLOCK = 1024  # windows per KNN query
ENCODER_SEED = 0
FIT_SAMPLE = 4096  # reference windows used to fit channel scaling and biases
ENCODE_CHUNK = 512  # windows per encoder call while building the index

Emit = Callable[[str, str, str, Mapping[str, Any] | None], None]
# An n-shot file: (filename, path or a callable opening a binary stream, class label).
Shot = tuple[str, Source | Callable[[], Source], Any]


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
