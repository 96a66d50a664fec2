"""A7: eigen-independence — line searches along random directions against the quadratic prediction.

For a unit direction d, independent quadratic eigendirections predict
L(θ + t d) ≈ L + t gᵀd + ½ t² Σ_i λ_i (v_iᵀd)². Directions are drawn isotropically and as random
unit combinations within eigenbands (top, bulk, bottom of the spectrum); each line spans the t at
which the prediction rises by ``loss_increase``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from landscape import eigenbasis
from landscape.checkpoint import load_point
from landscape.config import Config, LandscapeConfig
from landscape.data import CLASSES
from landscape.hessian import StoredHessian
from landscape.linesearch import TOLERANCE, LineFunction, check_quadratic, noise_floor, step_scale, symmetric_grid
from landscape.registry import Analysis
from landscape.store import write_results

ANALYSIS = Analysis(
    question="A7",
    doc="random-direction line searches against the independent-quadratic prediction",
    inputs={"run": "run:main", "hessian": "hessian:end"},
    config=("landscape", "hessian"),
    figure="random-direction profiles against the independent-quadratic prediction",
)


def random_directions(eigenvectors: np.ndarray, classes: int, count: int, seed: int) -> dict[str, np.ndarray]:
    """Unit directions (count, P) per kind: isotropic, and Gaussian combinations within three eigenbands."""
    rng = np.random.default_rng(seed)
    P = eigenvectors.shape[0]
    bands = {"top": slice(P - classes, P), "bulk": slice(P // 4, P - classes), "bottom": slice(0, max(P // 10, 1))}
    kinds = {"isotropic": rng.standard_normal((count, P))}
    for band, columns in bands.items():
        coefficients = np.zeros((P, count))
        coefficients[columns] = rng.standard_normal((count, columns.stop - columns.start)).T
        kinds[band] = eigenbasis.expand(eigenvectors, coefficients).T
    return {k: v / np.linalg.norm(v, axis=1, keepdims=True) for k, v in kinds.items()}


def analyse(
    line: LineFunction,
    theta: torch.Tensor,
    hessian_file: Path,
    classes: int,
    settings: LandscapeConfig,
    out: Path,
    provenance: dict[str, Any],
) -> Path:
    """Random-direction line searches from ``theta`` compared with the independent-quadratic prediction."""
    with StoredHessian(hessian_file) as stored:
        eigenvalues, eigenvectors, gradient = stored.eigenvalues, stored.eigenvectors(), stored.gradient
        loss0 = stored.loss
    kinds = random_directions(eigenvectors, classes, settings.random_directions, settings.seed)
    cap, floor = float(theta.double().norm()), noise_floor(loss0, theta.dtype)
    arrays: dict[str, Any] = {}
    per_kind = {}
    for kind, directions in kinds.items():
        curvatures = eigenbasis.project(eigenvectors, directions.T).T ** 2 @ eigenvalues
        results = {"ts": [], "losses": [], "max_deviation": [], "valid_fraction": [], "fitted_curvature": []}
        for direction, curvature in tqdm(
            list(zip(directions, curvatures)), desc=f"random_dirs:{kind}", unit="line", dynamic_ncols=True, leave=False
        ):
            ts = symmetric_grid(step_scale(curvature, settings.loss_increase, cap), settings.points)
            losses = line.along(theta, torch.as_tensor(direction, device=theta.device), ts)
            check = check_quadratic(
                ts, losses, losses[len(ts) // 2], float(gradient @ direction), float(curvature), TOLERANCE, floor
            )
            for key, value in (
                ("ts", ts),
                ("losses", losses),
                ("max_deviation", check.max_deviation),
                ("valid_fraction", check.valid_fraction),
                ("fitted_curvature", check.fitted_curvature),
            ):
                results[key].append(value)
        for key, value in results.items():
            arrays[f"{kind}/{key}"] = np.asarray(value)
        arrays[f"{kind}/curvature"] = curvatures
        arrays[f"{kind}/slope"] = directions @ gradient
        per_kind[kind] = {
            "median_deviation": float(np.median(results["max_deviation"])),
            "median_valid_fraction": float(np.median(results["valid_fraction"])),
            "median_curvature_ratio": float(np.median(np.asarray(results["fitted_curvature"]) / curvatures)),
            "holds_everywhere": bool(np.all(np.asarray(results["valid_fraction"]) >= 1.0)),
        }
    summary = {
        "kinds": per_kind,
        "loss0": loss0,
        "tolerance": TOLERANCE,
        "count": settings.random_directions,
        "isotropic_holds": per_kind["isotropic"]["holds_everywhere"],
        "worst_kind": max(per_kind, key=lambda k: per_kind[k]["median_deviation"]),
    }
    return write_results(out, arrays, summary, provenance)


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, run: Path, hessian: Path) -> Path:
    """The declared entry: the main run's end point."""
    point = load_point(cfg, run, cfg.train.iterations)
    line = point.line(cfg.hessian.chunk_size, cfg.landscape.points_per_pass)
    return analyse(line, point.theta, hessian, len(CLASSES[cfg.data.name]), cfg.landscape, out, provenance)
