"""The Files screen: the org's files (an app key: its app's reference files) newest first, paged
with the API's cursors; upload one or more files in one form (streamed straight into the blob store
by the receiver `POST /v0.5/files` uses, each file within setting `max_upload_bytes`, recorded by the
same service); download through a fresh signed link (`ctx.signer`); delete after a confirmation
page. Uploading and deleting need a key of scope org or admin (403), as on the API."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jobport.api.archetype.paging import decode_cursor, encode_cursor
from jobport.api.multipart import FileReceiver, receive_file
from jobport.blobs.base import BlobStore
from jobport.dashboard.deps import CheckedForm, CsrfRejected, CsrfToken, SignedIn, UiCtx, UiSigner, form_value
from jobport.dashboard.pages import PREFIX, page
from jobport.dashboard.security import CSRF_COOKIE, CSRF_FIELD
from jobport.domain.errors import Invalid
from jobport.services import dashboard as dash
from jobport.services.auth import Scope

router = APIRouter()
PER_PAGE = 50
MOST_FILES = 20  # files in one upload form


class FormFiles(FileReceiver):
    """Receives every `file` part of the upload form, each into a blob of its own through the API's
    `FileReceiver` (with its per-file size limit). `check` runs before the first byte of each file
    is stored (the form's CSRF token comes before its files). A part without a filename (a file
    field left empty) is skipped."""

    def __init__(self, blobs: BlobStore, org_id: str, per_file: int, check: Callable[[], None]) -> None:
        super().__init__(blobs, org_id, per_file * MOST_FILES)
        self.per_file = per_file
        self.check = check
        self.received: list[FileReceiver] = []
        self._current: FileReceiver | None = None
        self.committed = True  # an upload without files is answered by the route, after the CSRF check

    def begin(self, filename: str | None, content_type: str | None) -> None:
        self.check()
        self._current = None
        if not filename:
            return
        if len(self.received) >= MOST_FILES:
            raise Invalid(f"more than {MOST_FILES} files in one upload", field="file", code="invalid_request",
                          suggestion=f"Upload at most {MOST_FILES} files at a time.")
        part = FileReceiver(self.blobs, self.org_id, self.per_file)
        self.received.append(part)
        part.begin(filename, content_type)
        self._current = part

    def write(self, data: bytes) -> None:
        if self._current is not None:
            self._current.write(data)

    def end(self) -> None:
        if self._current is not None:
            self._current.end()
            self._current = None

    def abort(self) -> None:
        for part in self.received:
            part.abort()
        self.received, self._current = [], None


@router.get("/files", response_class=HTMLResponse)
def files_page(request: Request, ctx: UiCtx, principal: SignedIn, csrf: CsrfToken) -> Response:
    after_text = request.query_params.get("after", "")
    after = decode_cursor(after_text, "after") if after_text else None
    listed = dash.list_files(ctx, principal, after, PER_PAGE)
    uploaded = [v for v in request.query_params.getlist("uploaded") if v][:MOST_FILES]
    return page(request, "files.html", title="Files", principal=principal, csrf=csrf, listed=listed,
                older=encode_cursor(listed.older_after), first_page=after is None, uploaded=uploaded,
                can_upload=principal.allows(Scope.ORG), max_bytes=ctx.settings.limits.max_upload_bytes,
                most_files=MOST_FILES)


@router.post("/files")
async def upload_files(request: Request, ctx: UiCtx, principal: SignedIn, signer: UiSigner) -> Response:
    """Streamed: the form is not read whole (so no `CheckedForm`); its CSRF token is checked as
    soon as the first file part begins, and again at the end."""
    dash.require_file_upload(principal)
    fields: dict[str, bytes] = {}
    cookie = request.cookies.get(CSRF_COOKIE)

    def check() -> None:
        token = fields.get(CSRF_FIELD, b"").decode("utf-8", "replace").strip()
        if not signer.csrf_ok(cookie, token or None):
            raise CsrfRejected("the form's security token is missing or does not match this browser's",
                               field=CSRF_FIELD, suggestion="Reload the page and submit the form again.")

    receiver = FormFiles(ctx.blobs, principal.org.id, ctx.settings.limits.max_upload_bytes, check)
    await receive_file(request, receiver, fields)
    try:
        check()
        if not receiver.received:
            raise Invalid("no file chosen", field="file", code="missing_parameter",
                          suggestion="Choose one or more files to upload.")
        rows = await run_in_threadpool(dash.record_uploads, ctx, principal, [
            (part.file_id or "", part.uid, part.file_type or "", part.stats) for part in receiver.received
            if part.stats is not None])
    except BaseException:
        receiver.abort()
        raise
    query = "&".join(f"uploaded={quote(r.file_id, safe='')}" for r in rows)
    return RedirectResponse(f"{PREFIX}/files?{query}", status_code=303)


@router.get("/files/{file_id}/download")
def download(ctx: UiCtx, principal: SignedIn, file_id: str) -> Response:
    """A redirect to a fresh signed link of the file (as the API's links: no session needed until it expires)."""
    row = dash.file_of(ctx, principal, file_id)
    url, _ = ctx.signer.sign("", row.blob_key, row.file_id)
    return RedirectResponse(url, status_code=303)


@router.post("/files/{file_id}/delete", response_class=HTMLResponse)
def delete(request: Request, ctx: UiCtx, principal: SignedIn, form: CheckedForm, csrf: CsrfToken,
           file_id: str) -> Response:
    """Without `confirm=yes`: the confirmation page. With it: the file is deleted (a job that read it
    keeps its copy)."""
    dash.require_file_upload(principal)
    row = dash.file_of(ctx, principal, file_id)
    if form_value(form, "confirm") != "yes":
        return page(request, "file_delete.html", title="Files", principal=principal, csrf=csrf, file=row)
    dash.delete_file(ctx, principal, row.file_id)
    return RedirectResponse(f"{PREFIX}/files", status_code=303)
