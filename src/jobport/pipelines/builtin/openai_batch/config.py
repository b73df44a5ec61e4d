"""Config of `openai-batch` (`parameters.worker.config`): the batch's endpoint and the per-line limits
the server's `openai_*` settings give it at creation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Endpoint = Literal["/v1/chat/completions", "/v1/embeddings"]
CHAT: Endpoint = "/v1/chat/completions"
EMBEDDINGS: Endpoint = "/v1/embeddings"


class OpenAIBatchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: Endpoint = Field(CHAT, description="The one endpoint every line of the batch calls.")
    chunk_lines: int = Field(16, ge=1, le=1024, description="Lines run through the model together; one output "
                                                            "part and one progress update each.")
    default_max_tokens: int = Field(256, ge=1, description="Tokens a chat line generates when it sets no max_tokens.")
    max_tokens_limit: int = Field(4096, ge=1, description="Largest max_tokens a chat line may ask for.")
    max_embedding_inputs: int = Field(2048, ge=1, description="Most texts in one embeddings line.")
