"""A1: how quadratic is the loss along eigendirections? Full-data line searches against ½λt² + g t.

At each checkpoint of the main run, for eigenvectors spread over the spectrum, the loss is
evaluated on a symmetric grid t ∈ [-t_max, t_max] with t_max chosen so the quadratic model
rises by ``loss_increase`` (capped at |θ|), and compared with q(t) = L + g_i t + ½ λ_i t².
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from landscape.checkpoint import load_point
from landscape.config import Config, LandscapeConfig
from landscape.hessian import StoredHessian
from landscape.linesearch import (
    TOLERANCE,
    LineFunction,
    check_quadratic,
    noise_floor,
    select_directions,
    step_scale,
    symmetric_grid,
)
from landscape.paths import point_of_label
from landscape.registry import Analysis
from landscape.store import write_results

ANALYSIS = Analysis(
    question="A1",
    doc="full-data line searches along eigendirections against the quadratic model",
    inputs={
        "run": "run:main",
        "hessians": "hessians:main",
        "contrast_runs": "runs:contrasts",
        "contrast_hessians": "hessians:contrasts",
    },
    config=("landscape", "hessian"),
    figure="eigendirection profiles against ½λt², deviation and fitted curvature against λ",
    poster=True,
)

# What each line search records per direction (besides its band's name).
NUMERIC_FIELDS = (
    "index",
    "eigenvalue",
    "slope",
    "t_max",
    "ts",
    "losses",
    "max_deviation",
    "fitted_curvature",
    "asymmetry",
    "valid_fraction",
)


def search_point(
    line: LineFunction, theta: torch.Tensor, hessian_file: Path, settings: LandscapeConfig
) -> dict[str, Any]:
    """Line searches from ``theta`` along the selected eigenvectors of its Hessian (in ``hessian_file``)."""
    with StoredHessian(hessian_file) as stored:
        eigenvalues, gradient = stored.eigenvalues, stored.gradient
        bands = select_directions(eigenvalues, settings.directions)
        indices = np.concatenate(list(bands.values()))
        vectors = stored.eigenvectors(np.sort(indices))
        order = {int(i): k for k, i in enumerate(np.sort(indices))}
        loss0 = stored.loss
    cap = float(theta.double().norm())
    floor = noise_floor(loss0, theta.dtype)
    rows: dict[str, list] = {k: [] for k in ("band", *NUMERIC_FIELDS)}
    progress = tqdm(total=len(indices), desc="linesearch", unit="line", dynamic_ncols=True, leave=False)
    for band, members in bands.items():
        for index in members:
            progress.update()
            vector = vectors[:, order[int(index)]]
            curvature, slope = float(eigenvalues[index]), float(gradient @ vector)
            t_max = step_scale(curvature, settings.loss_increase, cap)
            ts = symmetric_grid(t_max, settings.points)
            losses = line.along(theta, torch.as_tensor(vector, device=theta.device), ts)
            check = check_quadratic(ts, losses, losses[len(ts) // 2], slope, curvature, TOLERANCE, floor)
            for key, value in (
                ("index", int(index)),
                ("band", band),
                ("eigenvalue", curvature),
                ("slope", slope),
                ("t_max", t_max),
                ("ts", ts),
                ("losses", losses),
                ("max_deviation", check.max_deviation),
                ("fitted_curvature", check.fitted_curvature),
                ("asymmetry", check.asymmetry),
                ("valid_fraction", check.valid_fraction),
            ):
                rows[key].append(value)
    progress.close()
    rows["loss0"] = loss0
    return rows


def band_summary(rows: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Medians per band of the quadratic checks, and the fitted/true curvature ratio."""
    bands = np.asarray(rows["band"])
    out = {}
    for band in dict.fromkeys(rows["band"]):
        mask = bands == band
        eig = np.asarray(rows["eigenvalue"])[mask]
        fitted = np.asarray(rows["fitted_curvature"])[mask]
        out[band] = {
            "count": int(mask.sum()),
            "median_deviation": float(np.median(np.asarray(rows["max_deviation"])[mask])),
            "median_asymmetry": float(np.median(np.asarray(rows["asymmetry"])[mask])),
            "median_valid_fraction": float(np.median(np.asarray(rows["valid_fraction"])[mask])),
            "median_curvature_ratio": float(np.median(fitted / eig)),
            "quadratic_share": float(np.mean(np.asarray(rows["valid_fraction"])[mask] >= 1.0)),
        }
    return out


def analyse(
    points: dict[str, tuple[LineFunction, torch.Tensor, Path]],
    settings: LandscapeConfig,
    out: Path,
    provenance: dict[str, Any],
    contrasts: dict[str, tuple[LineFunction, torch.Tensor, Path]] | None = None,
) -> Path:
    """Line searches at every point ``label -> (line function, theta, hessian file)``; the last is the end of training.

    ``contrasts`` are end points of runs that differ from the main run only in their activation: searched the
    same way and summarised beside the main run's end, not mixed into it.
    """
    arrays: dict[str, Any] = {}
    per_point = {}
    for label, (line, theta, hessian_file) in {**points, **(contrasts or {})}.items():
        rows = search_point(line, theta, hessian_file, settings)
        for key in NUMERIC_FIELDS:
            arrays[f"{label}/{key}"] = np.asarray(rows[key])
        arrays[f"{label}/band"] = np.asarray(rows["band"], dtype="S")
        per_point[label] = {"loss0": rows["loss0"], "bands": band_summary(rows)}
    final = per_point[list(points)[-1]]["bands"]
    summary = {
        "points": {label: per_point[label] for label in points},
        "labels": list(points),
        "contrasts": {label: per_point[label] for label in (contrasts or {})},
        "tolerance": TOLERANCE,
        "loss_increase": settings.loss_increase,
        "final": final,
        "top_quadratic": final["top"]["quadratic_share"] == 1.0,
        "top_more_quadratic_than_bulk": final["top"]["median_deviation"] < final["bulk"]["median_deviation"],
    }
    return write_results(out, arrays, summary, provenance)


def run(
    cfg: Config,
    out: Path,
    provenance: dict[str, Any],
    *,
    run: Path,
    hessians: dict[str, Path],
    contrast_runs: dict[str, Path],
    contrast_hessians: dict[str, Path],
) -> Path:
    """The declared entry: the main run's checkpoints and the activation contrasts' end points."""

    def searched(run_file: Path, label: str, hessian_file: Path) -> tuple[LineFunction, torch.Tensor, Path]:
        point = load_point(cfg, run_file, point_of_label(label)[1])
        return point.line(cfg.hessian.chunk_size, cfg.landscape.points_per_pass), point.theta, hessian_file

    points = {label: searched(run, label, file) for label, file in hessians.items()}
    contrasts = {
        label: searched(contrast_runs[point_of_label(label)[0]], label, file)
        for label, file in contrast_hessians.items()
    }
    return analyse(points, cfg.landscape, out, provenance, contrasts)
