"""Gravity schema paths: parsing (every vector-selector form of the docs), reading and writing."""

from __future__ import annotations

import pytest

from jobport.pipelines.builtin.tabular.paths import (
    MISSING,
    PathError,
    Selector,
    check_writable,
    field_path,
    get_path,
    parse_path,
    set_path,
)

RECORD = {
    "customer": {"name": "Ada", "addresses": [{"zip": "10115"}, {"zip": "20095", "city": "Hamburg"}]},
    "items": [{"price": 1.5}, {"sku": "b"}, {"price": 3.0}],
    "grid": [[0, 1, 2], [10, 11, 12], [20, 21, 22]],
    "mixed": [1, "one", 2, "two", 3, "three"],
}


@pytest.mark.parametrize(
    ("text", "positions"),
    [
        ("v[*]", list(range(10))),
        ("v[0]", [0]),
        ("v[0+2]", [0, 2, 4, 6, 8]),
        ("v[1+2]", [1, 3, 5, 7, 9]),
        ("v[0+3]", [0, 3, 6, 9]),
        ("v[0,3]", [0, 1, 2]),
        ("v[0+1,3]", [0, 1, 2]),
        ("v[3,3]", [3, 4, 5]),
        ("v[3+2,4]", [3, 5, 7, 9]),
        ("v[3+2,*]", [3, 5, 7, 9]),
        ("v[0-3]", [0, 1, 2, 3]),
        ("v[3-3]", [3]),
        ("v[3+2-7]", [3, 5, 7]),
        ("v[2+2-7]", [2, 4, 6]),
        ("v[2+2-*]", [2, 4, 6, 8]),
    ],
)
def test_vector_notation_selects_the_documented_positions(text, positions):
    record = {"v": list(range(10))}
    selected = get_path(record, parse_path(text))
    assert (selected if isinstance(selected, list) else [selected]) == positions


def test_parse_keys_selectors_and_optional_leading_slash():
    path = parse_path("/customer/addresses[0]/zip")
    assert [s.key for s in path.segments] == ["customer", "addresses", "zip"]
    assert path.segments[1].selectors == (Selector(0, single=True),)
    assert parse_path("a").simple_key == "a"
    assert parse_path("/a").simple_key == "a"
    assert parse_path("a[0]").simple_key is None
    assert parse_path("a/b").simple_key is None
    assert parse_path("items[*]/price").fans_out and not parse_path("a[2]/b").fans_out


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "at least one key"),
        ("/", "at least one key"),
        ("a//b", "empty key"),
        ("[0]/a", "empty key"),
        ("a[x]", "'[x]' is not a vector selector"),
        ("a[0", "unexpected text"),
        ("a[1]b", "unexpected text"),
        ("a]", "unmatched"),
        ("a[5-2]", "before its start"),
        ("a[0+0]", "step of 0"),
    ],
)
def test_parse_errors_say_what_is_wrong(text, fragment):
    with pytest.raises(PathError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        parse_path(text)


def test_get_single_values_and_missing():
    assert get_path(RECORD, parse_path("customer/name")) == "Ada"
    assert get_path(RECORD, parse_path("customer/addresses[1]/city")) == "Hamburg"
    assert get_path(RECORD, parse_path("customer/addresses[0]/city")) is MISSING
    assert get_path(RECORD, parse_path("customer/addresses[5]/zip")) is MISSING
    assert get_path(RECORD, parse_path("nope/zip")) is MISSING
    assert get_path(RECORD, parse_path("customer/name/first")) is MISSING
    assert get_path({"a": None}, parse_path("a")) is None


def test_get_fan_out_keeps_positions_aligned():
    assert get_path(RECORD, parse_path("items[*]/price")) == [1.5, None, 3.0]
    assert get_path(RECORD, parse_path("customer/addresses[*]/zip")) == ["10115", "20095"]
    assert get_path(RECORD, parse_path("mixed[0+2]")) == [1, 2, 3]
    assert get_path(RECORD, parse_path("mixed[1+2]")) == ["one", "two", "three"]
    assert get_path(RECORD, parse_path("nothing[*]/x")) == []


def test_get_multi_dimensional():
    assert get_path(RECORD, parse_path("grid[0][2]")) == 2
    assert get_path(RECORD, parse_path("grid[*][2]")) == [2, 12, 22]
    assert get_path(RECORD, parse_path("grid[2][*]")) == [20, 21, 22]
    assert get_path(RECORD, parse_path("grid[1+1,2][0]")) == [10, 20]


def test_set_creates_objects_and_lists():
    out: dict = {}
    set_path(out, parse_path("a/b"), 1)
    set_path(out, parse_path("a/c[2]"), "x")
    set_path(out, parse_path("/top"), True)
    assert out == {"a": {"b": 1, "c": [None, None, "x"]}, "top": True}


def test_set_fan_out_spreads_a_list():
    out: dict = {}
    set_path(out, parse_path("items[*]/price"), [1, 2, 3])
    set_path(out, parse_path("items[*]/sku"), ["a", "b"])
    set_path(out, parse_path("odd[1+2]"), ["x", "y"])
    set_path(out, parse_path("two[0,2]"), [7, 8, 9])
    assert out == {
        "items": [{"price": 1, "sku": "a"}, {"price": 2, "sku": "b"}, {"price": 3}],
        "odd": [None, "x", None, "y"],
        "two": [7, 8],
    }
    one: dict = {}
    set_path(one, parse_path("v[*]"), 5)
    assert one == {"v": [5]}


def test_destinations_fan_out_at_most_once():
    check_writable(parse_path("a[*]/b[0]"))
    with pytest.raises(PathError, match="at most one"):
        check_writable(parse_path("grid[*][*]"))


def test_field_path_takes_a_name_literally():
    path = field_path("weird/name[0]")
    assert path.simple_key == "weird/name[0]"
    assert get_path({"weird/name[0]": 3}, path) == 3
