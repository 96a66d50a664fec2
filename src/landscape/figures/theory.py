"""Figure: the noisy-quadratic theory against the measurements (B1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from landscape.figures import style
from landscape.store import read_h5, read_summary


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """Four panels: stationary variance, settle, temperature against λ, and the posterior-matching curvature.

    Variance and settle are predicted against measured per phase; κ*(η) is drawn with the measured noise and
    with Fisher ≈ Hessian.
    """
    summary = read_summary(results)
    fig, axes = style.figure(ncols=2, nrows=2, width=0.85, poster=(0,))
    (variance_ax, settle_ax), (temperature_ax, star_ax) = axes
    with read_h5(results, ("eigenvalue", "settle/predicted", "settle/measured")) as fh:
        eigenvalues = fh["eigenvalue"][:]
        # Weight decay's directions (λ ≤ 2 wd) barely move; their temperatures would stretch the axis by decades.
        data = eigenvalues > 2 * summary.get("weight_decay", 0.0)
        for k, phase in summary["phases"].items():
            predicted, measured = fh[f"predicted_variance_shuffled/{k}"][:], fh[f"measured_variance/{k}"][:]
            relaxed = fh[f"relaxed/{k}"][:]
            variance_ax.loglog(
                predicted[relaxed], measured[relaxed], "o", ms=1.0, alpha=0.3, label=f"$\\eta$={phase['lr']:.2g}"
            )
            temperature_ax.loglog(
                eigenvalues[data],
                fh[f"temperature/{k}"][:][data],
                "o",
                ms=1.0,
                alpha=0.3,
                label=f"$\\eta$={phase['lr']:.2g}",
            )
        predicted, measured = fh["settle/predicted"][:], fh["settle/measured"][:]
        star_ax.loglog(fh["kappa_star/lr"][:], fh["kappa_star/measured"][:], label=r"measured noise law (A10)")
        star_ax.loglog(
            fh["kappa_star/lr"][:],
            fh["kappa_star/fisher"][:],
            "--",
            label=r"Fisher $\approx$ Hessian ($\sigma^2=\kappa$)",
        )
    star_ax.axhspan(eigenvalues.min(), eigenvalues.max(), color="0.9", zorder=0, label="measured spectrum")
    for phase in summary["phases"].values():
        star_ax.axvline(phase["lr"], color="0.5", ls=":", lw=0.8)
    both = (predicted >= 0) & (measured >= 0)
    settle_ax.loglog(predicted[both] + 1, measured[both] + 1, "o", ms=1.5, alpha=0.6)
    for ax in (variance_ax, settle_ax):
        low, high = ax.get_xlim()
        ax.plot([low, high], [low, high], "k:", lw=0.8, label="measured = predicted")
    temperature_ax.axhline(1.0, color="black", ls=":", lw=0.8)
    variance_ax.set(xlabel="predicted stationary variance", ylabel="measured variance")
    style.legend_above(variance_ax, ncol=2, markerscale=3)
    settle_ax.set(xlabel="predicted settle iteration + 1", ylabel="measured settle iteration + 1")
    temperature_ax.set(xlabel=r"$\lambda_i$ ($>2\,$wd)", ylabel=r"predicted $T_i$ = Var / posterior Var")
    temperature_ax.legend(frameon=False, fontsize="small", markerscale=4)
    star_ax.set(xlabel=r"learning rate $\eta$ (dotted: the run's phases)", ylabel=r"posterior-matching $\kappa^*$")
    style.legend_above(star_ax, ncol=1)
    return style.save(fig, target, provenance, __file__)
