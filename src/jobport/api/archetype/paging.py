"""Paging parameters with the limits from settings: offset paging (`?offset=&limit=`) of most lists,
and the cursor paging (`?limit=&after=&before=`) of the file list, whose cursors are opaque
base64url strings of a file's position (updated_at, uid)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import orjson
from fastapi import Depends, Query

from jobport.api.deps import CtxDep
from jobport.api.params import Offset
from jobport.domain.bounds import INT64_MAX
from jobport.domain.errors import Invalid
from jobport.services.files import Position


@dataclass(frozen=True)
class OffsetPage:
    offset: int
    limit: int


def offset_page(ctx: CtxDep, offset: Offset = 0,
                limit: Annotated[int | None, Query(ge=1, le=INT64_MAX, description="Page size: default "
                                                   "`page_default` (20), at most `page_max` (1000; 400 above).")]
                = None) -> OffsetPage:
    limit = limit or ctx.settings.limits.page_default
    _check_limit(limit, ctx.settings.limits.page_max, " and page with offset")
    return OffsetPage(offset, limit)


Page = Annotated[OffsetPage, Depends(offset_page)]


@dataclass(frozen=True)
class CursorPage:
    limit: int
    after: Position | None
    before: Position | None


def cursor_page(
    ctx: CtxDep,
    limit: Annotated[int | None, Query(ge=1, le=INT64_MAX, description="Page size: default `files_page_default` "
                                       "(100), at most `page_max` (1000; 400 above).")] = None,
    after: Annotated[str | None, Query(description="`next_cursor` of the page before: the next, older files.")] = None,
    before: Annotated[str | None, Query(description="`prev_cursor` of the page after: the previous, newer files "
                                        "(not with `after`).")] = None,
) -> CursorPage:
    if after and before:
        raise Invalid("after and before are mutually exclusive", field="after", code="invalid_parameter",
                      suggestion="Pass only one of them.")
    limit = limit or ctx.settings.limits.files_page_default
    _check_limit(limit, ctx.settings.limits.page_max)
    return CursorPage(limit, decode_cursor(after, "after") if after else None,
                      decode_cursor(before, "before") if before else None)


FilesPage = Annotated[CursorPage, Depends(cursor_page)]


def encode_cursor(position: Position | None) -> str | None:
    if position is None:
        return None
    updated_at, uid = position
    return base64.urlsafe_b64encode(orjson.dumps([updated_at.isoformat(), uid])).decode().rstrip("=")


def decode_cursor(value: str, name: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        at, uid = orjson.loads(raw)
        return datetime.fromisoformat(at), uid
    except (binascii.Error, ValueError, TypeError):
        raise Invalid(f"{name}: not a cursor from this API", field=name, code="invalid_parameter",
                      suggestion="Pass next_cursor or prev_cursor from a previous page unchanged.") from None


def _check_limit(limit: int, most: int, paging_hint: str = "") -> None:
    if limit > most:
        raise Invalid(f"limit: at most {most}", field="limit", code="invalid_parameter",
                      suggestion=f"Use a limit between 1 and {most}{paging_hint}.")
