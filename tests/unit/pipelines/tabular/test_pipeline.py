"""The tabular-model worker on the example Iris ONNX model: CSV with and without a header, JSON
arrays, JSONL, nested-path input mapping, defaults, output mapping, and errors that name the line."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import orjson
import pytest

from fakes import FakeSink, file_ref
from jobport.pipelines.builtin.tabular import (
    TabularModelConfig,
    TabularModelPipeline,
    build_example_model,
    write_iris_csv,
)
from jobport.pipelines.builtin.tabular.example import FEATURES, OUTPUTS, iris_rows, train_iris_classifier
from jobport.pipelines.sdk import FileFacts, InputError, LoadContext

DATA, MODEL, RESULT = "worker.data", "worker.model", "worker.result"


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    return build_example_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def sklearn_model():
    return train_iris_classifier()


@pytest.fixture(scope="module")
def worker(example):
    config = TabularModelConfig.model_validate(example.config)
    return TabularModelPipeline().load(config, [file_ref(example.path, MODEL)], LoadContext())


def run(
    worker, example, tmp_path: Path, content: bytes | str, filename: str = "in.csv", with_path: bool = True, **overrides
):
    path = tmp_path / filename
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    config = TabularModelConfig.model_validate({**example.config, **overrides})
    sink = FakeSink()
    result = worker.process(file_ref(path, DATA, with_path=with_path), sink, config)
    (key,) = sink.outputs
    assert key[0] == RESULT
    return sink, result, sink.outputs[key].decode(), key[1]


def fails(worker, example, tmp_path: Path, content: bytes | str, filename: str = "in.csv", **overrides) -> str:
    sink = FakeSink()
    with pytest.raises(InputError) as info:
        path = tmp_path / filename
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        config = TabularModelConfig.model_validate({**example.config, **overrides})
        worker.process(file_ref(path, DATA), sink, config)
    assert sink.outputs == {}, "a failed input must not publish a partial output"
    return info.value.message


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def iris_csv(rows: int, seed: int = 1) -> tuple[str, np.ndarray]:
    values, _ = iris_rows(rows, seed)
    lines = [",".join(FEATURES)] + [",".join(f"{v:.1f}" for v in row) for row in values]
    return "\n".join(lines) + "\n", values


@pytest.mark.parametrize("with_path", [True, False])
def test_csv_predictions_equal_scikit_learn(worker, example, sklearn_model, tmp_path, with_path):
    text, values = iris_csv(500)
    sink, result, out, name = run(worker, example, tmp_path, text, with_path=with_path, chunk_rows=128)
    rows = csv_rows(out)
    assert name == "data_in.csv" and result.items == 500 and result.failed_items == 0
    assert list(rows[0]) == FEATURES + OUTPUTS
    assert [r["label"] for r in rows] == list(sklearn_model.predict(values.astype(np.float32)))
    proba = np.array([[float(r[f"probability_{c}"]) for c in ("setosa", "versicolor", "virginica")] for r in rows])
    np.testing.assert_allclose(proba, sklearn_model.predict_proba(values.astype(np.float32)), atol=1e-5)
    assert [r["sepal_length"] for r in rows[:3]] == [f"{v:.1f}" for v in values[:3, 0]]


def test_input_text_passes_through_unchanged(worker, example, tmp_path):
    text = 'id,sepal_length,sepal_width,petal_length,petal_width,note\n007,5.10, 3.5 ,1.4,2e-1,"a, b"\n'
    _, _, out, _ = run(worker, example, tmp_path, text)
    header, row = out.splitlines()[:2]
    assert (
        header == "id,sepal_length,sepal_width,petal_length,petal_width,note,label,probability_setosa,"
        "probability_versicolor,probability_virginica"
    )
    assert row.startswith('"007","5.10"," 3.5 ","1.4","2e-1","a, b","setosa",')


def test_csv_without_header_gets_one_in_the_output(worker, example, tmp_path):
    text = "a1,5.1,3.5,1.4,0.2\na2,6.7,3.0,5.2,2.3\n"
    _, result, out, _ = run(
        worker, example, tmp_path, text, mime_type="text/csv; header=absent", columns=["id", *FEATURES]
    )
    rows = csv_rows(out)
    assert result.items == 2
    assert [(r["id"], r["label"]) for r in rows] == [("a1", "setosa"), ("a2", "virginica")]


def test_headerless_csv_defaults_to_the_feature_names(worker, example, tmp_path):
    _, _, out, _ = run(worker, example, tmp_path, "5.1,3.5,1.4,0.2\n", mime_type="text/csv; header=absent")
    assert csv_rows(out)[0]["label"] == "setosa"
    message = fails(worker, example, tmp_path, "x,5.1,3.5,1.4,0.2\n", mime_type="text/csv; header=absent")
    assert "line 1 has 5 fields but the CSV's columns are 4" in message


def test_json_array_in_json_array_out(worker, example, sklearn_model, tmp_path):
    values, _ = iris_rows(30, 3)
    records = [{"id": i, **dict(zip(FEATURES, row, strict=False))} for i, row in enumerate(values.tolist())]
    _, result, out, name = run(
        worker,
        example,
        tmp_path,
        orjson.dumps(records, option=orjson.OPT_INDENT_2),
        filename="flowers.json",
        mime_type="application/json",
        chunk_rows=7,
    )
    rows = orjson.loads(out)
    assert name == "data_flowers.json" and result.items == 30 and len(rows) == 30
    assert rows[0]["id"] == 0 and rows[0]["sepal_length"] == values[0, 0]
    assert [r["label"] for r in rows] == list(sklearn_model.predict(values.astype(np.float32)))
    assert all(isinstance(r["probability_setosa"], float) for r in rows)


def test_jsonl_in_jsonl_out_skipping_blank_lines(worker, example, tmp_path):
    lines = [
        orjson.dumps({"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}),
        b"",
        orjson.dumps({"sepal_length": "6.7", "sepal_width": 3, "petal_length": 5.2, "petal_width": 2.3}),
    ]
    _, result, out, name = run(
        worker, example, tmp_path, b"\n".join(lines) + b"\n", filename="x.jsonl", mime_type="application/x-ndjson"
    )
    rows = [orjson.loads(line) for line in out.splitlines()]
    assert name == "data_x.jsonl" and result.items == 2
    assert [r["label"] for r in rows] == ["setosa", "virginica"]
    assert rows[1]["sepal_length"] == "6.7", "input fields are written as they came"


def test_nested_paths_with_index_and_fan_out(worker, example, tmp_path):
    records = [
        {"flower": {"sepal": [5.1, 3.5], "petal": {"length": 1.4}}, "extra": [{"kind": "w", "value": 0.2}]},
        {"flower": {"sepal": [6.7, 3.0], "petal": {"length": 5.2}}, "extra": [{"kind": "w", "value": "2.3"}]},
    ]
    mapping = [
        {"source": "flower/sepal[0]", "destination": "sepal_length"},
        {"source": "/flower/sepal[1]", "destination": "sepal_width"},
        {"source": "flower/petal/length", "destination": "petal_length"},
        {"source": "extra[*]/value", "destination": "petal_width"},
    ]
    _, _, out, _ = run(
        worker,
        example,
        tmp_path,
        orjson.dumps(records),
        filename="n.json",
        mime_type="application/json",
        mapping=mapping,
    )
    assert [r["label"] for r in orjson.loads(out)] == ["setosa", "virginica"]
    records[1]["extra"].append({"kind": "v", "value": 1.0})
    message = fails(
        worker,
        example,
        tmp_path,
        orjson.dumps(records),
        filename="n.json",
        mime_type="application/json",
        mapping=mapping,
    )
    assert (
        message == "record 2: field 'extra[*]/value' (-> feature 'petal_width'): selects 2 values; "
        "feature 'petal_width' takes one"
    )


def test_csv_columns_renamed_by_mapping_and_defaults_fill_gaps(worker, example, tmp_path):
    text = "SL,SW,PL,PW\n5.1,3.5,1.4,\n6.7,3.0,5.2,2.3\n"
    mapping = [
        {"source": "SL", "destination": "sepal_length"},
        {"source": "SW", "destination": "sepal_width"},
        {"source": "PL", "destination": "petal_length"},
        {"source": "PW", "destination": "petal_width", "defaultValue": "0.2"},
    ]
    _, _, out, _ = run(worker, example, tmp_path, text, mapping=mapping)
    rows = csv_rows(out)
    assert [r["label"] for r in rows] == ["setosa", "virginica"]
    assert rows[0]["PW"] == "", "the input field keeps its (empty) value; the model got the default"


def test_a_column_absent_from_the_header_takes_its_default(worker, example, tmp_path):
    text = "sepal_length,sepal_width,petal_length\n5.1,3.5,1.4\n"
    mapping = [{"source": "petal_width", "destination": "petal_width", "defaultValue": 0.2}]
    _, _, out, _ = run(worker, example, tmp_path, text, mapping=mapping)
    assert csv_rows(out)[0]["label"] == "setosa"


def test_missing_value_without_default_names_line_and_column(worker, example, tmp_path):
    text, _ = iris_csv(40)
    lines = text.splitlines()
    lines[33] = "5.0,3.3,,0.2"
    message = fails(worker, example, tmp_path, "\n".join(lines) + "\n", chunk_rows=8)
    assert message == "line 34: column 'petal_length' is missing or empty and has no default value"


def test_mapped_column_missing_from_header_names_the_rule(worker, example, tmp_path):
    mapping = [{"source": "PW", "destination": "petal_width"}]
    message = fails(
        worker, example, tmp_path, "sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n", mapping=mapping
    )
    assert message.startswith("column 'PW' (mapping[0].source for feature 'petal_width') is not in the CSV header")


def test_missing_json_field_names_the_record(worker, example, tmp_path):
    records = [dict(zip(FEATURES, [5.1, 3.5, 1.4, 0.2], strict=True)),
               dict(zip(FEATURES[:3], [5.1, 3.5, 1.4], strict=True))]
    message = fails(worker, example, tmp_path, orjson.dumps(records), filename="a.json", mime_type="application/json")
    assert message == "record 2: field 'petal_width' is missing or empty and has no default value"


@pytest.mark.parametrize("chunk_rows", [5, 10_000])
def test_unparsable_value_names_line_and_column(worker, example, tmp_path, chunk_rows):
    text, _ = iris_csv(30)
    lines = text.splitlines()
    lines[21] = "5.0,abc,1.4,0.2"
    message = fails(worker, example, tmp_path, "\n".join(lines) + "\n", chunk_rows=chunk_rows)
    assert message == "line 22: column 'sepal_width': 'abc' is not a number"


def test_lines_count_blank_lines_and_quoted_newlines(worker, example, tmp_path):
    header = "note,sepal_length,sepal_width,petal_length,petal_width\n"
    good = "plain,5.1,3.5,1.4,0.2\n"
    text = header + good * 3 + "\n" + '"two\nlines",5.1,3.5,1.4,0.2\n' + good * 3 + "x,5.1,3.5,1.4,oops\n"
    for chunk_rows in (2, 10_000):
        message = fails(worker, example, tmp_path, text, chunk_rows=chunk_rows)
        assert message == "line 11: column 'petal_width': 'oops' is not a number"
    _, result, out, _ = run(worker, example, tmp_path, text.rsplit("x,", 1)[0])
    assert result.items == 7 and csv_rows(out)[3]["note"] == "two\nlines"


def test_row_with_wrong_field_count_names_the_line(worker, example, tmp_path):
    text, _ = iris_csv(12)
    lines = text.splitlines()
    lines[9] = "5.0,3.1,1.4"
    message = fails(worker, example, tmp_path, "\n".join(lines) + "\n", chunk_rows=4)
    assert message.startswith("line 10: 3 fields, expected 4")


@pytest.mark.parametrize(
    ("content", "mime", "fragment"),
    [
        (b'{"sepal_length": 1}', "application/json", "is a JSON object, not a JSON array of objects"),
        (b"[1, 2]", "application/json", "record 1 is a number, not an object"),
        (b'[{"a": 1}, {"a": ', "application/json", "not valid JSON after record 1"),
        (b"sepal_length,sepal_width\n1,2\n", "application/json", "not a JSON array of objects (it starts with 's')"),
        (b'{"a": 1}\n{"a": \n', "application/x-ndjson", "line 2: not valid JSON"),
        (b'{"a": 1}\n[1]\n', "application/x-ndjson", "line 2 is an array, not a JSON object"),
        (b"", "text/csv", "is empty"),
        (b"sepal_length,sepal_width,petal_length,petal_width\n", "text/csv", "has no records"),
        (b"   ", "application/json", "is empty"),
    ],
)
def test_malformed_files(worker, example, tmp_path, content, mime, fragment):
    assert fragment in fails(worker, example, tmp_path, content, filename="f.dat", mime_type=mime)


def test_non_finite_and_boolean_values_are_not_numbers(worker, example, tmp_path):
    base = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n"
    assert (
        fails(worker, example, tmp_path, base + "nan,3.5,1.4,0.2\n")
        == "line 3: column 'sepal_length': 'nan' is not a finite number"
    )
    record = {"sepal_length": True, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    message = fails(worker, example, tmp_path, orjson.dumps(record), filename="t.jsonl", mime_type="application/jsonl")
    assert message == "line 1: field 'sepal_length': true is not a number"


def test_output_mapping_renames_and_selects_columns(worker, example, tmp_path):
    text = "id,sepal_length,sepal_width,petal_length,petal_width\nA,5.1,3.5,1.4,0.2\nB,6.7,3.0,5.2,2.3\n"
    output_mapping = [
        {"source": "id", "destination": "flower"},
        {"source": "label", "destination": "species"},
        {"source": "probability_virginica", "destination": "p_virginica"},
        {"source": "batch", "destination": "batch", "defaultValue": "b1"},
    ]
    _, _, out, _ = run(worker, example, tmp_path, text, output_mapping=output_mapping, output_filename="scores.csv")
    rows = csv_rows(out)
    assert list(rows[0]) == ["flower", "species", "p_virginica", "batch"]
    assert [(r["flower"], r["species"], r["batch"]) for r in rows] == [("A", "setosa", "b1"), ("B", "virginica", "b1")]
    assert float(rows[1]["p_virginica"]) > 0.5


def test_output_mapping_source_typo_on_csv_is_an_error(worker, example, tmp_path):
    text = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n"
    message = fails(worker, example, tmp_path, text, output_mapping=[{"source": "lable", "destination": "x"}])
    assert message.startswith("output_mapping[0].source 'lable' is not a field of the output records")


def test_output_mapping_to_nested_json(worker, example, tmp_path):
    records = [{"id": 1, "tags": [{"t": "a"}, {"t": "b"}], **dict(zip(FEATURES, [5.1, 3.5, 1.4, 0.2], strict=False))}]
    output_mapping = [
        {"source": "id", "destination": "meta/id"},
        {"source": "label", "destination": "prediction/label"},
        {"source": "probability_setosa", "destination": "prediction/scores[0]"},
        {"source": "probability_versicolor", "destination": "prediction/scores[1]"},
        {"source": "tags[*]/t", "destination": "tag_names[*]"},
        {"source": "comment", "destination": "comment", "defaultValue": "none"},
    ]
    _, _, out, _ = run(
        worker,
        example,
        tmp_path,
        orjson.dumps(records[0]),
        filename="o.jsonl",
        mime_type="application/jsonl",
        output_mapping=output_mapping,
    )
    (row,) = [orjson.loads(line) for line in out.splitlines()]
    assert row["meta"] == {"id": 1} and row["prediction"]["label"] == "setosa"
    assert len(row["prediction"]["scores"]) == 2 and row["prediction"]["scores"][0] > 0.9
    assert row["tag_names"] == ["a", "b"] and row["comment"] == "none"


def test_nested_output_mapping_on_csv_flattens_to_path_columns(worker, example, tmp_path):
    text = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n"
    output_mapping = [
        {"source": "label", "destination": "result/label"},
        {"source": "probability_setosa", "destination": "result/p[0]"},
    ]
    _, _, out, _ = run(worker, example, tmp_path, text, output_mapping=output_mapping)
    (row,) = csv_rows(out)
    assert list(row) == ["result/label", "result/p[0]"] and row["result/label"] == "setosa"


def test_include_inputs_false_writes_only_outputs(worker, example, tmp_path):
    text = "id,sepal_length,sepal_width,petal_length,petal_width\nA,5.1,3.5,1.4,0.2\n"
    _, _, out, _ = run(worker, example, tmp_path, text, include_inputs=False)
    assert list(csv_rows(out)[0]) == OUTPUTS


def test_repeated_csv_header_is_an_array(worker, example, tmp_path):
    text = "m,m,m,m\n5.1,3.5,1.4,0.2\n"
    mapping = [{"source": f"m[{i}]", "destination": name} for i, name in enumerate(FEATURES)]
    _, _, out, _ = run(worker, example, tmp_path, text, mapping=mapping)
    (row,) = csv_rows(out.replace("m[0],m[1],m[2],m[3]", "a,b,c,d"))
    assert row["label"] == "setosa"


def test_progress_per_chunk_and_one_usage_event(worker, example, tmp_path):
    text, _ = iris_csv(100)
    sink, result, _, _ = run(worker, example, tmp_path, text, chunk_rows=25)
    assert [(p["done"], p["total"]) for p in sink.progress_calls] == [(25, 100), (50, 100), (75, 100), (100, 100)]
    (event,) = sink.events
    assert event[:2] == ("INFO", "inference.usage")
    assert event[3]["records"] == 100 and event[3]["model"] == "onnx" and event[3]["records_per_second"] > 0
    assert result.summary["records"] == 100


def test_large_csv_in_several_chunks_keeps_row_order(worker, example, tmp_path):
    path = write_iris_csv(tmp_path / "big.csv", 25_000)
    config = TabularModelConfig.model_validate({**example.config, "chunk_rows": 3_000})
    sink = FakeSink()
    result = worker.process(file_ref(path, DATA), sink, config)
    out = sink.outputs[(RESULT, "data_big.csv")].decode().splitlines()
    source = path.read_text().splitlines()
    assert result.items == 25_000 and len(out) == 25_001
    assert all(o.startswith(s + ",") for o, s in zip(out[1::997], source[1::997], strict=False))


def test_check_create_names_missing_columns_and_bad_model_files(example):
    pipeline = TabularModelPipeline()
    config = TabularModelConfig.model_validate(
        {
            **example.config,
            "mapping": [
                {"source": "PW", "destination": "petal_width"},
                {"source": "SW", "destination": "sepal_width", "defaultValue": 3.0},
            ],
        }
    )
    facts = FileFacts("in.csv", 100, {"column_headers": ["sepal_length", "petal_length"]}, {})
    model = FileFacts("model.pkl", 10, {}, {})
    problems = list(pipeline.check_create(config, {DATA: [facts], MODEL: [model]}))
    assert [p.field for p in problems] == [
        "inputs.worker.model[0].file_id",
        "parameters.worker.config.mapping[0].source",
    ]
    assert "neither .onnx nor .skops" in problems[0].message
    assert "has no column 'PW' for feature 'petal_width'" in problems[1].message
    ok = FileFacts("in.csv", 100, {"column_headers": ["sepal_length", "petal_length", "PW"]}, {})
    assert list(pipeline.check_create(config, {DATA: [ok], MODEL: [FileFacts("m.onnx", 1, {}, {})]})) == []
