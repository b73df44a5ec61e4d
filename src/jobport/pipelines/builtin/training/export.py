"""What a training job writes: the model as ONNX (skl2onnx; one float input `input` of width
n_features, classifier outputs `label` and `probabilities`, checked by scoring the measured rows
with onnxruntime) and as skops, the confusion matrix (`builtin.reports`), and the feature
importances as CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

ONNX_INPUT = "input"


class OnnxExportError(Exception):
    """The model cannot be exported to ONNX, or the exported graph does not score like it."""


def to_onnx(model: BaseEstimator, n_features: int, classify: bool) -> bytes:
    from skl2onnx import to_onnx as convert
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(model): {"zipmap": False}} if classify and hasattr(model, "predict_proba") else None
    try:
        graph = convert(model, initial_types=[(ONNX_INPUT, FloatTensorType([None, n_features]))], options=options)
    except Exception as err:  # skl2onnx raises many kinds for unsupported estimators or options
        raise OnnxExportError(f"skl2onnx cannot convert {type(model).__name__}: {err}") from None
    return bytes(graph.SerializeToString())


def check_onnx(data: bytes, model: BaseEstimator, x: np.ndarray, classify: bool) -> dict[str, Any]:
    """Score `x` with the ONNX graph and with the model: how often the labels agree
    (classification) or the largest difference (regression); `OnnxExportError` when they differ."""
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {ONNX_INPUT: x.astype(np.float32)})
    expected = model.predict(x)
    if classify:
        agreement = float(np.mean(np.asarray(outputs[0]).astype(str).ravel() == expected.astype(str)))
        if agreement < 0.99:
            raise OnnxExportError(f"the ONNX graph agrees with the model on {agreement:.1%} of the rows")
        return {"rows": int(len(x)), "label_agreement": agreement, "outputs": [o.name for o in session.get_outputs()]}
    difference = float(np.max(np.abs(np.asarray(outputs[0]).ravel() - expected))) if len(x) else 0.0
    scale = float(np.max(np.abs(expected))) if len(x) else 1.0
    if difference > 1e-3 * max(scale, 1.0):
        raise OnnxExportError(f"the ONNX graph differs from the model by up to {difference:g}")
    return {"rows": int(len(x)), "max_abs_difference": difference, "outputs": [o.name for o in session.get_outputs()]}


def to_skops(model: BaseEstimator) -> bytes:
    import skops.io as sio

    return bytes(sio.dumps(model))


def confusion(model: BaseEstimator, x: np.ndarray, y: np.ndarray) -> tuple[list[str], np.ndarray]:
    from sklearn.metrics import confusion_matrix

    labels = sorted(set(y.tolist()) | set(model.predict(x).tolist()))
    return labels, confusion_matrix(y, model.predict(x), labels=labels)


def importances_csv(pairs: list[tuple[str, float]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["feature", "importance"])
    writer.writerows(pairs)
    return out.getvalue().encode()
