"""Config of the `tabular-training` pipeline (`parameters.worker.config`): the task, the label and
feature columns, the scikit-learn model family with its hyperparameters, the validation scheme,
the seed and class weights. Everything checkable without the data is checked here (a family that
does not fit the task, a hyperparameter the family does not take, a hold-out fraction out of
range), so a bad request is a 400 naming the setting; its JSON Schema is the registry's
`user_config_schema`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Task = Literal["classification", "regression"]
Family = Literal["logistic", "linear", "ridge", "random_forest", "hist_gradient_boosting"]
Hyper = int | float | str | bool | None

# The hyperparameters each family accepts (scikit-learn's names), with a check of the value. A
# static table instead of asking scikit-learn: the server validates configs without importing it.
_POSITIVE = "a positive number"
_COUNT = "a whole number >= 1"
HYPERPARAMETERS: dict[str, dict[str, str]] = {
    "logistic": {"C": _POSITIVE, "max_iter": _COUNT, "tol": _POSITIVE},
    "linear": {"fit_intercept": "true or false"},
    "ridge": {"alpha": _POSITIVE, "fit_intercept": "true or false"},
    "random_forest": {"n_estimators": _COUNT, "max_depth": _COUNT + " or null", "min_samples_leaf": _COUNT,
                      "max_features": "a fraction in (0, 1], a whole number >= 1, 'sqrt', 'log2' or null"},
    "hist_gradient_boosting": {"learning_rate": _POSITIVE, "max_iter": _COUNT, "max_depth": _COUNT + " or null",
                               "max_leaf_nodes": "a whole number >= 2", "l2_regularization": "a number >= 0",
                               "min_samples_leaf": _COUNT},
}
FAMILY_TASKS: dict[str, tuple[str, ...]] = {
    "logistic": ("classification",), "linear": ("regression",), "ridge": ("classification", "regression"),
    "random_forest": ("classification", "regression"), "hist_gradient_boosting": ("classification", "regression"),
}


def _hyper_ok(family: str, name: str, value: Hyper) -> bool:
    expected = HYPERPARAMETERS[family][name]
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if expected == _POSITIVE:
        return is_number and value > 0  # type: ignore[operator]
    if expected.startswith(_COUNT):
        return (value is None and "null" in expected) or (isinstance(value, int) and not isinstance(value, bool)
                                                            and value >= 1)
    if expected == "true or false":
        return isinstance(value, bool)
    if name == "max_leaf_nodes":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 2
    if name == "l2_regularization":
        return is_number and value >= 0  # type: ignore[operator]
    if name == "max_features":
        return value is None or value in ("sqrt", "log2") or (
            is_number and (0 < value <= 1 or (isinstance(value, int) and value >= 1)))  # type: ignore[operator]
    return False


class ModelChoice(BaseModel):
    """The scikit-learn estimator to fit."""

    model_config = ConfigDict(extra="forbid")

    family: Family = Field(
        "random_forest",
        description="logistic (LogisticRegression; classification), linear (LinearRegression; regression), ridge "
                    "(RidgeClassifier / Ridge; logistic and ridge see standardised features), random_forest "
                    "(RandomForestClassifier / Regressor), "
                    "hist_gradient_boosting (HistGradientBoostingClassifier / Regressor).")
    params: dict[str, Hyper] = Field(
        default_factory=dict,
        description="Hyperparameters, scikit-learn's names: logistic C, max_iter, tol; linear fit_intercept; ridge "
                    "alpha, fit_intercept; random_forest n_estimators, max_depth, min_samples_leaf, max_features; "
                    "hist_gradient_boosting learning_rate, max_iter, max_depth, max_leaf_nodes, l2_regularization, "
                    "min_samples_leaf.")

    @model_validator(mode="after")
    def _known_params(self) -> ModelChoice:
        accepted = HYPERPARAMETERS[self.family]
        for name, value in self.params.items():
            if name not in accepted:
                raise ValueError(f"params.{name}: not a hyperparameter of {self.family} (it takes: "
                                 f"{', '.join(accepted)})")
            if not _hyper_ok(self.family, name, value):
                raise ValueError(f"params.{name}: {value!r} is not {accepted[name]}")
        return self


class Validation(BaseModel):
    """How the metrics are measured (a `worker.validation` file, when given, replaces the split)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["holdout", "kfold"] = Field(
        "holdout", description="holdout: fit on the rest, measure on `holdout_fraction` of the rows (stratified "
                               "for classification); kfold: `folds`-fold cross-validation, then a final fit on all "
                               "rows.")
    holdout_fraction: float = Field(0.2, gt=0, lt=1, description="Share of the rows held out (holdout).")
    folds: int = Field(5, ge=2, le=20, description="Number of folds (kfold).")


# The app name and version label rules of `services.apps` (an app name has no '/' and does not
# start with blank space; a version label is 1-50 letters, digits and . _ + -).
APP_NAME_PATTERN = r"^[^/\s][^/]*$"
VERSION_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,49}$"


class PublishTarget(BaseModel):
    """Where a completed job's model is published: a `tabular-model` app version."""

    model_config = ConfigDict(extra="forbid")

    app: str = Field(..., min_length=1, max_length=200, pattern=APP_NAME_PATTERN,
                     description="The app to publish to: created when the org has none of this name; an existing "
                                 "one must run tabular-model.")
    version: str = Field("1.0.0", pattern=VERSION_PATTERN,
                         description="The new version's label; a version the app already has is refused at create.")


class TrainingConfig(BaseModel):
    """`tabular-training`: fit a scikit-learn model on `worker.train`, measure it, export it."""

    model_config = ConfigDict(extra="forbid")

    task: Task = Field(..., description="classification or regression.")
    label: str = Field(..., min_length=1, max_length=200, description="The column (CSV) or key (JSONL) to predict.")
    features: list[str] | None = Field(
        None, min_length=1, description="Feature columns, in order; default: every column but the label.")
    non_numeric: Literal["error", "drop"] = Field(
        "error", description="A feature column that is not numeric: `error` (the job is refused, naming it) or "
                             "`drop` (left out, with a warning event).")
    model: ModelChoice = Field(default_factory=ModelChoice, description="The model family and its hyperparameters.")
    validation: Validation = Field(default_factory=Validation, description="How metrics are measured.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Random seed of the split, the folds and the model.")
    class_weight: Literal["balanced"] | None = Field(
        None, description="`balanced` weighs classes inversely to their frequency (classification; not for "
                          "hist_gradient_boosting's regressor or linear).")
    max_rows: int = Field(2_000_000, ge=10, le=50_000_000,
                          description="Most training rows read; a larger file fails with a clear error.")
    publish: PublishTarget | None = Field(
        None, description="Publish the model as this app version when the job completes (as POST "
                          "/v0.5/batch/jobs/{id}/publish would); the outcome is a publish.done or publish.failed "
                          "event.")

    @model_validator(mode="after")
    def _consistent(self) -> TrainingConfig:
        if self.task not in FAMILY_TASKS[self.model.family]:
            fits = [f for f, tasks in FAMILY_TASKS.items() if self.task in tasks]
            raise ValueError(f"model.family {self.model.family} does not do {self.task}; use one of {', '.join(fits)}")
        if self.class_weight and self.task != "classification":
            raise ValueError("class_weight is for classification; remove it for regression")
        if self.features is not None:
            if self.label in self.features:
                raise ValueError(f"features: the label column {self.label!r} cannot also be a feature")
            if len(set(self.features)) != len(self.features):
                raise ValueError("features: a column is named twice")
        return self
