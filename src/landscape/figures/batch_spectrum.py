"""Figure: mini-batch Hessian spectra against the full-dataset spectrum (H2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.figures import style
from landscape.store import read_h5, read_summary


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Two panels: top eigenvalues by rank (mean ± sd over batches per size, and the full set); top-subspace overlap."""
    summary = read_summary(results)
    fig, axes = style.figure(ncols=2, width=0.8)
    top_ax, overlap_ax = axes[0]
    with read_h5(results, ("sizes", "full_top", "top_mean", "top_std")) as fh:
        sizes, full, mean, std = fh["sizes"][:], fh["full_top"][:], fh["top_mean"][:], fh["top_std"][:]
    ranks = np.arange(1, len(full) + 1)
    for i, size in enumerate(sizes):
        top_ax.errorbar(ranks, mean[i], yerr=std[i], fmt="o-", ms=2, capsize=1.5, label=f"batch {size}")
    top_ax.plot(ranks, full, "k-", label="full data")
    top_ax.set(yscale="log", xlabel="rank", ylabel="eigenvalue")
    top_ax.legend(frameon=False)
    overlaps = [summary["per_size"][str(int(s))]["top_overlap_mean"] for s in sizes]
    overlap_ax.bar([str(int(s)) for s in sizes], overlaps, color=style.PALETTE[: len(sizes)])
    overlap_ax.set(xlabel="batch size", ylabel=f"top-{summary['classes']} subspace overlap with full", ylim=(0, 1))
    return style.save(fig, target, provenance, __file__)
