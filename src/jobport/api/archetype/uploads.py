"""Direct uploads in parts (`/v0.5/files/uploads...`), as the `archetypeai` client's
`files.local.upload(path, use_proxy=False)` calls them: initiate (signed part links), the part PUTs
(`api/upload_parts.py`), checkpoint, fresh links, complete (the file appears) and abort."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from jobport.api.archetype import render
from jobport.api.deps import CtxDep, OrgWide, base_url
from jobport.api.errors import surface_route
from jobport.api.openapi import errors
from jobport.services import uploads as upload_service

router = APIRouter(prefix="/uploads", tags=["files"], route_class=surface_route(render.error_body))
MOST_PARTS = 100_000  # the largest `upload_max_parts` the settings allow
UploadId = Annotated[str, Path(max_length=64, description="The `upload_id` initiate answered.")]


class UploadInitiate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    filename: str = Field(min_length=1, max_length=1000, description="The file's basename: its id once complete.")
    file_type: str | None = Field(None, max_length=200, description="Content type, e.g. text/csv (else from the "
                                                                    "filename's extension).")
    num_bytes: int = Field(ge=1, le=2**62, description="The file's size in bytes.")
    resume_if_started: bool = Field(False, description="Resume the open upload of the same filename, type and size, "
                                                       "if any: its links cover only the parts not yet received.")


class PartLinkPublic(BaseModel):
    part_number: int = Field(description="From 1.")
    url: str = Field(description="PUT exactly `length` bytes of the file from `offset` here (no auth header).")
    offset: int
    length: int
    expires_at: str


class UploadInitiated(BaseModel):
    upload_id: str
    file_uid: str
    file_name: str
    file_type: str
    total_bytes: int
    num_parts: int
    part_size: int = Field(description="Setting `upload_part_size_bytes`; the last part may be smaller.")
    is_resume: bool
    strategy: Literal["simple", "multipart"] = Field(description="`simple`: one part; `multipart`: several.")
    parts: list[PartLinkPublic] = Field(description="The parts still to send (all of them unless resumed).")
    expires_at: str = Field(description="Complete before this (setting `upload_expiry_seconds`).")


class PartToken(BaseModel):
    model_config = ConfigDict(extra="ignore")
    part_number: int = Field(ge=1, le=MOST_PARTS)
    part_token: str = Field(min_length=1, max_length=200, description="The `ETag` header the part's PUT answered.")


class PartTokens(BaseModel):
    model_config = ConfigDict(extra="ignore")
    parts: list[PartToken] = Field(default_factory=list, max_length=MOST_PARTS)


class PartNumbers(BaseModel):
    model_config = ConfigDict(extra="ignore")
    part_numbers: list[Annotated[int, Field(ge=1, le=MOST_PARTS)]] | None = Field(
        None, max_length=MOST_PARTS, description="The parts to link (default: every part).")


class PartLinks(BaseModel):
    upload_id: str
    parts: list[PartLinkPublic]


class UploadCheckpointed(BaseModel):
    upload_id: str
    received_parts: list[int] = Field(description="Every part the server holds so far.")
    num_parts: int


class UploadCompleted(BaseModel):
    is_valid: bool
    file_id: str
    file_uid: str
    file_name: str = Field(description="The file's id, as the Files API names it.")
    file_type: str
    file_status: str = Field(description="`Registered`: the file can be used in jobs.")
    num_bytes: int
    file_attributes: dict[str, Any]


class UploadAborted(BaseModel):
    upload_id: str
    status: Literal["aborted"]


def _links(links: list[upload_service.PartLink]) -> list[dict[str, Any]]:
    return [{"part_number": p.part_number, "url": p.url, "offset": p.offset, "length": p.length,
             "expires_at": render.iso(p.expires_at)} for p in links]


@router.post("/initiate", summary="Start a direct upload: one signed PUT link per part",
             response_model=UploadInitiated, responses=errors())
def initiate(body: UploadInitiate, request: Request, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    """Part size, most parts and expiry are settings (`upload_part_size_bytes`, `upload_max_parts`,
    `upload_expiry_seconds`)."""
    plan = upload_service.initiate(ctx, org.id, upload_service.InitiateRequest(
        body.filename, body.file_type, body.num_bytes, body.resume_if_started), base_url(request, ctx))
    upload = plan.upload
    return {"upload_id": upload.id, "file_uid": upload.file_uid, "file_name": upload.file_id,
            "file_type": upload.file_type, "total_bytes": upload.num_bytes, "num_parts": upload.num_parts,
            "part_size": upload.part_size, "is_resume": plan.is_resume,
            "strategy": "simple" if upload.num_parts == 1 else "multipart", "parts": _links(plan.parts),
            "expires_at": render.iso(upload.expires_at)}


@router.post("/{upload_id}/parts/urls", summary="Fresh signed links for parts of an open upload",
             response_model=PartLinks, responses=errors(404, 409))
def part_urls(upload_id: UploadId, body: PartNumbers, request: Request, ctx: CtxDep,
              org: OrgWide) -> dict[str, Any]:
    links = upload_service.refresh_links(ctx, org.id, upload_id, body.part_numbers, base_url(request, ctx))
    return {"upload_id": upload_id, "parts": _links(links)}


@router.post("/{upload_id}/parts/checkpoint", summary="Confirm parts by their ETags",
             response_model=UploadCheckpointed, responses=errors(404, 409))
def checkpoint(upload_id: UploadId, body: PartTokens, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    received, num_parts = upload_service.checkpoint(ctx, org.id, upload_id, _tokens(body))
    return {"upload_id": upload_id, "received_parts": received, "num_parts": num_parts}


@router.post("/{upload_id}/complete", summary="Assemble the parts: the file appears under its name",
             response_model=UploadCompleted, responses=errors(404, 409))
def complete(upload_id: UploadId, body: PartTokens, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    """Every part must have been received; each part named must carry its PUT's ETag. Parts a
    resumed upload already held may be left out of `parts`."""
    row = upload_service.complete(ctx, org.id, upload_id, _tokens(body))
    return {"is_valid": True, "file_id": row.file_id, "file_uid": row.uid, "file_name": row.file_id,
            "file_type": row.file_type, "file_status": "Registered", "num_bytes": row.num_bytes,
            "file_attributes": row.attributes}


@router.post("/{upload_id}/abort", summary="Abort an upload and drop its parts", response_model=UploadAborted,
             responses=errors(404, 409))
def abort(upload_id: UploadId, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    upload_service.abort(ctx, org.id, upload_id)
    return {"upload_id": upload_id, "status": "aborted"}


def _tokens(body: PartTokens) -> list[upload_service.CompletedPart]:
    return [upload_service.CompletedPart(p.part_number, p.part_token) for p in body.parts]
