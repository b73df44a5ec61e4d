"""The `machine-state-classification` pipeline: encoder + k-nearest neighbours over sliding windows.

`load` reads the n-shot files (one class label each in `metadata.class`), fits the encoder on
their windows, standardises the features over them and builds a KNN index: `MachineStateModel`.
The returned `MachineStateWorker` then classifies every window of each inference CSV and writes
`pred_<stem>_part_<k>.csv` parts (`<timestamp_column>,Prediction`) to `worker.results`, publishing
a part every `flush_every_n_iteration` batches. Both live in `worker.py` (numpy, scikit-learn), which
only `load` imports: the spec, the config and the create-time checks here stay light, for the server
and for idle workers. `direct.py` drives the same model without the engine.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from jobport.pipelines.builtin.machine_state.config import REAL_ENCODER, MachineStateConfig, count_windows
from jobport.pipelines.sdk import (
    CreateProblem,
    FileFacts,
    FileRef,
    LoadContext,
    PipelineBase,
    PipelineSpec,
    Port,
)

if TYPE_CHECKING:
    from jobport.pipelines.builtin.machine_state.worker import MachineStateWorker

INFERENCE_PORT = "worker.inference"
NSHOT_PORT = "worker.n_shots"
RESULTS_PORT = "worker.results"
CONFIG_FIELD = "parameters.worker.config"


def alias_warning(model_type: str) -> str:
    return (
        f"model_type '{model_type}' is accepted as an alias of jobport's {REAL_ENCODER} encoder; "
        "predictions will not match the vendor's model, and any number of data_columns is accepted. "
        f"Set model_type to '{REAL_ENCODER}' to silence this warning."
    )


def n_neighbors_message(n_neighbors: int, n_windows: int, config: MachineStateConfig) -> str:
    rc = config.reader_config
    return (
        f"n_neighbors must be <= number of samples in index: n_neighbors={n_neighbors} but the "
        f"n-shot files give {n_windows} windows (window_size={rc.window_size}, "
        f"step_size={rc.step_size}). Lower classifier_config.n_neighbors, lower "
        "reader_config.step_size or window_size, or add longer n-shot files."
    )


class MachineStatePipeline(PipelineBase):
    spec = PipelineSpec(
        key="machine-state-classification",
        version="1.1.1",
        name="Machine State Classification",
        description=(
            "Classifies every sliding window of multichannel sensor CSVs into the machine states "
            "given by labelled n-shot example files (encoder + k-nearest neighbours)."
        ),
        config_model=MachineStateConfig,
        inputs=[
            Port(INFERENCE_PORT, "Input files", "plain_file_list", "scatter", True, True),
            Port(NSHOT_PORT, "N-Shot example files", "n_shot_file_list", "replicate", True, False),
        ],
        outputs=[Port(RESULTS_PORT, "Machine-state classification results")],
        default_parallelism=1,
    )

    def load(
        self, config: MachineStateConfig, references: Sequence[FileRef], context: LoadContext
    ) -> MachineStateWorker:
        # The omega_* alias warning is recorded once, at job creation (config_warnings).
        shots = [
            (ref.filename, ref.path or ref.opener, ref.metadata.get("class"))
            for ref in references
            if ref.port_name == NSHOT_PORT
        ]
        from jobport.pipelines.builtin.machine_state.worker import MachineStateModel, MachineStateWorker

        return MachineStateWorker(MachineStateModel.build(config, shots, context.emit))

    def check_create(
        self, config: MachineStateConfig, inputs: Mapping[str, Sequence[FileFacts]]
    ) -> Iterator[CreateProblem]:
        shots = inputs.get(NSHOT_PORT, ())
        if not shots:
            return
        rc, k = config.reader_config, config.classifier_config.n_neighbors
        total, rows_known, classes = 0, True, set()
        for i, facts in enumerate(shots):
            label = facts.metadata.get("class")
            if label is None or str(label) == "":
                yield CreateProblem(
                    f"inputs.{NSHOT_PORT}[{i}].metadata.class",
                    f"n-shot file {facts.file_id} has no metadata.class label.",
                    "Give every n-shot file metadata {\"class\": \"<state name>\"}.",
                    code="missing_parameter",
                )
            else:
                classes.add(str(label))
            headers = facts.attributes.get("column_headers")
            if isinstance(headers, list):
                for key, col in [("timestamp_column", rc.timestamp_column)] + [
                    ("data_columns", c) for c in rc.data_columns
                ]:
                    if col not in headers:
                        yield CreateProblem(
                            f"{CONFIG_FIELD}.reader_config.{key}",
                            f"n-shot file {facts.file_id} has no column '{col}'; its columns: "
                            f"{', '.join(map(str, headers))}",
                            f"Set reader_config.{key} to columns present in every n-shot file.",
                        )
            rows = facts.attributes.get("num_rows")
            if not isinstance(rows, int):
                rows_known = False
                continue
            windows = count_windows(rows, rc.window_size, rc.step_size)
            if windows == 0:
                yield CreateProblem(
                    f"{CONFIG_FIELD}.reader_config.window_size",
                    f"n-shot file {facts.file_id} has {rows} rows, fewer than window_size={rc.window_size}.",
                    "Lower reader_config.window_size or use longer n-shot files.",
                )
            total += windows
        if len(classes) < 2:
            yield CreateProblem(
                f"inputs.{NSHOT_PORT}",
                f"the n-shot files hold {len(classes)} distinct class label(s); at least 2 are needed.",
                "Add n-shot files of at least one more machine state (metadata.class).",
            )
        if rows_known and total < k:
            yield CreateProblem(
                f"{CONFIG_FIELD}.classifier_config.n_neighbors",
                n_neighbors_message(k, total, config),
                f"Use n_neighbors <= {total}, a smaller step_size, or longer n-shot files.",
            )

    def config_warnings(self, config: MachineStateConfig) -> list[str]:
        return [alias_warning(config.model_type)] if config.is_alias else []
