"""Classify CSVs in one process without the engine: the baseline the server is benchmarked against.

Uses the same `MachineStateModel` (reader, encoder, scaler, KNN) as the pipeline's worker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from jobport.pipelines.builtin.machine_state.config import MachineStateConfig
from jobport.pipelines.builtin.machine_state.reader import read_windows
from jobport.pipelines.builtin.machine_state.worker import MachineStateModel

PathLabel = tuple[str | PathLike[str], str]


def build_model(
    config: MachineStateConfig | Mapping[str, Any], nshot_paths_with_labels: Sequence[PathLabel]
) -> MachineStateModel:
    """Fit the n-shot index once (raises `LoadError` like the pipeline's `load`)."""
    cfg = config if isinstance(config, MachineStateConfig) else MachineStateConfig.model_validate(config)
    return MachineStateModel.build(cfg, [(Path(p).name, str(p), label) for p, label in nshot_paths_with_labels])


def predict_csv(model: MachineStateModel, inference_path: str | PathLike[str]) -> np.ndarray:
    """One predicted label per window of the CSV (raises `InputError` like the worker)."""
    series = read_windows(str(inference_path), model.config.reader_config, Path(inference_path).name)
    parts = [labels for _, labels in model.predict_series(series)]
    return np.concatenate(parts)


def classify_csv_direct(
    config: MachineStateConfig | Mapping[str, Any],
    nshot_paths_with_labels: Sequence[PathLabel],
    inference_path: str | PathLike[str],
) -> np.ndarray:
    return predict_csv(build_model(config, nshot_paths_with_labels), inference_path)
