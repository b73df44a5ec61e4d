"""`tabular-training` without the server: scikit-learn's bundled iris, wine, breast-cancer and
diabetes sets written as CSV / JSON Lines, fitted through the worker, with metrics equal to the
same scikit-learn fit in-process (same seed), an ONNX model that scores like it, and every file
the job promises; config and data problems named as the user would fix them."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import onnxruntime as ort
import pytest
from pydantic import ValidationError
from sklearn import datasets
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import Ridge
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import KFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fakes import FakeSink, file_ref
from jobport.pipelines.builtin.training import TabularTrainingPipeline
from jobport.pipelines.builtin.training.config import TrainingConfig
from jobport.pipelines.sdk import InputError, LoadContext

RESULTS = "worker.results"


def write_dataset(path, loader, *, jsonl: bool = False, label: str = "target"):
    bunch = loader()
    names = [n.replace(" ", "_").replace("(", "").replace(")", "") for n in bunch.feature_names]
    target = [bunch.target_names[t] for t in bunch.target] if hasattr(bunch, "target_names") else bunch.target
    if jsonl:
        lines = [json.dumps({**dict(zip(names, map(float, row), strict=True)), label: t if isinstance(t, str)
                             else float(t)}) for row, t in zip(bunch.data, target, strict=True)]
        path.write_text("\n".join(lines) + "\n")
    else:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([*names, label])
        for row, t in zip(bunch.data, target, strict=True):
            writer.writerow([*row, t])
        path.write_text(out.getvalue())
    return bunch, names


def train(tmp_path, path, validation_file=None, **values):
    config = TrainingConfig.model_validate(values)
    refs = [file_ref(validation_file, "worker.validation")] if validation_file else []
    worker = TabularTrainingPipeline().load(config, refs, LoadContext())
    sink = FakeSink()
    result = worker.process(file_ref(path, "worker.train"), sink, config)
    return sink, json.loads(sink.outputs[(RESULTS, "metrics.json")]), result


def test_iris_random_forest_holdout_matches_scikit_learn_and_exports_onnx(tmp_path):
    bunch, _ = write_dataset(tmp_path / "iris.csv", datasets.load_iris)
    sink, report, result = train(tmp_path, tmp_path / "iris.csv", task="classification", label="target",
                                 model={"family": "random_forest", "params": {"n_estimators": 50}}, seed=3)
    labels = np.array([bunch.target_names[t] for t in bunch.target], dtype=object)
    x_fit, x_out, y_fit, y_out = train_test_split(bunch.data, labels, test_size=0.2, random_state=3, stratify=labels)
    expected = RandomForestClassifier(n_estimators=50, random_state=3).fit(x_fit, y_fit)
    assert report["metrics"]["accuracy"] == pytest.approx(accuracy_score(y_out, expected.predict(x_out)), abs=1e-9)
    assert report["baseline"]["accuracy"] < report["metrics"]["accuracy"]
    assert set(report["metrics"]["per_class"]) == {"setosa", "versicolor", "virginica"}
    assert report["metrics"]["roc_auc"] is not None and report["metrics"]["macro_f1"] > 0.8
    files = {name for port, name in sink.outputs}
    assert files == {"model.onnx", "model.skops", "metrics.json", "confusion_matrix.csv", "confusion_matrix.png",
                     "feature_importances.csv"}
    assert sink.outputs[(RESULTS, "confusion_matrix.png")].startswith(b"\x89PNG")
    matrix = list(csv.reader(io.StringIO(sink.text(RESULTS, "confusion_matrix.csv"))))
    assert matrix[0][1:] == ["setosa", "versicolor", "virginica"] and sum(int(v) for r in matrix[1:] for v in r[1:]) \
        == len(y_out)
    session = ort.InferenceSession(sink.outputs[(RESULTS, "model.onnx")], providers=["CPUExecutionProvider"])
    onnx_labels = session.run(None, {"input": x_out.astype(np.float32)})[0]
    assert np.mean(onnx_labels.astype(str) == expected.predict(x_out)) >= 0.99
    assert report["onnx"]["label_agreement"] >= 0.99 and result.items == 150


def test_diabetes_ridge_kfold_reports_each_fold_and_matches_scikit_learn(tmp_path):
    bunch, _ = write_dataset(tmp_path / "diabetes.jsonl", datasets.load_diabetes, jsonl=True)
    sink, report, _ = train(tmp_path, tmp_path / "diabetes.jsonl", task="regression", label="target",
                            model={"family": "ridge", "params": {"alpha": 0.5}},
                            validation={"kind": "kfold", "folds": 4}, seed=1)
    folds = KFold(4, shuffle=True, random_state=1)
    ridge = make_pipeline(StandardScaler(), Ridge(alpha=0.5))
    r2 = [r2_score(bunch.target[o], ridge.fit(bunch.data[f], bunch.target[f]).predict(bunch.data[o]))
          for f, o in folds.split(bunch.data)]
    assert report["metrics"]["r2"] == pytest.approx(np.mean(r2), abs=1e-6)
    assert len(report["folds"]) == 4 and report["baseline"]["r2"] <= 0.01
    fold_progress = [p for p in sink.progress_calls if p["step"] == "fold"]
    assert [(p["done"], p["total"]) for p in fold_progress] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert ("worker.results", "confusion_matrix.csv") not in sink.outputs  # regression: no confusion matrix
    assert report["onnx"]["max_abs_difference"] < 1e-2


@pytest.mark.parametrize("family", ["logistic", "hist_gradient_boosting"])
def test_wine_and_breast_cancer_with_a_validation_file(tmp_path, family):
    write_dataset(tmp_path / "wine.csv", datasets.load_wine)
    rows = (tmp_path / "wine.csv").read_text().splitlines()
    header, body = rows[0], rows[1:]
    (tmp_path / "train.csv").write_text("\n".join([header, *body[::2]]) + "\n")
    (tmp_path / "valid.csv").write_text("\n".join([header, *body[1::2]]) + "\n")
    _, report, _ = train(tmp_path, tmp_path / "train.csv", validation_file=tmp_path / "valid.csv",
                         task="classification", label="target", model={"family": family}, class_weight="balanced")
    assert report["scheme"] == "validation_file" and report["metrics"]["rows"] == len(body[1::2])
    assert report["metrics"]["accuracy"] > 0.85 > report["baseline"]["accuracy"]
    write_dataset(tmp_path / "cancer.csv", datasets.load_breast_cancer)
    _, cancer, _ = train(tmp_path, tmp_path / "cancer.csv", task="classification", label="target",
                         model={"family": family})
    assert cancer["metrics"]["roc_auc"] > 0.9 and len(cancer["feature_importances"]) == 30


@pytest.mark.parametrize(("config", "words"), [
    ({"task": "regression", "label": "y", "model": {"family": "logistic"}}, "does not do regression"),
    ({"task": "classification", "label": "y", "model": {"family": "ridge", "params": {"alpah": 1}}}, "alpah"),
    ({"task": "classification", "label": "y", "model": {"family": "random_forest",
                                                       "params": {"n_estimators": 0}}}, "n_estimators"),
    ({"task": "classification", "label": "y", "features": ["a", "y"]}, "label column"),
    ({"task": "regression", "label": "y", "class_weight": "balanced"}, "class_weight"),
    ({"task": "classification", "label": "y", "validation": {"kind": "kfold", "folds": 1}}, "folds"),
])
def test_config_problems_name_the_setting(config, words):
    with pytest.raises(ValidationError, match=words):
        TrainingConfig.model_validate(config)


def _csv(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "config", "words"), [
    ("a,b\n1,2\n3,4\n5,6\n7,8\n9,0\n", {"label": "y"}, "label: "),
    ("a,y\n1,x\n2,x\n3,x\n4,x\n5,x\n6,x\n", {"label": "y"}, "1 distinct class"),
    ("a,c,y\n1,red,p\n2,blue,q\n3,red,p\n4,red,q\n5,blue,p\n6,red,q\n", {"label": "y"}, "'c'"),
    ("a,y\n1,p\n2,q\n3,p\n4,q\n5,p\n6,q\n", {"label": "y", "validation": {"kind": "kfold", "folds": 5}},
     "validation.folds"),
])
def test_data_problems_are_named(tmp_path, text, config, words):
    path = _csv(tmp_path / "t.csv", text)
    problems = list(TabularTrainingPipeline().check_files(TrainingConfig.model_validate(
        {"task": "classification", **config}), [file_ref(path, "worker.train")]))
    assert problems and words in problems[0].message, problems
    with pytest.raises(InputError, match=words.strip()):
        train(tmp_path, path, task="classification", **config)


def test_non_numeric_features_may_be_dropped_with_a_warning(tmp_path):
    path = _csv(tmp_path / "t.csv", "a,c,y\n" + "".join(f"{i},{'red' if i % 2 else 'blue'},{'pq'[i % 2]}\n"
                                                         for i in range(40)))
    sink, report, _ = train(tmp_path, path, task="classification", label="y", non_numeric="drop")
    assert report["features"] == ["a"] and report["dropped"] == ["c"]
    assert any(e[1] == "features.dropped" for e in sink.events)
