"""Model runners: feature columns in, one column per declared output out.

- ONNX through onnxruntime (one session per warm worker; `intra_op_num_threads` from
  `OMP_NUM_THREADS`). A graph with one input gets an `[N, F]` matrix in feature order; a graph
  with one input per feature (same names) gets `[N, 1]` (or `[N]`) columns. Outputs are flattened
  in graph order: `[N]` and `[N, 1]` are one column, `[N, k]` is k.
- scikit-learn estimators saved with skops (never pickle). Only the types skops reports as
  untrusted that are also `sklearn.`/`numpy.`/`scipy.` types are trusted; any other type refuses
  the file. Outputs: `predict`, then the `predict_proba` columns when more outputs are declared.

Either way the flattened column count must equal the declared outputs (`LoadError` otherwise),
and each column is converted to its declared type.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from jobport.pipelines.builtin.tabular.config import FieldSpec
from jobport.pipelines.sdk import InputError, LoadError

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")
# ONNX tensor element types a feature column can be fed as.
_ONNX_DTYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}


class ModelRunner(Protocol):
    kind: str

    def predict(self, features: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One array per declared output, in the declared order, as long as the feature columns."""
        ...


def load_model(
    model: str | bytes, filename: str, features: Sequence[FieldSpec], outputs: Sequence[FieldSpec]
) -> ModelRunner:
    """`model`: a local path or the file's bytes; the kind comes from the file name (`.onnx` or
    `.skops`), else from the content (skops files are zip archives)."""
    suffix = Path(filename).suffix.lower()
    if suffix not in (".onnx", ".skops"):
        if filename.lower().endswith((".pkl", ".pickle", ".joblib")):
            raise LoadError(
                f"model file {filename} looks like a pickle; pickles can run arbitrary code and are refused. "
                "Save scikit-learn models with skops (skops.io.dump) or export them to ONNX.",
                code="invalid_model_file",
            )
        suffix = ".skops" if _head(model).startswith(b"PK") else ".onnx"
    if suffix == ".skops":
        return SkopsRunner(model, filename, features, outputs)
    return OnnxRunner(model, filename, features, outputs)


def _head(model: str | bytes) -> bytes:
    if isinstance(model, bytes):
        return model[:4]
    with open(model, "rb") as handle:
        return handle.read(4)


def _scrubbed(err: Exception, model: str | bytes, filename: str) -> str:
    """The runtime's error text without the server's path of the file (users see it in job errors)."""
    text = str(err)
    if isinstance(model, str):
        text = text.replace(model, filename).replace(str(Path(model).parent), "")
    return text


def _threads() -> int:
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "0")))
    except ValueError:
        return 0


def convert_output(values: np.ndarray, spec: FieldSpec) -> np.ndarray:
    """A model output column as its declared type (`InputError` if it cannot be)."""
    kind = values.dtype.kind
    if spec.type == "string":
        if values.dtype == object:
            return values
        return values.astype(str).astype(object)
    if kind in "OUS":
        raise InputError(f"model output '{spec.name}' is text but is declared as {spec.type}", code="output_type")
    if spec.type == "number":
        return values if kind == "f" else values.astype(np.float64)
    if spec.type == "boolean":
        return values.astype(np.bool_)
    if kind == "f" and not np.all(np.isfinite(values) & (values == np.floor(values))):
        raise InputError(
            f"model output '{spec.name}' has fractional values but is declared as integer", code="output_type"
        )
    return values.astype(np.int64)


class OnnxRunner:
    kind = "onnx"

    def __init__(
        self, model: str | bytes, filename: str, features: Sequence[FieldSpec], outputs: Sequence[FieldSpec]
    ) -> None:
        import onnxruntime as ort  # heavy import, only for workers that run an ONNX model

        options = ort.SessionOptions()
        options.intra_op_num_threads = _threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own pybind exception types
            raise LoadError(
                f"model file {filename} is not a loadable ONNX model: {_scrubbed(err, model, filename)}",
                code="invalid_model_file",
            ) from None
        self.features = list(features)
        self.outputs = list(outputs)
        self._plan_inputs(filename)
        self._plan_outputs(filename)

    def _plan_inputs(self, filename: str) -> None:
        inputs = self.session.get_inputs()
        names = [f.name for f in self.features]
        for node in inputs:
            if node.type not in _ONNX_DTYPES:
                raise LoadError(
                    f"model input '{node.name}' has type {node.type}, which jobport cannot feed",
                    code="invalid_model_file",
                )
        # (name, dtype) of a single [N, F] input, or (feature, dtype, rank) of one input per feature
        self.matrix_input: tuple[str, Any] | None = None
        self.column_inputs: list[tuple[str, Any, int]] = []
        by_name = {node.name: node for node in inputs}
        if len(inputs) == 1 and len(inputs[0].shape) == 2:
            node = inputs[0]
            if isinstance(node.shape[1], int) and node.shape[1] != len(names):
                raise LoadError(
                    f"model input '{node.name}' has shape {node.shape}; the config declares {len(names)} features, "
                    f"so it must be [N, {len(names)}]",
                    code="model_config_mismatch",
                )
            for spec in self.features:
                _check_feedable(spec, node.name, node.type)
            self.matrix_input = (node.name, _ONNX_DTYPES[node.type])
        elif set(by_name) == set(names):
            for spec in self.features:
                node = by_name[spec.name]
                _check_feedable(spec, node.name, node.type)
                self.column_inputs.append((spec.name, _ONNX_DTYPES[node.type], len(node.shape)))
        else:
            raise LoadError(
                f"model inputs ({', '.join(by_name)}) are neither one [N, {len(names)}] matrix nor one input per "
                f"feature ({', '.join(names)})",
                code="model_config_mismatch",
            )

    def _plan_outputs(self, filename: str) -> None:
        widths: list[int | None] = []
        for node in self.session.get_outputs():
            if not node.type.startswith("tensor("):
                raise LoadError(
                    f"model output '{node.name}' is a {node.type}, not a tensor (a scikit-learn classifier exported "
                    "with ZipMap?); export it with options {'zipmap': False}",
                    code="invalid_model_file",
                )
            if len(node.shape) not in (1, 2):
                raise LoadError(
                    f"model output '{node.name}' has shape {node.shape}; only [N] and [N, k] are supported",
                    code="invalid_model_file",
                )
            widths.append(1 if len(node.shape) == 1 else (node.shape[1] if isinstance(node.shape[1], int) else None))
        if None in widths:
            # Symbolic widths: count the columns of one prediction on a neutral row. A model that
            # rejects that row is checked on its first chunk instead (`predict`).
            try:
                widths = [1 if a.ndim == 1 else a.shape[1] for a in self._run(self._probe())]
            except InputError:
                return
        self._check_width(sum(widths))  # type: ignore[arg-type]

    def _check_width(self, count: int) -> None:
        if count != len(self.outputs):
            raise LoadError(
                f"the model gives {count} output columns but the config declares {len(self.outputs)} outputs "
                f"({', '.join(o.name for o in self.outputs)})",
                code="model_config_mismatch",
            )

    def _probe(self) -> dict[str, np.ndarray]:
        neutral = {"string": "", "boolean": False}
        return {
            spec.name: np.array([neutral.get(spec.type, 0)], dtype=object if spec.type == "string" else None)
            for spec in self.features
        }

    def _feed(self, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.matrix_input is not None:
            name, dtype = self.matrix_input
            return {name: np.column_stack([features[f.name].astype(dtype, copy=False) for f in self.features])}
        feed = {}
        for name, dtype, rank in self.column_inputs:
            column = features[name].astype(dtype, copy=False)
            feed[name] = column.reshape(-1, 1) if rank == 2 else column
        return feed

    def _run(self, features: dict[str, np.ndarray]) -> list[np.ndarray]:
        try:
            return self.session.run(None, self._feed(features))
        except Exception as err:  # onnxruntime raises its own pybind exception types
            raise InputError(f"the model failed on these records: {err}", code="model_error") from None

    def predict(self, features: dict[str, np.ndarray]) -> list[np.ndarray]:
        columns: list[np.ndarray] = []
        for array in self._run(features):
            if array.ndim == 1:
                columns.append(array)
            else:
                columns.extend(array[:, k] for k in range(array.shape[1]))
        if len(columns) != len(self.outputs):
            raise InputError(
                f"the model gave {len(columns)} output columns; the config declares {len(self.outputs)}",
                code="model_config_mismatch",
            )
        return [convert_output(np.asarray(c), spec) for c, spec in zip(columns, self.outputs, strict=False)]


def _check_feedable(spec: FieldSpec, input_name: str, onnx_type: str) -> None:
    text_input = onnx_type == "tensor(string)"
    if text_input != (spec.type == "string"):
        raise LoadError(
            f"feature '{spec.name}' is declared {spec.type} but model input '{input_name}' takes {onnx_type}",
            code="model_config_mismatch",
        )


class SkopsRunner:
    kind = "skops"

    def __init__(
        self, model: str | bytes, filename: str, features: Sequence[FieldSpec], outputs: Sequence[FieldSpec]
    ) -> None:
        import skops.io as sio  # only for workers that run a skops model

        source = {"file": model} if isinstance(model, str) else {"data": model}
        try:
            untrusted = sio.get_untrusted_types(**source)
        except Exception as err:  # a corrupt or foreign file: skops raises many kinds
            raise LoadError(f"model file {filename} is not a skops file: {_scrubbed(err, model, filename)}",
                            code="invalid_model_file") from None
        refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
        if refused:
            raise LoadError(
                f"model file {filename} holds type(s) outside scikit-learn, NumPy and SciPy: {', '.join(refused)}; "
                "such types can run arbitrary code and are not loaded",
                code="untrusted_model_type",
            )
        try:
            estimator = (
                sio.load(model, trusted=untrusted) if isinstance(model, str) else sio.loads(model, trusted=untrusted)
            )
        except Exception as err:  # skops raises many kinds
            raise LoadError(f"model file {filename} could not be loaded: {_scrubbed(err, model, filename)}",
                            code="invalid_model_file") from None
        self.estimator = estimator
        self.features = list(features)
        self.outputs = list(outputs)
        self._check(filename)

    def _check(self, filename: str) -> None:
        est = self.estimator
        if not hasattr(est, "predict"):
            raise LoadError(
                f"model in {filename} ({type(est).__name__}) has no predict method", code="invalid_model_file"
            )
        n_in = getattr(est, "n_features_in_", None)
        if isinstance(n_in, int) and n_in != len(self.features):
            raise LoadError(
                f"the model takes {n_in} features but the config declares {len(self.features)}",
                code="model_config_mismatch",
            )
        self.column_names = getattr(est, "feature_names_in_", None)
        if self.column_names is not None and list(self.column_names) != [f.name for f in self.features]:
            raise LoadError(
                f"the model was trained on columns {', '.join(map(str, self.column_names))}; declare the features "
                "with those names, in that order",
                code="model_config_mismatch",
            )
        count = 1
        if len(self.outputs) > 1:
            if not hasattr(est, "predict_proba"):
                raise LoadError(
                    f"the config declares {len(self.outputs)} outputs but the model ({type(est).__name__}) has no "
                    "predict_proba: it gives 1 output column",
                    code="model_config_mismatch",
                )
            classes = getattr(est, "classes_", None)
            count = 1 + (len(classes) if classes is not None else len(self.outputs) - 1)
        if count != len(self.outputs):
            raise LoadError(
                f"the model gives {count} output columns (predict, then {count - 1} predict_proba columns) but the "
                f"config declares {len(self.outputs)} outputs",
                code="model_config_mismatch",
            )

    def _matrix(self, features: dict[str, np.ndarray]) -> Any:
        columns = [features[f.name] for f in self.features]
        if self.column_names is not None:
            import pandas as pd  # only estimators fitted on a DataFrame need one

            return pd.DataFrame({f.name: c for f, c in zip(self.features, columns, strict=False)})
        if all(f.type != "string" for f in self.features):
            return np.column_stack([c.astype(np.float64, copy=False) for c in columns])
        return np.column_stack(columns).astype(object)

    def predict(self, features: dict[str, np.ndarray]) -> list[np.ndarray]:
        X = self._matrix(features)
        try:
            columns = [np.asarray(self.estimator.predict(X))]
            if len(self.outputs) > 1:
                proba = np.asarray(self.estimator.predict_proba(X))
                columns.extend(proba[:, k] for k in range(proba.shape[1]))
        except Exception as err:  # estimators raise ValueError, TypeError, ...
            raise InputError(f"the model failed on these records: {err}", code="model_error") from None
        return [convert_output(c, spec) for c, spec in zip(columns, self.outputs, strict=False)]
