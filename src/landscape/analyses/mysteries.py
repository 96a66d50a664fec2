"""B5 (a): is zero training loss reachable at a low learning rate?

The final training loss of every run against its final learning rate, fitted by a line
L(η) = L₀ + sη; the intercept L₀ (with its standard error) is the loss extrapolated to η → 0. The
noisy quadratic predicts the part that grows with η, ½Σκ_i Var_i(η), from the measured spectrum and
gradient noise; the rest is what the learning rate cannot remove. The second mystery, warm-up, is
:mod:`landscape.analyses.warmup`; this module's figure draws both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape import theory
from landscape.config import Config
from landscape.registry import Analysis
from landscape.store import read_h5, read_summary, write_results

ANALYSIS = Analysis(
    question="B5",
    doc="the training-loss floor against the learning rate; warm-up against the stability limit",
    inputs={"training": "result:training", "example_grads": "result:example_grads"},
    config=("train",),
    figure="final training loss against final learning rate; λ_max η against the stability limit, with and without "
    "warm-up",
    figure_inputs={"mysteries": "result:mysteries", "warmup": "result:warmup"},
)


def loss_floor(
    training: dict[str, Any], eigenvalues: np.ndarray, noise: np.ndarray, batch_size: int, momentum: float
) -> dict[str, Any]:
    """Line fit of final training loss against final rate across schedules, and the quadratic's floor at each rate.

    One run per schedule enters, each at the main training seed (``comparable_runs``: the main run's model,
    no seed replicas, which would weigh the main schedule threefold and are not independent schedules); the
    replicas' spread of the final training loss is reported beside the fit as the noise a single run carries.
    """
    names = training["comparable_runs"]
    rates = np.array([training["runs"][r]["final_lr"] for r in names])
    losses = np.array([training["runs"][r]["final"]["train_loss"] for r in names])
    design = np.stack([np.ones_like(rates), rates], 1)
    coefficients, *_ = np.linalg.lstsq(design, losses, rcond=None)
    dof = len(rates) - 2
    seed_spread = training["main_over_seeds"]["train_loss"]
    if dof > 0 and len(np.unique(rates)) > 1:
        residual = float(np.sum((losses - design @ coefficients) ** 2)) / dof
        inverse = np.linalg.inv(design.T @ design)
        stderr = np.sqrt(np.diag(residual * inverse))
        # Each point is one training seed: its seed-to-seed s.d. (measured on the main schedule's replicas) is a
        # second error on every loss, which the residuals of six schedules need not show.
        with_seeds = float(np.sqrt(stderr[0] ** 2 + seed_spread["sd"] ** 2 * inverse[0, 0]))
    else:
        stderr, with_seeds = np.full(2, np.nan), float("nan")
    positive = eigenvalues > 0
    predicted = np.array(
        [
            float(
                np.sum(
                    0.5
                    * eigenvalues[positive]
                    * theory.stationary_variance(
                        r, eigenvalues[positive], noise[positive] / batch_size, momentum, "heavy_ball"
                    )
                )
            )
            for r in rates
        ]
    )
    return {
        "runs": names,
        "rates": rates,
        "losses": losses,
        "intercept": float(coefficients[0]),
        "slope": float(coefficients[1]),
        "intercept_se": float(stderr[0]),
        "predicted_floor": predicted,
        "seed_spread": seed_spread,
        "intercept_se_with_seeds": with_seeds,
    }


def analyse(
    training_results: Path,
    grads_results: Path,
    batch_size: int,
    momentum: float,
    out: Path,
    provenance: dict[str, Any],
) -> Path:
    """The loss-floor extrapolation from every run's final loss and the measured spectrum and gradient noise."""
    with read_h5(grads_results, ("eigenvalue", "noise")) as fh:
        eigenvalues, noise = fh["eigenvalue"][:], fh["noise"][:]
    floor = loss_floor(read_summary(training_results), eigenvalues, noise, batch_size, momentum)
    arrays: dict[str, Any] = {f"floor/{k}": v for k, v in floor.items() if isinstance(v, np.ndarray)}
    summary = {
        "floor_runs": floor["runs"],
        "floor_intercept": floor["intercept"],
        "floor_intercept_se": floor["intercept_se"] if np.isfinite(floor["intercept_se"]) else None,
        "floor_slope": floor["slope"],
        "floor_seed_spread": floor["seed_spread"],
        "floor_intercept_se_with_seeds": floor["intercept_se_with_seeds"]
        if np.isfinite(floor["intercept_se_with_seeds"])
        else None,
        # Two standard errors, the seed-to-seed spread of a run's final loss included.
        "zero_loss_within_reach": bool(
            np.isfinite(floor["intercept_se_with_seeds"])
            and floor["intercept"] - 2 * floor["intercept_se_with_seeds"] <= 0
        ),
        "floor_predicted_share": float(np.median(floor["predicted_floor"] / floor["losses"])),
    }
    return write_results(out, arrays, summary, provenance)


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, training: Path, example_grads: Path) -> Path:
    """The declared entry: every run's final loss, and the gradient noise."""
    return analyse(training, example_grads, cfg.train.batch_size, cfg.train.momentum, out, provenance)
