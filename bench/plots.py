"""PNG plots of the benchmark results, made from `bench/out/results.json` (written by `run_all.py`).

`python bench/plots.py [--results PATH] [--out DIR]` (re)draws every plot whose results are in the
file, into `bench/` by default: `plot_superai.png` ((e) jobs/s of jobport, Celery and Dramatiq),
`plot_create.png` ((e2) jobs/s created and end to end, jobport vs Celery) and
`plot_throughput.png` ((a) e2e / direct ratios). `run_all.py` calls `write_all` after saving the
results. matplotlib runs with the Agg backend (no display needed).

To add a plot: write `plot_<name>(result, out_dir) -> Path` for the result under key `<name>`,
usually with `bar_chart` (grouped bars, value labels, each bar's ratio to the first series
annotated), and add it to `PLOTS`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "out" / "results.json"
COLORS = {"jobport": "#2b6cb0", "Celery + Redis": "#c05621", "Dramatiq + Redis": "#6b46c1"}
FALLBACK_COLORS = ("#2f855a", "#b7791f", "#718096", "#c53030")


def bar_chart(path: Path, title: str, ylabel: str, groups: Sequence[str], series: dict[str, Sequence[float | None]],
              *, ratio_to_first: bool = True, value_format: str = "{:,.0f}", target: float | None = None,
              note: str | None = None) -> Path:
    """Grouped bars: one group per entry of `groups`, one bar per series in each group (a None value
    leaves its bar out). Each bar is labelled with its value; with `ratio_to_first`, every bar of a
    later series also gets `first / this = r×` (the first series, e.g. jobport, over that baseline).
    `target` draws a dashed horizontal line (e.g. a ratio target); `note` goes under the axes."""
    names = list(series)
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(groups) * len(names) + 2), 4.8), dpi=120)
    top = max((v for vs in series.values() for v in vs if v is not None), default=1.0)
    first = series[names[0]]
    for i, name in enumerate(names):
        color = COLORS.get(name, FALLBACK_COLORS[i % len(FALLBACK_COLORS)])
        labelled = False
        for g, value in enumerate(series[name]):
            if value is None:
                continue
            x = g + (i - (len(names) - 1) / 2) * width
            ax.bar(x, value, width * 0.92, color=color, label=None if labelled else name)
            labelled = True
            label = value_format.format(value)
            if ratio_to_first and i > 0 and first[g] and value:
                label += f"\n{names[0]} / this\n= {first[g] / value:.2f}×"
            ax.annotate(label, (x, value), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                        fontsize=8)
    if target is not None:
        ax.axhline(target, color="#718096", linestyle="--", linewidth=1)
        ax.text(0.995, target, f"target {target:g}", transform=ax.get_yaxis_transform(), ha="right", va="bottom",
                fontsize=8, color="#4a5568")
    ax.set_xticks(range(len(groups)), groups, fontsize=9)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, top * 1.35)
    ax.set_title(title, fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, fontsize=9, loc="upper right")
    if note:
        fig.text(0.01, 0.01, note, fontsize=7, color="#4a5568", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.04 if note else 0, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_superai(r: dict[str, Any], out_dir: Path, machine: str = "") -> Path:
    series: dict[str, list[float | None]] = {"jobport": [r["jobport"]["jobs_per_s"]],
                                             "Celery + Redis": [r["celery"]["jobs_per_s"]]}
    if r.get("dramatiq"):
        series["Dramatiq + Redis"] = [r["dramatiq"]["jobs_per_s"]]
    return bar_chart(out_dir / "plot_superai.png",
                     f"(e) super.AI: {r['jobs']:,} single-record jobs in one request, example Iris app",
                     "jobs/s end to end (higher is better)", ["send → every job COMPLETED / result fetched"],
                     series, note=machine)


def plot_create(r: dict[str, Any], out_dir: Path, machine: str = "") -> Path:
    jp, cel = r["jobport"], r["celery"]
    return bar_chart(out_dir / "plot_create.png",
                     f"(e2) super.AI: {r['jobs']:,} jobs in {r['jobs']:,} requests from {r['clients']} clients",
                     "jobs/s (higher is better)", ["created (all requests answered / sent)",
                                                   "end to end (all COMPLETED / results fetched)"],
                     {"jobport": [jp["created_per_s"], jp["jobs_per_s"]],
                      "Celery + Redis": [cel["created_per_s"], cel["jobs_per_s"]]}, note=machine)


def plot_throughput(rows: list[dict[str, Any]], out_dir: Path, machine: str = "") -> Path:
    groups = [f"step {r['step']}, workers={r['workers']}" for r in rows]
    return bar_chart(out_dir / "plot_throughput.png", "(a) machine-state: end to end / direct windows/s (median)",
                     "ratio e2e / direct (1.0 = no overhead)", groups,
                     {"warm job": [r["ratio_warm"] for r in rows], "cold job (index built)":
                      [r["ratio_cold"] for r in rows]}, ratio_to_first=False, value_format="{:.3f}", target=0.9,
                     note=machine)


#: results.json key -> plot function(result, out_dir, machine) -> Path
PLOTS: dict[str, Callable[..., Path]] = {"superai": plot_superai, "create": plot_create,
                                         "throughput": plot_throughput}


def write_all(results: dict[str, Any], out_dir: Path = BENCH_DIR, log=print) -> list[Path]:
    """Every plot of `PLOTS` whose result is present (not None or empty); returns the paths written."""
    written = []
    for key, plot in PLOTS.items():
        if results.get(key):
            path = plot(results[key], out_dir, results.get("machine", ""))
            log(f"plot: {path}")
            written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="results.json written by run_all.py")
    parser.add_argument("--out", type=Path, default=BENCH_DIR, help="folder for the PNG files")
    args = parser.parse_args()
    if not args.results.is_file():
        sys.exit(f"{args.results} not found: run bench/run_all.py first")
    if not write_all(json.loads(args.results.read_text()), args.out):
        print(f"nothing to plot in {args.results}")


if __name__ == "__main__":
    main()
