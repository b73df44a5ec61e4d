"""The rows services hand to the faces (API, CLI) to render: read-only by convention (services
change them; renderers only read). Renderers type-hint with these names and never import the store."""

from __future__ import annotations

from jobport.store.tables import (
    App,
    AppVersion,
    Batch,
    File,
    Job,
    JobEvent,
    JobInput,
    JobOutput,
    JobProgress,
    Operation,
    Org,
    PipelineRow,
)

__all__ = ["App", "AppVersion", "Batch", "File", "Job", "JobEvent", "JobInput", "JobOutput", "JobProgress",
           "Operation", "Org", "PipelineRow"]
