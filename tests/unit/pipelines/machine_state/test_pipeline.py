"""The machine-state-classification pipeline: config, reader, load/process with a fake sink, accuracy."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from fakes import FakeSink, file_ref
from jobport.pipelines.builtin.machine_state import MachineStateConfig, MachineStatePipeline
from jobport.pipelines.builtin.machine_state.direct import build_model, classify_csv_direct, predict_csv
from jobport.pipelines.builtin.machine_state.reader import count_windows, read_windows
from jobport.pipelines.sdk import FileFacts, InputError, LoadContext, LoadError, Worker
from jobport.testing.datasets import DEMO_CONFIG, write_basic_motions, write_synthetic_csv

CHANNELS = ["ch_0", "ch_1", "ch_2", "ch_3"]
N_STATES = 3


def make_config(**overrides) -> MachineStateConfig:
    raw = {
        "model_type": "minirocket_summary",
        "batch_size": 8,
        "reader_config": {
            "data_columns": CHANNELS,
            "timestamp_column": "timestamp",
            "window_size": 16,
            "step_size": 4,
        },
        "classifier_config": {"n_neighbors": 3},
        "flush_every_n_iteration": 2,
    }
    for key, value in overrides.items():
        if isinstance(value, dict):
            raw[key] = {**raw.get(key, {}), **value}
        else:
            raw[key] = value
    return MachineStateConfig.model_validate(raw)


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """Three synthetic states: one 240-row n-shot file per state and a 600-row inference file."""
    d = tmp_path_factory.mktemp("machine_state")
    shots = []
    for s in range(N_STATES):
        path = d / f"shot_{s}.csv"
        write_synthetic_csv(path, 240, len(CHANNELS), N_STATES, seed=7, states=np.full(240, s), noise_seed=100 + s)
        shots.append(file_ref(path, "worker.n_shots", {"class": f"state_{s}"}))
    inference = d / "run_a.csv"
    states = write_synthetic_csv(inference, 600, len(CHANNELS), N_STATES, seed=7, segment_rows=(150, 250))
    return {"dir": d, "shots": shots, "inference": inference, "states": states}


@pytest.fixture(scope="module")
def worker(data) -> Worker:
    return MachineStatePipeline().load(make_config(), data["shots"], LoadContext())


# --- config -----------------------------------------------------------------------------------


def test_config_defaults_follow_the_vendor():
    cfg = MachineStateConfig.model_validate({"reader_config": {"data_columns": ["a"], "timestamp_column": "t"}})
    # jobport's own encoder by default (no alias warning on every job); vendor names stay accepted
    assert cfg.model_type == "minirocket_summary" and not cfg.is_alias
    assert (cfg.batch_size, cfg.flush_every_n_iteration) == (32, 150)
    assert (cfg.reader_config.window_size, cfg.reader_config.step_size) == (32, 1)
    cc = cfg.classifier_config
    assert (cc.n_neighbors, cc.metric, cc.weights, cc.normalize_embeddings) == (5, "euclidean", "uniform", False)


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"reader_config": {"window_size": 1}}, "window_size"),
        ({"reader_config": {"step_size": 0}}, "step_size"),
        ({"reader_config": {"data_columns": []}}, "data_columns"),
        ({"classifier_config": {"n_neighbors": 2}}, "n_neighbors"),
        ({"classifier_config": {"metric": "chebyshev"}}, "metric"),
        ({"classifier_config": {"weights": "rank"}}, "weights"),
        ({"reader_config": {"windowsize": 8}}, "windowsize"),
        ({"classifier_config": {"k": 8}}, "k"),
        ({"normalize_input": False}, "normalize_input"),
        ({"model_type": "omega_2"}, "model_type"),
        ({"batch_size": 0}, "batch_size"),
        ({"flush_every_n_iteration": 0}, "flush_every_n_iteration"),
    ],
)
def test_config_errors_name_the_field(overrides, field):
    with pytest.raises(ValidationError) as info:
        make_config(**overrides)
    assert field in str(info.value)


def test_config_requires_columns_and_rejects_timestamp_as_data():
    with pytest.raises(ValidationError, match="timestamp_column"):
        MachineStateConfig.model_validate({"reader_config": {"data_columns": ["a"]}})
    with pytest.raises(ValidationError, match="timestamp_column 't' must not also be in data_columns"):
        make_config(reader_config={"data_columns": ["a", "t"], "timestamp_column": "t"})


def test_config_schema_lists_models_and_describes_every_field():
    schema = MachineStateConfig.model_json_schema()
    assert set(schema["properties"]["model_type"]["enum"]) == {
        "minirocket_summary",
        "omega_1_4_base",
        "omega_1_4",
        "omega_1_3_surface",
        "omega_1_3_power_drive",
        "omega_1_3_slb",
    }
    assert schema["required"] == ["reader_config"]
    reader = schema["$defs"]["ReaderConfig"]
    assert set(reader["required"]) == {"data_columns", "timestamp_column"}
    for model in [schema, reader, schema["$defs"]["ClassifierConfig"]]:
        assert model["additionalProperties"] is False
        for name, prop in model["properties"].items():
            assert prop.get("description"), name


# --- reader -----------------------------------------------------------------------------------


@pytest.mark.parametrize("rows,window,step", [(100, 16, 1), (100, 16, 4), (100, 16, 7), (16, 16, 3), (50, 2, 50)])
def test_window_count_positions_and_last_row_timestamp(tmp_path, rows, window, step):
    values = np.arange(rows * 2, dtype=float).reshape(rows, 2)
    path = write_csv(tmp_path / "x.csv", ["t", "a", "b"], [[1000 + i, *values[i]] for i in range(rows)])
    rc = {"data_columns": ["a", "b"], "timestamp_column": "t", "window_size": window, "step_size": step}
    cfg = make_config(reader_config=rc)
    series = read_windows(path, cfg.reader_config)
    assert series.n_windows == (rows - window) // step + 1 == count_windows(rows, window, step)
    batches = list(series.batches(5))
    stacked = np.concatenate([b.windows for b in batches])
    assert stacked.shape == (series.n_windows, window, 2) and stacked.dtype == np.float32
    for k in (0, series.n_windows - 1):
        np.testing.assert_array_equal(stacked[k], values[k * step : k * step + window])
    stamps = [s for b in batches for s in b.timestamps.to_pylist()]
    assert stamps == [str(1000 + k * step + window - 1) for k in range(series.n_windows)]


def test_reader_takes_a_stream_and_keeps_timestamp_text(tmp_path):
    text = '\ufefft,a\n"2024-01-01 00:00:00",1\n2024-01-01 00:00:01,2.5\n1.50,3\n'.encode()
    rc = {"data_columns": ["a"], "timestamp_column": "t", "window_size": 2, "step_size": 1}
    cfg = make_config(reader_config=rc)
    series = read_windows(io.BytesIO(text), cfg.reader_config)
    assert series.values[:, 0].tolist() == [1.0, 2.5, 3.0]
    assert series.window_timestamps(0, 2).to_pylist() == ["2024-01-01 00:00:01", "1.50"]


@pytest.mark.parametrize(
    "header,rows,reader,pattern",
    [
        (
            ["t", "a"],
            [[1, 2]] * 20,
            {"data_columns": ["a", "zz"]},
            r"column 'zz' \(reader_config.data_columns\).*available columns: t, a",
        ),
        (["t", "a"], [[1, 2]] * 20, {"timestamp_column": "time"}, r"column 'time' \(reader_config.timestamp_column\)"),
        (
            ["t", "a", "b"],
            [[i, 1, "x" if i == 15 else 2] for i in range(20)],
            {"data_columns": ["a", "b"]},
            r"column 'b' is non-numeric \(found text 'x'\)",
        ),
        (["t", "a"], [[i, "" if i == 3 else 1] for i in range(20)], {}, r"column 'a' has 1 empty or NA value.*row 4"),
        (["t", "a"], [[i, 1] for i in range(5)], {}, r"has 5 data rows, fewer than reader_config.window_size=8"),
        (["t", "a"], [[i, "inf" if i == 9 else 1] for i in range(20)], {}, r"column 'a' has an infinite .* row 10"),
    ],
)
def test_reader_errors_name_the_column_or_setting(tmp_path, header, rows, reader, pattern):
    path = write_csv(tmp_path / "bad.csv", header, rows)
    rc = {"data_columns": ["a"], "timestamp_column": "t", "window_size": 8, **reader}
    with pytest.raises(InputError, match=pattern):
        read_windows(path, make_config(reader_config=rc).reader_config, name="bad.csv")


def test_reader_rejects_an_empty_file(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_windows(tmp_path / "e.csv", make_config().reader_config)


# --- pipeline: load + process -----------------------------------------------------------------


def test_spec_matches_the_vendor_pipeline():
    spec = MachineStatePipeline.spec
    assert spec.key == "machine-state-classification"
    assert (spec.version, spec.name) == ("1.1.1", "Machine State Classification")
    assert [p.public() for p in spec.inputs] == [
        {
            "name": "worker.inference",
            "description": "Input files",
            "mode": "plain_file_list",
            "distribute": "scatter",
            "required": True,
            "tracked": True,
        },
        {
            "name": "worker.n_shots",
            "description": "N-Shot example files",
            "mode": "n_shot_file_list",
            "distribute": "replicate",
            "required": True,
            "tracked": False,
        },
    ]
    assert [p.name for p in spec.outputs] == ["worker.results"]
    assert spec.config_model is MachineStateConfig


def test_process_writes_flushed_parts(worker, data):
    sink = FakeSink()
    result = worker.process(file_ref(data["inference"], "worker.inference"), sink)
    total = count_windows(600, 16, 4)  # 147 windows, batches of 8 -> 19 batches, 2 per part -> 10 parts
    assert result.items == total
    names = [name for _, name in sink.outputs]
    assert names == [f"pred_run_a_part_{k}.csv" for k in range(10)]
    all_rows = []
    for k, name in enumerate(names):
        rows = sink.rows(name)
        assert rows[0] == ["timestamp", "Prediction"]
        assert len(rows) - 1 == (16 if k < 9 else total - 9 * 16)
        all_rows += rows[1:]
    assert [r[0] for r in all_rows] == [str(k * 4 + 15) for k in range(total)]  # integers stay integers
    truth = [f"state_{data['states'][k * 4 + 15]}" for k in range(total)]
    accuracy = np.mean([r[1] == t for r, t in zip(all_rows, truth, strict=False)])
    assert accuracy >= 0.8
    assert result.summary["predictions"] == dict(sorted(Counter(r[1] for r in all_rows).items()))
    assert [p["done"] for p in sink.progress_calls] == [min(16 * (k + 1), total) for k in range(10)]
    assert all(p["total"] == total and p["step"] == "inference" for p in sink.progress_calls)
    assert [p["n_parts"] for p in sink.progress_calls] == list(range(1, 11))  # progress after each flush
    assert [e[1] for e in sink.events] == ["inference.batch"] * 10
    assert sink.events[0][2] == "Batch 0 for run_a.csv: 16 success"


def test_one_part_when_flush_is_rare_and_stream_input(data):
    cfg = make_config(flush_every_n_iteration=1000, batch_size=32)
    w = MachineStatePipeline().load(cfg, data["shots"], LoadContext())
    sink = FakeSink()
    w.process(file_ref(data["inference"], "worker.inference", with_path=False), sink)
    assert list(sink.outputs) == [("worker.results", "pred_run_a_part_0.csv")]
    assert len(sink.rows("pred_run_a_part_0.csv")) == 1 + count_windows(600, 16, 4)
    w.close()
    with pytest.raises(RuntimeError):
        w.process(file_ref(data["inference"], "worker.inference"), FakeSink())


def test_direct_matches_the_worker(worker, data):
    sink = FakeSink()
    worker.process(file_ref(data["inference"], "worker.inference"), sink)
    served = [r[1] for k in range(len(sink.outputs)) for r in sink.rows(f"pred_run_a_part_{k}.csv")[1:]]
    shots = [(Path(ref.path), ref.metadata["class"]) for ref in data["shots"]]
    direct = classify_csv_direct(make_config(), shots, data["inference"])
    assert direct.tolist() == served


@pytest.mark.parametrize(
    "header,rows,pattern",
    [
        (["timestamp", "ch_0", "ch_1", "ch_2"], [[i, 1, 2, 3] for i in range(40)], "column 'ch_3'"),
        (
            ["timestamp", *CHANNELS],
            [[i, 1, 2, "on" if i == 30 else 3, 4] for i in range(40)],
            "column 'ch_2' is non-numeric",
        ),
        (["timestamp", *CHANNELS], [[i, 1, 2, 3, 4] for i in range(10)], "reader_config.window_size=16"),
    ],
)
def test_bad_inference_input_fails_only_that_input(worker, data, tmp_path, header, rows, pattern):
    bad = write_csv(tmp_path / "bad.csv", header, rows)
    sink = FakeSink()
    with pytest.raises(InputError, match=pattern):
        worker.process(file_ref(bad, "worker.inference"), sink)
    assert sink.outputs == {}
    assert worker.process(file_ref(data["inference"], "worker.inference"), FakeSink()).items > 0  # still usable


def test_load_emits_index_event(data):
    events = []
    ctx = LoadContext(emit=lambda level, kind, message, payload=None: events.append((level, kind, message, payload)))
    MachineStatePipeline().load(make_config(model_type="omega_1_3_surface"), data["shots"], ctx)
    # the alias warning is recorded once at job creation (config_warnings), not on every load
    assert [(e[0], e[1]) for e in events] == [("INFO", "index.built")]
    assert events[0][3]["windows"] == 3 * count_windows(240, 16, 4)
    assert events[0][3]["classes"] == {f"state_{s}": count_windows(240, 16, 4) for s in range(N_STATES)}


def test_config_warnings_only_for_aliases():
    pipeline = MachineStatePipeline()
    warning = pipeline.config_warnings(make_config(model_type="omega_1_3_surface"))[0]
    assert "'omega_1_3_surface' is accepted as an alias of jobport's minirocket_summary encoder" in warning
    assert pipeline.config_warnings(make_config()) == []


def test_load_errors(data, tmp_path):
    pipeline, ctx = MachineStatePipeline(), LoadContext()
    with pytest.raises(LoadError, match="at least 2 distinct metadata.class"):
        same = [file_ref(Path(r.path), "worker.n_shots", {"class": "same"}) for r in data["shots"]]
        pipeline.load(make_config(), same, ctx)
    with pytest.raises(LoadError) as info:
        cfg = make_config(reader_config={"step_size": 200}, classifier_config={"n_neighbors": 7})
        pipeline.load(cfg, data["shots"], ctx)
    assert "n_neighbors must be <= number of samples in index" in info.value.message
    assert "n_neighbors=7" in info.value.message and "give 6 windows" in info.value.message
    assert "Lower classifier_config.n_neighbors" in info.value.message
    bad = write_csv(tmp_path / "shot_bad.csv", ["timestamp", *CHANNELS], [[i, 1, "x", 3, 4] for i in range(40)])
    with pytest.raises(LoadError, match=r"n-shot file shot_bad.csv: column 'ch_1' is non-numeric"):
        pipeline.load(make_config(), [*data["shots"], file_ref(bad, "worker.n_shots", {"class": "state_0"})], ctx)
    with pytest.raises(LoadError, match=r"n-shot file shot_0.csv: column 'ch_9'"):
        pipeline.load(make_config(reader_config={"data_columns": ["ch_0", "ch_9"]}), data["shots"], ctx)


# --- check_create -----------------------------------------------------------------------------


def facts(name: str, rows: int, headers: list[str], label: str | None) -> FileFacts:
    return FileFacts(
        file_id=name,
        num_bytes=1000,
        attributes={"num_rows": rows, "num_columns": len(headers), "column_headers": headers},
        metadata={"class": label} if label is not None else {},
    )


def test_check_create():
    pipeline, cfg = MachineStatePipeline(), make_config()
    headers = ["timestamp", *CHANNELS]
    good = [facts("a.csv", 100, headers, "on"), facts("b.csv", 100, headers, "off")]
    inference = [facts("in.csv", 3, ["nothing"], None)]  # inference files are not checked at create
    assert list(pipeline.check_create(cfg, {"worker.n_shots": good, "worker.inference": inference})) == []

    narrow = [facts("a.csv", 100, ["timestamp", "ch_0"], "on"), good[1]]
    problems = list(pipeline.check_create(cfg, {"worker.n_shots": narrow}))
    assert [p.field for p in problems] == ["parameters.worker.config.reader_config.data_columns"] * 3
    assert "n-shot file a.csv has no column 'ch_1'" in problems[0].message and problems[0].suggestion

    one_class = [facts("a.csv", 100, headers, "on"), facts("b.csv", 100, headers, "on")]
    problems = list(pipeline.check_create(cfg, {"worker.n_shots": one_class}))
    assert [p.field for p in problems] == ["inputs.worker.n_shots"]

    short = [facts("a.csv", 17, headers, "on"), facts("b.csv", 10, headers, "off")]
    problems = list(pipeline.check_create(cfg, {"worker.n_shots": short}))
    assert [p.field for p in problems] == [
        "parameters.worker.config.reader_config.window_size",
        "parameters.worker.config.classifier_config.n_neighbors",
    ]
    assert "n_neighbors must be <= number of samples in index" in problems[1].message
    assert "n_neighbors <= 1" in problems[1].suggestion


# --- BasicMotions accuracy --------------------------------------------------------------------


def test_basic_motions_per_recording_accuracy(tmp_path):
    manifest = write_basic_motions(tmp_path)
    assert len(manifest.shots) == 40 and len(manifest.inference) == 40
    model = build_model(DEMO_CONFIG, manifest.shots)
    correct = 0
    for path, label in manifest.inference:
        predictions = predict_csv(model, path)
        assert len(predictions) == count_windows(100, 32, 4)
        correct += Counter(predictions.tolist()).most_common(1)[0][0] == label
    assert correct / len(manifest.inference) >= 0.95
