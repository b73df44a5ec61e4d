"""Offset paging (`?offset=&limit=`) with the limits from settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

from jobport.api.deps import CtxDep
from jobport.domain.errors import Invalid


@dataclass(frozen=True)
class OffsetPage:
    offset: int
    limit: int


def offset_page(ctx: CtxDep, offset: Annotated[int, Query(ge=0, description="Items to skip.")] = 0,
                limit: Annotated[int | None, Query(ge=1, description="Page size: default `page_default` (20), "
                                                   "at most `page_max` (1000; 400 above).")] = None) -> OffsetPage:
    limit = limit or ctx.settings.page_default
    if limit > ctx.settings.page_max:
        raise Invalid(f"limit: at most {ctx.settings.page_max}", field="limit", code="invalid_parameter",
                      suggestion=f"Use a limit between 1 and {ctx.settings.page_max} and page with offset.")
    return OffsetPage(offset, limit)


Page = Annotated[OffsetPage, Depends(offset_page)]
