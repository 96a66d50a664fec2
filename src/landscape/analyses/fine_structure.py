"""A9: is there structure below the smooth quadratic? Very dense line searches near the minimum.

Along a few directions (the top eigenvector, a bulk eigenvector, a random unit vector) the loss is
evaluated at ``fine_points`` points on ranges t_max, t_max/10, …, shrinking by decades, in float64
and in float32. At each scale a degree-4 polynomial is fitted and the RMS of the residual is
compared with the round-off of the loss in each precision: a smooth function leaves residuals at
the round-off level at small scales; structure (e.g. fractal roughness) would stand above it.
The scaling of second differences with the step h (∝ h² for a smooth function) is also recorded.
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
from landscape.hessian import StoredHessian
from landscape.linesearch import LineFunction, fit_polynomial, noise_floor, step_scale, symmetric_grid
from landscape.registry import Analysis
from landscape.store import write_results

ANALYSIS = Analysis(
    question="A9",
    doc="very dense line searches near the end point, float64 against float32",
    inputs={"run": "run:main", "hessian": "hessian:end"},
    config=("landscape", "hessian"),
    figure="residual roughness of dense line searches against the range, float64 and float32",
)

ABOVE_ROUNDOFF = 10.0  # residual RMS more than 10x the round-off floor counts as structure


def directions(
    eigenvalues: np.ndarray, eigenvectors: np.ndarray, count: int, seed: int
) -> dict[str, tuple[np.ndarray, float]]:
    """Up to ``count`` unit directions and their curvature dᵀHd: top, median positive and random directions."""
    positive = np.flatnonzero(eigenvalues > 0)
    middle = positive[len(positive) // 2]
    random = np.random.default_rng(seed).standard_normal(len(eigenvalues))
    random /= np.linalg.norm(random)
    chosen = {
        "top": (eigenvectors[:, -1], float(eigenvalues[-1])),
        "bulk": (eigenvectors[:, middle], float(eigenvalues[middle])),
        "random": (random, float(eigenbasis.project(eigenvectors, random) ** 2 @ eigenvalues)),
    }
    return dict(list(chosen.items())[:count])


def residual_rms(ts: np.ndarray, losses: np.ndarray) -> float:
    """RMS residual of a degree-4 polynomial fit."""
    coefficients = fit_polynomial(ts, losses, 4)
    return float(np.sqrt(np.mean((np.polynomial.polynomial.polyval(ts, coefficients) - losses) ** 2)))


def analyse(
    lines: dict[str, tuple[LineFunction, torch.Tensor]],
    hessian_file: Path,
    settings: LandscapeConfig,
    out: Path,
    provenance: dict[str, Any],
) -> Path:
    """Dense line searches with ``lines = {"float64": (line, theta), "float32": (line, theta)}``."""
    with StoredHessian(hessian_file) as stored:
        eigenvalues, eigenvectors, loss0 = stored.eigenvalues, stored.eigenvectors(), stored.loss
    chosen = directions(eigenvalues, eigenvectors, settings.fine_directions, settings.seed)
    arrays: dict[str, Any] = {}
    per_direction: dict[str, Any] = {}
    for name, (line, theta) in lines.items():
        dtype = theta.dtype
        cap = float(theta.double().norm())
        floor = noise_floor(loss0, dtype) / 100  # one unit round-off of the loss: the finest resolvable change
        for key, (vector, curvature) in chosen.items():
            t_max = step_scale(curvature, settings.loss_increase, cap)
            scales = t_max * 10.0 ** -np.arange(settings.fine_decades)
            rms, second = [], []
            for r in tqdm(scales, desc=f"fine_structure:{key}:{name}", unit="range", dynamic_ncols=True, leave=False):
                ts = symmetric_grid(r, settings.fine_points)
                losses = line.along(theta, torch.as_tensor(vector, dtype=dtype, device=theta.device), ts)
                arrays[f"{name}/{key}/{r:.3e}"] = losses
                rms.append(residual_rms(ts, losses))
                second.append(float(np.sqrt(np.mean(np.diff(losses, 2) ** 2))))
            arrays[f"{name}/{key}/scales"] = scales
            arrays[f"{name}/{key}/residual_rms"] = np.asarray(rms)
            arrays[f"{name}/{key}/second_difference_rms"] = np.asarray(second)
            entry = per_direction.setdefault(key, {"curvature": curvature, "t_max": t_max})
            # Second differences of a smooth profile scale as h² (exponent 2), of kinks as h, of noise as h⁰.
            exponent = float(np.polyfit(np.log(scales), np.log(np.maximum(second, 1e-300)), 1)[0])
            entry[name] = {
                "residual_rms": rms,
                "floor": floor,
                "ratio_smallest": rms[-1] / floor,
                "above_roundoff": bool(rms[-1] > ABOVE_ROUNDOFF * floor),
                "second_difference_exponent": exponent,
            }
    summary = {
        "directions": per_direction,
        "decades": settings.fine_decades,
        "points": settings.fine_points,
        "structure_above_roundoff": any(d["float64"]["above_roundoff"] for d in per_direction.values()),
        "float32_above_roundoff": any(d["float32"]["above_roundoff"] for d in per_direction.values()),
        "threshold": ABOVE_ROUNDOFF,
    }
    return write_results(out, arrays, summary, provenance)


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, run: Path, hessian: Path) -> Path:
    """The declared entry: the main run's end point, searched in float64 and in float32."""
    point = load_point(cfg, run, cfg.train.iterations)
    lines = {
        name: (point.line(cfg.hessian.chunk_size, cfg.landscape.points_per_pass, dtype=dtype), point.theta.to(dtype))
        for name, dtype in (("float64", torch.float64), ("float32", torch.float32))
    }
    return analyse(lines, hessian, cfg.landscape, out, provenance)
