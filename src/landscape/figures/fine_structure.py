"""Figure: residual roughness of dense line searches by scale, against round-off (A9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from landscape.figures import style
from landscape.store import read_h5, read_summary


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Two panels: RMS residual of a degree-4 fit, and RMS second difference, against the range, per direction."""
    summary = read_summary(results)
    fig, axes = style.figure(ncols=2, width=0.8)
    residual_ax, second_ax = axes[0]
    with read_h5(results) as fh:
        for i, key in enumerate(summary["directions"]):
            for precision, line in (("float64", "-"), ("float32", "--")):
                scales = fh[f"{precision}/{key}/scales"][:]
                residual_ax.loglog(
                    scales,
                    fh[f"{precision}/{key}/residual_rms"][:],
                    line,
                    marker="o",
                    ms=3,
                    color=style.PALETTE[i],
                    label=f"{key}, {precision}",
                )
                second_ax.loglog(
                    scales,
                    fh[f"{precision}/{key}/second_difference_rms"][:],
                    line,
                    marker="o",
                    ms=3,
                    color=style.PALETTE[i],
                )
    for precision, line in (("float64", "-"), ("float32", "--")):
        floor = next(iter(summary["directions"].values()))[precision]["floor"]
        residual_ax.axhline(floor, color="black", ls=line, lw=0.6)
    residual_ax.set(xlabel="half-range of the line search", ylabel="RMS residual of a quartic fit (black: round-off)")
    residual_ax.legend(frameon=False, fontsize="small")
    second_ax.set(xlabel="half-range of the line search", ylabel="RMS second difference")
    return style.save(fig, target, provenance, __file__)
