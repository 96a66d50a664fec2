"""Figure: per-example gradients in the eigenbasis (A10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.figures import style
from landscape.store import read_h5, read_summary


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Three panels: |cos(g_n, v_i)| distribution per band; top-1% share against λ; gradient noise c_i against λ."""
    fig, axes = style.figure(ncols=3)
    cos_ax, share_ax, noise_ax = axes[0]
    with read_h5(results, ("cos_histograms", "cos_bins", "eigenvalue", "top_share", "noise", "band_names")) as fh:
        histograms, bins, names = fh["cos_histograms"][:], fh["cos_bins"][:], fh["band_names"][:].astype(str)
        eigenvalues, share, noise = fh["eigenvalue"][:], fh["top_share"][:], fh["noise"][:]
        participation = fh["participation"][:]
    centres = 0.5 * (bins[1:] + bins[:-1])
    for band, name in enumerate(names):
        if histograms[band].sum() == 0:
            continue
        density = histograms[band] / max(histograms[band].sum() * (bins[1] - bins[0]), 1e-300)
        cos_ax.semilogy(centres, density + 1e-6, label=name.replace("_", " "))
    cos_ax.set(xlabel=r"$|\cos(g_n, v_i)|$", ylabel="density")
    style.legend_above(cos_ax)
    positive = eigenvalues > 0
    # Thousands of directions: small translucent markers, so that the density shows where the points pile up.
    share_ax.semilogx(eigenvalues[positive], share[positive], "o", ms=1.0, alpha=0.3, label="top-1% share")
    share_ax.semilogx(
        eigenvalues[positive], participation[positive], "o", ms=1.0, alpha=0.3, label="participation ratio"
    )
    # Log scale: the participation ratios (a few per cent) would otherwise lie on the bottom frame under the shares.
    floor = max(float(min(share[positive].min(), participation[positive].min())), 1e-4)
    share_ax.set(xlabel=r"$\lambda_i$", ylabel="share / ratio", yscale="log", ylim=(floor / 2, 1.5))
    style.legend_above(share_ax, ncol=1, markerscale=4)
    # The data's directions only: weight decay's (λ ≤ 2 wd) have near-zero noise that would stretch the axis.
    summary = read_summary(results)
    data = eigenvalues > 2 * summary.get("weight_decay", 0.0)
    noise_ax.loglog(eigenvalues[data], noise[data], "o", ms=1.5, alpha=0.6)
    limits = np.array([eigenvalues[data].min(), eigenvalues[data].max()])
    noise_ax.loglog(limits, limits, "k:", lw=0.8)
    law = summary["noise_law"]
    noise_ax.loglog(
        limits,
        law["scale"] * limits ** law["power"],
        color=style.PALETTE[1],
        lw=1.0,
        label=f"fit: $\\sigma_i^2\\propto\\lambda_i^{{{law['power']:.2f}}}$",
    )
    noise_ax.legend(frameon=False, fontsize="small")
    noise_ax.set(
        xlabel=r"$\lambda_i$ ($>2\,$wd)", ylabel=r"$\sigma_i^2 = v_i^\top C v_i$ (dotted: $\sigma_i^2=\lambda_i$)"
    )
    return style.save(fig, target, provenance, __file__)
