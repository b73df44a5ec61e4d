"""Named reference sets: an org's labelled n-shot recordings saved under a name, so that later
jobs use them by `reference_set` in their config instead of uploading and listing n-shot files.

A `machine-state-evaluation` job with `save_reference_set: NAME` saves its recordings when it
completes (`autopublish.AfterTraining` calls `save_from_job`). A set is blobs only, no table:
`keys.reference_set_prefix(org, name)` holds the copied files (`files/<n>-<file id>`) and
`manifest.json` (name, source job, time, one entry per recording: file id, class and other
metadata, size, checksum, attributes, blob key), written last, so a set is found by name once it
is whole. Sets are org-scoped (another org's name is unknown) and immutable: a name already saved
is refused at create and, should two jobs race for it, fails the second save.

At job creation (`for_create`), `reference_set` in a job's config becomes the reference inputs
of the pipeline's n-shot port; an unknown name is a 400 naming
`parameters.worker.config.reference_set`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from jobport.blobs import keys
from jobport.domain.errors import Conflict, Invalid, Problem
from jobport.domain.payloads import InputPayload
from jobport.pipelines.sdk import FileFacts, Pipeline
from jobport.services.context import AppContext
from jobport.services.jobs.control import owned
from jobport.services.jobs.draft import DraftInput
from jobport.store import jobs as job_store
from jobport.store.db import utcnow

MANIFEST = "manifest.json"
CONFIG_FIELD = "parameters.worker.config"
N_SHOT_MODE = "n_shot_file_list"


def _manifest_key(org_id: str, name: str) -> str:
    return keys.reference_set_prefix(org_id, name) + MANIFEST


def load(ctx: AppContext, org_id: str, name: str) -> dict[str, Any] | None:
    """The org's reference set of this name (its manifest), or None."""
    key = _manifest_key(org_id, name)
    if not ctx.blobs.exists(key):
        return None
    with ctx.blobs.open(key) as handle:
        manifest: dict[str, Any] = json.load(handle)
    return manifest


def save_from_job(ctx: AppContext, org_id: str, job_id: str, name: str) -> dict[str, Any]:
    """Save the recordings (n-shot reference inputs) of the org's job as reference set `name`;
    a summary (name, recordings, classes). 409 when the org already has a set of that name."""
    if load(ctx, org_id, name) is not None:
        raise Conflict(f"reference set {name!r} already exists", field=f"{CONFIG_FIELD}.save_reference_set",
                       code="reference_set_exists", suggestion="Reference sets are immutable; pick a new name.")
    with ctx.sessions() as session:
        job = owned(session, org_id, job_id)
        rows = job_store.reference_inputs_of(session, [job.id])[job.id]
    prefix = keys.reference_set_prefix(org_id, name)
    recordings: list[dict[str, Any]] = []
    for n, row in enumerate(rows):
        payload = InputPayload.model_validate(row.data)
        if payload.blob_key is None or not payload.metadata.get("class"):
            continue
        key = f"{prefix}files/{n:05d}-{row.file_id}"
        with ctx.blobs.writer(key) as out:
            for chunk in ctx.blobs.iter_chunks(payload.blob_key):
                out.write(chunk)
        recordings.append({"file_id": row.file_id, "file_uid": row.file_uid, "blob_key": key,
                           "file_type": payload.file_type, "num_bytes": payload.num_bytes, "sha256": payload.sha256,
                           "attributes": payload.file_attributes, "metadata": payload.metadata})
    manifest = {"name": name, "source_job": job.id, "pipeline_key": job.pipeline_key,
                "created_at": utcnow().isoformat(), "recordings": recordings}
    with ctx.blobs.writer(_manifest_key(org_id, name)) as out:
        out.write(json.dumps(manifest, indent=2).encode())
    classes = sorted({str(r["metadata"]["class"]) for r in recordings})
    return {"name": name, "recordings": len(recordings), "classes": classes}


@dataclass
class SetInputs:
    """A reference set as a job's reference inputs on `port` (and their facts for create checks)."""

    port: str
    inputs: list[DraftInput]
    facts: list[FileFacts]


def for_create(ctx: AppContext, org_id: str, pipeline: Pipeline, raw_config: dict[str, Any] | None,
               given_ports: set[str]) -> SetInputs | None:
    """The reference set a job's (unvalidated) config names, as reference inputs; None when it
    names none. 400 naming `reference_set` for an unknown name, a pipeline without an n-shot
    port, or n-shot files given as well."""
    name = (raw_config or {}).get("reference_set")
    if not isinstance(name, str) or not name:
        return None  # absent, or not text: the config's own validation names it
    field = f"{CONFIG_FIELD}.reference_set"
    port = next((p.name for p in pipeline.spec.inputs if p.mode == N_SHOT_MODE and not p.tracked), None)
    if port is None:
        raise Invalid(f"reference_set: {pipeline.spec.key} takes no n-shot files", field=field,
                      code="invalid_parameter", suggestion="Remove reference_set.")
    if port in given_ports:
        raise Invalid(f"reference_set: give either reference_set or inputs.{port}, not both", field=field,
                      code="invalid_parameter", suggestion=f"Remove reference_set or inputs.{port}.")
    manifest = load(ctx, org_id, name)
    if manifest is None:
        raise Invalid(f"reference_set: this org has no reference set {name!r}", field=field,
                      code="reference_set_not_found",
                      suggestion="Save one with a machine-state-evaluation job's save_reference_set, or upload "
                                 f"the n-shot files under inputs.{port}.")
    inputs, facts = [], []
    for r in manifest["recordings"]:
        payload = InputPayload.of_file(r["file_id"], r["file_type"], r["num_bytes"], r["sha256"], r["blob_key"],
                                       r["attributes"], r["metadata"])
        inputs.append(DraftInput(port, r["file_id"], r["file_uid"], payload, False))
        facts.append(FileFacts(r["file_id"], r["num_bytes"], r["attributes"], r["metadata"]))
    return SetInputs(port, inputs, facts)


def target_problems(ctx: AppContext, org_id: str, config: BaseModel) -> list[Problem]:
    """`save_reference_set` naming a set the org already has, as a create-time problem."""
    name = getattr(config, "save_reference_set", None)
    if not name or load(ctx, org_id, name) is None:
        return []
    return [Problem(f"save_reference_set: this org already has a reference set {name!r}",
                    f"{CONFIG_FIELD}.save_reference_set", "Reference sets are immutable; pick a new name.",
                    "reference_set_exists")]
