"""Config of the `machine-state-classification` pipeline: the vendor's keys, plus jobport's
`reference_set` (the n-shot files of a named reference set instead of `worker.n_shots` inputs).

The models forbid unknown keys, so a typo such as `reader_config.windowsize` is a validation error
that names the key instead of being silently ignored. Every field carries a description: the JSON
Schema of `MachineStateConfig` is the pipeline's `user_config_schema`.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The encoder jobport really runs (see encoder.py).
REAL_ENCODER = "minirocket_summary"

# Vendor model names: accepted so that vendor job payloads run unchanged, all served by REAL_ENCODER.
OmegaAlias = Literal[
    "omega_1_4_base",
    "omega_1_4",
    "omega_1_3_surface",
    "omega_1_3_power_drive",
    "omega_1_3_slb",
]
OMEGA_ALIASES: frozenset[str] = frozenset(get_args(OmegaAlias))

ModelType = Literal["minirocket_summary", OmegaAlias]


# A reference set's name: letters, digits, and . _ - (not first), up to 100 characters.
REFERENCE_SET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


def count_windows(rows: int, window_size: int, step_size: int) -> int:
    """Sliding windows in a file of `rows` rows (the create-time checks count them from `num_rows`)."""
    return 0 if rows < window_size else (rows - window_size) // step_size + 1


class ReaderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_columns: list[str] = Field(
        ...,
        min_length=1,
        description="Numeric sensor columns of the CSV fed to the encoder, in this order.",
    )
    timestamp_column: str = Field(
        ...,
        description=(
            "Column holding each row's time (Unix epoch or any increasing number or text). "
            "Each window is labelled with the timestamp of its last row."
        ),
    )
    window_size: int = Field(32, ge=2, description="Rows per sliding window (typical 16/32/64/128).")
    step_size: int = Field(
        1,
        ge=1,
        description=(
            "Rows between the starts of consecutive windows; a file gives "
            "(rows - window_size) // step_size + 1 windows."
        ),
    )

    @model_validator(mode="after")
    def _distinct_columns(self) -> ReaderConfig:
        if len(set(self.data_columns)) != len(self.data_columns):
            dup = next(c for c in self.data_columns if self.data_columns.count(c) > 1)
            raise ValueError(f"data_columns lists '{dup}' more than once")
        if self.timestamp_column in self.data_columns:
            raise ValueError(f"timestamp_column '{self.timestamp_column}' must not also be in data_columns")
        return self


class ClassifierConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_neighbors: int = Field(
        5, ge=3, description="k of the k-nearest-neighbours vote; at most the number of n-shot windows."
    )
    metric: Literal["euclidean", "cosine", "manhattan"] = Field(
        "euclidean", description="Distance between window embeddings."
    )
    weights: Literal["uniform", "distance"] = Field(
        "uniform", description="Neighbour weighting: equal votes, or votes weighted by 1/distance."
    )
    normalize_embeddings: bool = Field(
        False, description="L2-normalise the standardised embeddings before the neighbour search."
    )


class MachineStateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_type: ModelType = Field(
        REAL_ENCODER,
        description=(
            f"Window encoder. `{REAL_ENCODER}` is jobport's encoder (MiniRocket-style convolution "
            "features plus per-channel summary statistics); the vendor names omega_* are accepted "
            "as aliases of it."
        ),
    )
    batch_size: int = Field(32, ge=1, description="Windows encoded and classified per batch.")
    reader_config: ReaderConfig = Field(..., description="How CSV rows become windows.")
    classifier_config: ClassifierConfig = Field(
        default_factory=ClassifierConfig, description="The k-nearest-neighbours classifier."
    )
    flush_every_n_iteration: int = Field(
        150,
        ge=1,
        description=(
            "Write (and publish) an output part every this many batches; lower it to see results "
            "earlier in long runs."
        ),
    )
    reference_set: str | None = Field(
        None, pattern=REFERENCE_SET_PATTERN,
        description=(
            "jobport extension: use the recordings of this named reference set (saved by a "
            "machine-state-evaluation job's save_reference_set, org-scoped) as the n-shot files, "
            "instead of worker.n_shots inputs. Native API jobs only."
        ),
    )

    @property
    def is_alias(self) -> bool:
        return self.model_type in OMEGA_ALIASES
