"""Figure: noise injected by eigenband, and the per-band noise levels tuned on validation (A11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from landscape.figures import style
from landscape.store import read_h5, read_summary

LABELS = {
    "low": "flat half",
    "high": "sharp half",
    "all": "all",
    "fit_low_noise_high": "fit low, noise high",
    "fit_high_noise_low": "fit high, noise low",
}


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Three panels: test loss against predicted and against measured training-loss rise, and tuned σ per band.

    The first panel shows every variant, the second the halves (mean ± sd over seeds).
    """
    summary = read_summary(results)
    fig, axes = style.figure(ncols=3, poster=(1,))
    loss_ax, measured_ax, tuned_ax = axes[0]
    base = summary["base"]
    with read_h5(results, ("predicted_increase", "tuned/sigma", "tuned/band_eigenvalue", "tuned/posterior_sd")) as fh:
        increase = fh["predicted_increase"][:]
        for k, (variant, label) in enumerate(LABELS.items()):
            values = fh[f"{variant}/test_loss"][:]
            loss_ax.errorbar(
                increase,
                values.mean(0),
                yerr=values.std(0, ddof=1) if len(values) > 1 else None,
                marker="o",
                ms=2.5,
                capsize=2,
                label=label,
                color=style.PALETTE[k],
            )
            if variant in ("low", "high", "all"):
                rise = fh[f"{variant}/train_loss"][:] - base["train_loss"]
                shown = rise.mean(0) > 0
                measured_ax.plot(
                    rise.mean(0)[shown], values.mean(0)[shown], "o-", ms=2.5, color=style.PALETTE[k], label=label
                )
        tuned, band_eigenvalue, posterior_sd = (
            fh["tuned/sigma"][:],
            fh["tuned/band_eigenvalue"][:],
            fh["tuned/posterior_sd"][:],
        )
    for ax in (loss_ax, measured_ax):
        ax.axhline(base["test_loss"], color="black", ls=":", lw=0.8)
        ax.set(xscale="log", yscale="log")
    measured_ax.axvline(summary["measured_rise"], color="0.5", ls="--", lw=0.8)
    loss_ax.set(xlabel=r"predicted rise $\frac{1}{2}\sigma^2\sum_{S}\lambda_i$", ylabel="test loss (dotted: end point)")
    measured_ax.set(xlabel="measured training-loss rise", ylabel="test loss")
    loss_ax.legend(frameon=False, fontsize="x-small", loc="upper left")
    measured_ax.legend(frameon=False, fontsize="x-small", loc="upper left")
    tuned_ax.errorbar(
        band_eigenvalue,
        tuned.mean(0),
        yerr=tuned.std(0, ddof=1) if len(tuned) > 1 else None,
        marker="o",
        ms=3,
        capsize=2,
        label="tuned on validation",
    )
    tuned_ax.loglog(band_eigenvalue, posterior_sd, "--", label=r"posterior sd $1/\sqrt{N\lambda}$")
    tuned_ax.set(xlabel=r"band's eigenvalue", ylabel=r"noise level $\sigma_k$", xscale="log", yscale="log")
    style.legend_above(tuned_ax, ncol=1)
    return style.save(fig, target, provenance, __file__)
