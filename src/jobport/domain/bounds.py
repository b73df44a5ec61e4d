"""What a value must be to be stored: integers fit the database's signed 64-bit integer (numeric
ids, offsets, budgets, and every integer inside free-form JSON such as metadata, configs and
records), numbers are finite, text holds no NUL character, and JSON nests at most a configured
depth. One rule for every surface; `docs/compat.md` ("Numbers, nesting and unexpected errors")
states it for clients."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
NUL = "\x00"  # no database text column takes it (PostgreSQL refuses it in text and JSON)


def text_problem(name: str, value: str) -> str | None:
    """Why a text parameter cannot be stored or queried, if it cannot."""
    return f"{name}: text contains the NUL character (U+0000)" if NUL in value else None


def fits_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def stored_int(text: str) -> int | None:
    """A decimal numeric id (`"42"`) as an int when it could be a stored one; None for any other
    text, including digits beyond the 64-bit range (no such row can exist)."""
    if not text.isdigit() or not text.isascii():
        return None
    value = int(text)
    return value if value <= INT64_MAX else None


@dataclass(frozen=True)
class JsonProblem:
    path: str  # where in the document, e.g. `metadata.sizes[2]` (empty: the document itself)
    message: str
    code: str


def json_problem(value: Any, max_depth: int, root: str = "") -> JsonProblem | None:
    """The first value of a parsed JSON document that cannot be stored: an integer outside the
    signed 64-bit range, a number that is not finite, or arrays/objects nested deeper than
    `max_depth` (the document itself is level 1). None when the document is fine."""
    if type(value) is not dict and type(value) is not list:
        return _scalar_problem(value, root)
    # (container, its trail, depth); a trail is (parent trail, key), spelled out only for a problem
    stack: list[tuple[Any, Any, int]] = [(value, None, 1)]
    while stack:
        container, trail, depth = stack.pop()
        if depth > max_depth:
            where = _path(root, trail)
            return JsonProblem(where, f"{where or 'body'}: arrays and objects nest deeper than {max_depth} levels",
                               "too_deeply_nested")
        for key, item in container.items() if type(container) is dict else enumerate(container):
            kind = type(item)
            if kind is dict or kind is list:
                stack.append((item, (trail, key), depth + 1))
            elif ((kind is int and not INT64_MIN <= item <= INT64_MAX) or (kind is float and not math.isfinite(item))
                  or (kind is str and NUL in item) or (type(key) is str and NUL in key)):
                return _scalar_problem(item, _path(root, (trail, key)), key)
    return None


def _scalar_problem(item: Any, path: str, key: Any = None) -> JsonProblem | None:
    if (type(item) is str and NUL in item) or (type(key) is str and NUL in key):
        return JsonProblem(path, f"{path or 'body'}: text contains the NUL character (U+0000), which cannot be "
                                 "stored", "invalid_text")
    if type(item) is int and not fits_int64(item):
        digits = len(str(abs(item)))
        shown = str(item) if digits <= 40 else f"an integer of {digits} digits"
        return JsonProblem(path, f"{path or 'body'}: {shown} is outside the 64-bit integer range "
                                 f"({INT64_MIN} to {INT64_MAX})", "number_out_of_range")
    if type(item) is float and not math.isfinite(item):
        return JsonProblem(path, f"{path or 'body'}: {item} is not a finite number", "number_out_of_range")
    return None


def _path(root: str, trail: Any) -> str:
    keys: list[str | int] = []
    while trail is not None:
        trail, key = trail
        keys.append(key)
    path = root
    for key in reversed(keys):
        path = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))
    return path
