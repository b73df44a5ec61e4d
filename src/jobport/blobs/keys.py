"""The one blob key layout. Every key the server writes is built here, so the layout can be read
(and changed) in one place:

    orgs/<org id>/files/<file uid>                      uploaded files (Files API)
    orgs/<org id>/reference-sets/<name hash>/...        a named reference set: manifest.json + files/
    jobs/<job id>/inputs/<file uid>                     a file posted with its job (Gravity)
    jobs/<job id>/outputs/<input id>/<filename>         what a worker wrote for one input
    apps/<app id>/<version hash>/<port>/<file id>       an app version's copied reference files
    exports/<org id>/<operation id>/jobs.zip            a bulk export (super.AI job_responses)
    uploads/<org id>/<upload id>/parts/<n>             a part of a direct upload, until it completes
"""

from __future__ import annotations

import hashlib


def org_file(org_id: str, file_uid: str) -> str:
    return f"orgs/{org_id}/files/{file_uid}"


def reference_set_prefix(org_id: str, name: str) -> str:
    """A named reference set (manifest.json and its copied files/); the name is hashed like a version label."""
    return f"orgs/{org_id}/reference-sets/{hashlib.sha256(name.encode()).hexdigest()[:16]}/"


def job_prefix(job_id: str) -> str:
    """Everything a job owns (posted input files, outputs); deleted with the job."""
    return f"jobs/{job_id}/"


def job_input(job_id: str, file_uid: str) -> str:
    return f"{job_prefix(job_id)}inputs/{file_uid}"


def job_output(job_id: str, input_id: str, filename: str) -> str:
    return f"{job_prefix(job_id)}outputs/{input_id}/{filename}"


def job_of_output(key: str) -> str | None:
    """The job id in a `job_output` key (None for other keys)."""
    prefix = job_prefix("\0")
    head, _, tail = prefix.partition("\0")
    if not key.startswith(head):
        return None
    job_id, sep, rest = key[len(head):].partition(tail)
    return job_id if sep and rest.startswith("outputs/") and job_id else None


def app_prefix(app_id: str) -> str:
    return f"apps/{app_id}/"


def app_reference(app_id: str, version: str, port_name: str, file_id: str) -> str:
    # the version label is hashed: labels may hold characters that are awkward in paths ("+")
    return f"{app_prefix(app_id)}{hashlib.sha256(version.encode()).hexdigest()[:16]}/{port_name}/{file_id}"


def export_archive(org_id: str, operation_id: int) -> str:
    return f"exports/{org_id}/{operation_id}/jobs.zip"


def upload_prefix(org_id: str, upload_id: str) -> str:
    """The parts of one direct upload; deleted when it completes, is aborted or expires."""
    return f"uploads/{org_id}/{upload_id}/"


def upload_part(org_id: str, upload_id: str, part_number: int) -> str:
    return f"{upload_prefix(org_id, upload_id)}parts/{part_number}"
