"""Wire schemas of the super.AI surface (`/v1`): the request bodies, and one model per answer.
Responses are built as dicts by `render` and validated against these models; field order here is
the order on the wire. Every name starts with `SuperAI`: OpenAPI component names are shared by all
surfaces."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SuperAIError(BaseModel):
    """Every 4xx/5xx of the super.AI surface."""

    message: str = Field(description="What is wrong and how to fix it.")
    field: str | None = Field(None, description="The request field at fault, when there is one.")


# Request bodies


# Not prefixed: the class name is part of the wire (the message answering a body that is not an
# object names it), and its schema is inlined in the route's OpenAPI, not a shared component.
class CreateJobsIn(BaseModel):
    """`POST /apps/{app_id}/jobs`: one job per input object, all in one batch."""

    model_config = ConfigDict(extra="ignore")
    callbackUrl: str | None = Field(None, max_length=2048, description="Where the job callbacks (v1) go.")
    inputs: Any = Field(None, description="The input objects (a JSON array); or give `inputsFileUrl`.")
    inputsFileUrl: str | None = Field(None, max_length=2048,
                                      description="URL of a JSON file holding the array of input objects.")
    metadata: dict[str, Any] | None = Field(None, description="Stored on every job of the request.")
    tags: list[str] = Field(default_factory=list, max_length=100)
    pending: bool | None = Field(None, description="true parks the jobs (status PENDING) until they are queued.")
    addToQueue: bool | None = Field(None, description="false parks the jobs, as `pending: true` does.")
    jobType: str = Field("DEFAULT", description="DEFAULT, ONBOARDING or CALIBRATION (any case).")
    labeler: str | None = Field(None, description="Accepted and ignored (worker selection).")


class SuperAIQueueIn(BaseModel):
    """`POST /apps/{app_id}/jobs/queue`: which parked jobs to queue (no body, or no `jobIds`: all)."""

    model_config = ConfigDict(extra="ignore")
    jobIds: list[str | int] | None = Field(None, description="Numeric ids or uuids.")


class SuperAIReviewIn(BaseModel):
    """`PATCH /jobs/{job_id}/review`: at least one of the two."""

    model_config = ConfigDict(extra="ignore")
    response: Any = Field(None, description="The corrected output; replaces the job's response.")
    correct: bool | None = Field(None, description="Whether the job's output is correct.")


class SuperAITagsIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    tags: list[str] = Field(min_length=1, max_length=100)


# Answers


class SuperAIJobsCreated(BaseModel):
    message: str
    batchId: str
    jobCount: int
    uuid: str | None = Field(None, description="The job's uuid; only present when one input was sent.")


class SuperAIJobsQueued(BaseModel):
    message: str
    queued: int = Field(description="Parked jobs moved to the queue.")


class SuperAIJob(BaseModel):
    """A job object (without its response)."""

    id: str = Field(description="The numeric id, as a string.")
    uuid: str
    created: str | None = Field(description="ISO 8601 UTC, e.g. 2020-02-12T13:41:41.695000+00:00.")
    completed: str | None = Field(description="When the job completed, failed or was cancelled.")
    callbackUrl: str | None
    appId: str | None
    status: str = Field(description="PENDING (parked), SCHEDULED, IN_PROGRESS, SUSPENDED, COMPLETED, REVIEWED, "
                                    "FAILED, CANCELED or EXPIRED.")
    input: Any = Field(description="The input object.")
    metadata: dict[str, Any] | None
    tags: list[str]
    correct: bool | None
    jobType: str
    batchId: str | None


class SuperAIJobList(BaseModel):
    jobs: list[SuperAIJob]
    total: int
    pageSize: int
    pageNumber: int = Field(description="0-based.")
    pages: int


class SuperAIJobResponse(BaseModel):
    id: str
    uuid: str
    status: str
    response: Any = Field(description="The reviewed response if any, else the job's output; null before it "
                                      "completed.")
    error: dict[str, Any] | None = Field(None, description="Why the job failed; only present when it did.")


class SuperAIReviewed(BaseModel):
    message: str
    id: str
    status: str
    correct: bool | None


class SuperAIBatch(BaseModel):
    batchId: str
    appId: str
    created: str | None
    jobCount: int
    state: str = Field(description="PROCESSING until every job ended, then COMPLETED, FAILED or PARTIAL_FAILURE.")
    counts: dict[str, int] = Field(description="Ended jobs by super.AI status (COMPLETED, FAILED, CANCELED, EXPIRED).")
    error: str | None


class SuperAIBatchJob(BaseModel):
    id: str
    uuid: str
    status: str


class SuperAIBatchWithJobs(SuperAIBatch):
    jobIds: list[str]
    jobs: list[SuperAIBatchJob]


class SuperAIBatchList(BaseModel):
    batches: list[SuperAIBatch]


class SuperAITagsChanged(BaseModel):
    message: str
    updated: int = Field(description="Jobs whose tags changed.")


class SuperAIExportStarted(BaseModel):
    operationId: int


class SuperAIOperation(BaseModel):
    id: int
    status: str = Field(description="IN_PROGRESS, COMPLETED or FAILED.")
    kind: str
    jobCount: int | None
    error: str | None
    created: str | None
    completed: str | None


class SuperAIDownloadUrl(BaseModel):
    downloadUrl: str = Field(description="A signed link to the zip (no auth needed until it expires).")
    expires: int = Field(description="Unix seconds.")
