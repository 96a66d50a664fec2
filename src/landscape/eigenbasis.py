"""Moves in the Hessian's eigenbasis: Newton steps restricted to chosen directions, noise along eigenbands.

With H = V diag(λ) Vᵀ and gradient g at θ, the quadratic model L(θ + δ) ≈ L + gᵀδ + ½δᵀHδ is
minimised along a set S of directions with positive curvature by δ = −Σ_{i∈S} (v_iᵀg/λ_i) v_i,
which changes the loss by −½Σ_{i∈S}(v_iᵀg)²/λ_i. Gaussian noise δ = σ Σ_{i∈S} z_i v_i (z ~ N(0, I))
raises the quadratic model by ½σ²Σ_{i∈S}λ_i in expectation (the linear term averages out).
"""

from __future__ import annotations

import numpy as np


def newton_step(
    gradient: np.ndarray, eigenvalues: np.ndarray, eigenvectors: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """The displacement to the quadratic model's minimum along the directions in ``mask`` (positive λ only)."""
    chosen = mask & (eigenvalues > 0)
    basis = eigenvectors[:, chosen]
    return -basis @ ((basis.T @ gradient) / eigenvalues[chosen])


def newton_gain(gradient: np.ndarray, eigenvalues: np.ndarray, eigenvectors: np.ndarray, mask: np.ndarray) -> float:
    """The quadratic model's loss change from :func:`newton_step`, −½ Σ (v_iᵀg)² / λ_i."""
    chosen = mask & (eigenvalues > 0)
    return float(-0.5 * np.sum((eigenvectors[:, chosen].T @ gradient) ** 2 / eigenvalues[chosen]))


def band_noise(
    eigenvectors: np.ndarray, mask: np.ndarray, sigma: float, count: int, rng: np.random.Generator
) -> np.ndarray:
    """``count`` displacements (count, P), each σ times a standard Gaussian in the span of the ``mask`` columns."""
    basis = eigenvectors[:, mask]
    return sigma * rng.standard_normal((count, basis.shape[1])) @ basis.T


def log_bands(eigenvalues: np.ndarray, count: int) -> list[np.ndarray]:
    """Masks of ``count`` bands of the positive eigenvalues with log-spaced edges (empty bands dropped)."""
    positive = eigenvalues[eigenvalues > 0]
    edges = np.geomspace(positive.min(), positive.max(), count + 1)
    edges[0], edges[-1] = 0.0, np.inf
    masks = [(eigenvalues > lo) & (eigenvalues <= hi) for lo, hi in zip(edges[:-1], edges[1:])]
    return [m for m in masks if m.any()]
