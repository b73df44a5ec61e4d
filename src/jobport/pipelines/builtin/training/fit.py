"""Fitting and measuring (scikit-learn, imported only in a worker): the estimator of the config,
the validation scheme (hold-out, k-fold, or a given validation file), the metrics of the model
and of a trivial baseline beside it, and feature importances."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from jobport.pipelines.builtin.training.config import TrainingConfig
from jobport.pipelines.builtin.training.data import Design

Progress = Callable[[int, int, dict[str, Any]], None]  # (fold done, folds, its metrics)


def estimator(config: TrainingConfig) -> BaseEstimator:
    """The unfitted estimator the config names, seeded."""
    from sklearn import ensemble, linear_model
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    family, params, classify = config.model.family, dict(config.model.params), config.task == "classification"
    seeded = {"random_state": config.seed}
    weights = {"class_weight": config.class_weight} if config.class_weight else {}
    if family == "logistic":  # penalised linear models see standardised features (a scale-free penalty)
        return make_pipeline(StandardScaler(), linear_model.LogisticRegression(**{"max_iter": 1000, **params},
                                                                               **seeded, **weights))
    if family == "linear":
        return linear_model.LinearRegression(**params)
    if family == "ridge":
        return make_pipeline(StandardScaler(), linear_model.RidgeClassifier(**params, **weights) if classify
                             else linear_model.Ridge(**params))
    if family == "random_forest":  # trees are fitted on the worker's CPUs (same trees for any n_jobs)
        cls = ensemble.RandomForestClassifier if classify else ensemble.RandomForestRegressor
        return cls(**params, **seeded, **(weights if classify else {}), n_jobs=worker_threads())
    cls = ensemble.HistGradientBoostingClassifier if classify else ensemble.HistGradientBoostingRegressor
    return cls(**params, **seeded, **(weights if classify else {}))


def worker_threads() -> int:
    """The CPUs this worker may use: its OpenMP pool's size, which the executor sets from the job's
    `num_cpus` (Ray) or the worker's share of the cores (local); 1 when there is no OpenMP pool.
    Histogram gradient boosting uses that pool itself; random forests get it as `n_jobs`."""
    from threadpoolctl import threadpool_info

    pools = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "openmp"]
    return max(1, min(pools)) if pools else 1


def baseline(config: TrainingConfig) -> BaseEstimator:
    return DummyClassifier(strategy="most_frequent") if config.task == "classification" else DummyRegressor()


def metrics(config: TrainingConfig, model: BaseEstimator, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Classification: accuracy, macro-F1, per-class precision/recall, ROC-AUC where defined;
    regression: RMSE, MAE, R²."""
    from sklearn import metrics as m

    predicted = model.predict(x)
    if config.task == "regression":
        return {"rmse": float(np.sqrt(m.mean_squared_error(y, predicted))),
                "mae": float(m.mean_absolute_error(y, predicted)), "r2": float(m.r2_score(y, predicted)),
                "rows": int(len(y))}
    labels = sorted(set(y.tolist()) | set(predicted.tolist()))
    precision, recall, _, support = m.precision_recall_fscore_support(y, predicted, labels=labels, zero_division=0)
    found = {"accuracy": float(m.accuracy_score(y, predicted)),
             "macro_f1": float(m.f1_score(y, predicted, average="macro", zero_division=0)),
             "per_class": {str(c): {"precision": float(p), "recall": float(r), "support": int(s)}
                           for c, p, r, s in zip(labels, precision, recall, support, strict=True)},
             "rows": int(len(y))}
    found["roc_auc"] = _roc_auc(model, x, y)
    return found


def _roc_auc(model: BaseEstimator, x: np.ndarray, y: np.ndarray) -> float | None:
    """ROC-AUC from the model's probabilities (one-vs-rest macro for several classes); None when
    the model gives none or the rows hold a single class."""
    from sklearn.metrics import roc_auc_score

    classes = list(getattr(model, "classes_", []))
    if not hasattr(model, "predict_proba") or len(set(y.tolist())) < 2 or not set(y.tolist()) <= set(classes):
        return None
    proba = model.predict_proba(x)
    try:
        if len(classes) == 2:
            return float(roc_auc_score(y == classes[1], proba[:, 1]))
        return float(roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes))
    except ValueError:
        return None


@dataclass
class Evaluation:
    """The model to export, the metrics it was measured with, the rows it was measured on."""

    model: BaseEstimator
    scheme: str
    metrics: dict[str, Any]
    baseline: dict[str, Any]
    folds: list[dict[str, Any]] = field(default_factory=list)
    x_eval: np.ndarray | None = None
    y_eval: np.ndarray | None = None


def evaluate(config: TrainingConfig, train: Design, given: Design | None, progress: Progress) -> Evaluation:
    """Fit and measure by the config's scheme; a given validation file replaces the split."""
    if given is not None:
        model = clone(estimator(config)).fit(train.x, train.y)
        dummy = baseline(config).fit(train.x, train.y)
        return Evaluation(model, "validation_file", metrics(config, model, given.x, given.y),
                          metrics(config, dummy, given.x, given.y), x_eval=given.x, y_eval=given.y)
    if config.validation.kind == "holdout":
        stratify = train.y if config.task == "classification" else None
        x_fit, x_out, y_fit, y_out = train_test_split(train.x, train.y, test_size=config.validation.holdout_fraction,
                                                      random_state=config.seed, stratify=stratify)
        model = clone(estimator(config)).fit(x_fit, y_fit)
        dummy = baseline(config).fit(x_fit, y_fit)
        return Evaluation(model, "holdout", metrics(config, model, x_out, y_out), metrics(config, dummy, x_out, y_out),
                          x_eval=x_out, y_eval=y_out)
    return _kfold(config, train, progress)


def _kfold(config: TrainingConfig, train: Design, progress: Progress) -> Evaluation:
    k = config.validation.folds
    splitter = (StratifiedKFold if config.task == "classification" else KFold)(k, shuffle=True,
                                                                               random_state=config.seed)
    folds, base_folds = [], []
    for i, (fit_rows, out_rows) in enumerate(splitter.split(train.x, train.y), start=1):
        model = clone(estimator(config)).fit(train.x[fit_rows], train.y[fit_rows])
        found = metrics(config, model, train.x[out_rows], train.y[out_rows])
        dummy = baseline(config).fit(train.x[fit_rows], train.y[fit_rows])
        base_folds.append(metrics(config, dummy, train.x[out_rows], train.y[out_rows]))
        folds.append(found)
        progress(i, k, found)
    final = clone(estimator(config)).fit(train.x, train.y)
    return Evaluation(final, "kfold", _mean(folds), _mean(base_folds), folds, x_eval=train.x, y_eval=train.y)


def _mean(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """The folds' scalar metrics averaged (per-class figures from the folds are listed, not averaged)."""
    scalars = {k for k, v in folds[0].items() if isinstance(v, float | int) and k != "rows"}
    mean: dict[str, Any] = {}
    for key in sorted(scalars):
        values = [f[key] for f in folds if f.get(key) is not None]
        mean[key] = float(np.mean(values)) if values else None
    mean["rows"] = int(sum(f["rows"] for f in folds))
    if "roc_auc" in folds[0]:
        values = [f["roc_auc"] for f in folds if f["roc_auc"] is not None]
        mean["roc_auc"] = float(np.mean(values)) if values else None
    return mean


def importances(model: BaseEstimator, features: list[str], x: np.ndarray, y: np.ndarray, seed: int
                ) -> list[tuple[str, float]]:
    """(feature, importance), largest first: the model's own (trees: impurity decrease; linear:
    mean |coefficient| over standardised features, plain coefficients for `linear`), else
    permutation importance on the measured rows."""
    fitted = model[-1] if hasattr(model, "steps") else model  # a scaler + linear model pipeline: the model
    own = getattr(fitted, "feature_importances_", None)
    if own is None and hasattr(fitted, "coef_"):
        own = np.abs(np.atleast_2d(fitted.coef_)).mean(axis=0)  # of standardised features: comparable
    if own is None:
        from sklearn.inspection import permutation_importance

        own = permutation_importance(model, x, y, n_repeats=5, random_state=seed).importances_mean
    pairs = [(name, float(value)) for name, value in zip(features, own, strict=True)]
    return sorted(pairs, key=lambda p: -p[1])
