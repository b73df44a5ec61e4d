"""The New job screen: pick a pipeline of the registry, then the form shows its input ports (the
org's files to choose on each; on an n-shot port a `class` and a `metadata` JSON per file), name,
priority, tags and the `parameters` JSON prefilled with the pipeline's default config. Submitting
builds the body of `POST /v0.5/batch/jobs` and creates the job through the same service, so a bad
value comes back as the domain's error naming the field, on the form again (400). Success
redirects to the job's page. Creating jobs needs a key of scope org or admin (403), as on the API."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from jobport.dashboard.deps import CheckedForm, CsrfToken, SignedIn, UiCtx, form_value, form_values
from jobport.dashboard.pages import PREFIX, page
from jobport.domain.errors import DomainError, Problem
from jobport.services import dashboard as dash
from jobport.services.auth import Principal, Scope
from jobport.services.context import AppContext

router = APIRouter()
METADATA_MODES = ("n_shot_file_list",)  # ports whose files carry a class label


def _form_of(form: FormData, ports: list[dict[str, Any]]) -> dash.NewJobForm:
    chosen = dash.NewJobForm(pipeline=form_value(form, "pipeline"), name=form_value(form, "name"),
                             priority=form_value(form, "priority"), tags=form_value(form, "tags"),
                             parameters=str(form.get("parameters") or ""))
    for port in ports:
        name = port["name"]
        chosen.files[name] = list(dict.fromkeys(form_values(form, f"in:{name}")))
        for file_id in chosen.files[name]:
            chosen.classes[(name, file_id)] = form_value(form, f"class:{name}:{file_id}")
            chosen.metadata[(name, file_id)] = str(form.get(f"meta:{name}:{file_id}") or "")
    return chosen


def _render(request: Request, ctx: AppContext, principal: Principal, csrf: str, chosen: dash.NewJobForm,
            problems: list[Problem] | None = None, status_code: int = 200) -> Response:
    pipeline = dash.pipeline_of(ctx, chosen.pipeline) if chosen.pipeline else None
    return page(request, "new_job.html", status_code=status_code, title="New job", principal=principal, csrf=csrf,
                pipelines=dash.pipeline_choices(ctx), pipeline=pipeline, form=chosen, problems=problems or [],
                files=dash.file_choices(ctx, principal) if pipeline else [], metadata_modes=METADATA_MODES,
                most_files=dash.NEW_JOB_MAX_FILES)


@router.get("/jobs/new", response_class=HTMLResponse)
def new_job_page(request: Request, ctx: UiCtx, principal: SignedIn, csrf: CsrfToken) -> Response:
    principal.require(Scope.ORG, "creating jobs")
    key = request.query_params.get("pipeline", "").strip()
    chosen = dash.NewJobForm(pipeline=key)
    if key:
        pipeline = dash.pipeline_of(ctx, key)
        chosen.name = f"{key}-job"
        chosen.parameters = json.dumps(pipeline["default_config"], indent=2)
    return _render(request, ctx, principal, csrf, chosen)


@router.post("/jobs/new", response_class=HTMLResponse)
def create_job(request: Request, ctx: UiCtx, principal: SignedIn, form: CheckedForm, csrf: CsrfToken) -> Response:
    principal.require(Scope.ORG, "creating jobs")
    key = form_value(form, "pipeline")
    if not key:
        return _render(request, ctx, principal, csrf, dash.NewJobForm(), status_code=400, problems=[
            Problem("pipeline: choose a pipeline", "pipeline", "Pick one from the list.", "missing_parameter")])
    pipeline = dash.pipeline_of(ctx, key)
    chosen = _form_of(form, pipeline["inputs"])
    try:
        job = dash.create_job(ctx, principal, chosen)
    except DomainError as problem:
        if problem.status_code != 400:
            raise
        return _render(request, ctx, principal, csrf, chosen, problem.problems, status_code=400)
    return RedirectResponse(f"{PREFIX}/jobs/{job.id}", status_code=303)
