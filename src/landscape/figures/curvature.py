"""Figure: effective curvature along eigendirections against the step size, with the scale SGD explores (A1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.figures import style
from landscape.store import read_h5, read_summary

# The near-zero band is left out: c(h)/λ has no meaning where λ ≈ 0 (the paper quotes its absolute curvature).
BAND_COLOURS = {"top": style.PALETTE[0], "bulk": style.PALETTE[1], "negative": style.PALETTE[3]}


def _band_quantiles(ratio: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """25th, 50th and 75th percentile over directions (rows) of the usable entries at each scale (NaN where none)."""
    out = np.full((3, ratio.shape[1]), np.nan)
    for j in range(ratio.shape[1]):
        column = ratio[usable[:, j], j]
        if len(column):
            out[:, j] = np.percentile(column, [25, 50, 75])
    return out


def _symmetric_log(ax: Any) -> None:
    """A y axis logarithmic beyond ±1 and linear inside, so a curvature of the opposite sign to λ stays in view."""
    ax.set_yscale("symlog", linthresh=1.0, linscale=0.5)
    ax.axhline(0, color="black", lw=0.5)


def _read(fh: Any, prefix: str) -> dict[str, np.ndarray]:
    keys = ("scales", "eigenvalue", "second_difference", "resolved", "sgd_scale", "band")
    out = {key: fh[f"{prefix}{key}"][:] for key in keys}
    out["band"] = out["band"].astype(str)
    out["ratio"] = out["second_difference"] / out["eigenvalue"][:, None]
    out["usable"] = out["resolved"]  # every resolved step: a symmetric-log axis shows a ratio that changes sign
    return out


def _against_scale(ax: Any, data: dict[str, np.ndarray], title: str, tolerance: float) -> None:
    """Median and interquartile range of c(h)/λ per band against h/|θ|; dashed: SGD's median spread per band."""
    for band, colour in BAND_COLOURS.items():
        rows = data["band"] == band
        if rows.any():
            low, mid, high = _band_quantiles(data["ratio"][rows], data["usable"][rows])
            ax.plot(data["scales"], mid, color=colour, label=f"{band} ({rows.sum()} directions)")
            ax.fill_between(data["scales"], low, high, color=colour, alpha=0.2, lw=0)
            ax.axvline(np.median(data["sgd_scale"][rows]), color=colour, ls="--", lw=0.8)
    ax.axhspan(1 - tolerance, 1 + tolerance, color="black", alpha=0.08, lw=0)
    _symmetric_log(ax)
    ax.set(
        xscale="log",
        title=title,
        xlabel=r"step $h/\|\theta\|$ (dashed: SGD's spread)",
        ylabel=r"$c_i(h)/\lambda_i$",
    )


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """c(h)/λ per band against h/|θ| (the main run, and each smooth-activation contrast), and against ½|λ|h²."""
    summary = read_summary(results)
    with read_h5(results) as fh:
        main = _read(fh, "")
        contrasts = {label: _read(fh, f"contrast/{label}/") for label in summary["contrasts"]}
    fig, axes = style.figure(ncols=2 + len(contrasts))
    axes = axes[0]
    _against_scale(axes[0], main, "ReLU (the main run)", summary["tolerance"])
    for ax, (label, data) in zip(axes[1:], contrasts.items()):
        _against_scale(ax, data, f"smooth units ({label.split('@')[0].replace('_', ' ')})", summary["tolerance"])
    rise_ax = axes[-1]
    rise = 0.5 * np.abs(main["eigenvalue"])[:, None] * (main["scales"][None, :] * summary["theta_norm"]) ** 2
    for band, colour in BAND_COLOURS.items():
        rows = main["band"] == band
        if rows.any():
            low, mid, high = _band_quantiles(main["ratio"][rows], main["usable"][rows])
            typical_rise = np.median(rise[rows], axis=0)
            rise_ax.plot(typical_rise, mid, color=colour)
            rise_ax.fill_between(typical_rise, low, high, color=colour, alpha=0.2, lw=0)
    rise_ax.axhspan(1 - summary["tolerance"], 1 + summary["tolerance"], color="black", alpha=0.08, lw=0)
    _symmetric_log(rise_ax)
    rise_ax.set(
        xscale="log",
        title="ReLU, against the quadratic rise",
        xlabel=r"quadratic rise $\frac{1}{2}|\lambda_i|h^2$ (band median)",
        ylabel=r"$c_i(h)/\lambda_i$",
    )
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, frameon=False, loc="outside upper center", ncol=len(BAND_COLOURS))
    return style.save(fig, target, provenance, __file__)
