"""Streaming: live memory (Python heap + Arrow's pool) stays at a few chunks while a file far
larger than that is scored. Sampled at every write and progress call, so transient peaks inside
one chunk are included only as far as they reach the sink; the bounds leave room for that."""

from __future__ import annotations

import gc
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from fakes import file_ref
from jobport.pipelines.builtin.tabular import (
    TabularModelConfig,
    TabularModelPipeline,
    build_example_model,
    readers,
    write_iris_csv,
)
from jobport.pipelines.builtin.tabular.example import FEATURES, iris_rows
from jobport.pipelines.sdk import LoadContext

MB = 1_000_000


class MeasuringSink:
    """Discards the output, counting its bytes, and records the peak of live memory."""

    def __init__(self) -> None:
        self.written = 0
        self.peak = 0
        self.baseline = self.live()

    @staticmethod
    def live() -> int:
        return tracemalloc.get_traced_memory()[0] + pa.total_allocated_bytes()

    def sample(self) -> None:
        self.peak = max(self.peak, self.live() - self.baseline)

    @contextmanager
    def open_output(self, port_name, filename):
        sink = self

        class Out:
            def write(self, data) -> int:
                sink.sample()
                sink.written += len(data)
                return len(data)

        yield Out()

    def event(self, *args, **kwargs) -> None:
        pass

    def progress(self, *args, **kwargs) -> None:
        self.sample()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    example = build_example_model(tmp_path_factory.mktemp("model"))
    config = TabularModelConfig.model_validate(example.config)
    return TabularModelPipeline().load(config, [file_ref(example.path, "worker.model")], LoadContext()), example


def measure(worker, config: TabularModelConfig, path: Path) -> MeasuringSink:
    gc.collect()
    tracemalloc.start()
    try:
        sink = MeasuringSink()
        worker.process(file_ref(path, "worker.data"), sink, config)
    finally:
        tracemalloc.stop()
    return sink


def test_200k_row_csv_streams(model, tmp_path, monkeypatch):
    worker, example = model
    # 32 KiB blocks: pyarrow's 32-block read-ahead is then ~1 MB, far less than the 5 MB file, and
    # 2,000-row chunks keep the rest small, so holding the whole input would show.
    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 32 << 10)
    path = write_iris_csv(tmp_path / "big.csv", 200_000)
    config = TabularModelConfig.model_validate({**example.config, "chunk_rows": 2_000})
    sink = measure(worker, config, path)
    size = path.stat().st_size
    assert sink.written > 2.5 * size, "the output (inputs + 4 outputs) is much larger than the input"
    # Holding the input table alone would take ~size of strings plus 4 bytes of offsets per value.
    assert sink.peak < 0.6 * size, f"peak {sink.peak / MB:.1f} MB for a {size / MB:.1f} MB input"


def test_jsonl_streams(model, tmp_path):
    worker, example = model
    values, _ = iris_rows(30_000, 5)
    path = tmp_path / "big.jsonl"
    path.write_bytes(
        b"".join(orjson.dumps(dict(zip(FEATURES, row, strict=True)), option=orjson.OPT_APPEND_NEWLINE)
                 for row in values.tolist())
    )
    config = TabularModelConfig.model_validate(
        {**example.config, "mime_type": "application/jsonl", "chunk_rows": 1_000}
    )
    sink = measure(worker, config, path)
    # As Python dicts the 30k records would take about 10 MB.
    assert sink.peak < 4 * MB, f"peak {sink.peak / MB:.1f} MB"
    assert sink.written > path.stat().st_size
