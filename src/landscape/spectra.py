"""Shared measurements on Hessian spectra and eigenbases: outliers, stability ratio, overlaps, resolution.

Kept apart from the analyses so that several of them (spectrum, batch spectra, overlap, theory)
use one tested definition of each quantity.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import h5py
import numpy as np

from landscape import tiles

# An outlier must stand at least this factor above the next eigenvalue (the bulk's edge). Inside a bulk,
# neighbouring top eigenvalues differ by far less (the `cpu` Hessians' largest ratio among non-separated
# top eigenvalues was 1.48), so a factor of two counts only a visible gap.
MIN_GAP = 2.0


def outlier_count(eigenvalues: np.ndarray, search: int, min_gap: float = MIN_GAP) -> tuple[int, float]:
    """Number of outliers above the bulk: eigenvalues above the largest gap among the top ``search``, if a gap.

    With the positive eigenvalues sorted descending, λ_1 ≥ λ_2 ≥ …, the gap after rank i is
    λ_i / λ_{i+1} for i ≤ ``search``; with k the rank of the largest, the outliers are λ_1 … λ_k
    when λ_k / λ_{k+1} ≥ ``min_gap`` (λ_{k+1} is the bulk's edge), and there are none otherwise.
    Returns the count and the largest ratio λ_k / λ_{k+1} (how clear the separation is).
    """
    top = np.sort(eigenvalues[eigenvalues > 0])[::-1][: search + 1]
    if len(top) < 2:
        return 0, 1.0
    gaps = np.log(top[:-1] / top[1:])
    k = int(np.argmax(gaps)) + 1
    separation = float(top[k - 1] / top[k])
    return (k if separation >= min_gap else 0), separation


def stability_ratio(lambda_max: float, lr: float, momentum: float) -> float:
    """λ_max η / (2(1+β)): heavy-ball momentum on a quadratic is stable along λ iff this is below 1."""
    return lambda_max * lr / (2.0 * (1.0 + momentum))


def column_blocks(matrix: np.ndarray | h5py.Dataset, block: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(first, matrix[:, first:first+block])`` over all columns: an array, or an HDF5 dataset read block by block.

    A P x P eigenbasis streamed this way costs P x ``block`` of memory instead of P² (default: P/16 columns).
    """
    columns = matrix.shape[1]
    block = block or tiles.tile(columns)
    for first in range(0, columns, block):
        yield first, np.asarray(matrix[:, first : first + block])


def row_max_overlap(eigenvectors_a: np.ndarray, eigenvectors_b: np.ndarray | h5py.Dataset) -> np.ndarray:
    """For each eigenvector a_i of basis a (columns), max_j |⟨a_i, b_j⟩|: 1 if it is in b, ~√(2 ln P / P) if random.

    Basis b may be an HDF5 dataset: it is read in column blocks, so only basis a is held whole.
    """
    rows = np.zeros(eigenvectors_a.shape[1])
    for _, columns in column_blocks(eigenvectors_b):
        np.maximum(rows, np.abs(eigenvectors_a.T @ columns).max(axis=1), out=rows)
    return rows


def random_row_max(P: int, samples: int = 256, seed: int = 0) -> float:
    """The mean row maximum of |AᵀB| for B Haar-random: each row of AᵀB is a uniform unit vector in R^P.

    Estimated from ``samples`` such vectors (normalised Gaussians), P x ``samples`` numbers instead of two
    random P x P bases; its standard error is below 1 % of the value at ``samples`` = 256.
    """
    draws = np.random.default_rng(seed).standard_normal((samples, P))
    return float((np.abs(draws).max(axis=1) / np.linalg.norm(draws, axis=1)).mean())


def subspace_overlap(eigenvectors_a: np.ndarray, eigenvectors_b: np.ndarray, k: int) -> float:
    """‖A_kᵀ B_k‖_F² / k for the top-k eigenvectors (the last k columns): 1 for equal subspaces, k/P if random."""
    a, b = eigenvectors_a[:, -k:], eigenvectors_b[:, -k:]
    return float(np.sum((a.T @ b) ** 2) / k)


def random_basis(P: int, seed: int = 0) -> np.ndarray:
    """A Haar-random orthogonal P x P matrix (QR of a Gaussian matrix with sign correction)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((P, P)))
    return q * np.sign(np.diag(r))


def eigenbands(eigenvalues: np.ndarray, classes: int, weight_decay: float = 0.0) -> dict[str, np.ndarray]:
    """Eigen-indices (eigenvalues ascending) of four bands: held by weight decay, bottom quarter, bulk, top ``classes``.

    Weight decay alone gives every direction a curvature wd, and a unit inactive on every example
    exactly that, so the directions with 0 ≤ λ ≤ 2 wd are mostly weight decay rather than data: they
    form their own band (``weight_decay``, empty when wd = 0). Of the others, the top ``classes`` are
    the top band, the lowest quarter the bottom band, and the rest the bulk.
    """
    order = np.arange(len(eigenvalues))
    held = (eigenvalues >= 0) & (eigenvalues <= 2 * weight_decay) if weight_decay > 0 else np.zeros(len(order), bool)
    rest = order[~held]
    top, below = rest[len(rest) - classes :], rest[: len(rest) - classes]
    return {
        "weight_decay": order[held],
        "bottom": below[: len(below) // 4],
        "bulk": below[len(below) // 4 :],
        "top": top,
    }


def eigenvalue_resolution(eigenvalues: np.ndarray, probe_error: float, storage: str) -> float:
    r"""The size below which an eigenvalue of a stored Hessian says nothing about the true one.

    .. math:: \delta = e_{\mathrm{probe}} \max_i |\lambda_i| + \frac{2u}{\sqrt{3P}} \|H\|_F ,

    the error of the assembled products that ``hessian.probe_error`` measured (relative to the largest
    product) plus the spectral norm of the rounding to the storage precision. Rounding to nearest leaves
    each entry an error of standard deviation :math:`u|H_{ij}|/\sqrt3` (unit roundoff u), and a symmetric
    matrix of independent errors of r.m.s. σ has spectral norm :math:`\approx 2\sigma\sqrt P`. By Weyl's
    inequality no eigenvalue moves by more than that norm (the worst case :math:`u\|H\|_F` is √P times
    larger than what rounding does; ``tests/test_spectra.py`` measures the ratio). A fit over eigenvalues
    must use only those above δ, or it fits the assembly's noise (issue 16: float32 storage moved a power
    law over all positive eigenvalues of the smoke model from 2.06 to 1.23).
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    unit_roundoff = float(np.finfo(np.dtype(storage)).eps) / 2
    rounding = 2 * unit_roundoff * np.sqrt(np.sum(lam**2)) / np.sqrt(3 * len(lam))
    return float(probe_error * np.abs(lam).max() + rounding)


def stored_resolution(eigenvalues: np.ndarray, attrs: Mapping[str, Any]) -> float:
    """:func:`eigenvalue_resolution` of a Hessian file, from its ``probe_error`` and ``storage`` attributes."""
    return eigenvalue_resolution(
        eigenvalues, float(attrs.get("probe_error", 0.0)), str(attrs.get("storage", "float64"))
    )
