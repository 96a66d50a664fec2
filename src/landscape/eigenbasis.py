"""Moves in the Hessian's eigenbasis: Newton steps restricted to chosen directions, noise along eigenbands.

With H = V diag(λ) Vᵀ and gradient g at θ, the quadratic model L(θ + δ) ≈ L + gᵀδ + ½δᵀHδ is
minimised along a set S of directions with positive curvature by δ = −Σ_{i∈S} (v_iᵀg/λ_i) v_i,
which changes the loss by −½Σ_{i∈S}(v_iᵀg)²/λ_i. Gaussian noise δ = σ Σ_{i∈S} z_i v_i (z ~ N(0, I))
raises the quadratic model by ½σ²Σ_{i∈S}λ_i in expectation (the linear term averages out).
"""

from __future__ import annotations

import h5py
import numpy as np

from landscape.spectra import column_blocks


def project(eigenvectors: np.ndarray | h5py.Dataset, vectors: np.ndarray) -> np.ndarray:
    r"""Coordinates :math:`V^\top x` in float64 of ``vectors`` x, shape (P,) or (P, k), in the eigenbasis V.

    V is read in column blocks, each converted to float64 on its own: ``V.T @ x`` with a float32 V and a float64 x
    would first copy all of V to float64, two P x P matrices' worth at the `paper` profile's P (issue 16).
    """
    x = np.asarray(vectors, dtype=np.float64)
    coordinates = np.empty((eigenvectors.shape[1], *x.shape[1:]))
    for first, columns in column_blocks(eigenvectors):
        coordinates[first : first + columns.shape[1]] = columns.astype(np.float64, copy=False).T @ x
    return coordinates


def expand(eigenvectors: np.ndarray | h5py.Dataset, coefficients: np.ndarray) -> np.ndarray:
    r"""The vectors :math:`V c` in float64 for coefficients c, shape (P,) or (P, k), summed over V's column blocks.

    Blocks whose coefficients are all zero are skipped, so a move along a few directions reads only their blocks.
    """
    c = np.asarray(coefficients, dtype=np.float64)
    total = np.zeros((eigenvectors.shape[0], *c.shape[1:]))
    for first, columns in column_blocks(eigenvectors):
        part = c[first : first + columns.shape[1]]
        if part.any():
            total += columns.astype(np.float64, copy=False) @ part
    return total


def columns_of(mask: np.ndarray) -> slice | np.ndarray:
    """The columns a boolean ``mask`` selects, as a slice when they are consecutive (a view, not a copy, of V)."""
    chosen = np.flatnonzero(mask)
    if len(chosen) and chosen[-1] - chosen[0] + 1 == len(chosen):
        return slice(int(chosen[0]), int(chosen[-1]) + 1)
    return chosen


def newton_step(
    gradient: np.ndarray, eigenvalues: np.ndarray, eigenvectors: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """The displacement to the quadratic model's minimum along the directions in ``mask`` (positive λ only)."""
    chosen = mask & (eigenvalues > 0)
    coefficients = np.zeros(len(eigenvalues))
    coefficients[chosen] = -project(eigenvectors, gradient)[chosen] / eigenvalues[chosen]
    return expand(eigenvectors, coefficients)


def newton_gain(gradient: np.ndarray, eigenvalues: np.ndarray, eigenvectors: np.ndarray, mask: np.ndarray) -> float:
    """The quadratic model's loss change from :func:`newton_step`, −½ Σ (v_iᵀg)² / λ_i."""
    chosen = mask & (eigenvalues > 0)
    return float(-0.5 * np.sum(project(eigenvectors, gradient)[chosen] ** 2 / eigenvalues[chosen]))


def band_noise(
    eigenvectors: np.ndarray, mask: np.ndarray, sigma: float, count: int, rng: np.random.Generator
) -> np.ndarray:
    """``count`` displacements (count, P), each σ times a standard Gaussian in the span of the ``mask`` columns."""
    coefficients = np.zeros((len(mask), count))
    coefficients[mask] = rng.standard_normal((count, int(mask.sum()))).T
    return sigma * expand(eigenvectors, coefficients).T


def log_bands(eigenvalues: np.ndarray, count: int) -> list[np.ndarray]:
    """Masks of ``count`` bands of the positive eigenvalues with log-spaced edges (empty bands dropped)."""
    positive = eigenvalues[eigenvalues > 0]
    edges = np.geomspace(positive.min(), positive.max(), count + 1)
    edges[0], edges[-1] = 0.0, np.inf
    masks = [(eigenvalues > lo) & (eigenvalues <= hi) for lo, hi in zip(edges[:-1], edges[1:])]
    return [m for m in masks if m.any()]
