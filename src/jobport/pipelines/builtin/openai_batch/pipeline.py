"""`openai-batch`: one tracked input, the batch's JSONL input file; its request lines run in chunks of
`chunk_lines` through the endpoint's runner. Each chunk's result lines are committed as one output
part (`part-<k>.jsonl` on `worker.result`) and reported as progress `{completed, failed}`, so a
batch cancelled or expired mid-run keeps every line finished before; the OpenAI surface assembles
the parts into the batch's output and error files when the job ends. A bad line never fails the job."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel

from jobport.pipelines.builtin.openai_batch.chat import ChatRunner
from jobport.pipelines.builtin.openai_batch.config import CHAT, OpenAIBatchConfig
from jobport.pipelines.builtin.openai_batch.lines import (
    LineError,
    Request,
    custom_id_of,
    error_line,
    is_success,
    parse_request,
)
from jobport.pipelines.lm.backends import CatalogueModels, default_threads
from jobport.pipelines.sdk import (
    FileRef,
    LoadContext,
    OutputSink,
    PipelineBase,
    PipelineSpec,
    Port,
    Pricing,
    ProcessResult,
    Resources,
)

if TYPE_CHECKING:  # numpy and onnxruntime load with the embedding model, in the worker only
    from jobport.pipelines.builtin.openai_batch.embeddings import EmbeddingRunner

DATA_PORT = "worker.data"
RESULT_PORT = "worker.result"
KEY = "openai-batch"
VERSION = "1.0.0"


class BatchWorker:
    """Runs the lines of batch input files through one endpoint's runner (models load on first use)."""

    def __init__(self, runner: ChatRunner | EmbeddingRunner) -> None:
        self.runner = runner

    def process(self, item: FileRef, sink: OutputSink, config: OpenAIBatchConfig) -> ProcessResult:
        total = _count_lines(item)
        completed = failed = part = 0
        tokens = {"input_tokens": 0, "output_tokens": 0}
        for chunk in _chunks(item, config.chunk_lines):
            lines = self._run_chunk(chunk, config)
            ok = [line for line in lines if is_success(line)]
            completed, failed = completed + len(ok), failed + len(lines) - len(ok)
            for line in ok:
                usage = line["response"]["body"].get("usage") or {}
                tokens["input_tokens"] += usage.get("prompt_tokens", 0)
                tokens["output_tokens"] += usage.get("completion_tokens", 0)
            with sink.open_output(RESULT_PORT, f"part-{part:06d}.jsonl") as out:
                out.write(b"".join(orjson.dumps(line) + b"\n" for line in lines))
            part += 1
            done = completed + failed
            sink.progress("requests", f"{done:,}/{total:,} requests", items_processed=done, items_total=total,
                          payload={"completed": completed, "failed": failed, "total": total, **tokens})
        summary = {"requests": total, "completed": completed, "failed": failed, **tokens}
        sink.event("INFO", "batch.requests", f"{total:,} requests: {completed:,} completed, {failed:,} failed",
                   summary)
        return ProcessResult(items=total, failed_items=failed, summary=summary)

    def _run_chunk(self, chunk: list[bytes], config: OpenAIBatchConfig) -> list[dict[str, Any]]:
        parsed = [parse_request(raw) for raw in chunk]
        runnable = [p for p in parsed if isinstance(p, Request)]
        answers = iter(self.runner.run(runnable, config))
        return [next(answers) if isinstance(p, Request) else error_line(custom_id_of(raw) or "", p)
                for raw, p in zip(chunk, parsed, strict=True)]

    def close(self) -> None:
        if isinstance(self.runner, ChatRunner):
            self.runner.close()


def _lines(item: FileRef) -> Iterator[bytes]:
    with item.open() as handle:
        for raw in handle:
            if raw.strip():
                yield raw.rstrip(b"\r\n")


def _count_lines(item: FileRef) -> int:
    return sum(1 for _ in _lines(item))


def _chunks(item: FileRef, size: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for raw in _lines(item):
        chunk.append(raw)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class OpenAIBatchPipeline(CatalogueModels, PipelineBase):
    spec = PipelineSpec(
        key=KEY,
        version=VERSION,
        name="OpenAI Batch",
        description="The request lines of an OpenAI Batch API input file (/v1/chat/completions on the model "
                    "catalogue, /v1/embeddings on all-MiniLM-L6-v2); one result line per request.",
        config_model=OpenAIBatchConfig,
        inputs=[Port(DATA_PORT, "The batch's JSONL input file: {custom_id, method, url, body} per line")],
        outputs=[Port(RESULT_PORT, "Parts of result lines {id, custom_id, response, error}")],
        pricing=Pricing(records_per_group=1, units_per_group=1),
        resources=Resources(num_cpus=1.0, memory_bytes=1024 ** 3),
    )

    def load_key(self, config: BaseModel) -> dict[str, Any]:
        assert isinstance(config, OpenAIBatchConfig)
        return {"endpoint": config.endpoint}  # models load on first use: every batch of an endpoint shares workers

    def load(self, config: OpenAIBatchConfig, references: Sequence[FileRef], context: LoadContext) -> BatchWorker:
        if config.endpoint == CHAT:
            return BatchWorker(ChatRunner(self._catalogue, self._backend_factory))
        from jobport.pipelines.builtin.openai_batch.embeddings import EmbeddingRunner

        return BatchWorker(EmbeddingRunner(default_threads()))


__all__ = ["OpenAIBatchPipeline", "LineError"]
