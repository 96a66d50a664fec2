r"""A6: does training only at small learning rates reach a lower loss? The T3 and T2 runs, by eigenband.

Every run starts from the same initialisation and sees the same batches. For each run b and the
reference run a (the annealed run from the highest learning rate), the loss gap is expanded in
the eigenbasis of a's final Hessian, with δ = θ_b − θ_a:

.. math:: L(\theta_b) - L(\theta_a) \approx \sum_i \big(g_i\,\delta_i + \tfrac12\lambda_i\delta_i^2\big),

and the terms are summed over eigenbands (log-spaced in rank). Positive band totals are where b
is worse than a: what a's high-LR phase fixed and b's did not. The decomposition is reported only for
runs whose measured gap the expansion describes (same sign, within a factor of two).

End points lie far apart, where the expansion often fails, so the bands are also measured without it
(:func:`measured_band_gaps`): a's end point is moved by b's displacement within one band only, and the
training objective there is evaluated. The band gaps then need no model; what they do not add up to
is the interaction between bands, reported beside them.

Why the expansion fails is measured too (:func:`straight_path`): the objective along the straight line
from a's end point to b's, against the expansion's parabola along the same line,
L(θ_a) + t gᵀδ + ½t² δᵀHδ. Its barrier, the largest rise above the chord between the two ends, is
zero on any convex function; a barrier says the end points are not in one quadratic bowl.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from landscape import eigenbasis
from landscape.config import Config
from landscape.hessian import StoredHessian
from landscape.registry import Analysis
from landscape.store import read_h5, read_summary, write_results

ANALYSIS = Analysis(
    question="A6",
    doc="end points of every run against the high-LR annealed run, by eigenband",
    inputs={"training": "result:training", "runs": "runs:comparable", "hessians": "hessians:comparable_ends"},
    config=("hessian",),
    figure="final losses against the initial learning rate, and the loss gap by eigenband",
)

BANDS = 6
PATH_POINTS = 11  # t = 0, 0.1, ..., 1 along the straight line between two end points
# The expansion "describes" a gap when it has the gap's sign and lies within a factor of two of it; a band
# decomposition of a gap it does not describe would attribute to bands a difference the model does not capture.
FACTOR = 2.0


def expansion_describes(gap: float, predicted: float, factor: float = FACTOR) -> bool:
    """Whether the quadratic expansion ``predicted`` has the sign of ``gap`` and is within ``factor`` of it."""
    return gap != 0 and predicted / gap > 0 and 1 / factor <= predicted / gap <= factor


def band_edges(P: int, bands: int = BANDS) -> np.ndarray:
    """Rank boundaries (1 = largest eigenvalue) of log-spaced bands covering all P ranks."""
    return np.unique(np.concatenate([[0], np.geomspace(1, P, bands).astype(int)]))


def expansion_terms(projected_gradient: np.ndarray, eigenvalues: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
    """Per direction, g_i δ_i + ½ λ_i δ_i² from the gradient's and δ's coordinates in the eigenbasis."""
    return projected_gradient * coordinates + 0.5 * eigenvalues * coordinates**2


def band_sums(terms: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Sums of per-direction ``terms`` (ascending eigenvalue order) over bands of ranks from the top."""
    by_rank = terms[::-1]
    return np.array([by_rank[a:b].sum() for a, b in zip(edges, edges[1:])])


def decompose(
    gradient: np.ndarray, eigenvalues: np.ndarray, eigenvectors: np.ndarray, delta: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, float]:
    """Per-band sums of g_i δ_i + ½ λ_i δ_i² (bands by rank from the top), and their total."""
    terms = expansion_terms(
        eigenbasis.project(eigenvectors, gradient), eigenvalues, eigenbasis.project(eigenvectors, delta)
    )
    return band_sums(terms, edges), float(terms.sum())


def expansion_along(
    projected_gradient: np.ndarray, eigenvalues: np.ndarray, coordinates: np.ndarray
) -> tuple[float, float]:
    r"""The expansion's slope and curvature along δ: :math:`g^\top\delta` and :math:`\delta^\top H\delta`.

    From the gradient's and δ's coordinates in the eigenbasis (:func:`landscape.eigenbasis.project`).
    """
    return float(projected_gradient @ coordinates), float(eigenvalues @ coordinates**2)


def straight_path(
    objective: Callable[[np.ndarray], float], theta: np.ndarray, delta: np.ndarray, points: int = PATH_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """The objective at θ + tδ for ``points`` evenly spaced t in [0, 1], minus its value at t = 0."""
    steps = np.linspace(0.0, 1.0, points)
    values = np.array([objective(theta + t * delta) for t in steps])
    return steps, values - values[0]


def barrier(path: np.ndarray, steps: np.ndarray) -> float:
    """The largest rise of ``path`` above the chord between its ends: 0 on a convex function, > 0 across a ridge."""
    return float(np.max(path - (path[0] + steps * (path[-1] - path[0]))))


def measured_band_gaps(
    objective: Callable[[np.ndarray], float],
    theta: np.ndarray,
    eigenvectors: np.ndarray,
    delta: np.ndarray,
    edges: np.ndarray,
) -> np.ndarray:
    """Per band (by rank from the top), L(θ + V_b V_bᵀ δ) − L(θ): the gap of moving by ``delta`` in that band only."""
    coordinates, P = eigenbasis.project(eigenvectors, delta), len(delta)
    base = objective(theta)
    gaps = []
    for a, b in zip(edges, edges[1:]):
        in_band = np.zeros(P)
        in_band[P - b : P - a] = coordinates[P - b : P - a]  # ranks a..b from the top: indices P-b..P-a ascending
        gaps.append(objective(theta + eigenbasis.expand(eigenvectors, in_band)) - base)
    return np.array(gaps)


def analyse(
    training_results: Path,
    run_files: dict[str, Path],
    hessian_files: dict[str, Path],
    reference: str,
    out: Path,
    provenance: dict[str, Any],
    objective: Callable[[np.ndarray], float] | None = None,
) -> Path:
    """Compare every run's end point with ``reference``'s, band by band.

    With ``objective`` (the training objective at a flat parameter vector) the band gaps are also measured
    (:func:`measured_band_gaps`).
    """
    training = read_summary(training_results)
    with StoredHessian(hessian_files[reference]) as stored:
        eigenvalues, eigenvectors, gradient = stored.eigenvalues, stored.eigenvectors(), stored.gradient
        loss_a = stored.loss
    edges = band_edges(len(eigenvalues))
    projected_gradient = eigenbasis.project(eigenvectors, gradient)  # the reference's, the same for every run
    ends = {}
    for name, path in run_files.items():
        with read_h5(path, ("params",)) as fh:
            ends[name] = fh["params"][-1].astype(np.float64)
    arrays: dict[str, Any] = {"band_edges": edges}
    per_run = {}
    for name, path in hessian_files.items():
        with StoredHessian(path) as stored:
            loss_b = stored.loss
        coordinates = eigenbasis.project(eigenvectors, ends[name] - ends[reference])
        terms = expansion_terms(projected_gradient, eigenvalues, coordinates)
        per_band, predicted = band_sums(terms, edges), float(terms.sum())
        arrays[f"bands/{name}"] = per_band
        measured = (
            measured_band_gaps(objective, ends[reference], eigenvectors, ends[name] - ends[reference], edges)
            if objective is not None and name != reference
            else None
        )
        if measured is not None:
            arrays[f"measured_bands/{name}"] = measured
        slope, curvature = expansion_along(projected_gradient, eigenvalues, coordinates)
        if objective is not None and name != reference:
            steps, path = straight_path(objective, ends[reference], ends[name] - ends[reference])
            arrays["path/t"], arrays[f"path/{name}"] = steps, path
            arrays[f"path_expansion/{name}"] = steps * slope + 0.5 * steps**2 * curvature
        final = training["runs"][name]["final"]
        per_run[name] = {
            "initial_lr": training["runs"][name]["initial_lr"],
            "schedule": training["runs"][name]["schedule"]["schedule"],
            "objective": loss_b,
            "train_loss": final["train_loss"],
            "val_acc": final["val_acc"],
            "test_acc": final["test_acc"],
            "test_loss": final["test_loss"],
            "gap": loss_b - loss_a,
            "predicted_gap": predicted,
            "expansion_describes_gap": expansion_describes(loss_b - loss_a, predicted),
            "worst_band": int(np.argmax(per_band)),
            "measured_worst_band": int(np.argmax(measured)) if measured is not None else None,
            "measured_worst_gap": float(measured.max()) if measured is not None else None,
            "measured_band_sum": float(measured.sum()) if measured is not None else None,
            "interaction": float(loss_b - loss_a - measured.sum()) if measured is not None else None,
            # The bands "add up" when what they miss of the gap is at most half of it.
            "bands_add_up": bool(abs(loss_b - loss_a - measured.sum()) <= 0.5 * abs(loss_b - loss_a))
            if measured is not None
            else None,
            "distance": float(np.linalg.norm(ends[name] - ends[reference])),
            "path_barrier": barrier(arrays[f"path/{name}"], arrays["path/t"]) if f"path/{name}" in arrays else None,
            "expansion_slope": slope,
            "expansion_curvature": curvature,
        }
    anneal = sorted((r for r in per_run if per_run[r]["schedule"] == "anneal"), key=lambda r: -per_run[r]["initial_lr"])
    losses = np.array([per_run[r]["train_loss"] for r in per_run])
    others = [r for r in per_run if r != reference]
    summary = {
        "runs": per_run,
        "reference": reference,
        "band_edges": edges.tolist(),
        "annealed_by_lr": anneal,
        "high_lr_lowest_loss": bool(min(per_run, key=lambda r: per_run[r]["objective"]) == anneal[0])
        if anneal
        else False,
        "lowest_train_loss_run": min(per_run, key=lambda r: per_run[r]["train_loss"]),
        "min_train_loss": float(losses.min()),
        "zero_loss_reached": bool(losses.min() < 1e-3),
        "quadratic_gap_error": float(
            np.median(
                [
                    abs(per_run[r]["predicted_gap"] - per_run[r]["gap"]) / max(abs(per_run[r]["gap"]), 1e-12)
                    for r in others
                ]
            )
        )
        if others
        else 0.0,
        "reference_loss": loss_a,
        "factor": FACTOR,
        "measured": [r for r in others if per_run[r]["measured_band_sum"] is not None],
        "bands_do_not_add_up": [r for r in others if per_run[r]["bands_add_up"] is False],
        "described": [r for r in others if per_run[r]["expansion_describes_gap"]],
        # A barrier above the gap itself: between these end points the objective is not one quadratic bowl.
        "barrier_above_gap": [r for r in others if (per_run[r]["path_barrier"] or 0.0) > abs(per_run[r]["gap"])],
        "not_described": [r for r in others if not per_run[r]["expansion_describes_gap"]],
    }
    return write_results(out, arrays, summary, provenance)


def run(
    cfg: Config,
    out: Path,
    provenance: dict[str, Any],
    *,
    training: Path,
    runs: dict[str, Path],
    hessians: dict[str, Path],
) -> Path:
    """The declared entry: the comparable runs' end points against the annealed run from the highest rate."""
    import torch

    from landscape.checkpoint import load_point

    comparable = cfg.comparable_runs()  # one initialisation and batch order: replicas with other seeds left out
    anneals = [r for r in comparable[1:] if r.schedule == "anneal"]
    reference = max(anneals, key=lambda r: r.lr, default=cfg.main_run).name
    point = load_point(cfg, runs[reference], cfg.train.iterations)
    objective = point.objective(chunk_size=min(point.data.train.y.numel(), 500))

    def training_objective(theta: np.ndarray) -> float:
        return objective.loss(torch.as_tensor(theta, dtype=point.theta.dtype, device=point.theta.device))

    return analyse(training, runs, hessians, reference, out, provenance, training_objective)
