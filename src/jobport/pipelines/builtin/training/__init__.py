"""The `tabular-training` pipeline: fit, measure and export a scikit-learn model from your data.
Modules: `config` (the settings, light), `pipeline` (spec and create-time checks, light), `data`
(reading the file into X and y), `fit` (estimators, validation, metrics), `export` (ONNX, skops,
confusion matrix, importances), `worker` (one training job)."""

from jobport.pipelines.builtin.training.pipeline import TabularTrainingPipeline

__all__ = ["TabularTrainingPipeline"]
