"""The `tabular-training` pipeline (type `training`): fit a scikit-learn model on `worker.train`
(CSV or JSON Lines, one training file per job), measure it by hold-out, k-fold or a
`worker.validation` file, and write the model (ONNX and skops) with its metrics, confusion matrix
and feature importances. The spec and the create-time checks stay light (no scikit-learn);
`check_files` reads training files up to `CHECK_MAX_BYTES` at creation, so a missing label
column, a single class, a non-numeric feature or too few rows for the folds is a 400 before the
job is stored."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from jobport.pipelines.builtin.training.config import TrainingConfig
from jobport.pipelines.sdk import (
    CreateProblem,
    FileFacts,
    FileRef,
    InputError,
    LoadContext,
    PipelineBase,
    PipelineSpec,
    Port,
    Pricing,
    Resources,
)

if TYPE_CHECKING:
    from jobport.pipelines.builtin.training.worker import TrainingWorker

TRAIN_PORT = "worker.train"
VALIDATION_PORT = "worker.validation"
RESULTS_PORT = "worker.results"
CONFIG_FIELD = "parameters.worker.config"
CHECK_MAX_BYTES = 64 * 1024 * 1024  # training files up to this size are read at job creation


class TabularTrainingPipeline(PipelineBase):
    spec = PipelineSpec(
        key="tabular-training",
        version="1.0.0",
        name="Tabular model training",
        description=(
            "Fits a scikit-learn classifier or regressor (logistic/linear/ridge, random forest, histogram gradient "
            "boosting) on a CSV or JSON Lines file, measures it against a trivial baseline, and writes the model as "
            "ONNX and skops with metrics.json, a confusion matrix and feature importances."
        ),
        config_model=TrainingConfig,
        inputs=[
            Port(TRAIN_PORT, "Training data (CSV or JSON Lines): feature columns and the label", "plain_file_list",
                 "scatter", True, True),
            Port(VALIDATION_PORT, "Optional validation data with the same columns (replaces the split)",
                 "plain_file_list", "replicate", False, False),
        ],
        outputs=[Port(RESULTS_PORT, "The model (model.onnx, model.skops), metrics.json, confusion matrix, "
                                    "feature importances")],
        pipeline_type="training",
        pricing=Pricing(records_per_group=1000, units_per_group=1),
        resources=Resources(num_cpus=1.0),
    )

    def load(self, config: TrainingConfig, references: Sequence[FileRef], context: LoadContext) -> TrainingWorker:
        from jobport.pipelines.builtin.training.worker import TrainingWorker

        validation = [ref for ref in references if ref.port_name == VALIDATION_PORT]
        return TrainingWorker(validation[0] if validation else None)

    def load_key(self, config: TrainingConfig) -> object:
        return None  # the worker holds no model: every training job's config is applied in `process`

    def check_create(self, config: TrainingConfig, inputs: Mapping[str, Sequence[FileFacts]]
                     ) -> Iterator[CreateProblem]:
        trains, validations = inputs.get(TRAIN_PORT, ()), inputs.get(VALIDATION_PORT, ())
        if len(trains) > 1:
            yield CreateProblem(f"inputs.{TRAIN_PORT}", f"{len(trains)} training files; a training job takes one",
                                "Concatenate them into one file, or create one job per file.", "too_many_inputs")
        if len(validations) > 1:
            yield CreateProblem(f"inputs.{VALIDATION_PORT}", "at most one validation file",
                                "Give one validation file.", "too_many_inputs")
        for facts in (*trains, *validations):
            headers = facts.attributes.get("column_headers")
            if not isinstance(headers, list):
                continue  # JSON Lines: the columns are known once the file is read (check_files)
            if config.label not in headers:
                yield CreateProblem(f"{CONFIG_FIELD}.label", f"{facts.file_id} has no column {config.label!r} "
                                    f"(its columns: {', '.join(map(str, headers))})",
                                    "Set label to the column to predict.", "missing_column")
            missing = [f for f in config.features or () if f not in headers]
            if missing:
                yield CreateProblem(f"{CONFIG_FIELD}.features",
                                    f"{facts.file_id} has no column {', '.join(map(repr, missing))}",
                                    "Name columns of the file.", "missing_column")

    def check_files(self, config: TrainingConfig, files: Sequence[FileRef]) -> Iterator[CreateProblem]:
        """Read the training file (up to CHECK_MAX_BYTES) as the worker will: label, classes,
        numeric features, rows for the validation scheme."""
        from jobport.pipelines.builtin.training.data import check_trainable, design, read_table

        for ref in files:
            if ref.port_name != TRAIN_PORT or ref.num_bytes > CHECK_MAX_BYTES:
                continue
            try:
                check_trainable(design(read_table(ref, config.max_rows), config, ref.filename), config)
            except InputError as err:
                setting = err.message.split(":", 1)[0] if ":" in err.message else "label"
                yield CreateProblem(f"{CONFIG_FIELD}.{setting}" if setting in _SETTINGS else f"inputs.{TRAIN_PORT}",
                                    err.message, "Fix the setting or the training file.", err.code)


_SETTINGS = ("label", "features", "validation", "validation.folds", "max_rows")
