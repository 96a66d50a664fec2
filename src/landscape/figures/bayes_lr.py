"""Figure: Bayesian per-direction learning rates against plain SGD (B2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.figures import style
from landscape.store import read_h5, read_summary


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Three panels: the rates against λ; test loss by arm (mean ± sd over seeds); median temperature by arm."""
    summary = read_summary(results)
    fig, axes = style.figure(ncols=3)
    rate_ax, loss_ax, temp_ax = axes[0]
    arms = ["sgd", "sgd_at_cap", *(f"bayes_x{s:g}" for s in summary["scales"])]
    labels = ["SGD", "SGD at cap"] + [f"Bayes ×{s:g}" for s in summary["scales"]]
    if summary["top_against_sgd"] is not None:
        arms.append("bayes_top")
        labels.append(f"Bayes, top {summary['top_k']}")
    if summary.get("effective_against_sgd") is not None:
        arms.append("bayes_effective")
        labels.append(r"Bayes, eff. $\kappa$")
    with read_h5(results, ("eigenvalue", "bayes_rates")) as fh:
        eigenvalues, rates = fh["eigenvalue"][:], fh["bayes_rates"][:]
    positive = eigenvalues > 0
    rate_ax.loglog(eigenvalues[positive], rates[positive], ".", ms=2, label="Bayesian rate (before the cap)")
    rate_ax.axhline(summary["max_rate"], color="black", ls=":", lw=0.8, label="cap: the run's initial rate")
    rate_ax.axhline(summary["final_lr"], color=style.PALETTE[1], ls="--", lw=0.8, label="SGD: the run's final rate")
    # Room below the final rate's line, which would otherwise lie on the frame.
    lowest = min(summary["final_lr"], float(rates[positive].min()))
    rate_ax.set(xlabel=r"$\lambda_i$", ylabel=r"learning rate $r_i$", ylim=(lowest / 3, None))
    rate_ax.legend(frameon=False, fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.28))
    positions = np.arange(len(arms))
    for ax, metric, ylabel in (
        (loss_ax, "test_loss", "test loss"),
        (temp_ax, "median_temperature", "median temperature (relaxed)"),
    ):
        means = [summary["arms"][a][metric]["mean"] for a in arms]
        sds = [summary["arms"][a][metric]["sd"] for a in arms]
        ax.errorbar(positions, means, yerr=sds, fmt="o", capsize=3)
        ax.set_xticks(positions, labels, rotation=40, ha="right", fontsize="small")
        ax.set(ylabel=ylabel)
    loss_ax.axhline(summary["base"]["test_loss"], color="black", ls=":", lw=0.8)
    temp_ax.axhline(1.0, color="black", ls=":", lw=0.8)
    temp_ax.annotate(
        "T = 1",
        (1.0, 1.0),
        xycoords=("axes fraction", "data"),
        xytext=(-2, 2),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize="x-small",
    )
    temp_ax.set_yscale("log")
    highest = max(
        summary["arms"][a]["median_temperature"]["mean"] + summary["arms"][a]["median_temperature"]["sd"] for a in arms
    )
    temp_ax.set_ylim(top=2 * max(1.0, highest))  # the T = 1 line inside the frame, not on it
    return style.save(fig, target, provenance, __file__)
