"""Figure: eigenvector stability between checkpoints (A4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.figures import style
from landscape.store import read_h5, read_summary


def _short(pair: str) -> str:
    a, b = pair.split("->")
    return f"{a.split('@')[1]}$\\to${b.split('@')[1]}"


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Three panels: max overlap of each eigenvector by rank, top-k subspace overlap, top block of |V_aᵀV_b|."""
    summary = read_summary(results)
    fig, axes = style.figure(ncols=3)
    row_ax, sub_ax, heat_ax = axes[0]
    with read_h5(results, ("k", "heatmap")) as fh:
        k, heatmap = fh["k"][:], fh["heatmap"][:]
        for pair in summary["pairs"]:
            rows = fh[f"row_max/{pair}"][:][::-1]  # rank 1 = largest eigenvalue
            window = max(len(rows) // 50, 1)
            smooth = np.convolve(rows, np.ones(window) / window, mode="valid")
            row_ax.semilogx(np.arange(1, len(smooth) + 1), smooth, label=_short(pair))
            sub_ax.plot(k, fh[f"subspace/{pair}"][:], label=_short(pair))
    row_ax.axhline(summary["random_row_max"], color="black", ls=":", lw=0.8, label="random bases")
    row_ax.set(
        xlabel="eigenvalue rank (1 = largest)", ylabel=r"$\max_j |v^a_i \cdot v^b_j|$ (running mean)", ylim=(0, 1)
    )
    row_ax.legend(frameon=False, fontsize="small")
    sub_ax.axvline(summary["classes"], color="grey", lw=0.6, ls=":")
    sub_ax.set(xlabel="k (top eigenvectors)", ylabel="top-k subspace overlap", ylim=(0, 1))
    image = heat_ax.imshow(heatmap[::-1, ::-1], vmin=0, vmax=1, cmap="viridis")
    heat_ax.set(
        xlabel=f"rank at it. {summary['heatmap_pair'].split('->')[1].split('@')[1]}",
        ylabel=f"rank at it. {summary['heatmap_pair'].split('->')[0].split('@')[1]}",
    )
    fig.colorbar(image, ax=heat_ax, shrink=0.8)
    return style.save(fig, target, provenance, __file__)
