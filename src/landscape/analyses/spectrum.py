"""A3: how the Hessian spectrum evolves through training — outliers, negative eigenvalues, stability."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.checkpoint import load_point
from landscape.config import Config
from landscape.data import CLASSES
from landscape.hessian import StoredHessian
from landscape.paths import point_label, point_of_label
from landscape.registry import Analysis
from landscape.seeds import interval
from landscape.spectra import MIN_GAP, outlier_count, stability_ratio
from landscape.store import read_h5, write_results
from landscape.symmetries import scale_invariant_groups

ANALYSIS = Analysis(
    question="A3",
    doc="spectra through training: outliers, negative eigenvalues, stability ratio",
    inputs={"hessians": "hessians:all", "runs": "runs:all"},
    config=("train", "data"),
    figure="eigenvalues by rank, density, and λ_max η/2(1+β) through training",
    poster=True,
)

# An eigenvalue "equals" wd within 1% of wd: a unit that is dead on every example contributes exactly wd, and the
# assembly's error (float32 products: ~1e-6 of λ_max, 5e-6 on `cpu`) is below 1% of wd = 5e-4.
AT_WD = 0.01


def weight_decay_share(eigenvalues: np.ndarray, weight_decay: float) -> dict[str, Any]:
    """How much of the spectrum weight decay alone could explain: eigenvalues in (0, 2 wd], and those equal to wd."""
    positive = eigenvalues > 0
    return {
        "n_positive": int(positive.sum()),
        "n_below_2wd": int(np.sum(positive & (eigenvalues <= 2 * weight_decay))),
        "n_at_wd": int(np.sum(np.abs(eigenvalues - weight_decay) <= AT_WD * weight_decay)),
    }


SYMMETRY_BLOCK = 512  # eigenvector columns read at a time: the basis is never held whole


def symmetry_curvature(
    stored: StoredHessian, theta: np.ndarray, groups: dict[str, np.ndarray], weight_decay: float
) -> dict[str, Any]:
    r"""The curvature along each scale symmetry :math:`u_g=\theta_g/\|\theta_g\|` and its share in the wd eigenspace.

    :math:`u_g^\top H u_g=\sum_i\lambda_i (v_i^\top u_g)^2` from the stored eigendecomposition: wd for an exact Hessian
    up to GroupNorm's ε (:func:`landscape.symmetries.scale_invariant_groups`), so its deviation bounds the assembly's.
    The share :math:`\sum_{|\lambda_i-\mathrm{wd}|\le 1\%\,\mathrm{wd}}(v_i^\top u_g)^2`
    is how much of the symmetry lies among the eigenvalues that equal wd.
    """
    eigenvalues = stored.eigenvalues
    directions = np.zeros((len(theta), len(groups)))
    for k, indices in enumerate(groups.values()):
        directions[indices, k] = theta[indices] / np.linalg.norm(theta[indices])
    at_wd = (np.abs(eigenvalues - weight_decay) <= AT_WD * weight_decay).astype(float)
    rayleigh, share = np.zeros(len(groups)), np.zeros(len(groups))
    vectors = stored.eigenvector_dataset
    for start in range(0, len(eigenvalues), SYMMETRY_BLOCK):
        block = slice(start, min(start + SYMMETRY_BLOCK, len(eigenvalues)))
        coefficients = (vectors[:, block].astype(np.float64).T @ directions) ** 2
        rayleigh += eigenvalues[block] @ coefficients
        share += at_wd[block] @ coefficients
    return {
        "groups": len(groups),
        "curvature_over_wd": {"min": float(rayleigh.min() / weight_decay), "max": float(rayleigh.max() / weight_decay)},
        "median_wd_share": float(np.median(share)),
        "weight_norms": {name: float(np.linalg.norm(theta[indices])) for name, indices in groups.items()},
    }


def describe(eigenvalues: np.ndarray, lr: float, momentum: float, classes: int, weight_decay: float) -> dict[str, Any]:
    """The quoted properties of one spectrum."""
    outliers, separation = outlier_count(eigenvalues, search=3 * classes)
    return {
        **weight_decay_share(eigenvalues, weight_decay),
        "lambda_max": float(eigenvalues[-1]),
        "lambda_min": float(eigenvalues[0]),
        "n_negative": int(np.sum(eigenvalues < 0)),
        "frac_negative": float(np.mean(eigenvalues < 0)),
        "negative_mass": float(-eigenvalues[eigenvalues < 0].sum() / np.abs(eigenvalues).sum()),
        "trace": float(eigenvalues.sum()),
        "outliers": outliers,
        "outlier_separation": separation,
        "lr": lr,
        "stability_ratio": stability_ratio(float(eigenvalues[-1]), lr, momentum),
    }


def analyse(
    points: dict[str, Path],
    lrs: dict[str, float],
    momentum: float,
    classes: int,
    main_points: list[str],
    out: Path,
    provenance: dict[str, Any],
    weight_decay: float = 0.0,
    replica_ends: list[str] | None = None,
    symmetries: tuple[np.ndarray, dict[str, np.ndarray]] | None = None,
) -> Path:
    """Spectra of every Hessian point ``"<run>@<step>"``; ``main_points`` are the main run's checkpoints in order.

    ``replica_ends`` are the end points of the main run and of its replicas with other training seeds
    (the main run's first): the headline numbers of the final spectrum get an interval over them. ``symmetries``, the
    final main point's parameters and the model's scale-invariant groups, adds :func:`symmetry_curvature` there.
    """
    arrays, per_point = {}, {}
    for label, path in points.items():
        with StoredHessian(path) as stored:
            eigenvalues = stored.eigenvalues
            per_point[label] = describe(eigenvalues, lrs[label], momentum, classes, weight_decay)
            per_point[label]["loss"] = stored.loss
            per_point[label]["gradient_norm"] = float(np.linalg.norm(stored.gradient))
            per_point[label]["asymmetry"] = float(stored.attrs["asymmetry"])
            per_point[label]["assembly_seconds"] = float(stored.attrs["assembly_seconds"])
            per_point[label]["dtype"] = str(stored.attrs["dtype"])
            per_point[label]["parameters"] = int(len(eigenvalues))
        arrays[f"eigenvalues/{label}"] = eigenvalues
    final = per_point[main_points[-1]]
    scale_symmetries = None
    if symmetries is not None and symmetries[1] and weight_decay > 0:
        with StoredHessian(points[main_points[-1]]) as stored:
            scale_symmetries = symmetry_curvature(stored, symmetries[0], symmetries[1], weight_decay)
    replica_ends = replica_ends or [main_points[-1]]
    summary = {
        "replica_ends": replica_ends,
        "final_over_seeds": {
            key: interval([per_point[p][key] for p in replica_ends])
            for key in (
                "lambda_max",
                "frac_negative",
                "outliers",
                "outlier_separation",
                "n_below_2wd",
                "n_at_wd",
                "stability_ratio",
            )
        },
        "outliers_over_seeds": [per_point[p]["outliers"] for p in replica_ends],
        "points": per_point,
        "main_points": main_points,
        "classes": classes,
        "weight_decay": weight_decay,
        "at_wd_tolerance": AT_WD,
        "outlier_search": 3 * classes,
        "outlier_min_gap": MIN_GAP,
        "final_outliers": final["outliers"],
        "outliers_match_classes": abs(final["outliers"] - classes) <= 1,
        "lambda_max_growth": final["lambda_max"] / per_point[main_points[0]]["lambda_max"],
        "max_stability_ratio": max(per_point[p]["stability_ratio"] for p in main_points),
        "any_beyond_stability": any(per_point[p]["stability_ratio"] > 1 for p in main_points),
        "final_frac_negative": final["frac_negative"],
        "max_asymmetry": max(p["asymmetry"] for p in per_point.values()),
        "total_assembly_seconds": sum(p["assembly_seconds"] for p in per_point.values()),
        "hessians": len(per_point),
        "scale_symmetries": scale_symmetries,
    }
    return write_results(out, arrays, summary, provenance)


def run(
    cfg: Config, out: Path, provenance: dict[str, Any], *, hessians: dict[str, Path], runs: dict[str, Path]
) -> Path:
    """The declared entry: every Hessian, and every run's file for the learning rate in force at each point."""
    lrs = {}
    for label in hessians:
        run_name, step = point_of_label(label)
        with read_h5(runs[run_name], ("lr",)) as fh:
            lrs[label] = float(fh["lr"][min(step, fh["lr"].shape[0] - 1)])
    main = [point_label(cfg.main_run.name, s) for s in cfg.train.checkpoints]
    ends = [point_label(r.name, cfg.train.iterations) for r in cfg.main_replicas()]
    classes = len(CLASSES[cfg.data.name])
    end = load_point(cfg, runs[cfg.main_run.name], cfg.train.iterations)
    symmetries = (end.theta.double().cpu().numpy(), scale_invariant_groups(end.model))
    return analyse(
        hessians, lrs, cfg.train.momentum, classes, main, out, provenance, cfg.train.weight_decay, ends, symmetries
    )
