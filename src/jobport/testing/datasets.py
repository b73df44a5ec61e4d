"""Demo and benchmark data for the `machine-state-classification` pipeline. Nothing is downloaded.

- `write_basic_motions(out_dir)`: the UEA BasicMotions recordings bundled in aeon (a smartwatch's
  3-axis accelerometer and 3-axis gyroscope, 10 Hz, 100 samples per recording; classes standing,
  walking, running, badminton). One n-shot CSV per official TRAIN recording (40) labelled with its
  class, one inference CSV per TEST recording (40) whose true label is returned aside. Columns:
  `timestamp` (integer sample index 0..99), then `acc_x, acc_y, acc_z` (accelerometer, UEA
  dimensions 1-3) and `gyr_x, gyr_y, gyr_z` (gyroscope, dimensions 4-6).
  `DEMO_CONFIG` is the pipeline config for them: every test recording is classified correctly by a
  majority vote over its windows (per-recording accuracy 1.0, checked in the unit tests).
- `write_synthetic_csv(path, n_rows, ...)`: a long multichannel CSV whose rows switch between a few
  machine states differing by level, amplitude and frequency, written in chunks (for benchmarks);
  `write_synthetic_dataset` adds one single-state n-shot file per state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

BASIC_MOTIONS_COLUMNS = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
TIMESTAMP_COLUMN = "timestamp"

DEMO_CONFIG: dict[str, Any] = {
    "model_type": "minirocket_summary",
    "batch_size": 32,
    "reader_config": {
        "data_columns": BASIC_MOTIONS_COLUMNS,
        "timestamp_column": TIMESTAMP_COLUMN,
        "window_size": 32,
        "step_size": 4,
    },
    "classifier_config": {
        "n_neighbors": 5,
        "metric": "euclidean",
        "weights": "distance",
        "normalize_embeddings": False,
    },
    "flush_every_n_iteration": 150,
}


@dataclass
class DemoManifest:
    """Files written, each with its class label (for inference files: the truth, kept aside)."""

    shots: list[tuple[Path, str]] = field(default_factory=list)
    inference: list[tuple[Path, str]] = field(default_factory=list)


def write_basic_motions(out_dir: str | Path) -> DemoManifest:
    from aeon.datasets import load_basic_motions  # heavy optional dependency: import on use

    out = Path(out_dir)
    manifest = DemoManifest()
    for split, folder, target in (("train", "n_shots", manifest.shots), ("test", "inference", manifest.inference)):
        x, y = load_basic_motions(split=split)  # x: [recordings, channels, time]
        (out / folder).mkdir(parents=True, exist_ok=True)
        for i, (recording, label) in enumerate(zip(x, y, strict=False)):
            name = f"basicmotions_{split}_{i:02d}" + (f"_{label}" if split == "train" else "")
            path = out / folder / f"{name}.csv"
            with open(path, "wb") as f:
                _write_header(f, BASIC_MOTIONS_COLUMNS)
                _write_rows(f, np.arange(recording.shape[1]), recording.T, BASIC_MOTIONS_COLUMNS)
            target.append((path, str(label)))
    return manifest


@dataclass
class SyntheticStates:
    """Per-state signal parameters: level/amplitude `[states, channels]`, frequency `[states]`."""

    level: np.ndarray
    amplitude: np.ndarray
    frequency: np.ndarray
    phase: np.ndarray
    noise: float = 0.3

    @classmethod
    def make(cls, n_states: int, n_channels: int, seed: int) -> SyntheticStates:
        rng = np.random.default_rng([seed, 1])
        return cls(
            level=rng.normal(0.0, 2.0, (n_states, n_channels)),
            amplitude=rng.uniform(0.5, 2.0, (n_states, n_channels)),
            frequency=rng.uniform(0.01, 0.2, n_states),  # cycles per row
            phase=rng.uniform(0, 2 * np.pi, n_channels),
        )

    def signal(self, states: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        wave = np.sin(2 * np.pi * self.frequency[states][:, None] * rows[:, None] + self.phase[None, :])
        noise = rng.normal(0.0, self.noise, wave.shape)
        return self.level[states] + self.amplitude[states] * wave + noise


def write_synthetic_csv(
    path: str | Path,
    n_rows: int,
    n_channels: int = 6,
    n_states: int = 3,
    seed: int = 0,
    chunk_rows: int = 50_000,
    segment_rows: tuple[int, int] = (500, 5000),
    states: np.ndarray | None = None,
    noise_seed: int | None = None,
) -> np.ndarray:
    """Write `timestamp, ch_0..ch_{C-1}`; return the state (0..n_states-1) of every row.

    `seed` fixes the states' signal parameters. Rows come in contiguous segments of one state each
    (length drawn from `segment_rows`), unless `states` gives the state of every row. Values are
    rounded to 4 decimals. Deterministic for given seeds and chunk size.
    """
    params = SyntheticStates.make(n_states, n_channels, seed)
    if states is None:
        schedule = np.random.default_rng([seed, 2])
        lengths, total = [], 0
        while total < n_rows:
            lengths.append(int(schedule.integers(segment_rows[0], segment_rows[1] + 1)))
            total += lengths[-1]
        states = np.repeat(schedule.integers(0, n_states, len(lengths)), lengths)[:n_rows]
    noise = np.random.default_rng([seed if noise_seed is None else noise_seed, 3])
    columns = [f"ch_{c}" for c in range(n_channels)]
    with open(path, "wb") as f:
        _write_header(f, columns)
        for start in range(0, n_rows, chunk_rows):
            rows = np.arange(start, min(start + chunk_rows, n_rows))
            values = params.signal(states[rows], rows, noise)
            _write_rows(f, rows, np.round(values, 4).astype(np.float32), columns)
    return states


@dataclass
class SyntheticDataset:
    shots: list[tuple[Path, str]]
    inference: Path
    row_states: np.ndarray  # true state index of every inference row; label = f"state_{i}"
    config: dict[str, Any]


def write_synthetic_dataset(
    out_dir: str | Path,
    n_rows: int = 200_000,
    n_channels: int = 6,
    n_states: int = 3,
    shot_rows: int = 2_000,
    seed: int = 0,
) -> SyntheticDataset:
    """One inference CSV of `n_rows` plus one contiguous `shot_rows`-row n-shot CSV per state."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shots = []
    for s in range(n_states):
        path = out / f"synthetic_shot_state_{s}.csv"
        write_synthetic_csv(
            path, shot_rows, n_channels, n_states, seed, states=np.full(shot_rows, s), noise_seed=seed + 1000 + s
        )
        shots.append((path, f"state_{s}"))
    inference = out / "synthetic_inference.csv"
    row_states = write_synthetic_csv(inference, n_rows, n_channels, n_states, seed)
    config = {
        "model_type": "minirocket_summary",
        "batch_size": 256,
        "reader_config": {
            "data_columns": [f"ch_{c}" for c in range(n_channels)],
            "timestamp_column": TIMESTAMP_COLUMN,
            "window_size": 64,
            "step_size": 16,
        },
        "classifier_config": {"n_neighbors": 5},
    }
    return SyntheticDataset(shots, inference, row_states, config)


def _write_header(f: BinaryIO, columns: list[str]) -> None:
    f.write((",".join([TIMESTAMP_COLUMN, *columns]) + "\n").encode())


def _write_rows(f: BinaryIO, timestamps: np.ndarray, values: np.ndarray, columns: list[str]) -> None:
    arrays = [pa.array(timestamps.astype(np.int64))]
    arrays += [pa.array(np.ascontiguousarray(values[:, c])) for c in range(values.shape[1])]
    table = pa.Table.from_arrays(arrays, names=[TIMESTAMP_COLUMN, *columns])
    pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=False))
