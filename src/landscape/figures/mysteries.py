"""Figure: the training-loss floor against the learning rate, and warm-up against the stability limit (B5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.figures import style
from landscape.store import read_h5, read_summary


def make(inputs: dict[str, Path], target: Path, provenance: dict[str, Any]) -> Path:
    """Two panels: final training loss against final LR with the line fit; λ_max η/2(1+β) with and without warm-up.

    ``inputs`` holds the results of both mysteries: ``mysteries`` (the loss floor) and ``warmup``.
    """
    summary, warmup = read_summary(inputs["mysteries"]), read_summary(inputs["warmup"])
    fig, axes = style.figure(ncols=2, width=0.85)
    floor_ax, warm_ax = axes[0]
    with read_h5(inputs["mysteries"], ("floor/rates", "floor/losses", "floor/predicted_floor")) as fh:
        rates, losses = fh["floor/rates"][:], fh["floor/losses"][:]
        floor_ax.plot(rates, losses, "o", label="runs")
        grid = np.linspace(0, rates.max() * 1.05, 50)
        floor_ax.plot(grid, summary["floor_intercept"] + summary["floor_slope"] * grid, "--", label="line fit")
        floor_ax.plot(rates, fh["floor/predicted_floor"][:], "s", mfc="none", label="quadratic noise floor")
    with read_h5(inputs["warmup"], ("warmup/step", "warmup/ratio", "none/step", "none/ratio")) as fh:
        for arm, label in (("none", "no warm-up"), ("warmup", f"warm-up over {warmup['warmup_length']}")):
            steps, ratio = fh[f"{arm}/step"][:], fh[f"{arm}/ratio"][:]
            warm_ax.errorbar(
                steps,
                ratio.mean(0),
                yerr=ratio.std(0, ddof=1) if len(ratio) > 1 else None,
                marker="o",
                ms=2.5,
                capsize=2,
                label=label,
            )
    floor_ax.set(xlabel="final learning rate", ylabel="final training loss")
    floor_ax.legend(frameon=False, fontsize="small")
    warm_ax.axhline(1.0, color="black", ls=":", lw=0.8)
    warm_ax.set(xlabel="iteration", ylabel=r"$\lambda_{\max}\eta_t / 2(1+\beta)$ (1: stability limit)")
    style.legend_above(warm_ax)
    return style.save(fig, target, provenance, __file__)
