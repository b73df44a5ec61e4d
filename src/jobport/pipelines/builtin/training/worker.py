"""The `tabular-training` worker: reads the training file (and the validation file, a reference
given at load), fits and measures the model, and writes everything to `worker.results`:
`model.onnx` (when skl2onnx converts it and the graph scores like the model), `model.skops`,
`metrics.json`, `confusion_matrix.csv` + `.png` (classification) and `feature_importances.csv`.
Progress: one entry per fold (k-fold), then the final fit and the export."""

from __future__ import annotations

import json
import time
from typing import Any

from jobport.pipelines.builtin.reports import confusion_csv, confusion_png
from jobport.pipelines.builtin.training.config import TrainingConfig
from jobport.pipelines.builtin.training.data import Design, check_trainable, design, read_table
from jobport.pipelines.builtin.training.export import (
    OnnxExportError,
    check_onnx,
    confusion,
    importances_csv,
    to_onnx,
    to_skops,
)
from jobport.pipelines.builtin.training.fit import Evaluation, evaluate, importances
from jobport.pipelines.sdk import FileRef, OutputSink, ProcessResult

RESULTS_PORT = "worker.results"


class TrainingWorker:
    def __init__(self, validation: FileRef | None) -> None:
        self.validation = validation

    def process(self, item: FileRef, sink: OutputSink, config: TrainingConfig) -> ProcessResult:  # type: ignore[override]
        started = time.perf_counter()
        train = design(read_table(item, config.max_rows), config, item.filename)
        check_trainable(train, config)
        if train.dropped:
            sink.event("WARN", "features.dropped", f"non-numeric feature(s) left out: {', '.join(train.dropped)}",
                       {"dropped": train.dropped})
        given = None
        if self.validation is not None:
            given = design(read_table(self.validation, config.max_rows), config, self.validation.filename,
                           features=train.features)

        def fold_done(done: int, folds: int, found: dict[str, Any]) -> None:
            headline = _headline(config, found)
            sink.progress("fold", f"fold {done} of {folds}: {headline}", done, folds, {"metrics": found})

        evaluation = evaluate(config, train, given, fold_done)
        sink.progress("fit", f"{evaluation.scheme}: {_headline(config, evaluation.metrics)}", 1, 1)
        report = self._write(evaluation, train, config, sink)
        report["seconds"] = round(time.perf_counter() - started, 3)
        with sink.open_output(RESULTS_PORT, "metrics.json") as out:
            out.write(json.dumps(report, indent=2, sort_keys=True).encode())
        sink.event("SUCCESS", "training.done", f"{type(evaluation.model).__name__} on {train.rows:,} rows: "
                   f"{_headline(config, evaluation.metrics)} (baseline {_headline(config, evaluation.baseline)})",
                   {"metrics": evaluation.metrics, "baseline": evaluation.baseline})
        return ProcessResult(items=train.rows, summary={"scheme": evaluation.scheme, **_scalars(evaluation.metrics)})

    def _write(self, evaluation: Evaluation, train: Design, config: TrainingConfig, sink: OutputSink
               ) -> dict[str, Any]:
        model, classify = evaluation.model, config.task == "classification"
        assert evaluation.x_eval is not None and evaluation.y_eval is not None
        report: dict[str, Any] = {
            "task": config.task, "label": config.label, "features": train.features, "dropped": train.dropped,
            "model": {"family": config.model.family, "estimator": type(model).__name__,
                      "params": config.model.params},
            "scheme": evaluation.scheme, "metrics": evaluation.metrics, "baseline": evaluation.baseline,
            "folds": evaluation.folds, "train_rows": train.rows, "seed": config.seed,
        }
        if classify:
            report["classes"] = [str(c) for c in getattr(model, "classes_", [])]
        try:
            graph = to_onnx(model, len(train.features), classify)
            report["onnx"] = check_onnx(graph, model, evaluation.x_eval, classify)
            with sink.open_output(RESULTS_PORT, "model.onnx") as out:
                out.write(graph)
        except OnnxExportError as err:
            report["onnx"] = {"error": str(err)}
            sink.event("WARN", "onnx.skipped", f"model.onnx not written: {err}", None)
        with sink.open_output(RESULTS_PORT, "model.skops") as out:
            out.write(to_skops(model))
        if classify:
            labels, matrix = confusion(model, evaluation.x_eval, evaluation.y_eval)
            with sink.open_output(RESULTS_PORT, "confusion_matrix.csv") as out:
                out.write(confusion_csv(labels, matrix))
            with sink.open_output(RESULTS_PORT, "confusion_matrix.png") as out:
                out.write(confusion_png(labels, matrix, f"{type(model).__name__} ({evaluation.scheme})"))
        pairs = importances(model, train.features, evaluation.x_eval, evaluation.y_eval, config.seed)
        report["feature_importances"] = dict(pairs)
        with sink.open_output(RESULTS_PORT, "feature_importances.csv") as out:
            out.write(importances_csv(pairs))
        return report

    def close(self) -> None:
        return None


def _scalars(found: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in found.items() if isinstance(v, int | float) or v is None}


def _headline(config: TrainingConfig, found: dict[str, Any]) -> str:
    if config.task == "classification":
        return f"accuracy {found['accuracy']:.3f}, macro-F1 {found['macro_f1']:.3f}"
    return f"RMSE {found['rmse']:.4g}, R² {found['r2']:.3f}"
