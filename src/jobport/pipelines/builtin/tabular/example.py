"""A real example model for demos, tests and benchmarks, built without any download.

`build_example_model` trains StandardScaler + LogisticRegression on the Iris data bundled with
scikit-learn and exports it to ONNX with skl2onnx (`zipmap=False`: a `label` tensor and an
`[N, 3]` probabilities tensor, flattened to four declared outputs). `write_iris_csv` writes an
iris-like CSV of any size quickly; `direct_predict_csv` is the baseline the worker is measured
against: pyarrow reads the same CSV in the same chunk size and onnxruntime scores it, no mapping,
no output. numpy, pyarrow, scikit-learn, skl2onnx and onnxruntime are imported by the functions
that use them: the tabular package imports this module, and a server or an idle worker must not
carry them.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CLASSES = ["setosa", "versicolor", "virginica"]
OUTPUTS = ["label", *(f"probability_{c}" for c in CLASSES)]
MODEL_FILENAME = "iris_logreg.onnx"
SEED = 0


@dataclass(frozen=True)
class ExampleModel:
    path: Path
    features: list[dict[str, str]]
    outputs: list[dict[str, str]]
    config: dict[str, Any]  # a complete `tabular-model` config for CSV files with a header
    sha256: str


def train_iris_classifier() -> Any:
    """The scikit-learn pipeline behind the example model (deterministic)."""
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    iris = load_iris()
    labels = np.array(CLASSES, dtype=object)[iris.target]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED))
    return model.fit(iris.data.astype(np.float32), labels)


def export_onnx() -> bytes:
    """The trained example model as ONNX bytes (`zipmap=False`)."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    model = train_iris_classifier()
    onnx_model = to_onnx(
        model,
        initial_types=[("input", FloatTensorType([None, len(FEATURES)]))],
        options={id(model): {"zipmap": False}},
    )
    return onnx_model.SerializeToString()


def build_example_model(dest_dir: Path, *, isolated: bool = False) -> ExampleModel:
    """Train and export the Iris classifier to `dest_dir/iris_logreg.onnx`. `isolated` trains and
    exports in a child Python process, so that this one never imports scikit-learn, skl2onnx and
    onnx (the server registering the example app would keep ~200 MB of them for its lifetime)."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / MODEL_FILENAME
    if isolated:
        _export_in_child(path)
        data = path.read_bytes()
    else:
        data = export_onnx()
        path.write_bytes(data)
    features = [{"name": name, "type": "number"} for name in FEATURES]
    outputs = [{"name": "label", "type": "string"}] + [{"name": name, "type": "number"} for name in OUTPUTS[1:]]
    config = {"mime_type": "text/csv; header=present", "features": features, "outputs": outputs}
    return ExampleModel(path, features, outputs, config, hashlib.sha256(data).hexdigest())


def _export_in_child(path: Path, timeout: float = 300.0) -> None:
    code = ("import sys, pathlib; "
            f"from {__name__} import export_onnx; pathlib.Path(sys.argv[1]).write_bytes(export_onnx())")
    try:
        subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, timeout=timeout)
    except subprocess.CalledProcessError as err:
        tail = err.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"building the example model failed (exit {err.returncode}):\n{tail}") from None


def iris_rows(rows: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """`rows` iris-like measurements [rows, 4] (one decimal, like the real data) and their species:
    each species' real rows resampled with a little noise."""
    import numpy as np
    from sklearn.datasets import load_iris

    iris = load_iris()
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(iris.target), rows)
    values = iris.data[picks] + rng.normal(0.0, 0.1, (rows, len(FEATURES)))
    return np.round(np.clip(values, 0.1, None), 1), np.array(CLASSES, dtype=object)[iris.target[picks]]


def write_iris_csv(path: Path, rows: int, seed: int = SEED, with_species: bool = True, block: int = 200_000) -> Path:
    """An iris-like CSV with a header (`sepal_length,...,petal_width[,species]`), written in blocks."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = Path(path)
    columns = [*FEATURES, "species"] if with_species else FEATURES
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with pa.OSFile(str(path), "wb") as out:
        out.write((",".join(columns) + "\n").encode())
        for start in range(0, rows, block):
            values, species = iris_rows(min(block, rows - start), seed + start)
            arrays = [pa.array(values[:, j]) for j in range(len(FEATURES))]
            if with_species:
                arrays.append(pa.array(species, type=pa.string()))
            pacsv.write_csv(pa.table(arrays, names=columns), out, write_options=options)
    return path


def direct_predict_csv(model_path: Path, csv_path: Path, chunk_rows: int = 10_000) -> tuple[int, float]:
    """Score the CSV's feature columns straight through onnxruntime: (rows, seconds)."""
    import onnxruntime as ort
    import pyarrow as pa
    import pyarrow.csv as pacsv

    started = time.perf_counter()
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    reader = pacsv.open_csv(
        str(csv_path),
        read_options=pacsv.ReadOptions(block_size=1 << 20),
        convert_options=pacsv.ConvertOptions(
            include_columns=FEATURES, column_types={name: pa.float64() for name in FEATURES}
        ),
    )
    rows = 0
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in reader:
        pending.append(batch)
        pending_rows += batch.num_rows
        while pending_rows >= chunk_rows:
            table = pa.Table.from_batches(pending)
            rows += _score(session, input_name, table.slice(0, chunk_rows))
            rest = table.slice(chunk_rows)
            pending, pending_rows = rest.to_batches(), rest.num_rows
    if pending_rows:
        rows += _score(session, input_name, pa.Table.from_batches(pending))
    return rows, time.perf_counter() - started


def _score(session: Any, input_name: str, table: pa.Table) -> int:
    import numpy as np

    matrix = np.column_stack([table.column(name).to_numpy().astype(np.float32) for name in FEATURES])
    session.run(None, {input_name: matrix})
    return table.num_rows
