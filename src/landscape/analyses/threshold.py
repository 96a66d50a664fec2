"""A12: set every direction above an eigenvalue threshold exactly to its quadratic minimum; performance vs threshold.

For each threshold τ (log-spaced over the positive spectrum, plus one above it that moves nothing),
the end point moves by the Newton step restricted to {i : λ_i > τ}
(:func:`landscape.eigenbasis.newton_step`); the quadratic model predicts the training objective's
change, −½Σ(v_iᵀg)²/λ_i, and the measured change on every split is set against it. Deterministic
given the Hessian, so it has no seeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape import eigenbasis
from landscape.checkpoint import Point, load_point
from landscape.config import Config
from landscape.data import CLASSES
from landscape.effective import measured_effective_curvature
from landscape.hessian import StoredHessian
from landscape.registry import Analysis
from landscape.store import write_results

ANALYSIS = Analysis(
    question="A12",
    doc="directions above an eigenvalue threshold moved to their quadratic minima",
    inputs={"run": "run:main", "hessian": "hessian:end", "curvature": "result:curvature"},
    config=("experiments", "data"),
    figure="test performance and objective change against the eigenvalue threshold",
)

METRICS = ("train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc")


def _effective_steps(
    point: Point,
    objective: Any,
    objective0: float,
    gradient: np.ndarray,
    effective: np.ndarray,
    eigenvalues: np.ndarray,
    eigenvectors: np.ndarray,
    taus: np.ndarray,
) -> dict[str, np.ndarray]:
    """The thresholds of :func:`run` with Newton steps that use the effective curvature (directions chosen by λ)."""
    theta = point.theta
    out: dict[str, list[float]] = {k: [] for k in ("step_norm", "predicted_change", "measured_change", *METRICS)}
    for tau in taus:
        mask = (eigenvalues > tau) & (effective > 0)
        step = eigenbasis.newton_step(gradient, effective, eigenvectors, mask)
        moved_theta = theta + torch.as_tensor(step, dtype=theta.dtype, device=theta.device)
        metrics = point.metrics(moved_theta)
        for metric in METRICS:
            out[metric].append(metrics[metric])
        out["step_norm"].append(float(np.linalg.norm(step)))
        out["predicted_change"].append(eigenbasis.newton_gain(gradient, effective, eigenvectors, mask))
        out["measured_change"].append(objective.loss(moved_theta) - objective0)
    return {f"effective/{key}": np.array(values) for key, values in out.items()}


def analyse(
    point: Point,
    hessian_file: Path,
    thresholds: int,
    out: Path,
    provenance: dict[str, Any],
    effective_curvature: np.ndarray | None = None,
) -> Path:
    """Metrics and predicted objective change after the restricted Newton step, per threshold.

    With ``effective_curvature`` (per direction, the curvature at SGD's scale) the same thresholds are also
    applied with steps −g_i/κ_i^eff, and the objective change is set against that model's −½Σg_i²/κ_i^eff.
    """
    with StoredHessian(hessian_file) as stored:
        eigenvalues, eigenvectors, gradient = stored.eigenvalues, stored.eigenvectors(), stored.gradient
        objective0 = stored.loss
    positive = eigenvalues[eigenvalues > 0]
    # Each τ moves the directions strictly above it; the last moves none (the unchanged end point).
    taus = np.concatenate(
        [np.geomspace(positive.min(), positive.max(), thresholds, endpoint=False) * (1 - 1e-12), [positive.max()]]
    )
    theta = point.theta
    objective = point.objective(chunk_size=max(1, min(1000, point.data.train.y.numel())))
    rows, predicted, measured, moved, distance = [], [], [], [], []
    for tau in taus:
        mask = eigenvalues > tau
        step = eigenbasis.newton_step(gradient, eigenvalues, eigenvectors, mask)
        moved_theta = theta + torch.as_tensor(step, dtype=theta.dtype, device=theta.device)
        rows.append(point.metrics(moved_theta))
        predicted.append(eigenbasis.newton_gain(gradient, eigenvalues, eigenvectors, mask))
        measured.append(objective.loss(moved_theta) - objective0)
        moved.append(int(mask.sum()))
        distance.append(float(np.linalg.norm(step)))
    arrays: dict[str, Any] = {
        "threshold": taus,
        "moved": np.array(moved),
        "step_norm": np.array(distance),
        "predicted_change": np.array(predicted),
        "measured_change": np.array(measured),
    }
    for metric in METRICS:
        arrays[metric] = np.array([r[metric] for r in rows])
    base = rows[-1]
    best = int(np.argmin(arrays["val_loss"]))
    agree = np.abs(np.array(measured) - np.array(predicted)) <= 0.1 * np.abs(np.array(predicted)) + 1e-6
    effective = None
    if effective_curvature is not None:
        arrays.update(
            _effective_steps(
                point, objective, objective0, gradient, effective_curvature, eigenvalues, eigenvectors, taus
            )
        )
        effective_best = int(np.argmin(arrays["effective/val_loss"]))
        effective = {
            "best_threshold": float(taus[effective_best]),
            "best_test_loss": float(arrays["effective/test_loss"][effective_best]),
            "all_positive_train_loss": float(arrays["effective/train_loss"][0]),
            "all_positive_step_norm": float(arrays["effective/step_norm"][0]),
            "agree_share": float(
                np.mean(
                    np.abs(arrays["effective/measured_change"] - arrays["effective/predicted_change"])
                    <= 0.1 * np.abs(arrays["effective/predicted_change"]) + 1e-6
                )
            ),
        }
    summary = {
        "base": base,
        "best_threshold": float(taus[best]),
        "best_moved": moved[best],
        "best_test_loss": float(arrays["test_loss"][best]),
        "best_test_acc": float(arrays["test_acc"][best]),
        "best_val_loss": float(arrays["val_loss"][best]),
        "test_gain_at_best": base["test_loss"] - float(arrays["test_loss"][best]),
        "all_positive_test_loss": float(arrays["test_loss"][0]),
        "all_positive_train_loss": float(arrays["train_loss"][0]),
        "all_positive_step_norm": distance[0],
        "theta_norm": float(theta.double().norm()),
        # Moving only the directions above this threshold, the objective changes as predicted (within 10%).
        "quadratic_holds_above": float(taus[~agree].max()) if (~agree).any() else None,
        "quadratic_holds_everywhere": bool(agree.all()),
        "thresholds": len(taus),
        "agree_share": float(np.mean(agree)),
        "effective": effective,
    }
    return write_results(out, arrays, summary, provenance)


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, run: Path, hessian: Path, curvature: Path) -> Path:
    """The declared entry: the end point, its Hessian, and the curvature SGD feels at its scale (A1)."""
    point = load_point(cfg, run, cfg.train.iterations)
    with StoredHessian(hessian) as stored:
        kappa = measured_effective_curvature(stored.eigenvalues, len(CLASSES[cfg.data.name]), curvature)
    return analyse(point, hessian, cfg.experiments.thresholds, out, provenance, effective_curvature=kappa)
