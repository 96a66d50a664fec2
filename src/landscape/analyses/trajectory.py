"""A5: the main run's trajectory in the eigenbasis — start distance, settling, stationary variance, FDR.

Every saved iterate is projected on the eigenvectors of the final Hessian (and, to show how much
the basis matters, of earlier checkpoints' Hessians), streamed in blocks. Per direction: the
distance from the end point at initialisation and at each checkpoint; the iteration at which it
settles (from it on, the trailing running mean stays within mean ± 3 sd of the last phase's second half
until that window begins, and the window shows no drift; otherwise it has not settled);
the variance in the second half of every constant-LR phase. In the last phase the
fluctuation–dissipation ratio ⟨x g_B⟩ / ((1+β)η/2 ⟨v²⟩), which is 1 at equilibrium, is computed
from a replay of the saved batches.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats
from tqdm import tqdm

from landscape import trajectory
from landscape.checkpoint import load_point
from landscape.config import Config
from landscape.data import CLASSES
from landscape.hessian import StoredHessian
from landscape.registry import Analysis
from landscape.spectra import eigenbands, stored_resolution
from landscape.store import read_h5, write_results

ANALYSIS = Analysis(
    question="A5",
    doc="the main run in the eigenbasis: start distance, settling, stationary variance, FDR",
    inputs={"run": "run:main", "hessians": "hessians:main_trained"},
    config=("train", "data"),
    figure="trajectories in the eigenbasis, settle iteration and stationary variance against λ",
    poster=True,
)

SETTLE_WIDTH = 3.0  # stationary band: mean ± 3 sd of the last phase's second half
FDR_STEPS = 500  # last steps of the run replayed for the fluctuation-dissipation ratio
TRACED = 8  # directions whose whole trajectory is stored for the figure


def basis_statistics(
    params: Any, origin: np.ndarray, vectors: Any, checkpoints: list[int], lrs: np.ndarray, window: int
) -> dict[str, np.ndarray]:
    """Start distance, checkpoint distances, settle iteration and per-phase variances for every direction of a basis."""
    P = vectors.shape[1]
    stationary, _ = trajectory.settle_window(lrs)
    long_phases = trajectory.long_phases(lrs)
    out = {
        "start": np.empty(P),
        "checkpoints": np.empty((len(checkpoints), P)),
        "settle": np.empty(P, dtype=int),
        "phase_variance": np.empty((len(long_phases), P)),
    }
    for directions, coordinates in trajectory.projected_blocks(params, origin, lambda s: vectors[:, s], P):
        out["start"][directions] = np.abs(coordinates[0])
        out["checkpoints"][:, directions] = np.abs(coordinates[checkpoints])
        out["settle"][directions] = trajectory.settle_iterations(coordinates, stationary, window, SETTLE_WIDTH)
        for k, phase in enumerate(long_phases):
            out["phase_variance"][k, directions] = coordinates[trajectory.stationary_half(phase)].var(axis=0)
    out["phase_lr"] = np.array([lrs[p.start] for p in long_phases])
    return out


def replay_fdr(
    point: Any,
    params: Any,
    batch_indices: Any,
    lrs: np.ndarray,
    vectors: np.ndarray,
    origin: np.ndarray,
    momentum: float,
) -> np.ndarray:
    """FDR per direction over the last ``FDR_STEPS`` steps, replaying each step's batch gradient at its iterate."""
    T = len(lrs)
    steps = np.arange(max(T - FDR_STEPS, trajectory.phases(lrs)[-1].start), T)
    thetas = params[steps[0] : T + 1].astype(np.float64)
    coordinates = (thetas - origin) @ vectors
    gradients = np.empty((len(steps), vectors.shape[1]))
    for k, t in enumerate(tqdm(steps, desc="trajectory:replay", unit="step", dynamic_ncols=True, leave=False)):
        theta = torch.from_numpy(thetas[k]).to(point.theta.dtype)
        objective = point.objective(len(batch_indices[t]), torch.as_tensor(batch_indices[t].astype(np.int64)))
        gradients[k] = objective.gradient(theta).cpu().numpy() @ vectors
    buffers = trajectory.momentum_buffers(coordinates, lrs[steps])
    return trajectory.fluctuation_dissipation(coordinates[:-1], gradients, buffers, float(lrs[steps[-1]]), momentum)


def analyse(
    point: Any,
    run_file: Path,
    hessian_files: dict[str, Path],
    classes: int,
    momentum: float,
    out: Path,
    provenance: dict[str, Any],
) -> Path:
    """Trajectory statistics in each basis of ``hessian_files`` (label -> file; the last is the final Hessian)."""
    labels = list(hessian_files)
    arrays: dict[str, Any] = {}
    per_basis: dict[str, Any] = {}
    with read_h5(run_file, ("params", "lr", "batch_indices")) as run:
        params, lrs = run["params"], run["lr"][:]
        origin = params[-1].astype(np.float64)
        T = len(lrs)
        window = trajectory.settle_window(lrs)[1]
        checkpoints = [int(c) for c in sorted({0, *[int(label.split("@")[1]) for label in labels]})]
        tracemalloc.start()
        for label, path in hessian_files.items():
            with StoredHessian(path) as stored:
                eigenvalues = stored.eigenvalues
                resolution = stored_resolution(eigenvalues, stored.attrs)
                statistics = basis_statistics(params, origin, stored.eigenvector_dataset, checkpoints, lrs, window)
            projection_peak = tracemalloc.get_traced_memory()[1]
            for key, value in statistics.items():
                arrays[f"{label}/{key}"] = value
            arrays[f"{label}/eigenvalue"] = eigenvalues
            positive = eigenvalues > 0
            settled = statistics["settle"] >= 0
            keep = positive & settled
            per_basis[label] = {
                "eigenvalue_resolution": resolution,
                "settled_share": float(settled.mean()),
                "settle_spearman": float(stats.spearmanr(eigenvalues[keep], statistics["settle"][keep]).statistic)
                if keep.sum() >= 3
                else None,
                "start_spearman": float(
                    stats.spearmanr(eigenvalues[positive], statistics["start"][positive]).statistic
                ),
                "bands": {
                    band: {
                        "median_settle": float(
                            np.median(np.where(statistics["settle"][idx] >= 0, statistics["settle"][idx], T))
                        ),
                        "median_start": float(np.median(statistics["start"][idx])),
                        "settled_share": float(settled[idx].mean()),
                    }
                    for band, idx in eigenbands(eigenvalues, classes, point.weight_decay).items()
                    if len(idx)
                },
                "final_phase_variance_slope": float(
                    np.polyfit(
                        np.log(eigenvalues[positive]), np.log(statistics["phase_variance"][-1][positive] + 1e-300), 1
                    )[0]
                ),
            }
        final_label = labels[-1]
        with StoredHessian(hessian_files[final_label]) as stored:
            eigenvalues = stored.eigenvalues
            bands = eigenbands(eigenvalues, classes, point.weight_decay)
            fdr_directions = np.concatenate([bands["top"], bands["bulk"][:: max(len(bands["bulk"]) // 32, 1)]])
            vectors = stored.eigenvectors(np.sort(fdr_directions))
            traced = np.unique(np.linspace(0, len(eigenvalues) - 1, TRACED).astype(int))
            traced_vectors = stored.eigenvectors(traced)
        tracemalloc.stop()
        params_shape = params.shape
        fdr = replay_fdr(point, params, run["batch_indices"], lrs, vectors, origin, momentum)
        arrays["traced/index"] = traced
        arrays["traced/coordinates"] = next(
            trajectory.projected_blocks(params, origin, lambda s: traced_vectors[:, s], len(traced))
        )[1]
        arrays["traced/eigenvalue"] = eigenvalues[traced]
    top = np.isin(np.sort(fdr_directions), bands["top"])
    arrays["fdr/index"], arrays["fdr/ratio"] = np.sort(fdr_directions), fdr
    arrays["lr"] = lrs
    final = per_basis[final_label]
    summary = {
        "bases": per_basis,
        "labels": labels,
        "final_label": final_label,
        "window": window,
        "settle_width": SETTLE_WIDTH,
        "fdr_steps": int(min(FDR_STEPS, trajectory.phases(lrs)[-1].stop - trajectory.phases(lrs)[-1].start)),
        "fdr_median_top": float(np.median(fdr[top])),
        "fdr_median_bulk": float(np.median(fdr[~top])),
        "fdr_top_equilibrated": bool(abs(np.median(fdr[top]) - 1) < 0.2),
        "sharp_settle_first": final["settle_spearman"] is not None and final["settle_spearman"] < 0,
        "basis_matters": bool(abs(per_basis[labels[0]]["settled_share"] - final["settled_share"]) > 0.1),
        "projection_peak_mb": projection_peak / 2**20,
        "iterates_mb": float(np.prod(params_shape)) * 4 / 2**20,
        "weight_decay": point.weight_decay,  # directions with 0 ≤ λ ≤ 2·wd are weight decay's (figures draw them apart)
    }
    return write_results(out, arrays, summary, provenance)


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, run: Path, hessians: dict[str, Path]) -> Path:
    """The declared entry: the main run and its Hessians after initialisation."""
    point = load_point(cfg, run, cfg.train.iterations)
    classes = len(CLASSES[cfg.data.name])
    return analyse(point, run, hessians, classes, cfg.train.momentum, out, provenance)
