"""Figure: end points of runs with different learning rates, and their loss gaps by eigenband (A6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.figures import style
from landscape.store import read_h5, read_summary


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Two panels: final training loss and test loss against initial LR; per-band loss gap against the reference."""
    summary = read_summary(results)
    runs = summary["runs"]
    fig, axes = style.figure(ncols=2, width=0.85)
    loss_ax, band_ax = axes[0]
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
    edges = np.asarray(summary["band_edges"])
    labels = [f"{a + 1}–{b}" for a, b in zip(edges, edges[1:])]
    # Band gaps measured by moving within one band; without them, the expansion's only where it describes the gap.
    measured = summary.get("measured", [])
    others, key = (measured, "measured_bands") if measured else (summary["described"], "bands")
    width = 0.8 / max(len(others), 1)
    colours = style.run_colours(provenance["profile"])
    with read_h5(results) as fh:
        for k, name in enumerate(others):
            band_ax.bar(
                np.arange(len(labels)) + k * width,
                fh[f"{key}/{name}"][:],
                width,
                color=colours[name],
                label=name.replace("_", " "),
            )
    band_ax.axhline(0, color="black", lw=0.6)
    band_ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels, rotation=45, fontsize="small")
    band_ax.set(xlabel="eigenvalue ranks (1 = largest)", ylabel=f"loss gap vs {summary['reference'].replace('_', ' ')}")
    band_ax.set_yscale("symlog", linthresh=1e-4)
    band_ax.tick_params(axis="y", labelsize=5)
    if others:
        style.legend_above(band_ax, ncol=3)
    else:
        band_ax.text(
            0.5,
            0.5,
            "no band gap measured, and the\nexpansion describes no run's gap",
            transform=band_ax.transAxes,
            ha="center",
        )
    return style.save(fig, target, provenance, __file__)
