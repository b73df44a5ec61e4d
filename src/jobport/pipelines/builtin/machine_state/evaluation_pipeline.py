"""The `machine-state-evaluation` pipeline (type `training`): given labelled recordings
(`worker.n_shots`, each with `metadata.class` and optionally `metadata.condition`), measure the
machine-state encoder + KNN by leave-one-recording-out (and leave-one-condition-out when
conditions are given) and search a small grid of window size, neighbours and metric. It runs once
per job (`runs_once`): its only data are the recordings. Writes `evaluation.json` (accuracies per
class, per condition, the grid and the recommended settings), `per_recording.csv` and the
recording-level confusion matrix (CSV, PNG). The worker lives in `evaluation.py` (numpy,
scikit-learn), imported by `load` only."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from jobport.pipelines.builtin.machine_state.evaluation_config import EvaluationConfig
from jobport.pipelines.sdk import (
    CreateProblem,
    FileFacts,
    FileRef,
    LoadContext,
    PipelineBase,
    PipelineSpec,
    Port,
    Resources,
)

if TYPE_CHECKING:
    from jobport.pipelines.builtin.machine_state.evaluation import EvaluationWorker

RECORDINGS_PORT = "worker.n_shots"
RESULTS_PORT = "worker.results"


class MachineStateEvaluationPipeline(PipelineBase):
    spec = PipelineSpec(
        key="machine-state-evaluation",
        version="1.0.0",
        name="Machine State Evaluation",
        description=(
            "Measures machine-state classification on labelled recordings by leave-one-recording-out and "
            "leave-one-condition-out, and recommends window_size, step_size, n_neighbors and metric from a grid."
        ),
        config_model=EvaluationConfig,
        inputs=[Port(RECORDINGS_PORT, "Labelled recordings (metadata.class; optional metadata.condition)",
                     "n_shot_file_list", "replicate", True, False)],
        outputs=[Port(RESULTS_PORT, "evaluation.json, per_recording.csv, confusion matrix (CSV, PNG)")],
        pipeline_type="training",
        runs_once=True,
        resources=Resources(num_cpus=1.0),  # what a Ray worker reserves unless parameters.worker.resources says
    )

    def load(self, config: EvaluationConfig, references: Sequence[FileRef], context: LoadContext
             ) -> EvaluationWorker:
        from jobport.pipelines.builtin.machine_state.evaluation import EvaluationWorker

        return EvaluationWorker([ref for ref in references if ref.port_name == RECORDINGS_PORT])

    def check_create(self, config: EvaluationConfig, inputs: Mapping[str, Sequence[FileFacts]]
                     ) -> Iterator[CreateProblem]:
        recordings = inputs.get(RECORDINGS_PORT, ())
        classes = {str(f.metadata.get("class")) for f in recordings if f.metadata.get("class") not in (None, "")}
        if len(classes) < 2:
            yield CreateProblem(f"inputs.{RECORDINGS_PORT}", f"the recordings hold {len(classes)} class label(s); "
                                "evaluation needs at least 2", "Add recordings of another class (metadata.class).",
                                "too_few_classes")
        if len(recordings) < 3:
            yield CreateProblem(f"inputs.{RECORDINGS_PORT}", f"{len(recordings)} recordings; leave-one-out needs at "
                                "least 3", "Add recordings.", "too_few_inputs")
        conditions = [f.metadata.get("condition") for f in recordings]
        if any(c is not None for c in conditions) and any(c is None for c in conditions):
            yield CreateProblem(f"inputs.{RECORDINGS_PORT}", "some recordings have metadata.condition and others "
                                "do not", "Give every recording a condition, or none.", "invalid_parameter")
