"""The `machine-state-classification` pipeline (vendor version 1.1.1): encoder + KNN over CSV windows."""

from jobport.pipelines.builtin.machine_state.config import MachineStateConfig
from jobport.pipelines.builtin.machine_state.pipeline import MachineStatePipeline

__all__ = ["MachineStateConfig", "MachineStatePipeline"]
