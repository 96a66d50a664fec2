"""Figure: directions above an eigenvalue threshold moved to their quadratic minima (A12)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.figures import style
from landscape.store import read_h5, read_summary


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Two panels: loss per split against the threshold; measured against predicted objective change."""
    summary = read_summary(results)
    fig, axes = style.figure(ncols=2, width=0.85)
    loss_ax, change_ax = axes[0]
    with read_h5(results, ("threshold", "predicted_change", "measured_change")) as fh:
        taus = fh["threshold"][:]
        for split in ("train", "val", "test"):
            loss_ax.loglog(taus, fh[f"{split}_loss"][:], marker="o", ms=2.5, label=split)
        predicted, measured = -fh["predicted_change"][:], -fh["measured_change"][:]
    loss_ax.axvline(summary["best_threshold"], color="black", ls=":", lw=0.8)
    loss_ax.set(
        xlabel=r"threshold $\tau$ (directions with $\lambda>\tau$ moved)", ylabel="loss (dotted: best on validation)"
    )
    loss_ax.legend(frameon=False, fontsize="small")
    change_ax.loglog(taus, np.where(predicted > 0, predicted, np.nan), marker="o", ms=2.5, label="predicted decrease")
    change_ax.loglog(
        taus, np.where(measured > 0, measured, np.nan), marker="s", ms=2.5, mfc="none", label="measured decrease"
    )
    change_ax.loglog(
        taus, np.where(measured < 0, -measured, np.nan), marker="x", ms=3, ls="none", label="measured increase"
    )
    change_ax.set(xlabel=r"threshold $\tau$", ylabel="change of the training objective")
    change_ax.legend(frameon=False, fontsize="small")
    return style.save(fig, target, provenance, __file__)
