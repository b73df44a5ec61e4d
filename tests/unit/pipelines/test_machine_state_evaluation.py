"""`machine-state-evaluation` without the server, on real BasicMotions recordings (bundled in
aeon): leave-one-recording-out matches refitting the classification model without each recording,
leave-one-condition-out runs per condition, and the grid recommends settings it measured."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from fakes import FakeSink, file_ref
from jobport.pipelines.builtin.machine_state.config import MachineStateConfig
from jobport.pipelines.builtin.machine_state.evaluation_config import EvaluationConfig
from jobport.pipelines.builtin.machine_state.evaluation_pipeline import MachineStateEvaluationPipeline
from jobport.pipelines.builtin.machine_state.reader import read_windows
from jobport.pipelines.builtin.machine_state.worker import MachineStateModel
from jobport.pipelines.sdk import FileFacts, LoadContext
from jobport.testing.datasets import DEMO_CONFIG, write_basic_motions

RESULTS = "worker.results"


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Three training recordings per class (12), conditions alternating a / b."""
    manifest = write_basic_motions(tmp_path_factory.mktemp("bm"))
    picked, seen = [], {}
    for path, label in manifest.shots:
        if seen.get(label, 0) < 3:
            seen[label] = seen.get(label, 0) + 1
            picked.append((path, label, "ab"[len(picked) % 2]))
    return picked


def run(recordings, with_conditions: bool, search):
    config = EvaluationConfig.model_validate({**DEMO_CONFIG, "search": search})
    refs = [file_ref(path, "worker.n_shots", {"class": label, **({"condition": c} if with_conditions else {})})
            for path, label, c in recordings]
    worker = MachineStateEvaluationPipeline().load(config, refs, LoadContext())
    sink = FakeSink()
    worker.process(file_ref(recordings[0][0], "run"), sink, config)
    return sink, json.loads(sink.outputs[(RESULTS, "evaluation.json")])


def test_leave_one_recording_out_matches_refitting_without_each_recording(recordings):
    sink, report = run(recordings, with_conditions=True,
                       search={"window_sizes": [16, 32], "n_neighbors": [1, 3], "metrics": ["euclidean"], "folds": 3})
    config = MachineStateConfig.model_validate(DEMO_CONFIG)
    held = recordings[0]
    model = MachineStateModel.build(config, [(p.name, str(p), c) for p, c, _ in recordings[1:]])
    windows = read_windows(str(held[0]), config.reader_config, held[0].name)
    expected = np.concatenate([labels for _, labels in model.predict_series(windows)])
    rows = list(csv.DictReader(io.StringIO(sink.text(RESULTS, "per_recording.csv"))))
    first = next(r for r in rows if r["recording"] == held[0].name)
    assert float(first["window_accuracy"]) == pytest.approx(float(np.mean(expected == held[1])), abs=1e-4)

    loro = report["leave_one_recording_out"]
    assert loro["recordings"] == 12 and set(loro["per_class"]) == {"badminton", "running", "standing", "walking"}
    assert loro["recording_accuracy"] >= 0.75  # BasicMotions is an easy set
    loco = report["leave_one_condition_out"]
    assert set(loco["per_condition"]) == {"a", "b"} and 0 <= loco["window_accuracy"] <= 1
    assert len(report["grid"]) == 4  # 2 window sizes x 2 neighbour counts x 1 metric
    best = max(cell["window_accuracy"] for cell in report["grid"])
    assert report["recommended"]["window_accuracy"] == best
    assert {c["step_size"] for c in report["grid"] if c["window_size"] == 16} == {2}  # step/window kept at 4/32
    matrix = list(csv.reader(io.StringIO(sink.text(RESULTS, "confusion_matrix.csv"))))
    assert sum(int(v) for row in matrix[1:] for v in row[1:]) == 12
    assert sink.outputs[(RESULTS, "confusion_matrix.png")].startswith(b"\x89PNG")
    steps = [p["step"] for p in sink.progress_calls]
    assert steps.count("leave_one_recording_out") == 12 and "grid" in steps


def test_without_conditions_or_grid_only_leave_one_recording_out_runs(recordings):
    _, report = run(recordings[:6], with_conditions=False, search=None)
    assert "leave_one_condition_out" not in report and "grid" not in report
    assert report["leave_one_recording_out"]["recordings"] == 6


def test_create_checks_name_the_recordings_port():
    pipeline = MachineStateEvaluationPipeline()
    config = EvaluationConfig.model_validate(DEMO_CONFIG)

    def facts(*labels, conditions=None):
        return {"worker.n_shots": [FileFacts(f"r{i}.csv", 10, {}, {"class": label, **(
            {"condition": conditions[i]} if conditions and conditions[i] else {})}) for i, label in enumerate(labels)]}

    assert [p.code for p in pipeline.check_create(config, facts("a", "a", "a"))] == ["too_few_classes"]
    assert [p.code for p in pipeline.check_create(config, facts("a", "b"))] == ["too_few_inputs"]
    mixed = facts("a", "b", "a", conditions=["x", None, "y"])
    assert [p.code for p in pipeline.check_create(config, mixed)] == ["invalid_parameter"]
    assert list(pipeline.check_create(config, facts("a", "b", "a"))) == []
