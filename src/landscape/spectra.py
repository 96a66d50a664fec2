"""Shared measurements on Hessian spectra and eigenbases: outliers, stability ratio, overlaps.

Kept apart from the analyses so that several of them (spectrum, batch spectra, overlap, theory)
use one tested definition of each quantity.
"""

from __future__ import annotations

import numpy as np


def outlier_count(eigenvalues: np.ndarray, search: int) -> tuple[int, float]:
    """Number of outliers above the bulk: the eigenvalues above the largest log-gap among the top ``search``.

    With the positive eigenvalues sorted descending, λ_1 ≥ λ_2 ≥ …, the gap after rank i is
    log(λ_i / λ_{i+1}) for i < ``search``; the outliers are λ_1 … λ_k with k the rank of the
    largest gap. Returns k and the ratio λ_k / λ_{k+1} (how clear the separation is).
    """
    top = np.sort(eigenvalues[eigenvalues > 0])[::-1][: search + 1]
    if len(top) < 2:
        return 0, 1.0
    gaps = np.log(top[:-1] / top[1:])
    k = int(np.argmax(gaps)) + 1
    return k, float(top[k - 1] / top[k])


def stability_ratio(lambda_max: float, lr: float, momentum: float) -> float:
    """λ_max η / (2(1+β)): heavy-ball momentum on a quadratic is stable along λ iff this is below 1."""
    return lambda_max * lr / (2.0 * (1.0 + momentum))


def row_max_overlap(eigenvectors_a: np.ndarray, eigenvectors_b: np.ndarray) -> np.ndarray:
    """For each eigenvector of basis a (columns), max_j |⟨a_i, b_j⟩|: 1 when it reappears in b, ~sqrt(2 ln P / P) if random."""
    return np.abs(eigenvectors_a.T @ eigenvectors_b).max(axis=1)


def subspace_overlap(eigenvectors_a: np.ndarray, eigenvectors_b: np.ndarray, k: int) -> float:
    """‖A_kᵀ B_k‖_F² / k for the top-k eigenvectors (the last k columns): 1 for equal subspaces, k/P if random."""
    a, b = eigenvectors_a[:, -k:], eigenvectors_b[:, -k:]
    return float(np.sum((a.T @ b) ** 2) / k)


def random_basis(P: int, seed: int = 0) -> np.ndarray:
    """A Haar-random orthogonal P x P matrix (QR of a Gaussian matrix with sign correction)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((P, P)))
    return q * np.sign(np.diag(r))


def eigenbands(P: int, classes: int) -> dict[str, np.ndarray]:
    """Eigen-indices (ascending eigenvalues) of three bands: the bottom quarter, the bulk, the top ``classes``."""
    order = np.arange(P)
    return {"bottom": order[: P // 4], "bulk": order[P // 4 : P - classes], "top": order[P - classes :]}
