"""A3: how the Hessian spectrum evolves through training — outliers, negative eigenvalues, stability."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.spectra import outlier_count, stability_ratio
from landscape.store import read_h5, write_results

HESSIAN_SCHEMA = ("eigenvalues", "eigenvectors", "gradient")


def describe(eigenvalues: np.ndarray, lr: float, momentum: float, classes: int) -> dict[str, Any]:
    """The quoted properties of one spectrum."""
    outliers, separation = outlier_count(eigenvalues, search=3 * classes)
    return {
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


def run(points: dict[str, Path], lrs: dict[str, float], momentum: float, classes: int, main_points: list[str],
        out: Path, provenance: dict[str, Any]) -> Path:
    """Spectra of every Hessian point ``"<run>@<step>"``; ``main_points`` are the main run's checkpoints in order."""
    arrays, per_point = {}, {}
    for label, path in points.items():
        with read_h5(path, HESSIAN_SCHEMA) as fh:
            eigenvalues = fh["eigenvalues"][:]
            per_point[label] = describe(eigenvalues, lrs[label], momentum, classes)
            per_point[label]["loss"] = float(fh.attrs["loss"])
            per_point[label]["gradient_norm"] = float(np.linalg.norm(fh["gradient"][:]))
            per_point[label]["asymmetry"] = float(fh.attrs["asymmetry"])
            per_point[label]["assembly_seconds"] = float(fh.attrs["assembly_seconds"])
            per_point[label]["dtype"] = str(fh.attrs["dtype"])
            per_point[label]["parameters"] = int(len(eigenvalues))
        arrays[f"eigenvalues/{label}"] = eigenvalues
    final = per_point[main_points[-1]]
    summary = {
        "points": per_point,
        "main_points": main_points,
        "classes": classes,
        "final_outliers": final["outliers"],
        "outliers_match_classes": abs(final["outliers"] - classes) <= 1,
        "lambda_max_growth": final["lambda_max"] / per_point[main_points[0]]["lambda_max"],
        "max_stability_ratio": max(per_point[p]["stability_ratio"] for p in main_points),
        "any_beyond_stability": any(per_point[p]["stability_ratio"] > 1 for p in main_points),
        "final_frac_negative": final["frac_negative"],
        "max_asymmetry": max(p["asymmetry"] for p in per_point.values()),
        "total_assembly_seconds": sum(p["assembly_seconds"] for p in per_point.values()),
        "hessians": len(per_point),
    }
    return write_results(out, arrays, summary, provenance)
