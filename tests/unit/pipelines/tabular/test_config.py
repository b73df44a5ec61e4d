"""The tabular-model config: MIME types, mapping rules (paths, destinations, typed defaults, the
Gravity `defaultValue` alias), output filename, and the published JSON Schema."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from jobport.pipelines.builtin.tabular import ACCEPTED_MIME_TYPES, TabularModelConfig, TabularModelPipeline, parse_mime
from jobport.pipelines.builtin.tabular.formats import RecordFormat

FEATURES = [
    {"name": "x", "type": "number"},
    {"name": "n", "type": "integer"},
    {"name": "s", "type": "string"},
    {"name": "b", "type": "boolean"},
]


def config(**overrides) -> TabularModelConfig:
    raw = {"features": FEATURES, "outputs": [{"name": "y"}], **overrides}
    return TabularModelConfig.model_validate(raw)


def error_text(**overrides) -> str:
    with pytest.raises(ValidationError) as info:
        config(**overrides)
    return str(info.value)


@pytest.mark.parametrize(
    ("mime", "expected"),
    [
        ("text/csv", RecordFormat("csv", True)),
        ("text/csv; header=present", RecordFormat("csv", True)),
        ("TEXT/CSV;Header=Absent", RecordFormat("csv", False)),
        ("text/csv; charset=utf-8; header=absent", RecordFormat("csv", False)),
        ("application/json", RecordFormat("json")),
        ("application/json; charset=UTF-8", RecordFormat("json")),
        ("application/x-ndjson", RecordFormat("jsonl")),
        ("application/jsonl", RecordFormat("jsonl")),
        ("application/json-lines", RecordFormat("jsonl")),
    ],
)
def test_accepted_mime_types(mime, expected):
    assert parse_mime(mime) == expected
    assert config(mime_type=mime).record_format == expected


@pytest.mark.parametrize(
    "mime",
    [
        "text/plain",
        "application/xml",
        "text/csv; header=maybe",
        "application/json; header=present",
        "text/csv; charset=latin-1",
    ],
)
def test_other_mime_types_are_rejected_naming_the_field_and_the_accepted_ones(mime):
    text = error_text(mime_type=mime)
    assert "mime_type" in text
    for accepted in ACCEPTED_MIME_TYPES:
        assert accepted in text


def test_defaults_and_output_name():
    c = config()
    assert c.mime_type == "text/csv; header=present" and c.chunk_rows == 10_000 and c.include_inputs
    assert c.output_name("input") == "data_input.csv"
    assert config(mime_type="application/json").output_name("a.b") == "data_a.b.json"
    assert config(mime_type="application/x-ndjson").output_name("x") == "data_x.jsonl"
    assert config(output_filename="scores.csv").output_name("x") == "scores.csv"
    assert config(mime_type="text/csv; header=absent").csv_column_names == ["x", "n", "s", "b"]


@pytest.mark.parametrize("name", ["../up.csv", "a/b.csv", "a\\b.csv", ".", "..", "  ", "bad\nname"])
def test_output_filename_must_be_a_plain_name(name):
    assert "output_filename" in error_text(output_filename=name)


def test_mapping_rule_accepts_gravity_and_python_spellings_of_the_default():
    c = config(
        mapping=[
            {"source": "a", "destination": "x", "defaultValue": 1.5},
            {"source": "c", "destination": "n", "default_value": 2},
        ]
    )
    assert [r.default_value for r in c.mapping] == [1.5, 2]


@pytest.mark.parametrize(
    ("destination", "default", "fragment"),
    [
        ("x", "abc", "'abc' is not a number (feature 'x' is number)"),
        ("x", True, "true is not a number"),
        ("n", 2.5, "2.5 is not an integer"),
        ("b", "maybe", "'maybe' is not a boolean"),
        ("b", 7, "7 is not a boolean"),
    ],
)
def test_a_default_of_the_wrong_type_is_a_config_error(destination, default, fragment):
    text = error_text(mapping=[{"source": "src", "destination": destination, "defaultValue": default}])
    assert "mapping[0].default_value" in text and fragment in text


@pytest.mark.parametrize(
    ("destination", "default"),
    [("x", "5.5"), ("x", 3), ("n", "7"), ("n", 7.0), ("s", 12), ("s", "text"), ("b", "true"), ("b", False), ("b", 1)],
)
def test_defaults_that_fit_the_type(destination, default):
    config(mapping=[{"source": "src", "destination": destination, "defaultValue": default}])


def test_mapping_destination_must_be_a_feature_and_unique():
    text = error_text(mapping=[{"source": "a", "destination": "nope"}])
    assert "mapping[0].destination 'nope' is not a feature; features: x, n, s, b" in text
    text = error_text(mapping=[{"source": "a", "destination": "x"}, {"source": "b", "destination": "/x"}])
    assert "mapping[1] and mapping[0] both map to feature 'x'" in text


def test_bad_paths_name_the_rule():
    with pytest.raises(ValidationError) as info:
        config(mapping=[{"source": "ok", "destination": "x"}, {"source": "a[x]", "destination": "n"}])
    (error,) = info.value.errors()
    assert error["loc"] == ("mapping", 1, "source")
    assert "'[x]' is not a vector selector" in error["msg"]
    text = error_text(output_mapping=[{"source": "y", "destination": "g[*][*]"}])
    assert "output_mapping[0].destination" in text and "at most one" in text


def test_output_mapping_defaults_are_checked_against_declared_outputs():
    text = error_text(output_mapping=[{"source": "y", "destination": "Y", "defaultValue": "n/a"}])
    assert "output_mapping[0].default_value" in text and "output 'y' is number" in text
    config(output_mapping=[{"source": "someInputField", "destination": "Z", "defaultValue": "n/a"}])


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"features": []}, "features"),
        ({"outputs": []}, "outputs"),
        ({"features": [{"name": "a"}, {"name": "a"}]}, "features lists 'a' more than once"),
        ({"features": [{"name": "a", "type": "float"}]}, "type"),
        ({"columns": ["a", "a"]}, "columns lists 'a' more than once"),
        ({"chunk_rows": 0}, "chunk_rows"),
        ({"chunk_rows": 2_000_000}, "chunk_rows"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_structural_errors(overrides, fragment):
    assert fragment in error_text(**overrides)


def test_every_setting_is_described_in_the_published_schema():
    schema = TabularModelConfig.model_json_schema()
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name
    for model in schema["$defs"].values():
        for name, prop in model["properties"].items():
            assert prop.get("description"), name
    assert "defaultValue" in schema["$defs"]["MappingRule"]["properties"]
    assert schema["additionalProperties"] is False


def test_config_warning_for_columns_outside_headerless_csv():
    pipeline = TabularModelPipeline()
    assert pipeline.config_warnings(config(columns=["x", "n", "s", "b"])) != []
    assert pipeline.config_warnings(config(mime_type="text/csv; header=absent", columns=["x", "n", "s", "b"])) == []
