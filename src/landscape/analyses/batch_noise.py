"""A2: line searches on mini-batch losses — how minimum location and curvature scatter with the batch.

Along the eigendirections of A1 (at the end of the main run, on A1's grids), the loss of each of
``batches`` mini-batches per batch size is searched; a quadratic fitted to the central half of
each profile gives that batch's minimum location t* = -c1 / (2 c2) and curvature 2 c2. The spread
of t* across batches, against the eigenvalue, is the form of the stochasticity per direction.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats
from tqdm import tqdm

from landscape import theory
from landscape.checkpoint import load_point
from landscape.config import Config, LandscapeConfig
from landscape.hessian import StoredHessian
from landscape.linesearch import LineFunction, fit_polynomial
from landscape.paths import point_label
from landscape.registry import Analysis
from landscape.store import read_h5, write_results

ANALYSIS = Analysis(
    question="A2",
    doc="mini-batch line searches: scatter of minima and curvatures against the eigenvalue",
    inputs={"run": "run:main", "hessian": "hessian:end", "linesearch": "result:linesearch"},
    config=("landscape", "hessian"),
    figure="spread of mini-batch minima and mini-batch curvature against λ",
)


def minimum_and_curvature(ts: np.ndarray, losses: np.ndarray) -> tuple[float, float]:
    """Location and curvature of the quadratic fitted to the central half of a profile (NaN location if not convex)."""
    central = np.abs(ts) <= np.abs(ts).max() / 2
    c0, c1, c2 = fit_polynomial(ts[central], losses[central], 2)
    return (float(-c1 / (2 * c2)) if c2 > 0 else float("nan")), float(2 * c2)


def spread_of_minima(minima: np.ndarray) -> np.ndarray:
    """Standard deviation over batches (axis 1) of the finite minimum locations; NaN with fewer than two."""
    finite = np.isfinite(minima)
    out = np.full(len(minima), np.nan)
    for d in np.flatnonzero(finite.sum(axis=1) >= 2):
        out[d] = np.std(minima[d, finite[d]], ddof=1)
    return out


def variance_law(eigenvalues: np.ndarray, spread: np.ndarray, weight_decay: float) -> dict[str, float]:
    r"""The exponent p of :math:`\mathrm{Var}(t^*_i)\propto\lambda_i^p` with its bootstrap interval over directions.

    The same fit and the same domain (λ > 2 wd) as the study's noise law (:func:`landscape.theory.noise_law`), so the
    measured exponent can be set against the one that law predicts; NaN with fewer than three directions.
    """
    usable = (eigenvalues > 2 * weight_decay) & np.isfinite(spread) & (spread > 0)
    if usable.sum() < 3:
        return {"power": float("nan"), "power_low": float("nan"), "power_high": float("nan"), "directions": 0}
    fit = theory.noise_law(eigenvalues[usable], spread[usable] ** 2, weight_decay)
    return {key: fit[key] for key in ("power", "power_low", "power_high", "directions")}


def analyse(
    batch_line: Callable[[np.ndarray], LineFunction],
    n_examples: int,
    theta: torch.Tensor,
    hessian_file: Path,
    linesearch_results: Path,
    label: str,
    settings: LandscapeConfig,
    out: Path,
    provenance: dict[str, Any],
    weight_decay: float = 0.0,
) -> Path:
    """Mini-batch line searches from ``theta`` along A1's directions at ``label`` (whose Hessian is ``hessian_file``).

    ``batch_line(indices)`` gives the line function of the mini-batch objective of those examples; the variance law
    leaves out directions whose curvature is ``weight_decay``'s (λ ≤ 2 wd), as the noise law does.
    """
    with read_h5(linesearch_results, (f"{label}/index", f"{label}/ts")) as fh:
        indices, grids = fh[f"{label}/index"][:], fh[f"{label}/ts"][:]
        eigenvalues, bands = fh[f"{label}/eigenvalue"][:], fh[f"{label}/band"][:].astype(str)
    with StoredHessian(hessian_file) as stored:
        vectors = stored.eigenvectors(indices)
    rng = np.random.default_rng(settings.seed)
    n = n_examples
    sizes = settings.batch_sizes
    minima = np.full((len(indices), len(sizes), settings.batches), np.nan)
    curvatures = np.full_like(minima, np.nan)
    batches = [np.stack([rng.choice(n, size, replace=False) for _ in range(settings.batches)]) for size in sizes]
    progress = tqdm(
        total=len(sizes) * settings.batches, desc="batch_noise", unit="batch", dynamic_ncols=True, leave=False
    )
    for s in range(len(sizes)):
        for b, batch in enumerate(batches[s]):
            progress.update()
            line = batch_line(batch)
            for d in range(len(indices)):
                direction = torch.as_tensor(vectors[:, d], device=theta.device)
                minima[d, s, b], curvatures[d, s, b] = minimum_and_curvature(
                    grids[d], line.along(theta, direction, grids[d])
                )
    progress.close()
    positive = eigenvalues > 0
    per_size = {}
    spreads = np.stack([spread_of_minima(minima[:, s]) for s in range(len(sizes))], axis=1)
    for s, size in enumerate(sizes):
        spread = spreads[:, s]
        rho = (
            stats.spearmanr(eigenvalues[positive], spread[positive]).statistic if positive.sum() >= 3 else float("nan")
        )
        law = variance_law(eigenvalues, spread, weight_decay)
        per_size[str(size)] = {
            "spearman_spread_vs_eigenvalue": float(rho),
            "variance_slope": law["power"],
            "variance_slope_low": law["power_low"],
            "variance_slope_high": law["power_high"],
            "variance_slope_directions": law["directions"],
            "median_curvature_ratio_top": float(
                np.nanmedian(curvatures[bands == "top", s] / eigenvalues[bands == "top", None])
            ),
            "median_spread_top": float(np.nanmedian(spread[bands == "top"])),
            "median_spread_bulk": float(np.nanmedian(spread[bands == "bulk"])),
        }
    largest = per_size[str(sizes[-1])]
    summary = {
        "label": label,
        "sizes": list(sizes),
        "batches": settings.batches,
        "per_size": per_size,
        "spread_falls_with_eigenvalue": all(v["spearman_spread_vs_eigenvalue"] < 0 for v in per_size.values()),
        "variance_slope_largest_batch": largest["variance_slope"],
    }
    arrays = {
        "eigenvalue": eigenvalues,
        "band": bands.astype("S"),
        "minima": minima,
        "curvatures": curvatures,
        "spread": spreads,
        "sizes": np.asarray(sizes),
    }
    return write_results(out, arrays, summary, provenance)


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, run: Path, hessian: Path, linesearch: Path) -> Path:
    """The declared entry: the main run's end point and A1's final directions."""
    point = load_point(cfg, run, cfg.train.iterations)

    def batch_line(indices: np.ndarray) -> LineFunction:
        return point.line(cfg.hessian.chunk_size, cfg.landscape.points_per_pass, torch.as_tensor(indices))

    label = point_label(cfg.main_run.name, cfg.train.iterations)
    n_examples = len(point.data.train)
    return analyse(
        batch_line,
        n_examples,
        point.theta,
        hessian,
        linesearch,
        label,
        cfg.landscape,
        out,
        provenance,
        weight_decay=point.weight_decay,
    )
