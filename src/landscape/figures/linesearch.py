"""Figure: line searches along eigendirections at the end of training against the quadratic model (A1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.figures import style
from landscape.linesearch import quadratic_prediction
from landscape.store import read_h5, read_summary

BAND_COLOURS = {
    "top": style.PALETTE[0],
    "bulk": style.PALETTE[1],
    "zero": style.PALETTE[2],
    "negative": style.PALETTE[3],
}


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Three panels: profiles and their quadratic models, deviation against |λ|, fitted curvature against λ."""
    summary = read_summary(results)
    label = summary["labels"][-1]
    loss0 = summary["points"][label]["loss0"]
    fig, axes = style.figure(ncols=3, poster=(0,))
    profile_ax, deviation_ax, curvature_ax = axes[0]
    with read_h5(results) as fh:
        group = {
            k: fh[f"{label}/{k}"][:]
            for k in ("ts", "losses", "eigenvalue", "slope", "t_max", "max_deviation", "fitted_curvature")
        }
        bands = fh[f"{label}/band"][:].astype(str)
    shown = [np.flatnonzero(bands == band)[0] for band in BAND_COLOURS if np.any(bands == band)]
    for i in shown:
        ts, colour = group["ts"][i], BAND_COLOURS[bands[i]]
        quadratic = quadratic_prediction(loss0, group["slope"][i], group["eigenvalue"][i], ts)
        profile_ax.plot(
            ts / group["t_max"][i],
            group["losses"][i] - loss0,
            color=colour,
            label=f"{bands[i]}, $\\lambda={style.math_number(group['eigenvalue'][i])}$",
        )
        profile_ax.plot(ts / group["t_max"][i], quadratic - loss0, ":", color=colour)
    rise = summary["loss_increase"]
    top = 2.5 * rise
    profile_ax.set(
        xlabel=r"$t / t_{\max}$",
        ylabel=r"$L(\theta+tv_i)-L(\theta)$",
        ylim=(-0.5 * rise, top),
        xticks=(-1, -0.5, 0, 0.5, 1),
    )
    for i in shown:  # a profile that leaves the window through its top gets an arrow where it leaves
        above = np.flatnonzero(group["losses"][i] - loss0 > top)
        for side in (above[group["ts"][i][above] < 0][-1:], above[group["ts"][i][above] > 0][:1]):
            for j in side:
                x = group["ts"][i][j] / group["t_max"][i]
                profile_ax.plot(x, top, "^", color=BAND_COLOURS[bands[i]], ms=4, clip_on=False)
    # Below the axes: the profiles fill the upper corners, where a legend would cover them.
    profile_ax.legend(frameon=False, fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2)
    for band, colour in BAND_COLOURS.items():
        mask = bands == band
        if mask.any():
            deviation_ax.loglog(
                np.abs(group["eigenvalue"][mask]), group["max_deviation"][mask], "o", ms=3, color=colour, label=band
            )
            curvature_ax.plot(group["eigenvalue"][mask], group["fitted_curvature"][mask], "o", ms=3, color=colour)
    deviation_ax.axhline(summary["tolerance"], color="black", ls=":", lw=0.8)
    deviation_ax.set(xlabel=r"$|\lambda_i|$", ylabel=r"max $|L-q|$ / quadratic rise")
    deviation_ax.legend(frameon=False, fontsize="small")
    limits = np.array([group["eigenvalue"].min(), group["eigenvalue"].max()])
    curvature_ax.plot(limits, limits, "k:", lw=0.8)
    curvature_ax.set(xscale="symlog", yscale="symlog", xlabel=r"$\lambda_i$", ylabel="fitted curvature at the minimum")
    curvature_ax.set_xscale("symlog", linthresh=1e-3)
    curvature_ax.set_yscale("symlog", linthresh=1e-3)
    style.symlog_ticks_apart(curvature_ax)
    return style.save(fig, target, provenance, __file__)
