"""Model runners: an ONNX graph with one input per feature (every feature type, defaults of each
type), output-count and type mismatches, ZipMap, scikit-learn models through skops (and skops
files holding types outside the allowlist), pickles refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
import skops.io as sio
from onnx import TensorProto as T
from onnx import helper
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from fakes import FakeSink, file_ref
from jobport.pipelines.builtin.tabular import TabularModelConfig, TabularModelPipeline
from jobport.pipelines.builtin.tabular.example import FEATURES
from jobport.pipelines.sdk import InputError, LoadContext, LoadError

DATA, MODEL, RESULT = "worker.data", "worker.model", "worker.result"
TYPED_FEATURES = [
    {"name": "a", "type": "number"},
    {"name": "n", "type": "integer"},
    {"name": "s", "type": "string"},
    {"name": "flag", "type": "boolean"},
]
TYPED_OUTPUTS = [
    {"name": "sum", "type": "number"},
    {"name": "both_0", "type": "number"},
    {"name": "both_1", "type": "number"},
    {"name": "echo", "type": "string"},
    {"name": "flag_f", "type": "number"},
]


def typed_graph(path: Path, both_width: int | None = 2) -> Path:
    """Inputs a (float), n (int64), s (string), flag (bool), each [N, 1]; outputs sum = a + n,
    both = [a, 2a] ([N, 2], or [N, ?] with `both_width=None`), echo = s, flag_f = float(flag)."""
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["n"], ["n_f"], to=T.FLOAT),
            helper.make_node("Add", ["a", "n_f"], ["sum"]),
            helper.make_node("Add", ["a", "a"], ["a2"]),
            helper.make_node("Concat", ["a", "a2"], ["both"], axis=1),
            helper.make_node("Identity", ["s"], ["echo"]),
            helper.make_node("Cast", ["flag"], ["flag_f"], to=T.FLOAT),
        ],
        "typed",
        [
            helper.make_tensor_value_info(name, kind, [None, 1])
            for name, kind in (("a", T.FLOAT), ("n", T.INT64), ("s", T.STRING), ("flag", T.BOOL))
        ],
        [
            helper.make_tensor_value_info("sum", T.FLOAT, [None, 1]),
            helper.make_tensor_value_info("both", T.FLOAT, [None, both_width]),
            helper.make_tensor_value_info("echo", T.STRING, [None, 1]),
            helper.make_tensor_value_info("flag_f", T.FLOAT, [None, 1]),
        ],
    )
    path.write_bytes(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10).SerializeToString()
    )
    return path


def load(model_path: Path, **config):
    cfg = TabularModelConfig.model_validate(config)
    return TabularModelPipeline().load(cfg, [file_ref(model_path, MODEL)], LoadContext()), cfg


def process(worker, cfg, tmp_path: Path, content: bytes, filename: str):
    path = tmp_path / filename
    path.write_bytes(content)
    sink = FakeSink()
    result = worker.process(file_ref(path, DATA), sink, cfg)
    (data,) = sink.outputs.values()
    return result, data.decode()


def test_one_input_per_feature_with_every_type_and_defaults(tmp_path):
    worker, cfg = load(
        typed_graph(tmp_path / "typed.onnx"),
        mime_type="application/x-ndjson",
        features=TYPED_FEATURES,
        outputs=TYPED_OUTPUTS,
        mapping=[
            {"source": "a", "destination": "a", "defaultValue": 0.5},
            {"source": "n", "destination": "n", "defaultValue": "4"},
            {"source": "s", "destination": "s", "defaultValue": "none"},
            {"source": "flag", "destination": "flag", "defaultValue": True},
        ],
    )
    lines = [
        {"a": 1.5, "n": 2, "s": "x", "flag": False},
        {"a": "", "n": None, "flag": "0"},
        {"n": 3.0, "s": 7, "flag": 1},
    ]
    result, out = process(worker, cfg, tmp_path, b"\n".join(orjson.dumps(line) for line in lines), "t.jsonl")
    rows = [orjson.loads(line) for line in out.splitlines()]
    assert result.items == 3
    assert [(r["sum"], r["both_0"], r["both_1"], r["echo"], r["flag_f"]) for r in rows] == [
        (3.5, 1.5, 3.0, "x", 0.0),
        (4.5, 0.5, 1.0, "none", 0.0),
        (3.5, 0.5, 1.0, "7", 1.0),
    ]


def test_typed_features_from_csv_columns(tmp_path):
    worker, cfg = load(
        typed_graph(tmp_path / "typed.onnx"),
        features=TYPED_FEATURES,
        outputs=TYPED_OUTPUTS,
        mapping=[{"source": "flag", "destination": "flag", "defaultValue": "false"}],
    )
    result, out = process(worker, cfg, tmp_path, b"a,n,s,flag\n1.5,2,x,TRUE\n-1, 3e1 ,y z,\n", "t.csv")
    assert out.splitlines()[1:] == ["1.5,2,x,TRUE,3.5,1.5,3,x,1", "-1, 3e1 ,y z,,29,-1,-2,y z,0"]


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        (b"a,n,s,flag\n1,2.5,x,true\n", "line 2: column 'n': '2.5' is not an integer"),
        (b"a,n,s,flag\n1,2,x,true\n1,2,x,yes\n", "line 3: column 'flag': 'yes' is not a boolean (true/false)"),
        (b"a,n,s,flag\n1,2,x,true\n1,2,,true\n", "line 3: column 's' is missing or empty and has no default value"),
        (b'a,n,s,flag\n"1,5",2,x,true\n', "line 2: column 'a': '1,5' is not a number"),
    ],
)
def test_typed_csv_errors(tmp_path, csv, message):
    worker, cfg = load(typed_graph(tmp_path / "typed.onnx"), features=TYPED_FEATURES, outputs=TYPED_OUTPUTS)
    with pytest.raises(InputError) as info:
        process(worker, cfg, tmp_path, csv, "t.csv")
    assert info.value.message == message


def test_output_count_mismatch_says_both_numbers(tmp_path):
    with pytest.raises(LoadError, match=r"the model gives 5 output columns but the config declares 4 outputs"):
        load(typed_graph(tmp_path / "typed.onnx"), features=TYPED_FEATURES, outputs=TYPED_OUTPUTS[:4])


def test_symbolic_output_width_is_counted_on_a_probe_row(tmp_path):
    model = typed_graph(tmp_path / "sym.onnx", both_width=None)
    load(model, features=TYPED_FEATURES, outputs=TYPED_OUTPUTS)
    with pytest.raises(LoadError, match="the model gives 5 output columns but the config declares 6 outputs"):
        load(model, features=TYPED_FEATURES, outputs=[*TYPED_OUTPUTS, {"name": "extra"}])


def test_feature_names_or_types_that_do_not_fit_the_graph(tmp_path):
    model = typed_graph(tmp_path / "typed.onnx")
    with pytest.raises(LoadError, match=r"neither one \[N, 4\] matrix nor one input per feature"):
        load(model, features=[{"name": "a"}, {"name": "n"}, {"name": "s"}, {"name": "other"}], outputs=TYPED_OUTPUTS)
    wrong_type = [dict(f, type="number") if f["name"] == "s" else f for f in TYPED_FEATURES]
    with pytest.raises(LoadError, match=r"feature 's' is declared number but model input 's' takes tensor\(string\)"):
        load(model, features=wrong_type, outputs=TYPED_OUTPUTS)


def test_text_output_declared_as_number_fails_the_input(tmp_path):
    outputs = [dict(o, type="number") for o in TYPED_OUTPUTS]
    worker, cfg = load(typed_graph(tmp_path / "typed.onnx"), features=TYPED_FEATURES, outputs=outputs)
    with pytest.raises(InputError, match="model output 'echo' is text but is declared as number"):
        process(worker, cfg, tmp_path, b"a,n,s,flag\n1,2,x,true\n", "t.csv")


def iris_matrix_model(tmp_path: Path, zipmap: bool) -> Path:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    iris = load_iris()
    model = LogisticRegression(max_iter=500).fit(iris.data, iris.target)
    onx = to_onnx(model, initial_types=[("x", FloatTensorType([None, 4]))], options={id(model): {"zipmap": zipmap}})
    path = tmp_path / f"m_{zipmap}.onnx"
    path.write_bytes(onx.SerializeToString())
    return path


def test_zipmap_output_is_refused_with_the_fix(tmp_path):
    features = [{"name": f} for f in FEATURES]
    with pytest.raises(LoadError, match=r"not a tensor.*zipmap"):
        load(iris_matrix_model(tmp_path, True), features=features, outputs=[{"name": "y", "type": "integer"}])


def test_matrix_width_must_match_the_features(tmp_path):
    with pytest.raises(LoadError, match=r"has shape \[None, 4\]; the config declares 3 features"):
        load(iris_matrix_model(tmp_path, False), features=[{"name": f} for f in FEATURES[:3]], outputs=[{"name": "y"}])


def test_integer_labels_and_probabilities_from_onnx(tmp_path):
    outputs = [{"name": "cls", "type": "integer"}] + [{"name": f"p{k}"} for k in range(3)]
    worker, cfg = load(
        iris_matrix_model(tmp_path, False),
        features=[{"name": f} for f in FEATURES],
        outputs=outputs,
        mime_type="application/json",
    )
    records = [dict(zip(FEATURES, row, strict=False)) for row in load_iris().data[[0, 75, 149]].tolist()]
    _, out = process(worker, cfg, tmp_path, orjson.dumps(records), "r.json")
    rows = orjson.loads(out)
    assert [r["cls"] for r in rows] == [0, 1, 2]
    assert all(abs(r["p0"] + r["p1"] + r["p2"] - 1) < 1e-5 for r in rows)


def skops_classifier(tmp_path: Path) -> tuple[Path, LogisticRegression]:
    iris = load_iris()
    model = LogisticRegression(max_iter=500).fit(
        iris.data, np.array(["setosa", "versicolor", "virginica"])[iris.target]
    )
    path = tmp_path / "clf.skops"
    sio.dump(model, path)
    return path, model


def test_skops_classifier_predict_then_proba(tmp_path):
    path, model = skops_classifier(tmp_path)
    outputs = [{"name": "label", "type": "string"}] + [{"name": f"p_{c}"} for c in model.classes_]
    worker, cfg = load(path, features=[{"name": f} for f in FEATURES], outputs=outputs)
    X = load_iris().data[::10]
    csv = ",".join(FEATURES) + "\n" + "\n".join(",".join(repr(v) for v in row) for row in X.tolist()) + "\n"
    result, out = process(worker, cfg, tmp_path, csv.encode(), "x.csv")
    rows = [line.split(",") for line in out.splitlines()[1:]]
    assert result.items == len(X)
    assert [r[4] for r in rows] == list(model.predict(X))
    np.testing.assert_allclose([[float(v) for v in r[5:]] for r in rows], model.predict_proba(X), rtol=1e-12)


def test_skops_output_count_must_match(tmp_path):
    path, _ = skops_classifier(tmp_path)
    with pytest.raises(LoadError, match=r"the model gives 4 output columns .* but the config declares 3 outputs"):
        load(path, features=[{"name": f} for f in FEATURES], outputs=[{"name": "a"}, {"name": "b"}, {"name": "c"}])
    with pytest.raises(LoadError, match="the model takes 4 features but the config declares 2"):
        load(path, features=[{"name": "a"}, {"name": "b"}], outputs=[{"name": "label", "type": "string"}])


def test_skops_regressor_single_output(tmp_path):
    X = np.arange(20, dtype=float).reshape(10, 2)
    path = tmp_path / "reg.skops"
    sio.dump(LinearRegression().fit(X, X @ [2.0, 1.0] + 1), path)
    worker, cfg = load(
        path, features=[{"name": "u"}, {"name": "v"}], outputs=[{"name": "y"}], mime_type="application/jsonl"
    )
    _, out = process(worker, cfg, tmp_path, b'{"u": 1, "v": 2}\n', "r.jsonl")
    assert orjson.loads(out)["y"] == pytest.approx(5.0)


def halve(X):
    return X / 2


def test_skops_refuses_types_outside_the_allowlist(tmp_path):
    iris = load_iris()
    model = make_pipeline(FunctionTransformer(halve), LogisticRegression(max_iter=500)).fit(iris.data, iris.target)
    path = tmp_path / "custom.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    custom = [t for t in untrusted if t.endswith(".halve")]
    assert custom, untrusted
    with pytest.raises(LoadError) as info:
        load(path, features=[{"name": f} for f in FEATURES], outputs=[{"name": "y", "type": "integer"}])
    assert custom[0] in info.value.message and info.value.code == "untrusted_model_type"


def test_pickles_and_garbage_are_refused(tmp_path):
    features, outputs = [{"name": "a"}], [{"name": "y"}]
    pickle = tmp_path / "model.pkl"
    pickle.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(LoadError, match="pickles can run arbitrary code"):
        load(pickle, features=features, outputs=outputs)
    garbage = tmp_path / "model.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(LoadError, match="not a loadable ONNX model"):
        load(garbage, features=features, outputs=outputs)
    with pytest.raises(LoadError, match="needs exactly one model file"):
        TabularModelPipeline().load(TabularModelConfig(features=features, outputs=outputs), [], LoadContext())
