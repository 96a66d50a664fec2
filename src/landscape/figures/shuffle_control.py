"""Figure: each direction's variance over the i.i.d. prediction, i.i.d. batches against shuffled epochs (B1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.figures import style
from landscape.store import read_h5, read_summary


def make(results: Path, target: Path, provenance: dict[str, Any]) -> Path:
    """One panel per control that shares a phase's rate: the control's seeds, the phase, the correction's factor."""
    controls = {arm: c for arm, c in read_summary(results)["controls"].items() if c["directions"] > 0}
    fig, axes = style.figure(ncols=max(len(controls), 1), width=0.5 * max(len(controls), 1))
    with read_h5(results, ("eigenvalue",)) as fh:
        eigenvalues = fh["eigenvalue"][:]
        for ax, (arm, control) in zip(axes[0], controls.items()):
            common = fh[f"{arm}/common"][:].astype(bool)
            order = np.argsort(eigenvalues[common])
            lam = eigenvalues[common][order]
            for seed, ratios in enumerate(fh[f"{arm}/control_ratio"][:]):
                label = "i.i.d. batches (control, per seed)" if seed == 0 else None
                ax.loglog(lam, ratios[common][order], "o", ms=3, alpha=0.6, color="C0", label=label)
            ax.loglog(
                lam, fh[f"{arm}/phase_ratio"][:][common][order], "s", ms=3, color="C3", label="run's phase (shuffled)"
            )
            ax.loglog(
                lam,
                fh[f"{arm}/predicted_factor"][:][common][order],
                "-",
                color="C3",
                lw=1,
                label="predicted for shuffling",
            )
            ax.axhline(1.0, color="k", ls=":", lw=0.8)
            ax.set(
                xlabel=r"$\lambda_i$",
                ylabel="variance / i.i.d. prediction",
                title=rf"$\eta={style.math_number(control['lr'])}$ ({control['directions']} directions)",
            )
    if not controls:
        axes[0, 0].text(0.5, 0.5, "no control shares a phase's rate", ha="center", va="center")
        axes[0, 0].set_axis_off()
    else:  # below the panels: above them it would cover the titles
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False, fontsize="x-small")
    return style.save(fig, target, provenance, __file__)
