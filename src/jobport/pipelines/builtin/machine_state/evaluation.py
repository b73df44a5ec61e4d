"""The worker side of `machine-state-evaluation`: how well the encoder + KNN of
`machine-state-classification` recognises each labelled recording when it has not seen it.

- **Leave one recording out**: for each recording, the model is fitted on all the others and
  classifies its windows; a recording's prediction is the majority of its windows' labels.
- **Leave one condition out** (when every recording has `metadata.condition`): the model is fitted
  on the other conditions, so the figure says what a new condition (another machine, another load)
  would see; the vendor warns of a 20–45 point drop from the within-condition figure.
- **Grid**: `window_sizes` × `n_neighbors` × `metrics`, each measured by grouped k-fold (a
  recording's windows never sit on both sides); the encoder is fitted once per window size and
  fold, every (n_neighbors, metric) reuses its features. The best mean window accuracy is the
  recommendation (ties: the smaller window, then fewer neighbours).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from jobport.pipelines.builtin.machine_state.config import count_windows
from jobport.pipelines.builtin.machine_state.encoder import Encoder
from jobport.pipelines.builtin.machine_state.evaluation_config import EvaluationConfig
from jobport.pipelines.builtin.machine_state.reader import WindowedSeries, read_windows
from jobport.pipelines.builtin.machine_state.worker import ENCODE_CHUNK, ENCODER_SEED, FIT_SAMPLE, _gather
from jobport.pipelines.builtin.reports import confusion_csv, confusion_png
from jobport.pipelines.sdk import FileRef, InputError, LoadError, OutputSink, ProcessResult

RESULTS_PORT = "worker.results"
Progress = Callable[[str, str, int, int], None]


@dataclass
class Recording:
    name: str
    label: str
    condition: str | None
    series: WindowedSeries

    def at(self, window_size: int, step_size: int) -> WindowedSeries:
        return WindowedSeries(self.series.values, self.series.timestamps, window_size, step_size)


def read_recordings(config: EvaluationConfig, refs: Sequence[FileRef]) -> list[Recording]:
    recordings = []
    for ref in refs:
        label = ref.metadata.get("class")
        if label is None or str(label) == "":
            raise LoadError(f"recording {ref.filename} has no metadata.class label", code="invalid_n_shot_file")
        try:
            series = read_windows(ref.path or ref.open(), config.reader_config, ref.filename)
        except InputError as err:
            raise LoadError(f"recording {err.message}", code="invalid_n_shot_file") from None
        condition = ref.metadata.get("condition")
        recordings.append(Recording(ref.filename, str(label), None if condition is None else str(condition), series))
    if len({r.label for r in recordings}) < 2:
        raise LoadError("the recordings hold fewer than 2 classes; evaluation needs at least 2",
                        code="too_few_classes")
    return recordings


class Embedder:
    """Encoder + feature scaler fitted on some recordings' windows, at one window size."""

    def __init__(self, train: Sequence[WindowedSeries], normalize: bool) -> None:
        total = sum(s.n_windows for s in train)
        rng = np.random.default_rng(ENCODER_SEED)
        sample = np.sort(rng.choice(total, min(total, FIT_SAMPLE), replace=False))
        self.encoder = Encoder.fit(_gather(train, sample), seed=ENCODER_SEED)
        self.scaler = StandardScaler().fit(np.concatenate([self._raw(s) for s in train]))
        self.normalize = normalize

    def _raw(self, series: WindowedSeries) -> np.ndarray:
        return np.concatenate([self.encoder.transform(b.windows) for b in series.batches(ENCODE_CHUNK)])

    def embed(self, series: WindowedSeries) -> np.ndarray:
        x = self.scaler.transform(self._raw(series)).astype(np.float32, copy=False)
        if self.normalize:
            x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x


def _classify(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, n_neighbors: int, metric: str,
              weights: str) -> np.ndarray:
    knn = KNeighborsClassifier(n_neighbors=min(n_neighbors, len(train_y)), metric=metric, weights=weights)
    return knn.fit(train_x, train_y).predict(test_x)


def held_out(config: EvaluationConfig, recordings: list[Recording], groups: list[list[int]],
             progress: Progress, step: str) -> list[tuple[Recording, np.ndarray]]:
    """For each group of recording indices: fit on the rest, predict the group's windows."""
    cc = config.classifier_config
    predicted: list[tuple[Recording, np.ndarray]] = []
    for done, group in enumerate(groups, start=1):
        train = [r for i, r in enumerate(recordings) if i not in group]
        if len({r.label for r in train}) < 2:
            raise InputError(f"{step}: leaving out {', '.join(recordings[i].name for i in group)} leaves fewer "
                             "than 2 classes to fit on; add recordings", code="too_few_classes")
        embedder = Embedder([r.series for r in train], cc.normalize_embeddings)
        train_x = np.concatenate([embedder.embed(r.series) for r in train])
        train_y = np.concatenate([np.full(r.series.n_windows, r.label, dtype=object) for r in train])
        for i in group:
            labels = _classify(train_x, train_y, embedder.embed(recordings[i].series), cc.n_neighbors, cc.metric,
                               cc.weights)
            predicted.append((recordings[i], labels))
        progress(step, f"{step}: {done} of {len(groups)} held out", done, len(groups))
    return predicted


def summarise(predicted: list[tuple[Recording, np.ndarray]]) -> dict[str, Any]:
    """Window and recording (majority vote) accuracy, overall and per class."""
    windows = sum(len(p) for _, p in predicted)
    right = sum(int(np.sum(p == r.label)) for r, p in predicted)
    votes = [(r, Counter(p.tolist()).most_common(1)[0][0]) for r, p in predicted]
    per_class: dict[str, dict[str, float]] = {}
    for label in sorted({r.label for r, _ in predicted}):
        mine = [(r, p) for r, p in predicted if r.label == label]
        per_class[label] = {
            "recordings": len(mine),
            "recording_accuracy": sum(v == label for r, v in votes if r.label == label) / len(mine),
            "window_accuracy": sum(int(np.sum(p == label)) for _, p in mine) / max(1, sum(len(p) for _, p in mine)),
        }
    return {"window_accuracy": right / max(1, windows),
            "recording_accuracy": sum(r.label == v for r, v in votes) / len(votes),
            "per_class": per_class, "recordings": len(votes), "windows": windows}


def grid(config: EvaluationConfig, recordings: list[Recording], progress: Progress) -> list[dict[str, Any]]:
    """Mean window accuracy of every grid cell over grouped folds (see the module docstring)."""
    search = config.search
    assert search is not None
    rc, cc = config.reader_config, config.classifier_config
    shortest = min(len(r.series.values) for r in recordings)
    sizes = [w for w in search.sizes(rc.window_size) if count_windows(shortest, w, 1) > 0]
    folds = min(search.folds, len(recordings))
    splitter = GroupKFold(n_splits=folds)
    index = np.arange(len(recordings))
    cells: dict[tuple[int, int, str], list[float]] = {}
    done = 0
    for size in sizes:
        step = max(1, round(size * rc.step_size / rc.window_size))
        series = [r.at(size, step) for r in recordings]
        labels = [r.label for r in recordings]
        for fit_idx, test_idx in splitter.split(index, groups=index):
            embedder = Embedder([series[i] for i in fit_idx], cc.normalize_embeddings)
            train_x = np.concatenate([embedder.embed(series[i]) for i in fit_idx])
            train_y = np.concatenate([np.full(series[i].n_windows, labels[i], dtype=object) for i in fit_idx])
            test_x = np.concatenate([embedder.embed(series[i]) for i in test_idx])
            test_y = np.concatenate([np.full(series[i].n_windows, labels[i], dtype=object) for i in test_idx])
            for k in search.n_neighbors:
                for metric in search.metrics:
                    guess = _classify(train_x, train_y, test_x, k, metric, cc.weights)
                    cells.setdefault((size, k, metric), []).append(float(np.mean(guess == test_y)))
            done += 1
            progress("grid", f"grid: window_size {size}, fold {done % folds or folds} of {folds}", done,
                     len(sizes) * folds)
    return [{"window_size": size, "step_size": max(1, round(size * rc.step_size / rc.window_size)),
             "n_neighbors": k, "metric": metric, "window_accuracy": float(np.mean(scores))}
            for (size, k, metric), scores in cells.items()]


def best(cells: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not cells:
        return None
    return min(cells, key=lambda c: (-round(c["window_accuracy"], 6), c["window_size"], c["n_neighbors"]))


class EvaluationWorker:
    def __init__(self, refs: Sequence[FileRef]) -> None:
        self.refs = list(refs)

    def process(self, item: FileRef, sink: OutputSink, config: EvaluationConfig) -> ProcessResult:  # type: ignore[override]
        recordings = read_recordings(config, self.refs)

        def progress(step: str, message: str, done: int, total: int) -> None:
            sink.progress(step, message, done, total)

        loro = held_out(config, recordings, [[i] for i in range(len(recordings))], progress, "leave_one_recording_out")
        report: dict[str, Any] = {"leave_one_recording_out": summarise(loro), "config": config.model_dump(mode="json")}
        conditions = sorted({r.condition for r in recordings if r.condition is not None})
        if len(conditions) >= 2 and all(r.condition is not None for r in recordings):
            groups = [[i for i, r in enumerate(recordings) if r.condition == c] for c in conditions]
            loco = held_out(config, recordings, groups, progress, "leave_one_condition_out")
            report["leave_one_condition_out"] = {
                **summarise(loco), "per_condition": {c: summarise([(r, p) for r, p in loco if r.condition == c])
                                                     ["window_accuracy"] for c in conditions}}
        if config.search is not None:
            cells = grid(config, recordings, progress)
            report["grid"] = cells
            report["recommended"] = best(cells)
        self._write(sink, report, loro)
        headline = report["leave_one_recording_out"]
        sink.event("SUCCESS", "evaluation.done", f"{len(recordings)} recordings: recording accuracy "
                   f"{headline['recording_accuracy']:.3f}, window accuracy {headline['window_accuracy']:.3f}",
                   {"recommended": report.get("recommended")})
        return ProcessResult(items=len(recordings), summary={"recording_accuracy": headline["recording_accuracy"]})

    def _write(self, sink: OutputSink, report: dict[str, Any], loro: list[tuple[Recording, np.ndarray]]) -> None:
        with sink.open_output(RESULTS_PORT, "evaluation.json") as out:
            out.write(json.dumps(report, indent=2, sort_keys=True).encode())
        labels = sorted({r.label for r, _ in loro} | {Counter(p.tolist()).most_common(1)[0][0] for _, p in loro})
        matrix = np.zeros((len(labels), len(labels)), dtype=int)
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["recording", "class", "condition", "predicted", "window_accuracy"])
        for recording, predicted in loro:
            vote = Counter(predicted.tolist()).most_common(1)[0][0]
            matrix[labels.index(recording.label), labels.index(vote)] += 1
            writer.writerow([recording.name, recording.label, recording.condition or "", vote,
                             round(float(np.mean(predicted == recording.label)), 4)])
        with sink.open_output(RESULTS_PORT, "per_recording.csv") as out:
            out.write(text.getvalue().encode())
        with sink.open_output(RESULTS_PORT, "confusion_matrix.csv") as out:
            out.write(confusion_csv(labels, matrix))
        with sink.open_output(RESULTS_PORT, "confusion_matrix.png") as out:
            out.write(confusion_png(labels, matrix, "leave one recording out (recordings)"))

    def close(self) -> None:
        return None
