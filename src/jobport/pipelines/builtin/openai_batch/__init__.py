"""The `openai-batch` pipeline: the request lines of an OpenAI Batch API input file run on this
server's models (chat completions on the LM catalogue, embeddings on all-MiniLM-L6-v2)."""

from jobport.pipelines.builtin.openai_batch.pipeline import OpenAIBatchPipeline

__all__ = ["OpenAIBatchPipeline"]
