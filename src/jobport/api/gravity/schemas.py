"""Wire schemas of the Gravity surface (`/api/v1/jobs`): every answer is the envelope
`{"data", "isError", "errorMessage"}`. Responses are built as dicts by `render` and validated
against these models; field order here is the order on the wire."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class GravityError(BaseModel):
    """Every 4xx/5xx of the Gravity surface."""

    data: Any = Field(None, description="Always null on errors.")
    isError: bool = Field(description="Always true on errors.")
    errorMessage: str = Field(description="What is wrong and how to fix it.")


class GravityJob(BaseModel):
    """A Gravity job (`id` is the job's UUID)."""

    name: str | None
    inputFileName: str | None
    inputMime: str | None
    billedUsage: int = Field(description="Units billed ($0.001 each).")
    recordCount: int
    recordGroupCount: int
    processingTimeMS: int
    status: str = Field(description="incomplete, success, error or fail.")
    statusMessage: str | None
    errorMessage: str | None
    versionNumber: str | None
    id: str
    createdDateUtc: str | None
    lastUpdatedUtc: str | None


class GravityJobEnvelope(BaseModel):
    data: GravityJob
    isError: bool
    errorMessage: str | None


class GravityJobListEnvelope(BaseModel):
    data: list[GravityJob]
    isError: bool
    errorMessage: str | None


class GravityLinkEnvelope(BaseModel):
    data: str = Field(description="A signed link to the result file; no auth needed until it expires.")
    isError: bool
    errorMessage: str | None


class GravityMappingRule(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source: str = Field(min_length=1, max_length=1000)
    destination: str = Field(min_length=1, max_length=1000)
    defaultValue: Any = None


class GravityJobData(BaseModel):
    """The `data` form field of POST /api/v1/jobs (JSON). Unknown keys (groupId, isGrouped,
    containerId...) are ignored."""

    model_config = ConfigDict(extra="ignore")
    version: str | None = Field(None, max_length=50, description="App version; null = the latest active one.")
    mimeType: str | None = Field(
        None, min_length=1, max_length=200,
        description='The file type, e.g. "text/csv; header=present". Null or missing (as the C# client sends it): '
                    "the file part's Content-Type, or for application/octet-stream the filename's extension.")
    name: str | None = Field(None, max_length=500)
    jobName: str | None = Field(None, max_length=500)
    mapping: list[GravityMappingRule] | None = None
    outputMapping: list[GravityMappingRule] | None = None
    callbackUrl: str | None = Field(None, max_length=2048, description="jobport extension: POST the job when it ends.")


class GravityJobRename(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(None, min_length=1, max_length=500)
    jobName: str | None = Field(None, min_length=1, max_length=500)
