"""Wire schemas of the super.AI surface (`/v1`), one family per resource (`...Public`, `...List`).
Responses are built as dicts by `render` and validated against these models; field order here is
the order on the wire."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SuperAIError(BaseModel):
    """Every 4xx/5xx of the super.AI surface."""

    message: str = Field(description="What is wrong and how to fix it.")
    field: str | None = Field(None, description="The request field at fault, when there is one.")
