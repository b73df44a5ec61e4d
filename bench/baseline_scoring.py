"""The work of one task in the Celery and Dramatiq baselines: score one Iris record with the example
ONNX model (`BENCH_MODEL_PATH`, loaded once per worker process, one thread) and return the record
with its label and class probabilities, as jobport's record-mode job of the example app does."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
OUTPUTS = ("label", "probability_setosa", "probability_versicolor", "probability_virginica")

_session: Any = None


def _model() -> Any:
    global _session
    if _session is None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        _session = ort.InferenceSession(os.environ["BENCH_MODEL_PATH"], options, providers=["CPUExecutionProvider"])
    return _session


def score(record: dict) -> dict:
    session = _model()
    x = np.array([[float(record[f]) for f in FEATURES]], dtype=np.float32)
    label, proba = session.run(None, {session.get_inputs()[0].name: x})
    return {**record, **dict(zip(OUTPUTS, [str(label[0]), *map(float, proba[0])], strict=False))}
