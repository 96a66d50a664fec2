"""Figure: expected loss of the study's schedule and of optimised schedules (B3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from landscape.figures import style
from landscape.store import read_h5, read_summary

METHOD_NAMES = {"sgd": "SGD", "heavy_ball": "heavy ball", "nesterov": "Nesterov"}


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Three panels: the study's schedule, the optimised schedules, and the optimised constant update rules.

    The first shows predicted excess and measured objective; the last the rules' expected loss on the measured
    spectrum.
    """
    summary = read_summary(results)
    fig, axes = style.figure(ncols=3, poster=(2,))
    curve_ax, rate_ax, rules_ax = axes[0]
    with read_h5(results, ("study/steps", "study/predicted", "study/measured", "study/lr")) as fh:
        steps = fh["study/steps"][:]
        curve_ax.semilogy(steps, fh["study/predicted"][:], label="predicted excess (study schedule)")
        measured = fh["study/measured"][:] - fh["study/measured"][:].min()
        above = measured > 0  # the minimum itself is 0 on a log axis: left out rather than drawn at a floor
        curve_ax.semilogy(steps[above], measured[above], "--", label="measured objective − its minimum")
        rate_ax.semilogy(fh["study/lr"][:], label="study")
        for method in summary["methods"]:
            rate_ax.semilogy(fh[f"{method}/schedule"][:], label=f"optimised, {METHOD_NAMES[method]}")
        iterations = fh["rules/iterations"][:]
        for name in ("sgd", "heavy_ball", "nesterov", "general"):
            label = f"general, {summary['lags']} lags" if name == "general" else METHOD_NAMES[name]
            rules_ax.loglog(iterations, fh[f"rules/{name}/measured_curve"][:], label=label)
    rules_ax.set(xlabel="iteration", ylabel="expected excess loss (constant rule)")
    rules_ax.legend(frameon=False, fontsize="small")
    curve_ax.set(xlabel="iteration", ylabel="loss")
    curve_ax.legend(frameon=False, fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.25))
    rate_ax.set(xlabel="iteration", ylabel="learning rate")
    style.legend_above(rate_ax, ncol=1)
    return style.save(fig, target, provenance, __file__)
