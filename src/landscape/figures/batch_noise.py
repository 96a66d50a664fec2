"""Figure: scatter of mini-batch minimum locations and curvatures against the eigenvalue (A2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.figures import style
from landscape.store import read_h5


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Two panels: spread of the minimum location against λ, and mini-batch curvature against λ, per batch size."""
    fig, axes = style.figure(ncols=2, width=0.8)
    spread_ax, curvature_ax = axes[0]
    with read_h5(results, ("eigenvalue", "spread", "curvatures", "sizes")) as fh:
        eigenvalues, spreads, curvatures, sizes = (
            fh["eigenvalue"][:],
            fh["spread"][:],
            fh["curvatures"][:],
            fh["sizes"][:],
        )
    positive = eigenvalues > 0
    for s, size in enumerate(sizes):
        spread = spreads[:, s]
        spread_ax.loglog(eigenvalues[positive], spread[positive], "o", ms=3, label=f"batch {size}")
        median = np.nanmedian(curvatures[:, s], axis=1)
        low, high = np.nanpercentile(curvatures[:, s], [25, 75], axis=1)
        curvature_ax.errorbar(
            eigenvalues[positive],
            median[positive],
            yerr=[median[positive] - low[positive], high[positive] - median[positive]],
            fmt="o",
            ms=3,
            capsize=1.5,
            label=f"batch {size}",
        )
    limits = np.array([eigenvalues[positive].min(), eigenvalues[positive].max()])
    curvature_ax.plot(limits, limits, "k:", lw=0.8, label="full data")
    spread_ax.set(xlabel=r"$\lambda_i$", ylabel=r"sd of the minimum location $t^*$")
    spread_ax.legend(frameon=False, fontsize="small")
    curvature_ax.set(xscale="log", yscale="symlog", xlabel=r"$\lambda_i$", ylabel="mini-batch curvature (median, IQR)")
    curvature_ax.set_yscale("symlog", linthresh=1e-3)
    curvature_ax.legend(frameon=False, fontsize="small")
    return style.save(fig, target, provenance, __file__)
