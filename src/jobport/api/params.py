"""Integer query and path parameters shared by every surface, bounded so that what reaches the
database fits its signed 64-bit integers: a larger value is a 400 in the surface's format naming
the parameter, before anything is queried.

- offsets (and super.AI page × size) are at most `MAX_OFFSET` (10^18), which leaves room for the
  page read after them (`offset + limit` stays a 64-bit integer);
- numeric ids are at most `INT64_MAX` (2^63-1). Ids that are either numeric or a UUID (super.AI
  jobs) stay strings: a number past the range simply finds nothing (404).

Page sizes have their own, smaller limits (settings, checked by the paging code)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from jobport.domain.bounds import INT64_MAX
from jobport.domain.errors import Invalid

MAX_OFFSET = 10**18

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip; at most 10^18.")]
PageIndex = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="0-based page number; page × size is at most "
                                                                 "10^18.")]
PageSize = Annotated[int | None, Query(ge=1, le=INT64_MAX, description="Page size.")]
Seconds = Annotated[int, Query(ge=1, le=INT64_MAX, description="A lifetime in seconds (capped by the server).")]
NumericId = Annotated[int, Path(ge=1, le=INT64_MAX, description="A numeric id; at most 2^63-1.")]


def page_offset(page: int, size: int, field: str = "page") -> int:
    """The offset of page `page` of `size` items; 400 naming `field` past `MAX_OFFSET`."""
    offset = page * size
    if offset > MAX_OFFSET:
        raise Invalid(f"{field}: page {page} of {size} items starts past item 10^18, the most a list can skip",
                      field=field, code="invalid_parameter", suggestion="Ask for a smaller page number.")
    return offset
