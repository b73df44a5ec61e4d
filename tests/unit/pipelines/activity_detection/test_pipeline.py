"""The activity-detection pipeline with the EchoBackend fake: ordering, per-line errors, parts,
truncation, non-JSONL files, create-time checks, multimodal parts, and the model catalogue."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from fakes import FakeSink, file_ref
from jobport.pipelines.builtin.activity_detection import ActivityDetectionPipeline
from jobport.pipelines.builtin.activity_detection.config import ActivityDetectionConfig
from jobport.pipelines.lm.backends import EchoBackend
from jobport.pipelines.lm.catalogue import BUILTIN, DEFAULT_MODEL, CatalogueError, ModelEntry, load_catalogue, resolve
from jobport.pipelines.sdk import FileFacts, LoadContext

PORT = "worker.data"
OUT = "worker.result"


def pipeline(backend: EchoBackend | None = None,
             entries: dict | None = None) -> tuple[ActivityDetectionPipeline, EchoBackend]:
    backend = backend or EchoBackend(name=DEFAULT_MODEL)
    catalogue = entries or {BUILTIN.name: BUILTIN}
    return ActivityDetectionPipeline(catalogue=lambda: catalogue, backend_factory=lambda entry: backend), backend


def config(**raw) -> ActivityDetectionConfig:
    return ActivityDetectionConfig.model_validate(raw)


def run(tmp_path: Path, lines: list, backend: EchoBackend | None = None, name: str = "data.jsonl", **cfg):
    path = tmp_path / name
    path.write_bytes(b"".join((line if isinstance(line, bytes) else orjson.dumps(line)) + b"\n" for line in lines))
    p, backend = pipeline(backend)
    c = config(**cfg)
    worker = p.load(c, [], LoadContext())
    sink = FakeSink()
    result = worker.process(file_ref(path, PORT), sink, c)
    return sink, result, backend


def output_rows(sink: FakeSink, stem: str = "data") -> list[dict]:
    names = sorted((n for (port, n) in sink.outputs if port == OUT),
                   key=lambda n: int(n.rsplit("_", 1)[1].split(".")[0]))
    assert all(n.startswith(f"pred_{stem}_part_") and n.endswith(".jsonl") for n in names), names
    return [orjson.loads(line) for n in names for line in sink.text(OUT, n).splitlines()]


def test_one_line_per_record_in_order_with_per_line_errors(tmp_path):
    lines = [
        {"prompt": "hello there"},
        b"{not json",
        {"system": "be brief", "instruction": "say", "prompt": "ok"},
        {"inputs": [{"type": "audio", "format": "plain", "data": "x"}]},
        {"inputs": [{"type": "text", "format": "base64", "data": base64.b64encode(b"from base64").decode()}]},
        b"[1, 2]",
        {"inputs": [{"type": "image", "format": "base64", "data": "aGk="}]},
        {"id": 7},
        b"",
        {"prompt": "last"},
    ]
    sink, result, backend = run(tmp_path, lines, batch_size=3, flush_every_n_iteration=1)
    rows = output_rows(sink)
    assert [r["line_index"] for r in rows] == list(range(len(lines)))
    assert rows[0] == {"line_index": 0, "prediction": "HELLO THERE"}
    assert rows[1]["prediction"] is None and rows[1]["error"].startswith("parse error")
    assert rows[2]["prediction"] == "SAY OK"
    assert "inputs.0.type" in rows[3]["error"]
    assert rows[4]["prediction"] == "FROM BASE64"
    assert "expected a JSON object, got list" in rows[5]["error"]
    assert "multimodal" in rows[6]["error"] and "text-only" in rows[6]["error"]
    assert "nothing to answer" in rows[7]["error"]
    assert "empty line" in rows[8]["error"]
    assert rows[9]["prediction"] == "LAST"
    assert result.items == 10 and result.failed_items == 6
    # the system prompt became a system message
    sent = [m for batch in backend.calls for m in batch]
    assert {"role": "system", "content": "be brief"} in sent[1]
    # four batches of 3,3,3,1 → four parts, each flushed as it finished; progress after every batch
    assert len([k for k in sink.outputs if k[0] == OUT]) == 4
    assert [p["done"] for p in sink.progress_calls] == [3, 6, 9, 10]
    assert all(p["total"] == 10 for p in sink.progress_calls)
    usage = [e for e in sink.events if e[1] == "inference.usage"][0]
    assert usage[3]["succeeded"] == 4 and usage[3]["failed"] == 6 and usage[3]["tokens_out"] > 0


def test_wrong_format_names_the_field(tmp_path):
    sink, _, _ = run(tmp_path, [{"inputs": [{"type": "text", "format": "hex", "data": "00"}]},
                                {"inputs": [{"type": "text", "format": "base64", "data": "***"}]},
                                {"prompt": 5}])
    rows = output_rows(sink)
    assert "inputs.0.format" in rows[0]["error"]
    assert "inputs.0.data: not valid base64" in rows[1]["error"]
    assert "prompt" in rows[2]["error"]


def test_a_csv_file_is_all_error_lines_and_an_error_event(tmp_path):
    lines = [b"timestamp,a,b", b"1,2,3", b"2,3,4"]
    sink, result, _ = run(tmp_path, lines, name="sensors.jsonl")
    rows = output_rows(sink, "sensors")
    assert len(rows) == 3 and all(r["prediction"] is None for r in rows)
    errors = [e for e in sink.events if e[0] == "ERROR"]
    assert len(errors) == 1 and errors[0][1] == "inference.format"
    assert "CSV" in errors[0][2] and "timestamp,a,b" in errors[0][2]
    assert result.failed_items == 3


def test_long_prompt_is_cut_to_the_budget_with_a_warning(tmp_path):
    words = " ".join(f"w{i}" for i in range(100))
    sink, _, backend = run(tmp_path, [{"system": "s s", "prompt": words}, {"prompt": "short"}], token_budget=20)
    rows = output_rows(sink)
    # Echo counts words: system (2) + user ≤ 20 → 18 words of the prompt reached the model
    assert rows[0]["prediction"].split() == [f"W{i}" for i in range(18)]
    warns = [e for e in sink.events if e[1] == "inference.truncation"]
    assert len(warns) == 1 and warns[0][0] == "WARN" and warns[0][3]["line_index"] == 0
    assert rows[1]["prediction"] == "SHORT"


def test_max_new_tokens_bounds_the_answer(tmp_path):
    sink, _, _ = run(tmp_path, [{"prompt": "a b c d e f"}], generation={"max_new_tokens": 2})
    assert output_rows(sink)[0]["prediction"] == "A B"


def test_multimodal_model_gets_image_and_sampled_video_parts(tmp_path):
    import av
    import numpy as np
    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(png, format="PNG")
    video = io.BytesIO()
    with av.open(video, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(20):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 10, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    backend = EchoBackend(name="vision", multimodal=True)
    sink, _, _ = run(tmp_path, [
        {"prompt": "what colour?", "inputs": [{"type": "image", "format": "base64", "data": b64(png.getvalue())}]},
        {"prompt": "what happens?", "inputs": [{"type": "video", "format": "base64", "data": b64(video.getvalue())}]},
        {"prompt": "bad", "inputs": [{"type": "image", "format": "base64", "data": b64(b"not an image")}]},
    ], backend=backend, max_video_frames=4)
    rows = output_rows(sink)
    image_msg, video_msg = backend.calls[0][0][-1]["content"], backend.calls[0][1][-1]["content"]
    assert image_msg[0] == {"type": "text", "text": "what colour?"}
    assert image_msg[1]["image_url"]["url"].startswith("data:image/png;base64,")
    frames = [p for p in video_msg if p["type"] == "image_url"]
    assert len(frames) == 4 and all(f["image_url"]["url"].startswith("data:image/jpeg;base64,") for f in frames)
    assert rows[0]["prediction"] == "WHAT COLOUR?" and rows[1]["prediction"] == "WHAT HAPPENS?"
    assert "not PNG, JPEG" in rows[2]["error"]


def test_config_ranges_are_validated():
    with pytest.raises(ValidationError) as err:
        config(generation={"temperature": 5})
    assert "temperature" in str(err.value)
    with pytest.raises(ValidationError):
        config(batch_size=0)
    with pytest.raises(ValidationError):
        config(model_path="/etc/passwd")  # unknown keys are refused: no way to name a path


def test_check_create_unknown_model_lists_the_catalogue_and_refuses_empty_files():
    p, _ = pipeline()
    facts = {PORT: [FileFacts("a.jsonl", 10, {"num_lines": 1}, {})]}
    problems = list(p.check_create(config(model_variant="gpt-99"), facts))
    assert len(problems) == 1
    assert problems[0].field == "parameters.worker.config.model_variant" and DEFAULT_MODEL in problems[0].suggestion
    problems = list(p.check_create(config(), {PORT: [FileFacts("e.jsonl", 0, {}, {})]}))
    assert problems[0].code == "empty_file" and problems[0].field == f"inputs.{PORT}[0].file_id"


def test_vendor_model_name_is_an_alias_with_a_warning():
    p, _ = pipeline()
    assert p.config_warnings(config(model_variant="newton/c:2.5.1-8b-base"))
    assert p.config_warnings(config()) == []
    assert p.load_key(config(model_variant="newton/c")) == p.load_key(config()) == {"model": DEFAULT_MODEL}


def test_catalogue_file_adds_entries_and_rejects_bad_ones(tmp_path):
    path = tmp_path / "models.toml"
    path.write_text('[models.remote]\nkind = "openai"\nbase_url = "http://10.0.0.5:8000/v1"\nmodel = "m"\n'
                    'multimodal = true\n')
    entries = load_catalogue(path)
    assert set(entries) == {DEFAULT_MODEL, "remote"} and entries["remote"].multimodal
    assert resolve("newton/c", entries)[1] is True
    path.write_text('[models.broken]\nkind = "openai"\n')
    with pytest.raises(CatalogueError, match="base_url"):
        load_catalogue(path)
    path.write_text("not = [toml")
    with pytest.raises(CatalogueError, match="not valid TOML"):
        load_catalogue(path)


def test_builtin_gguf_ships_in_the_package():
    assert BUILTIN.gguf_path().is_file()
    assert isinstance(BUILTIN, ModelEntry)
