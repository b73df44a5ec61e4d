"""The `activity-detection` pipeline: a language model over a JSONL file of InferenceRecords."""

from jobport.pipelines.builtin.activity_detection.pipeline import ActivityDetectionPipeline

__all__ = ["ActivityDetectionPipeline"]
