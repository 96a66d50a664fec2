"""B3: learning-rate schedules predicted from the measured spectrum, for heavy ball and Nesterov.

With the final Hessian's curvatures κ_i, the measured per-example gradient variances c_i (A10), the
main run's initial distances |x_i(0)| (A5), batch size B and momentum β, the expected excess loss
Σ ½κ_i E[x_i²] of any piecewise-constant schedule follows exactly from the moment recursion. It is
computed for the study's own schedule (and set against the measured objective), and a schedule of
``PIECES`` equal pieces is optimised for the final expected loss under the same iteration budget,
for heavy ball and for Nesterov.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape import theory
from landscape.store import read_h5, read_summary, write_results

PIECES = 4


def run(trajectory_results: Path, grads_results: Path, run_file: Path, batch_size: int, momentum: float, out: Path,
        provenance: dict[str, Any]) -> Path:
    """Predicted loss curve of the study's schedule and optimised schedules for heavy ball and Nesterov."""
    final = read_summary(trajectory_results)["final_label"]
    with read_h5(trajectory_results, (f"{final}/eigenvalue", f"{final}/start")) as fh:
        eigenvalues, start = fh[f"{final}/eigenvalue"][:], fh[f"{final}/start"][:]
    with read_h5(grads_results, ("noise",)) as fh:
        noise = fh["noise"][:]
    with read_h5(run_file, ("lr", "eval/step", "eval/objective")) as fh:
        lrs, steps, objective = fh["lr"][:], fh["eval/step"][:], fh["eval/objective"][:]
    positive = eigenvalues > 0
    kappa, sigma2, x0 = eigenvalues[positive], noise[positive] / batch_size, start[positive]
    boundaries = np.unique(np.concatenate([steps, np.flatnonzero(np.diff(lrs)) + 1, [len(lrs)]]))
    boundaries = boundaries[boundaries > 0]
    lengths = np.diff(np.concatenate([[0], boundaries]))
    rates = lrs[boundaries - 1]
    excess = theory.expected_loss_piecewise(rates, lengths, kappa, sigma2, x0, momentum, "heavy_ball")
    predicted = np.concatenate([[float(np.sum(0.5 * kappa * x0**2))], excess])
    at_eval = predicted[np.searchsorted(np.concatenate([[0], boundaries]), steps)]
    arrays: dict[str, Any] = {"study/steps": steps, "study/predicted": at_eval, "study/measured": objective, "study/lr": lrs}
    methods = {}
    for method in ("heavy_ball", "nesterov"):
        schedule, best = theory.optimise_schedule(kappa, sigma2, x0, len(lrs), PIECES, momentum, method,
                                                  initial_lr=float(lrs[0]))
        arrays[f"{method}/schedule"] = schedule
        arrays[f"{method}/curve"] = theory.expected_loss_piecewise(
            schedule[np.cumsum([len(p) for p in np.array_split(np.arange(len(lrs)), PIECES)]) - 1],
            np.array([len(p) for p in np.array_split(np.arange(len(lrs)), PIECES)]), kappa, sigma2, x0, momentum, method)
        rates = [float(r) for r in schedule[np.cumsum([len(p) for p in np.array_split(np.arange(len(lrs)), PIECES)]) - 1]]
        edge = float(theory.stability_limit(1.0, momentum, method)) / float(kappa.max())
        methods[method] = {"final_excess": best, "rates": rates, "stability_edge_lr": edge,
                           "at_stability_edge": bool(min(rates) > 0.99 * edge)}
    study_final = float(excess[-1])
    log_measured = np.log(objective - objective.min() + 1e-12)
    summary = {
        "study_final_excess": study_final,
        "methods": methods,
        "gain_heavy_ball": study_final / methods["heavy_ball"]["final_excess"],
        "gain_nesterov": study_final / methods["nesterov"]["final_excess"],
        "nesterov_better": methods["nesterov"]["final_excess"] < methods["heavy_ball"]["final_excess"],
        "curve_correlation": float(np.corrcoef(np.log(at_eval[:-1]), log_measured[:-1])[0, 1]),
        "pieces": PIECES,
        "optimised_decreasing": bool(np.all(np.diff(methods["heavy_ball"]["rates"]) <= 0)
                                     and np.any(np.diff(methods["heavy_ball"]["rates"]) < 0)),
    }
    return write_results(out, arrays, summary, provenance)
