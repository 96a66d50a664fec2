"""Figure: the batch-size-1 epoch and the HMC model average against the end point (B4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.figures import style
from landscape.store import read_h5, read_summary


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Three panels: test loss and accuracy per arm and control (mean ± sd over seeds); the HMC chains' potential.

    The arms are rows (labels read horizontally); HMC's controls sit below it: random perturbations of the end point at
    HMC's training-loss rise, and the average of the last phase's iterates (one value, no seeds).
    """
    summary = read_summary(results)
    fig, axes = style.figure(ncols=3)
    loss_ax, acc_ax, chain_ax = axes[0]
    arms = {
        "end point": summary["base"],
        "batch-1 epoch": summary["batch1"],
        "batch-1, lowered rate": summary["batch1_lowered"],
        "HMC average": summary["hmc_average"],
        "HMC single state": summary["hmc_single"],
        "random, same rise": summary["random_average"],
    }
    if summary.get("iterate_average") is not None:
        arms["last-phase iterates"] = summary["iterate_average"]
    rows = np.arange(len(arms))[::-1]
    for ax, metric in ((loss_ax, "test_loss"), (acc_ax, "test_acc")):
        means = [v[metric]["mean"] if isinstance(v[metric], dict) else v[metric] for v in arms.values()]
        sds = [v[metric]["sd"] if isinstance(v[metric], dict) else 0.0 for v in arms.values()]
        ax.errorbar(means, rows, xerr=sds, fmt="o", capsize=3)
        ax.axvline(means[0], color="black", ls=":", lw=0.8)
        ax.set(xlabel=metric.replace("_", " "))
    loss_ax.set_yticks(rows, list(arms), fontsize="small")
    acc_ax.set_yticks(rows, [""] * len(arms))
    with read_h5(results) as fh:
        for seed in range(summary["seeds"]):
            chain_ax.plot(fh[f"hmc_potential/{seed}"][:], lw=0.8, label=f"chain {seed}")
    chain_ax.set(xlabel="HMC transition", ylabel=r"potential $N\,L(\theta)$")
    chain_ax.legend(frameon=False, fontsize="small")
    return style.save(fig, target, provenance, __file__)
