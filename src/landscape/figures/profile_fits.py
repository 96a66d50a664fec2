"""Figure: which simple form fits each eigendirection profile, and its parameters against λ (A8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.figures import style
from landscape.store import read_h5, read_summary


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Three panels: chosen form per band, relative quartic term against λ, log-cosh scale against λ."""
    summary = read_summary(results)
    fig, axes = style.figure(ncols=3)
    share_ax, quartic_ax, scale_ax = axes[0]
    bands = list(summary["shares"])
    bottom = np.zeros(len(bands))
    for i, form in enumerate(("quadratic", "quartic", "logcosh")):
        values = np.array([summary["shares"][band][form] for band in bands])
        share_ax.bar(bands, values, bottom=bottom, color=style.PALETTE[i], label=form)
        bottom += values
    share_ax.set(ylabel="share of directions (BIC)", ylim=(0, 1))
    style.legend_above(share_ax, ncol=1)
    with read_h5(results, ("eigenvalue", "quartic_ratio", "logcosh_scale")) as fh:
        eigenvalues, quartic, scale = fh["eigenvalue"][:], fh["quartic_ratio"][:], fh["logcosh_scale"][:]
    quartic_ax.plot(eigenvalues, quartic, "o", ms=3)
    quartic_ax.axhline(0, color="black", lw=0.6)
    quartic_ax.set(xscale="symlog", xlabel=r"$\lambda_i$", ylabel=r"quartic / quadratic term at $t_{\max}$")
    quartic_ax.set_xscale("symlog", linthresh=1e-3)
    style.symlog_ticks_apart(quartic_ax)
    scale_ax.plot(eigenvalues, scale, "o", ms=3)
    scale_ax.set(xscale="symlog", yscale="log", xlabel=r"$\lambda_i$", ylabel=r"log-cosh scale $s/t_{\max}$")
    scale_ax.set_xscale("symlog", linthresh=1e-3)
    style.symlog_ticks_apart(scale_ax)
    return style.save(fig, target, provenance, __file__)
