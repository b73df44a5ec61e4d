"""`preflight`: the POST-time pass of the Gravity surface. It counts records with the worker's own
readers and coercions, and stops at the first problem, naming the line, column or setting."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from jobport.pipelines.builtin.tabular import TabularModelConfig, preflight, write_iris_csv
from jobport.pipelines.builtin.tabular.example import FEATURES

CONFIG = {
    "features": [{"name": f} for f in FEATURES],
    "outputs": [{"name": "label", "type": "string"}, {"name": "p0"}, {"name": "p1"}, {"name": "p2"}],
}
HEADER = ",".join(FEATURES)


def check(content: bytes | str, **overrides):
    data = content.encode() if isinstance(content, str) else content
    config = TabularModelConfig.model_validate({**CONFIG, **overrides})
    return preflight(config, lambda: io.BytesIO(data), name="upload.dat")


def test_counts_csv_rows(tmp_path):
    path = write_iris_csv(tmp_path / "iris.csv", 12_345)
    config = TabularModelConfig.model_validate(CONFIG)
    result = preflight(config, lambda: open(path, "rb"), name="iris.csv", path=str(path))
    assert result.ok and result.records == 12_345 and result.problems == []
    from_stream = preflight(config, lambda: open(path, "rb"), name="iris.csv")
    assert from_stream.records == 12_345


def test_counts_json_and_jsonl_records():
    records = [dict(zip(FEATURES, [5.1, 3.5, 1.4, 0.2], strict=False))] * 7
    assert check(orjson.dumps(records), mime_type="application/json").records == 7
    jsonl = b"\n".join(orjson.dumps(r) for r in records) + b"\n\n"
    assert check(jsonl, mime_type="application/x-ndjson").records == 7
    assert check("5.1,3.5,1.4,0.2\n" * 3, mime_type="text/csv; header=absent").records == 3


def test_stops_at_the_first_bad_value_naming_the_line():
    content = HEADER + "\n" + "5.1,3.5,1.4,0.2\n" * 40 + "5.1,x,1.4,0.2\n" + "5.1,y,1.4,0.2\n"
    result = check(content, chunk_rows=16)
    (problem,) = result.problems
    assert not result.ok
    assert (problem.field, problem.message) == ("file", "line 42: column 'sepal_width': 'x' is not a number")
    assert result.records == 32, "records read before the chunk with the problem"


def test_missing_mapped_column_names_the_rule():
    mapping = [{"source": "PW", "destination": "petal_width"}]
    (problem,) = check(HEADER + "\n5.1,3.5,1.4,0.2\n", mapping=mapping).problems
    assert problem.field == "mapping[0].source"
    assert problem.message.startswith(
        "column 'PW' (mapping[0].source for feature 'petal_width') is not in the CSV header"
    )
    assert "defaultValue" in problem.suggestion


def test_missing_feature_column_names_the_feature():
    (problem,) = check("sepal_length,sepal_width,petal_length\n1,2,3\n").problems
    assert problem.field == "features[3].name" and "column 'petal_width' (feature 'petal_width')" in problem.message


def test_missing_value_with_mapping_names_the_rule():
    mapping = [{"source": "w", "destination": "petal_width"}]
    (problem,) = check("sepal_length,sepal_width,petal_length,w\n1,2,3,\n", mapping=mapping).problems
    assert problem.field == "mapping[0].source"
    assert (
        problem.message == "line 2: column 'w' (-> feature 'petal_width') is missing or empty and has no default value"
    )


@pytest.mark.parametrize(
    ("content", "mime", "fragment"),
    [
        (b'{"a": 1}', "application/json", "not a JSON array of objects"),
        (b'[{"a": 1}, 2]', "application/json", "record 2 is a number, not an object"),
        (b"", "application/json", "is empty"),
        (b"", "text/csv", "is empty"),
        (HEADER.encode() + b"\n", "text/csv", "has no records"),
        (b'{"sepal_length": 1}\nnope\n', "application/jsonl", "line 2: not valid JSON"),
    ],
)
def test_file_level_problems(content, mime, fragment):
    (problem,) = check(content, mime_type=mime).problems
    assert problem.field == "file" and fragment in problem.message


def test_unknown_output_mapping_source_on_csv():
    result = check(
        HEADER + "\n5.1,3.5,1.4,0.2\n",
        output_mapping=[
            {"source": "label", "destination": "species"},
            {"source": "lable", "destination": "x"},
            {"source": "other", "destination": "y", "defaultValue": 0},
        ],
    )
    (problem,) = result.problems
    assert (
        problem.field == "output_mapping[1].source"
        and "'lable' is not a field of the output records" in problem.message
    )
    assert result.records == 1


def test_preflight_agrees_with_itself_on_both_csv_paths():
    """The same bad value through the columnar path and the record path (a repeated header, read
    as an array, forces it)."""
    plain = [{"source": k, "destination": f} for k, f in zip("abcd", FEATURES, strict=False)]
    with_selector = plain[:3] + [{"source": "d[0]", "destination": FEATURES[3]}]
    (fast,) = check("a,b,c,d\n1,2,3,4\n1,2,3,z\n", mapping=plain).problems
    (slow,) = check("a,b,c,d,d\n1,2,3,4,0\n1,2,3,z,0\n", mapping=with_selector).problems
    assert fast.message == "line 3: column 'd' (-> feature 'petal_width'): 'z' is not a number"
    assert slow.message == "line 3: column 'd[0]' (-> feature 'petal_width'): 'z' is not a number"


def test_preflight_is_fast_on_a_large_csv(tmp_path: Path):
    """Not a timing assertion: the 300k-row pass must simply finish as one streaming read."""
    path = write_iris_csv(tmp_path / "big.csv", 300_000)
    config = TabularModelConfig.model_validate(CONFIG)
    assert preflight(config, lambda: open(path, "rb"), path=str(path)).records == 300_000
