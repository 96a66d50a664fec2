"""B5: two mysteries — is zero training loss reachable at low learning rate, and why do warm-ups help?

(a) The final training loss of every run against its final learning rate, fitted by a line
L(η) = L₀ + sη; the intercept L₀ (with its standard error) is the loss extrapolated to η → 0. The
noisy quadratic predicts the part that grows with η, ½Σκ_i Var_i(η), from the measured spectrum and
gradient noise; the rest is what the learning rate cannot remove. (b) From the main run's
initialisation and with the same batches, ``warmup_iterations`` steps at the main run's initial
rate with and without a linear warm-up over ``warmup_length``; at ``warmup_probes`` iterates λ_max of
the full objective (Lanczos) is set against the stability limit 2(1+β)/η_t. Repeated over ``seeds``
batch sequences.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape import continuation, theory
from landscape.checkpoint import Point, load_point
from landscape.config import Config, ExperimentsConfig
from landscape.data import batch_order
from landscape.hessian import Objective, lanczos
from landscape.registry import Analysis
from landscape.seeds import spread
from landscape.store import read_h5, read_summary, write_results

ANALYSIS = Analysis(
    question="B5",
    doc="the training-loss floor against the learning rate; warm-up against the stability limit",
    inputs={"run": "run:main", "training": "result:training", "example_grads": "result:example_grads"},
    config=("experiments", "train"),
    figure="final training loss against final learning rate; λ_max η against the stability limit, with and without "
    "warm-up",
)

LANCZOS_TOLERANCE = 1e-3  # λ_max to ~3 digits: enough to place it against the stability limit
# A Krylov space of 8 instead of scipy's 20: on the `cpu` main run at iterations 27 and 54 (warm-started from
# the previous probe's vector) λ_max agreed to 1e-14 relative after 9 products instead of 21 (2.1 s against 4.4 s).
LANCZOS_KRYLOV = 8


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


def warmup_lrs(lr: float, iterations: int, length: int) -> np.ndarray:
    """Linear warm-up from lr/length to lr over ``length`` iterations, then constant (no warm-up if length is 0)."""
    ramp = np.minimum(1.0, (np.arange(iterations) + 1) / max(length, 1)) if length > 0 else np.ones(iterations)
    return lr * ramp


def warmup_pair(
    point: Point, lr: float, batch_size: int, momentum: float, settings: ExperimentsConfig, seed: int
) -> dict[str, dict[str, np.ndarray]]:
    """λ_max·η_t / (2(1+β)) and the objective at the probe iterates, with and without warm-up."""
    n, T = point.data.train.y.numel(), settings.warmup_iterations
    probes = set(np.unique(np.linspace(0, T, settings.warmup_probes).astype(int)).tolist())
    objective = point.objective(chunk_size=min(n, 500))
    batches = batch_order(n, batch_size, T, seed=40_000 + seed)
    out = {}
    for arm, length in (("warmup", settings.warmup_length), ("none", 0)):
        lrs = warmup_lrs(lr, T, length)
        probe, record = _sharpness_probe(objective, probes, lrs, momentum, seed)
        continuation.heavy_ball(
            point, point.theta, batches, lrs, momentum, observe=probe, label=f"mysteries:{arm}:{seed}"
        )
        out[arm] = {k: np.array(v) for k, v in record.items()}
    return out


def _sharpness_probe(
    objective: Objective, probes: set[int], lrs: np.ndarray, momentum: float, seed: int
) -> tuple[Callable[[int, torch.Tensor], None], dict[str, list[float]]]:
    """An observer of training that records λ_max, λ_max·η_t / (2(1+β)) and the objective at the ``probes`` steps.

    Each Lanczos run starts from the previous probe's top eigenvector, which is why few restarts are needed.
    """
    record: dict[str, list[float]] = {"step": [], "lambda_max": [], "ratio": [], "objective": []}
    state: dict[str, np.ndarray | None] = {"vector": None}
    edge = float(theory.stability_limit(1.0, momentum, "heavy_ball"))

    def probe(t: int, theta: torch.Tensor) -> None:
        if t not in probes:
            return
        values, vectors = lanczos(
            objective, theta, 1, tol=LANCZOS_TOLERANCE, seed=seed, start=state["vector"], krylov=LANCZOS_KRYLOV
        )
        state["vector"] = vectors[:, 0]
        record["step"].append(t)
        record["lambda_max"].append(float(values[0]))
        record["ratio"].append(float(values[0]) * lrs[min(t, len(lrs) - 1)] / edge)
        record["objective"].append(objective.loss(theta))

    return probe, record


def analyse(
    point: Point,
    training_results: Path,
    grads_results: Path,
    lr: float,
    batch_size: int,
    momentum: float,
    settings: ExperimentsConfig,
    out: Path,
    provenance: dict[str, Any],
) -> Path:
    """The loss-floor extrapolation and the warm-up comparison (``point`` is the main run's initialisation)."""
    with read_h5(grads_results, ("eigenvalue", "noise")) as fh:
        eigenvalues, noise = fh["eigenvalue"][:], fh["noise"][:]
    floor = loss_floor(read_summary(training_results), eigenvalues, noise, batch_size, momentum)
    pairs = [warmup_pair(point, lr, batch_size, momentum, settings, seed) for seed in range(settings.seeds)]
    arrays: dict[str, Any] = {f"floor/{k}": v for k, v in floor.items() if isinstance(v, np.ndarray)}
    for arm in ("warmup", "none"):
        arrays[f"{arm}/step"] = pairs[0][arm]["step"]
        for key in ("lambda_max", "ratio", "objective"):
            arrays[f"{arm}/{key}"] = np.stack([p[arm][key] for p in pairs])
    peak = {arm: arrays[f"{arm}/ratio"].max(axis=1) for arm in ("warmup", "none")}
    final_objective = {arm: arrays[f"{arm}/objective"][:, -1] for arm in ("warmup", "none")}
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
        "warmup_length": settings.warmup_length,
        "warmup_iterations": settings.warmup_iterations,
        "lr": lr,
        "peak_ratio": {arm: spread(v) for arm, v in peak.items()},
        "final_objective": {arm: spread(v) for arm, v in final_objective.items()},
        "unstable_without_warmup": bool(np.mean(peak["none"]) > 1),
        "unstable_with_warmup": bool(np.mean(peak["warmup"]) > 1),
        "warmup_lower_loss": bool(final_objective["warmup"].mean() < final_objective["none"].mean()),
        "seeds": settings.seeds,
    }
    return write_results(out, arrays, summary, provenance)


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, run: Path, training: Path, example_grads: Path) -> Path:
    """The declared entry: the main run from initialisation, every run's final loss, and the gradient noise."""
    point = load_point(cfg, run, 0)
    train = cfg.train
    return analyse(
        point,
        training,
        example_grads,
        cfg.main_run.lr,
        train.batch_size,
        train.momentum,
        cfg.experiments,
        out,
        provenance,
    )
