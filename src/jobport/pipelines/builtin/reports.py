"""Report files the built-in training pipelines share: a confusion matrix as CSV (rows: true
class, columns: predicted) and as a PNG heat map (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import csv
import io

import numpy as np


def confusion_csv(labels: list[str], matrix: np.ndarray) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["true \\ predicted", *labels])
    for label, row in zip(labels, matrix, strict=True):
        writer.writerow([label, *(int(v) for v in row)])
    return out.getvalue().encode()


def confusion_png(labels: list[str], matrix: np.ndarray, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    size = max(3.0, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    peak = matrix.max() if matrix.size else 0
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(int(value)), ha="center", va="center", color="white" if value > peak / 2 else "black")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()
