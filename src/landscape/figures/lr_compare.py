"""Figure: end points of runs with different learning rates, and the objective on the straight lines between (A6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from landscape.figures import style
from landscape.store import read_h5, read_summary


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Two panels: final training and test loss against initial LR; the objective along straight lines.

    The right panel follows the straight line from the reference's end point to each run's: measured (solid) and
    the quadratic expansion at the reference (dashed).
    """
    summary = read_summary(results)
    runs = summary["runs"]
    fig, axes = style.figure(ncols=2, width=0.85)
    loss_ax, path_ax = axes[0]
    for schedule, marker in (("anneal", "o"), ("constant", "s"), ("step", "^")):
        names = [r for r in runs if runs[r]["schedule"] == schedule]
        if names:
            lrs = [runs[r]["initial_lr"] for r in names]
            loss_ax.loglog(
                lrs, [runs[r]["train_loss"] for r in names], marker, color=style.PALETTE[0], label=f"train, {schedule}"
            )
            loss_ax.loglog(
                lrs,
                [runs[r]["test_loss"] for r in names],
                marker,
                color=style.PALETTE[1],
                mfc="none",
                label=f"test, {schedule}",
            )
    loss_ax.set(xlabel="initial learning rate", ylabel="final cross-entropy")
    loss_ax.legend(frameon=False, fontsize="x-small")
    colours = style.run_colours(provenance["profile"])
    others = [r for r in runs if runs[r]["path_barrier"] is not None]
    lowest = highest = 0.0
    with read_h5(results) as fh:
        for name in others:
            steps, path = fh["path/t"][:], fh[f"path/{name}"][:]
            path_ax.plot(steps, path, "-o", ms=2.5, color=colours[name], label=name.replace("_", " "))
            path_ax.plot(steps, fh[f"path_expansion/{name}"][:], "--", color=colours[name], lw=0.8)
            lowest, highest = min(lowest, path.min()), max(highest, path.max())
    # The frame holds the measured paths; the expansion's parabolas may leave it (their values are in the results).
    margin = 0.15 * (highest - lowest or 1.0)
    path_ax.set_ylim(lowest - margin, highest + margin)
    path_ax.axhline(0, color="black", lw=0.6)
    path_ax.set(
        xlabel=f"t along the straight line from {summary['reference'].replace('_', ' ')}",
        ylabel="objective minus the reference's",
    )
    if others:
        style.legend_above(path_ax, ncol=3)
    return style.save(fig, target, provenance, __file__)
