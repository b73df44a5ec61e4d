"""Streaming multipart upload: the `file` part goes straight into the blob store chunk by chunk
(never whole in memory, never spooled twice), with size, SHA-256 and CSV facts computed on the way.

Starlette's form parser spools file parts to a temporary file first; we use python-multipart's
low-level parser instead so the bytes land once, in the blob store, and the size limit is enforced
while streaming.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, BinaryIO

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from jobport.blobs import keys
from jobport.blobs.base import BlobStore
from jobport.config import LimitSettings, Settings
from jobport.domain.errors import Invalid, TooLarge
from jobport.services import files as file_service

MAX_FIELD_BYTES = 1024 * 1024  # largest other form part collected in memory (Gravity's `data`)
FORM_OVERHEAD_BYTES = 1024 * 1024  # room for part headers and other parts beside the file
_UPLOAD_DEFAULT_MIB = int(str(Settings.default_of("max_upload_bytes"))) // (1024 * 1024)


class FileReceiver:
    """Receives the part named `file` into a new blob; other parts are ignored."""

    def __init__(self, blobs: BlobStore, org_id: str, max_bytes: int, is_base64: bool = False,
                 blob_key: str | None = None, any_type: bool = False) -> None:
        """`blob_key`: where the bytes go (default: the org's file blob of a new uid). `any_type`:
        take any part content type (Gravity files are described by the request's mimeType)."""
        self._blob_key = blob_key
        self.any_type = any_type
        self.blobs = blobs
        self.org_id = org_id
        self.max_bytes = max_bytes
        self.is_base64 = is_base64
        self.uid = file_service.new_file_uid()
        self.file_id: str | None = None
        self.file_type: str | None = None
        self.stats: file_service.UploadStats | None = None
        self._cm: AbstractContextManager[BinaryIO] | None = None
        self._fh: BinaryIO | None = None
        self._b64_rest = b""
        self.committed = False

    @property
    def blob_key(self) -> str:
        return self._blob_key or keys.org_file(self.org_id, self.uid)

    def begin(self, filename: str | None, content_type: str | None) -> None:
        if self._cm is not None or self.committed:
            raise Invalid("more than one 'file' part", field="file", code="invalid_request",
                          suggestion="Upload one file per request.")
        self.file_id = file_service.clean_file_id(filename)
        if self.any_type:
            self.file_type = (content_type or "application/octet-stream").strip()
        else:
            self.file_type = file_service.resolve_file_type(self.file_id, content_type)
        self.stats = file_service.UploadStats(is_csv=self.file_type == "text/csv",
                                              is_text=self.file_type in ("text/plain", "application/json"))
        self._cm = self.blobs.writer(self.blob_key)
        self._fh = self._cm.__enter__()

    def write(self, data: bytes) -> None:
        if self.is_base64:
            data = self._decode_base64(data)
        if not data:
            return
        assert self.stats is not None and self._fh is not None
        if self.stats.num_bytes + len(data) > self.max_bytes:
            raise TooLarge(f"file is larger than the limit of {self.max_bytes} bytes", field="file",
                           suggestion="Split the file, or ask the operator to raise JOBPORT_MAX_UPLOAD_BYTES.")
        self.stats.feed(data)
        self._fh.write(data)

    def _decode_base64(self, data: bytes) -> bytes:
        text = self._b64_rest + b"".join(data.split())
        usable = len(text) - len(text) % 4
        self._b64_rest = text[usable:]
        try:
            return base64.b64decode(text[:usable], validate=True)
        except (binascii.Error, ValueError) as err:
            raise Invalid(f"file part is not valid base64: {err}", field="file", code="invalid_base64",
                          suggestion="Send standard base64 text (A-Z, a-z, 0-9, +, /, = padding).") from None

    def end(self) -> None:
        if self._cm is None:
            return
        if self.is_base64 and self._b64_rest:
            raise Invalid("file part is not valid base64: truncated input", field="file", code="invalid_base64",
                          suggestion="Check that the base64 text is complete (length a multiple of 4).")
        cm, self._cm = self._cm, None
        cm.__exit__(None, None, None)
        self.committed = True

    def abort(self) -> None:
        if self._cm is not None:
            cm, self._cm = self._cm, None
            try:
                cm.__exit__(RuntimeError, RuntimeError("aborted"), None)
            except RuntimeError:
                pass
        if self.committed:
            self.blobs.delete(self.blob_key)
            self.committed = False


class _PartRouter:
    """python-multipart callbacks: the `file` part goes to the receiver, other named parts to
    `fields` (when given), each at most `max_field_bytes`."""

    def __init__(self, receiver: FileReceiver, fields: dict[str, bytes] | None, max_field_bytes: int) -> None:
        self.receiver = receiver
        self.fields = fields
        self.max_field_bytes = max_field_bytes
        self.on_part_begin()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {"on_part_begin": self.on_part_begin, "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished, "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end}

    def on_part_begin(self) -> None:
        self.headers: dict[str, bytes] = {}
        self.header_field = b""
        self.header_value = b""
        self.into_receiver = False
        self.collecting: str | None = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.decode("latin-1").lower()] = self.header_value
        self.header_field, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, disposition = parse_options_header(self.headers.get("content-disposition", b""))
        name = disposition.get(b"name")
        if name == b"file":
            filename = disposition.get(b"filename")
            part_type = self.headers.get("content-type", b"").decode("latin-1") or None
            self.receiver.begin(filename.decode("utf-8", errors="replace") if filename else None, part_type)
            self.into_receiver = True
        elif self.fields is not None and name:
            self.collecting = name.decode("utf-8", errors="replace")
            self.fields[self.collecting] = b""
            self.fields[f"{self.collecting}:content-type"] = self.headers.get("content-type", b"")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.into_receiver:
            self.receiver.write(data[start:end])
        elif self.collecting is not None and self.fields is not None:
            name = self.collecting
            self.fields[name] += data[start:end]
            if len(self.fields[name]) > self.max_field_bytes:
                raise TooLarge(f"form field {name!r} is larger than {self.max_field_bytes} bytes", field=name,
                               suggestion="Send large data as the 'file' part.")

    def on_part_end(self) -> None:
        if self.into_receiver:
            self.receiver.end()
            self.into_receiver = False


def _check_request(request: Request, receiver: FileReceiver) -> bytes:
    """The multipart boundary; 400 if the body is not multipart, 413 if its declared length is over
    what the receiver may take (base64 text may be twice the file, plus room for the other parts)."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise Invalid("expected a multipart/form-data body", field="file", code="invalid_request",
                      suggestion="POST multipart/form-data with the file in a part named 'file'.")
    length = request.headers.get("content-length")
    most = receiver.max_bytes * (2 if receiver.is_base64 else 1) + FORM_OVERHEAD_BYTES
    if length and length.isdigit() and int(length) > most:
        raise TooLarge(f"request is larger than the limit of {receiver.max_bytes} bytes", field="file",
                       suggestion="Split the file, or ask the operator to raise JOBPORT_MAX_UPLOAD_BYTES.")
    return bytes(boundary)


async def receive_file(request: Request, receiver: FileReceiver, fields: dict[str, bytes] | None = None,
                       max_field_bytes: int = MAX_FIELD_BYTES) -> None:
    """Stream the `file` part into `receiver`; other parts are ignored, or, with `fields`, collected
    there by name (each at most `max_field_bytes`), with each part's content type under `<name>:content-type`."""
    limits = _limits(request)
    parser = MultipartParser(_check_request(request, receiver),
                             callbacks=_PartRouter(receiver, fields, max_field_bytes).callbacks(),
                             max_header_count=limits.max_part_headers, max_header_size=limits.max_part_header_bytes)
    try:
        await _feed(request, parser, remote=receiver.blobs.local_path(receiver.blob_key) is None)
    except MultipartParseError as err:
        receiver.abort()
        raise _malformed(err, limits) from None
    except BaseException:
        receiver.abort()
        raise
    if not receiver.committed:
        receiver.abort()
        raise Invalid("no 'file' part in the upload", field="file", code="missing_parameter",
                      suggestion="Send the file as a multipart part named 'file' with a filename.")


async def _feed(request: Request, parser: MultipartParser, remote: bool) -> None:
    """The body into the parser; a remote store (S3) uploads parts over the network while the
    parser writes, so then the writes run off the event loop."""
    async for chunk in request.stream():
        if remote:
            await run_in_threadpool(parser.write, chunk)
        else:
            parser.write(chunk)
    if remote:
        await run_in_threadpool(parser.finalize)
    else:
        parser.finalize()


def _limits(request: Request) -> LimitSettings:
    state = request.app.state
    ctx = getattr(state, "ctx", None)
    if ctx is None and hasattr(state, "parent"):  # an app mounted on the API app (the /ui dashboard)
        ctx = getattr(state.parent.state, "ctx", None)
    return ctx.settings.limits if ctx is not None else LimitSettings()


def _malformed(err: MultipartParseError, limits: LimitSettings) -> Invalid:
    """python-multipart's refusal in the caller's words: which limit (a setting), or what is malformed."""
    reason = str(err)
    if reason == "Maximum header size exceeded":
        return Invalid(f"a multipart part header is longer than the limit of {limits.max_part_header_bytes} bytes",
                       field="file", code="part_header_too_large",
                       suggestion="Use a shorter filename (at most 255 characters), or ask the operator to raise "
                                  "JOBPORT_MAX_PART_HEADER_BYTES.")
    if reason == "Maximum header count exceeded":
        return Invalid(f"a multipart part has more than {limits.max_part_headers} header lines", field="file",
                       code="too_many_part_headers",
                       suggestion="Send each part with Content-Disposition and Content-Type only, or ask the operator "
                                  "to raise JOBPORT_MAX_PART_HEADERS.")
    return Invalid(f"the multipart body is malformed: {reason}", field="file", code="invalid_multipart",
                   suggestion="Let the HTTP client build the multipart/form-data body (e.g. curl -F "
                              "'file=@data.csv').")


def upload_body(is_base64: bool) -> dict[str, Any]:
    """`openapi_extra=` of an upload route: the multipart body these functions read."""
    limit = f"at most `max_upload_bytes` (default {_UPLOAD_DEFAULT_MIB} MiB) per file: 413 above"
    if is_base64:
        what = f"Base64 text of the file (the part's filename names the file); the decoded file is {limit}."
    else:
        what = (f"The file, with a filename (its basename is the file id) and a content type among "
                f"{', '.join(file_service.ACCEPTED_TYPES)} (or a model file: "
                f"{', '.join(file_service.MODEL_EXTENSIONS)}); {limit}.")
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary", "description": what}},
    }}}}}
