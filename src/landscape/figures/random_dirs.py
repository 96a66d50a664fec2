"""Figure: line searches along random directions against the independent-quadratic prediction (A7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.figures import style
from landscape.linesearch import quadratic_prediction
from landscape.store import read_h5, read_summary


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Two panels: one profile per kind with its prediction; the deviation of every direction, per kind."""
    summary = read_summary(results)
    kinds = list(summary["kinds"])
    fig, axes = style.figure(ncols=2, width=0.8)
    profile_ax, deviation_ax = axes[0]
    with read_h5(results) as fh:
        for i, kind in enumerate(kinds):
            ts, losses = fh[f"{kind}/ts"][0], fh[f"{kind}/losses"][0]
            predicted = quadratic_prediction(summary["loss0"], fh[f"{kind}/slope"][0], fh[f"{kind}/curvature"][0], ts)
            t_max = np.abs(ts).max()
            colour = style.PALETTE[i]
            profile_ax.plot(ts / t_max, losses - summary["loss0"], color=colour, label=kind)
            profile_ax.plot(ts / t_max, predicted - summary["loss0"], ":", color=colour)
            deviations = fh[f"{kind}/max_deviation"][:]
            deviation_ax.semilogy(
                np.full(len(deviations), i) + np.linspace(-0.15, 0.15, len(deviations)),
                deviations,
                "o",
                ms=3,
                color=colour,
            )
    profile_ax.set(xlabel=r"$t/t_{\max}$", ylabel=r"$L(\theta+td)-L(\theta)$ (dotted: prediction)")
    profile_ax.legend(frameon=False, fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2)
    deviation_ax.axhline(summary["tolerance"], color="black", ls=":", lw=0.8)
    deviation_ax.set_xticks(range(len(kinds)), kinds)
    deviation_ax.set(ylabel=r"max $|L-q|$ / predicted rise")
    return style.save(fig, target, provenance, __file__)
