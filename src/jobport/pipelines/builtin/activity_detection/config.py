"""Config of `activity-detection` (`parameters.worker.config`), vendor keys plus `token_budget`
and `flush_every_n_iteration`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from jobport.pipelines.lm.catalogue import DEFAULT_MODEL


class GenerationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    do_sample: bool = Field(True, description="Sample; false = greedy decoding (same file, same predictions).")
    max_new_tokens: int = Field(256, ge=1, le=8192, description="Most tokens generated per record.")
    repetition_penalty: float = Field(1.0, ge=0.5, le=2.0, description="Penalty for repeated tokens (1 = none).")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature (with do_sample).")
    top_k: int = Field(20, ge=0, le=1000, description="Sample among the k most likely tokens (0 = all).")
    top_p: float = Field(0.8, gt=0.0, le=1.0, description="Nucleus sampling mass.")


class ActivityDetectionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    generation: GenerationConfig = Field(default_factory=GenerationConfig, description="Decoding settings.")
    model_variant: str = Field(
        DEFAULT_MODEL, min_length=1, max_length=200,
        description="A model of the server's catalogue (`jobport models list`); the vendor's newton/* "
                    "names are aliases of the default model.",
    )
    max_video_frames: int = Field(32, ge=1, le=512, description="Frames sampled from each video input.")
    batch_size: int = Field(8, ge=1, le=256, description="Records sent to the model per batch.")
    token_budget: int = Field(
        16384, ge=16, le=1_000_000,
        description="Most prompt tokens per record; longer prompts are cut (WARN inference.truncation).",
    )
    flush_every_n_iteration: int = Field(
        4, ge=1, le=100_000, description="Batches per output part: each part is downloadable as soon as written.",
    )
