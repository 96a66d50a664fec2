"""Figure: the Hessian spectrum through training — eigenvalues by rank, density, and the stability ratio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.figures import style
from landscape.store import read_h5, read_summary


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Three panels: |λ| against rank (both signs), density of log|λ| by sign, λ_max η / 2(1+β) per checkpoint."""
    summary = read_summary(results)
    main = summary["main_points"]
    fig, axes = style.figure(ncols=3, poster=(0,))
    rank_ax, density_ax, stability_ax = axes[0]
    with read_h5(results) as fh:
        spectra = {label: fh[f"eigenvalues/{label}"][:] for label in summary["points"]}
    steps = [int(label.split("@")[1]) for label in main]
    for label, step in zip(main, steps):
        values, colour = spectra[label], style.checkpoint_colour(step, steps[-1])
        positive, negative = np.sort(values[values > 0])[::-1], np.sort(-values[values < 0])[::-1]
        rank_ax.loglog(np.arange(1, len(positive) + 1), positive, color=colour, label=f"it. {step}")
        rank_ax.loglog(np.arange(1, len(negative) + 1), negative, "--", color=colour)
    rank_ax.set(xlabel="rank", ylabel=r"$|\lambda|$ (solid $>0$, dashed $<0$)")
    style.legend_above(rank_ax, ncol=2)  # two rows: a row of four runs into the y label
    magnitudes = np.log10(np.abs(np.concatenate([spectra[main[0]], spectra[main[-1]]])) + 1e-300)
    edges = np.linspace(max(magnitudes.min(), -8.0), magnitudes.max() + 0.05, 40)
    for label, step in ((main[0], steps[0]), (main[-1], steps[-1])):
        values, name, colour = spectra[label], f"it. {step}", style.checkpoint_colour(step, steps[-1])
        density_ax.hist(
            np.log10(values[values > 0]), bins=edges, histtype="step", color=colour, label=f"{name}, $\\lambda>0$"
        )
        density_ax.hist(
            np.log10(-values[values < 0]),
            bins=edges,
            histtype="step",
            ls="--",
            color=colour,
            label=f"{name}, $\\lambda<0$",
        )
    density_ax.set(yscale="log", xlabel=r"$\log_{10}|\lambda|$", ylabel="count")
    density_ax.legend(frameon=False, fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=1)
    ratios = [summary["points"][label]["stability_ratio"] for label in main]
    colours, main_run = style.run_colours(provenance["profile"]), main[0].split("@")[0]
    stability_ax.plot(steps, ratios, "o-", color=colours[main_run], label="main run")
    ends = [label for label in summary["points"] if label not in main]
    for k, label in enumerate(ends):
        run, point = label.split("@")[0], summary["points"][label]
        replica = run != main_run and colours[run] == colours[main_run]  # a replica of the main run: hollow
        # The other runs all end at the last iteration: dodged sideways (by up to 6 % of it) so none hides another.
        dodge = 0.12 * steps[-1] * ((k + 1) / (len(ends) + 1) - 0.5)
        stability_ax.plot(
            int(label.split("@")[1]) + dodge,
            point["stability_ratio"],
            "s",
            color=colours[run],
            markerfacecolor="none" if replica else colours[run],
            label=run,
        )
    stability_ax.axhline(1.0, color="black", lw=0.8, ls=":")
    highest = max(point["stability_ratio"] for point in summary["points"].values())
    stability_ax.set(
        xlabel="iteration",
        ylabel=r"$\lambda_{\max}\,\eta / 2(1+\beta)$",
        yscale="log",
        ylim=(None, 2 * max(1.0, highest)),  # the stability limit inside the frame, not on it
    )
    # Below the axes: one entry per run would cover the end-point markers.
    stability_ax.legend(frameon=False, fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2)
    return style.save(fig, target, provenance, __file__)
