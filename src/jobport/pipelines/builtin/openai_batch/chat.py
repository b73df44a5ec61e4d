"""`/v1/chat/completions` lines on the LM catalogue: the body is checked like OpenAI checks it, the
line's `model` picks a catalogue entry (or alias), and lines of one model and the same sampling
settings are decoded together in one backend call (llama.cpp batches them; the OpenAI-compatible
backend sends them concurrently). Answers are ChatCompletion objects with the backend's token counts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from jobport.pipelines.builtin.openai_batch.config import OpenAIBatchConfig
from jobport.pipelines.builtin.openai_batch.lines import LineError, Request, error_line, ok_line
from jobport.pipelines.lm.backends import ChatBackend, Completion, Sampling
from jobport.pipelines.lm.catalogue import CatalogueError, ModelEntry, resolve


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None


class ChatBody(BaseModel):
    """The parameters this server runs; a parameter that would change the answer in a way it cannot
    honour (tools, n > 1, streaming, logprobs, penalties) is refused rather than ignored."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: Literal[1] = 1
    stream: Literal[False] = False
    logprobs: Literal[False] = False
    frequency_penalty: Literal[0] = 0
    presence_penalty: Literal[0] = 0
    user: str | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None

    @field_validator("stop")
    @classmethod
    def _at_most_four(cls, value: str | list[str] | None) -> list[str] | None:
        stops = [value] if isinstance(value, str) else value
        if stops is not None and (len(stops) > 4 or any(not s for s in stops)):
            raise ValueError("stop takes up to 4 non-empty sequences")
        return stops


def body_error(err: ValidationError) -> LineError:
    """The first pydantic problem in OpenAI's terms: the parameter, what is wrong."""
    item = err.errors(include_url=False, include_input=False)[0]
    param = ".".join(str(p) for p in item["loc"]) or None
    kind = item["type"]
    if kind == "missing":
        return LineError(400, "missing_required_parameter", f"Missing required parameter: '{param}'.", param)
    if kind == "extra_forbidden":
        return LineError(400, "unknown_parameter", f"Unrecognized or unsupported parameter: '{param}'.", param)
    return LineError(400, "invalid_value", f"Invalid value for '{param}': {item['msg']}.", param)


def _text(content: str | list[TextPart]) -> str:
    return content if isinstance(content, str) else "".join(part.text for part in content)


def conversation(body: ChatBody) -> list[dict[str, Any]]:
    return [{"role": "system" if m.role == "developer" else m.role, "content": _text(m.content)}
            for m in body.messages]


class ChatRunner:
    """Runs chunks of chat lines; keeps one backend per catalogue model it was asked for."""

    def __init__(self, catalogue: Callable[[], dict[str, ModelEntry]],
                 backend_factory: Callable[[ModelEntry], ChatBackend]) -> None:
        self.catalogue = catalogue
        self.backend_factory = backend_factory
        self.backends: dict[str, ChatBackend | LineError] = {}

    def _backend(self, name: str) -> ChatBackend | LineError:
        try:
            entry, _ = resolve(name, self.catalogue())
        except KeyError:
            return LineError(404, "model_not_found", f"The model '{name}' does not exist on this server; "
                                                     f"see GET /v0.5/models.", "model")
        except CatalogueError as err:
            return LineError(500, "model_catalogue_invalid", str(err), "model")
        if entry.name not in self.backends:
            try:
                self.backends[entry.name] = self.backend_factory(entry)
            except (OSError, ValueError, ImportError) as err:
                self.backends[entry.name] = LineError(500, "model_load_failed", f"model {entry.name} could not be "
                                                                               f"loaded: {err}", "model")
        return self.backends[entry.name]

    def _sampling(self, body: ChatBody, config: OpenAIBatchConfig) -> Sampling | LineError:
        limit = body.max_completion_tokens or body.max_tokens or config.default_max_tokens
        if limit > config.max_tokens_limit:
            param = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
            return LineError(400, "invalid_value", f"{param} is {limit}; this server generates at most "
                                                   f"{config.max_tokens_limit} tokens per request.", param)
        return Sampling(max_tokens=limit, do_sample=body.temperature > 0, temperature=body.temperature,
                        top_p=body.top_p, top_k=0, repetition_penalty=1.0, seed=body.seed or 0)

    def run(self, requests: list[Request], config: OpenAIBatchConfig) -> list[dict[str, Any]]:
        """One result line per request, in order."""
        results: list[dict[str, Any] | None] = [None] * len(requests)
        groups: dict[tuple[str, Sampling], list[tuple[int, ChatBody]]] = {}
        for index, request in enumerate(requests):
            prepared = self._prepare(request, config)
            if isinstance(prepared, LineError):
                results[index] = error_line(request.custom_id, prepared)
                continue
            body, sampling = prepared
            groups.setdefault((body.model, sampling), []).append((index, body))
        for (model, sampling), members in groups.items():
            backend = self._backend(model)
            assert not isinstance(backend, LineError)
            completions = backend.complete([conversation(body) for _, body in members], sampling)
            for (index, body), completion in zip(members, completions, strict=True):
                results[index] = self._answer(requests[index], body, backend, sampling, completion)
        return [r for r in results if r is not None]

    def _prepare(self, request: Request, config: OpenAIBatchConfig) -> tuple[ChatBody, Sampling] | LineError:
        try:
            body = ChatBody.model_validate(request.body)
        except ValidationError as err:
            return body_error(err)
        backend = self._backend(body.model)
        if isinstance(backend, LineError):
            return backend
        sampling = self._sampling(body, config)
        return sampling if isinstance(sampling, LineError) else (body, sampling)

    def _answer(self, request: Request, body: ChatBody, backend: ChatBackend, sampling: Sampling,
                completion: Completion) -> dict[str, Any]:
        if completion.text is None:
            message = completion.error or "the model gave no answer"
            if "context" in message:
                return error_line(request.custom_id, LineError(400, "context_length_exceeded", message, "messages"))
            return error_line(request.custom_id, LineError(500, "model_error", message))
        text, completion_tokens, finish = completion.text, completion.completion_tokens, "stop"
        cut = _stop_at(text, body.stop if isinstance(body.stop, list) else None)
        if cut is not None:
            text, completion_tokens = cut, backend.count_tokens(cut)
        elif completion_tokens >= sampling.max_tokens:
            finish = "length"
        return ok_line(request.custom_id, {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": backend.name, "system_fingerprint": None, "service_tier": None,
            "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                         "message": {"role": "assistant", "content": text, "refusal": None}}],
            "usage": {"prompt_tokens": completion.prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": completion.prompt_tokens + completion_tokens},
        })

    def close(self) -> None:
        for backend in self.backends.values():
            if not isinstance(backend, LineError):
                backend.close()


def _stop_at(text: str, stops: list[str] | None) -> str | None:
    """`text` up to the first stop sequence (None when none occurs)."""
    positions = [text.find(s) for s in stops or () if s in text]
    return text[: min(positions)] if positions else None
