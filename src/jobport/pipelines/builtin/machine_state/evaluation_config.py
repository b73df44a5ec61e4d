"""Config of `machine-state-evaluation`: the classification config it measures (the same reader
and classifier settings as `machine-state-classification`), the small grid it searches, and the
name to save the recordings under as a reference set."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from jobport.pipelines.builtin.machine_state.config import REFERENCE_SET_PATTERN, MachineStateConfig

Metric = Literal["euclidean", "cosine", "manhattan"]


class SearchGrid(BaseModel):
    """The grid of settings measured by grouped k-fold over the recordings."""

    model_config = ConfigDict(extra="forbid")

    window_sizes: list[int] | None = Field(
        None, min_length=1, max_length=6,
        description="Window sizes to try (each at least 4); default: half, the same and double the config's "
                    "window_size. The step keeps the config's step/window ratio.")
    n_neighbors: list[int] = Field([1, 3, 5], min_length=1, max_length=6, description="KNN neighbour counts to try.")
    metrics: list[Metric] = Field(["euclidean", "cosine"], min_length=1, max_length=3,
                                  description="KNN distance metrics to try.")
    folds: int = Field(4, ge=2, le=20, description="Folds of the grouped k-fold (at most one per recording).")

    def sizes(self, window_size: int) -> list[int]:
        wanted = self.window_sizes or [window_size // 2, window_size, window_size * 2]
        return sorted({w for w in wanted if w >= 4})


class EvaluationConfig(MachineStateConfig):
    """`machine-state-classification`'s settings, measured; plus the grid (null: no grid)."""

    search: SearchGrid | None = Field(default_factory=SearchGrid,
                                      description="The settings grid to measure; null measures the config alone.")
    save_reference_set: str | None = Field(
        None, pattern=REFERENCE_SET_PATTERN,
        description="When the job completes, save its recordings (with their class labels) as the org's reference "
                    "set of this name; machine-state-classification jobs then use it by `reference_set`. A name the "
                    "org already has is refused at create (sets are immutable).")
