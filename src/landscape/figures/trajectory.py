"""Figure: the main run in the final eigenbasis — trajectories, settle iterations, stationary variance (A5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.figures import style
from landscape.store import read_h5, read_summary


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Three panels: traced |x_i(t)|, settle iteration against λ per basis, last-phase variance against λ."""
    summary = read_summary(results)
    final = summary["final_label"]
    fig, axes = style.figure(ncols=3, poster=(1,), poster_height=1.25)
    path_ax, settle_ax, variance_ax = axes[0]
    with read_h5(results) as fh:
        coordinates, traced_values = fh["traced/coordinates"][:], fh["traced/eigenvalue"][:]
        order = np.argsort(traced_values)[::-1]
        window = int(summary["window"])
        # Three of the traced directions (the sharpest, the middle one, the flattest), each as a running RMS over the
        # settle window: the raw coordinates of five directions overlapped into one band of noise.
        for k in dict.fromkeys([order[0], order[len(order) // 2], order[-1]]):
            # The last iterate is the origin θ*: its distance is zero by definition and would drag the axis to 1e-12.
            squares = coordinates[:-1, k] ** 2
            rms = np.sqrt(np.convolve(squares, np.ones(window) / window, mode="valid"))
            path_ax.semilogy(
                np.arange(window - 1, len(squares)), rms, lw=1.0, label=f"$\\lambda$={traced_values[k]:.2g}"
            )
        last_step = int(final.split("@")[1])
        for label in summary["labels"]:
            eigenvalues, settle = fh[f"{label}/eigenvalue"][:], fh[f"{label}/settle"][:]
            keep = (eigenvalues > 0) & (settle >= 0)
            settle_ax.loglog(
                eigenvalues[keep],
                settle[keep] + 1,
                "o",
                ms=1.5,
                alpha=0.6,
                color=style.checkpoint_colour(int(label.split("@")[1]), last_step),
                label=f"it. {label.split('@')[1]}",
            )
        eigenvalues, variance = fh[f"{final}/eigenvalue"][:], fh[f"{final}/phase_variance"][:]
        phase_lr = fh[f"{final}/phase_lr"][:]
    # The directions held by weight decay (0 ≤ λ ≤ 2 wd) barely move: their variances, orders of magnitude below the
    # data's, would stretch the axis over twenty decades. They are drawn apart only by being left out here.
    data = eigenvalues > 2 * summary.get("weight_decay", 0.0)
    for k, lr in enumerate(phase_lr):
        variance_ax.loglog(eigenvalues[data], variance[k][data], "o", ms=1.5, alpha=0.6, label=f"$\\eta$={lr:.2g}")
    path_ax.set(xlabel="iteration", ylabel=r"RMS of $v_i^\top(\theta_t-\theta^*)$")
    path_ax.legend(frameon=False, fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2)
    settle_ax.set(xlabel=r"$\lambda_i$", ylabel="settle iteration + 1")
    style.legend_above(settle_ax, ncol=3, markerscale=3, title="eigenbasis at", title_fontsize="x-small")
    variance_ax.set(xlabel=r"$\lambda_i$ ($>2\,$wd)", ylabel="variance in each phase's second half")
    style.legend_above(variance_ax, ncol=3, markerscale=3)
    return style.save(fig, target, provenance, __file__)
