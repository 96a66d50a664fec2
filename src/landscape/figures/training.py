"""Figure: training curves of every run (loss, test accuracy, learning rate against iteration)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from landscape.figures import style
from landscape.store import read_h5

SCRIPT = "src/landscape/figures/training.py"


def make(run_files: dict[str, Path], target: Path, provenance: dict[str, Any]) -> Path:
    """Three panels: training loss (log scale), test accuracy, learning rate, one line per run."""
    fig, axes = style.figure(ncols=3)
    loss_ax, acc_ax, lr_ax = axes[0]
    for name, path in run_files.items():
        with read_h5(path, ("eval/step", "eval/train_loss", "eval/test_acc", "lr")) as fh:
            steps = fh["eval/step"][:]
            dashed = "--" if name.startswith("const") else (":" if name.startswith("anneal") else "-")
            loss_ax.plot(steps, fh["eval/train_loss"][:], dashed, label=name.replace("_", " "))
            acc_ax.plot(steps, 100 * fh["eval/test_acc"][:], dashed)
            lr_ax.plot(fh["lr"][:], dashed)
    loss_ax.set(yscale="log", xlabel="iteration", ylabel="training loss (cross-entropy)")
    acc_ax.set(xlabel="iteration", ylabel="test accuracy (%)")
    lr_ax.set(yscale="log", xlabel="iteration", ylabel="learning rate")
    fig.legend(frameon=False, loc="outside upper center", ncol=min(len(run_files), 5))
    return style.save(fig, target, provenance, SCRIPT)
