"""A1: how quadratic is the loss along eigendirections? Full-data line searches against ½λt² + g t.

At each checkpoint of the main run, for eigenvectors spread over the spectrum, the loss is
evaluated on a symmetric grid t ∈ [-t_max, t_max] with t_max chosen so the quadratic model
rises by ``loss_increase`` (capped at |θ|), and compared with q(t) = L + g_i t + ½ λ_i t².
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm
import torch

from landscape.config import LandscapeConfig
from landscape.linesearch import TOLERANCE, LineFunction, check_quadratic, noise_floor, step_scale, symmetric_grid
from landscape.store import read_h5, write_results

def select_directions(eigenvalues: np.ndarray, count: int) -> dict[str, np.ndarray]:
    """Eigenvector indices (ascending order) in four bands: top, bulk (log-spaced ranks), near zero, negative."""
    P = len(eigenvalues)
    n_top = max(count // 3, 1)
    n_neg = min(max(count // 6, 1), int(np.sum(eigenvalues < 0)))
    n_zero = max(count // 6, 1)
    n_bulk = max(count - n_top - n_neg - n_zero, 1)
    top = np.arange(P - 1, P - 1 - n_top, -1)
    positive = int(np.sum(eigenvalues > 0))
    ranks = np.unique(np.geomspace(n_top + 1, max(positive, n_top + 2), n_bulk + 1).astype(int))[:n_bulk]
    bulk = P - ranks
    negative = np.arange(n_neg)
    taken = set(top) | set(bulk) | set(negative)
    zero = np.array([i for i in np.argsort(np.abs(eigenvalues)) if i not in taken][:n_zero])
    return {"top": top, "bulk": bulk, "zero": zero, "negative": negative}


def search_point(line: LineFunction, theta: torch.Tensor, hessian_file: Path, settings: LandscapeConfig) -> dict[str, Any]:
    """Line searches from ``theta`` along the selected eigenvectors of its Hessian (in ``hessian_file``)."""
    with read_h5(hessian_file, ("eigenvalues", "eigenvectors", "gradient")) as fh:
        eigenvalues, gradient = fh["eigenvalues"][:], fh["gradient"][:]
        bands = select_directions(eigenvalues, settings.directions)
        indices = np.concatenate(list(bands.values()))
        vectors = fh["eigenvectors"][:, np.sort(indices)]
        order = {int(i): k for k, i in enumerate(np.sort(indices))}
        loss0 = float(fh.attrs["loss"])
    cap = float(theta.double().norm())
    floor = noise_floor(loss0, theta.dtype)
    rows: dict[str, list] = {k: [] for k in ("index", "band", "eigenvalue", "slope", "t_max", "ts", "losses",
                                             "max_deviation", "fitted_curvature", "asymmetry", "valid_fraction")}
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
            for key, value in (("index", int(index)), ("band", band), ("eigenvalue", curvature), ("slope", slope),
                               ("t_max", t_max), ("ts", ts), ("losses", losses), ("max_deviation", check.max_deviation),
                               ("fitted_curvature", check.fitted_curvature), ("asymmetry", check.asymmetry),
                               ("valid_fraction", check.valid_fraction)):
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


def run(points: dict[str, tuple[LineFunction, torch.Tensor, Path]], settings: LandscapeConfig, out: Path,
        provenance: dict[str, Any]) -> Path:
    """Line searches at every point ``label -> (line function, theta, hessian file)``; the last is the end of training."""
    arrays: dict[str, Any] = {}
    per_point = {}
    for label, (line, theta, hessian_file) in points.items():
        rows = search_point(line, theta, hessian_file, settings)
        for key in ("index", "eigenvalue", "slope", "t_max", "ts", "losses", "max_deviation", "fitted_curvature",
                    "asymmetry", "valid_fraction"):
            arrays[f"{label}/{key}"] = np.asarray(rows[key])
        arrays[f"{label}/band"] = np.asarray(rows["band"], dtype="S")
        per_point[label] = {"loss0": rows["loss0"], "bands": band_summary(rows)}
    final = per_point[list(points)[-1]]["bands"]
    summary = {
        "points": per_point,
        "labels": list(points),
        "tolerance": TOLERANCE,
        "loss_increase": settings.loss_increase,
        "final": final,
        "top_quadratic": final["top"]["quadratic_share"] == 1.0,
        "top_more_quadratic_than_bulk": final["top"]["median_deviation"] < final["bulk"]["median_deviation"],
    }
    return write_results(out, arrays, summary, provenance)
