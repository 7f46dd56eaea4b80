"""The loss-curve plot of a training log (matplotlib, headless)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lexir.errors import LexirError

SMOOTHING = 25


def plot_log(log_path: Path, png_path: Path) -> None:
    """Plot distillation, contrastive and weighted FLOPS losses, document nonzeros and (when the run had a dev
    split) the dev score against the step."""
    try:
        import matplotlib
    except ImportError:
        raise LexirError("the loss plot needs matplotlib: pip install 'lexir[train]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = [json.loads(line) for line in log_path.read_text().splitlines() if line]
    if not entries:
        raise LexirError(f"{log_path} has no training steps to plot")
    steps = np.array([entry["step"] for entry in entries])
    dev = [(entry["step"], entry["dev"]) for entry in entries if "dev" in entry]
    figure, axes = plt.subplots(1, 3 if dev else 2, figsize=(16 if dev else 11, 4))
    losses, sparsity = axes[0], axes[1]
    series = {"distillation (KL)": [entry["distillation"] for entry in entries],
              "weighted FLOPS": [entry["flops"] * entry["flops_weight"] for entry in entries],
              "total": [entry["total"] for entry in entries]}
    if "contrastive" in entries[0]:
        series["contrastive"] = [entry["contrastive"] for entry in entries]
    for label, values in series.items():
        losses.plot(steps, _smooth(values), label=label)
    losses.set(xlabel="step", ylabel=f"loss (moving mean of {SMOOTHING} steps)", yscale="log")
    losses.legend()
    sparsity.plot(steps, _smooth([entry["doc_nonzeros"] for entry in entries]))
    sparsity.set(xlabel="step", ylabel="nonzero weights per document")
    if dev:
        axes[2].plot(*zip(*dev, strict=True), marker="o")
        axes[2].set(xlabel="step", ylabel="dev nDCG@10")
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)


def _smooth(values: list[float]) -> np.ndarray:
    """Trailing moving mean (shorter windows at the start), one value per step."""
    array = np.asarray(values, dtype=float)
    sums = np.cumsum(np.concatenate([[0.0], array]))
    starts = np.maximum(np.arange(len(array)) + 1 - SMOOTHING, 0)
    return (sums[1:] - sums[starts]) / (np.arange(len(array)) + 1 - starts)
