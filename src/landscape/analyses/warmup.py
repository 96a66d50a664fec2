"""B5 (b): why do warm-ups help? λ_max along the first iterations, with and without a warm-up.

From the main run's initialisation and with the same batches, ``warmup_iterations`` steps at the main
run's initial rate with and without a linear warm-up over ``warmup_length``; at ``warmup_probes``
iterates λ_max of the full objective (Lanczos) is set against the stability limit 2(1+β)/η_t.
Repeated over ``seeds`` batch sequences. B3 (:mod:`landscape.analyses.schedule`) reads the arm without
warm-up as the largest curvature a schedule at the study's rates meets early in training.

It reads only the main run, so it runs beside the Hessians, and a change to any other run leaves it
and B3 alone (it was one task with B5's loss floor, which reads every run).
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
from landscape.store import write_results

ANALYSIS = Analysis(
    question="B5",
    doc="λ_max along the first iterations with and without warm-up, against the stability limit",
    inputs={"run": "run:main"},
    config=("experiments", "train"),
    figure="",
)

LANCZOS_TOLERANCE = 1e-3  # λ_max to ~3 digits: enough to place it against the stability limit
# A Krylov space of 8 instead of scipy's 20: on the `cpu` main run at iterations 27 and 54 (warm-started from
# the previous probe's vector) λ_max agreed to 1e-14 relative after 9 products instead of 21 (2.1 s against 4.4 s).
LANCZOS_KRYLOV = 8


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
        continuation.heavy_ball(point, point.theta, batches, lrs, momentum, observe=probe, label=f"warmup:{arm}:{seed}")
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
    lr: float,
    batch_size: int,
    momentum: float,
    settings: ExperimentsConfig,
    out: Path,
    provenance: dict[str, Any],
) -> Path:
    """Both arms over ``settings.seeds`` batch orders (``point`` is the main run's initialisation)."""
    pairs = [warmup_pair(point, lr, batch_size, momentum, settings, seed) for seed in range(settings.seeds)]
    arrays: dict[str, Any] = {}
    for arm in ("warmup", "none"):
        arrays[f"{arm}/step"] = pairs[0][arm]["step"]
        for key in ("lambda_max", "ratio", "objective"):
            arrays[f"{arm}/{key}"] = np.stack([p[arm][key] for p in pairs])
    peak = {arm: arrays[f"{arm}/ratio"].max(axis=1) for arm in ("warmup", "none")}
    final_objective = {arm: arrays[f"{arm}/objective"][:, -1] for arm in ("warmup", "none")}
    summary = {
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


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, run: Path) -> Path:
    """The declared entry: the main run from its initialisation."""
    train = cfg.train
    return analyse(
        load_point(cfg, run, 0), cfg.main_run.lr, train.batch_size, train.momentum, cfg.experiments, out, provenance
    )
