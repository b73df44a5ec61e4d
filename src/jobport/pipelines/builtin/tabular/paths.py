"""Gravity AI schema paths: where a value sits in a record (`customer/addresses[0]/zip`).

Syntax (Gravity's "Structured Data Schema" page): keys separated by `/` (a leading `/` is
optional), each key optionally followed by one or more vector selectors:

- `[n]`            position n (one value)
- `[*]`            every position
- `[s+i]`          positions s, s+i, s+2i, ... (`[0+2]`: the even positions)
- `[s+i-u]`        ... up to position u inclusive (`[3+2-7]`: 3, 5, 7); `[s-u]` steps by 1
- `[s+i,c]`        c positions from s (`[3+2,4]`: 3, 5, 7, 9); `[s,c]` steps by 1
- `*` in place of u or c: no upper bound

Reading a path with a fan-out selector (anything but `[n]`) gives a list of the values found, one
per selected position; writing such a path spreads a list over those positions. A CSV column is a
one-segment path (`simple_key`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_SELECTOR = re.compile(r"\[([^\[\]]*)\]")
_RANGE = re.compile(r"^(\d+)(?:\+(\d+))?(?:(-|,)(\d+|\*))?$")


class PathError(ValueError):
    """A string that is not a schema path; the message says which part is wrong."""


class _Missing:
    """The value at a path that does not exist in the record (distinct from a JSON null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Selector:
    """Positions `start, start+step, ...` below `stop` (exclusive; None = to the end of the list).
    `single` marks a plain `[n]`, which reads one value rather than a list."""

    start: int
    step: int = 1
    stop: int | None = None
    single: bool = False

    def positions(self, length: int) -> range:
        end = length if self.stop is None else min(self.stop, length)
        return range(self.start, max(end, self.start), self.step)

    def write_positions(self, count: int) -> range:
        """Where `count` values go when this selector is written."""
        if self.stop is not None:
            count = min(count, len(range(self.start, self.stop, self.step)))
        return range(self.start, self.start + count * self.step, self.step)


@dataclass(frozen=True)
class Segment:
    key: str
    selectors: tuple[Selector, ...] = ()


@dataclass(frozen=True)
class SchemaPath:
    text: str
    segments: tuple[Segment, ...]

    @property
    def simple_key(self) -> str | None:
        """The key when the path is one key without selectors (a CSV column name), else None."""
        if len(self.segments) == 1 and not self.segments[0].selectors:
            return self.segments[0].key
        return None

    @property
    def fans_out(self) -> bool:
        return any(not s.single for seg in self.segments for s in seg.selectors)

    def __str__(self) -> str:
        return self.text


@lru_cache(maxsize=4096)
def parse_path(text: str) -> SchemaPath:
    """Parse a schema path; `PathError` says what is wrong with it."""
    if not isinstance(text, str) or not text.strip("/ "):
        raise PathError("a schema path needs at least one key")
    body = text[1:] if text.startswith("/") else text
    segments = []
    for raw in body.split("/"):
        segments.append(_parse_segment(raw, text))
    return SchemaPath(text, tuple(segments))


def field_path(name: str) -> SchemaPath:
    """The path of a top-level field named `name` taken literally (even if it holds '/' or '[')."""
    return SchemaPath(name, (Segment(name),))


def _parse_segment(raw: str, text: str) -> Segment:
    bracket = raw.find("[")
    key = raw if bracket < 0 else raw[:bracket]
    if not key:
        raise PathError(f"'{text}' has an empty key (two '/' in a row, or a selector without a key)")
    if "]" in key:
        raise PathError(f"'{text}': unmatched ']' in '{raw}'")
    selectors = []
    rest = "" if bracket < 0 else raw[bracket:]
    position = 0
    for match in _SELECTOR.finditer(rest):
        if match.start() != position:
            raise PathError(f"'{text}': unexpected text '{rest[position : match.start()]}' in '{raw}'")
        selectors.append(_parse_selector(match.group(1).replace(" ", ""), text))
        position = match.end()
    if position != len(rest):
        raise PathError(f"'{text}': unexpected text '{rest[position:]}' in '{raw}' (selectors look like [0] or [*])")
    return Segment(key, tuple(selectors))


def _parse_selector(body: str, text: str) -> Selector:
    if body == "*":
        return Selector(0)
    match = _RANGE.match(body)
    if not match:
        raise PathError(
            f"'{text}': '[{body}]' is not a vector selector; use [n], [*], [start+step], "
            "[start+step-last] or [start+step,count]"
        )
    start = int(match.group(1))
    step_text, kind, bound = match.group(2), match.group(3), match.group(4)
    if step_text is None and kind is None:
        return Selector(start, single=True)
    step = int(step_text) if step_text is not None else 1
    if step < 1:
        raise PathError(f"'{text}': '[{body}]' has a step of 0; the step must be at least 1")
    if kind is None or bound == "*":
        return Selector(start, step)
    if kind == ",":
        return Selector(start, step, start + step * int(bound))
    last = int(bound)
    if last < start:
        raise PathError(f"'{text}': '[{body}]' ends at {last}, before its start {start}")
    return Selector(start, step, last + 1)


def get_path(record: Any, path: SchemaPath) -> Any:
    """The value at `path`, `MISSING` if it is not there, or a list of values for a fan-out path
    (an element that lacks the rest of the path contributes None, keeping positions aligned)."""
    if not path.fans_out:
        return _get_single(record, path.segments)
    return list(_get_many(record, path.segments, False))


def _get_single(value: Any, segments: tuple[Segment, ...]) -> Any:
    for seg in segments:
        if not isinstance(value, dict) or seg.key not in value:
            return MISSING
        value = value[seg.key]
        for sel in seg.selectors:
            if not isinstance(value, list) or sel.start >= len(value):
                return MISSING
            value = value[sel.start]
    return value


def _get_many(value: Any, segments: tuple[Segment, ...], fanned: bool) -> Iterator[Any]:
    """Values under `segments`; once inside a fan-out (`fanned`) an element that lacks the rest of
    the path yields None, so that positions stay aligned with the list it came from."""
    if not segments:
        yield value
        return
    seg, rest = segments[0], segments[1:]
    if not isinstance(value, dict) or seg.key not in value:
        if fanned:
            yield None
        return
    yield from _select(value[seg.key], seg.selectors, rest, fanned)


def _select(value: Any, selectors: tuple[Selector, ...], rest: tuple[Segment, ...], fanned: bool) -> Iterator[Any]:
    if not selectors:
        yield from _get_many(value, rest, fanned)
        return
    sel, more = selectors[0], selectors[1:]
    if sel.single:
        if isinstance(value, list) and sel.start < len(value):
            yield from _select(value[sel.start], more, rest, fanned)
        elif fanned:
            yield None
        return
    if isinstance(value, list):
        for i in sel.positions(len(value)):
            yield from _select(value[i], more, rest, True)


def set_path(record: dict[str, Any], path: SchemaPath, value: Any) -> None:
    """Write `value` at `path`, creating objects and lists on the way. A fan-out selector spreads
    a list over its positions (a single value counts as a list of one); paths with more than one
    fan-out selector are refused when the config is validated (`check_writable`)."""
    _set(record, path.segments, value)


def check_writable(path: SchemaPath) -> None:
    fan_outs = sum(1 for seg in path.segments for s in seg.selectors if not s.single)
    if fan_outs > 1:
        raise PathError(f"'{path.text}' has {fan_outs} fan-out selectors; a destination may have at most one")


def _set(container: dict[str, Any], segments: tuple[Segment, ...], value: Any) -> None:
    seg, rest = segments[0], segments[1:]
    if not seg.selectors:
        if not rest:
            container[seg.key] = value
            return
        child = container.get(seg.key)
        if not isinstance(child, dict):
            child = container[seg.key] = {}
        _set(child, rest, value)
        return
    current = container.get(seg.key)
    if not isinstance(current, list):
        current = container[seg.key] = []
    _set_in_list(current, seg.selectors, rest, value)


def _set_in_list(items: list[Any], selectors: tuple[Selector, ...], rest: tuple[Segment, ...], value: Any) -> None:
    sel, more = selectors[0], selectors[1:]
    if sel.single:
        targets = [(sel.start, value)]
    else:
        values = value if isinstance(value, list) else [value]
        targets = list(zip(sel.write_positions(len(values)), values, strict=False))
    for position, item in targets:
        if len(items) <= position:
            items.extend([None] * (position + 1 - len(items)))
        if more:
            if not isinstance(items[position], list):
                items[position] = []
            _set_in_list(items[position], more, rest, item)
        elif rest:
            if not isinstance(items[position], dict):
                items[position] = {}
            _set(items[position], rest, item)
        else:
            items[position] = item
