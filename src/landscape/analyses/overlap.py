"""A4: are eigenvectors stable through training? Overlaps |V_aᵀ V_b| between checkpoints of the main run.

A single eigenvector inside a dense part of the spectrum is not determined by the matrix (any rotation
among near-equal eigenvalues is as good), so row maxima of |V_aᵀ V_b| favour well-separated directions
by construction. Bands are therefore compared as subspaces (invariant to rotations inside them), and each
band's rotation is set against the Davis–Kahan bound that its eigengap allows (:func:`davis_kahan`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.hessian import StoredHessian
from landscape.spectra import random_basis, row_max_overlap, subspace_overlap
from landscape.store import write_results

HEATMAP_SIZE = 30  # the top-30 block of |V_aᵀ V_b| is drawn; the full matrix is P x P


def _bands(P: int, classes: int) -> dict[str, slice]:
    """Eigenvector index ranges (ascending eigenvalues): the top outliers, the bulk around the middle, the bottom."""
    middle = P // 2
    return {
        "top": slice(P - classes, P),
        "bulk": slice(middle - classes // 2, middle + classes - classes // 2),
        "bottom": slice(0, classes),
    }


def davis_kahan(
    eigenvalues_a: np.ndarray, vectors_a: np.ndarray, eigenvalues_b: np.ndarray, vectors_b: np.ndarray, band: slice
) -> dict[str, float | None]:
    r"""A band's measured rotation between two Hessians against the Davis–Kahan sin Θ bound.

    With A the band's eigenvectors of H_a (eigenvalues Λ) and B those of H_b for the same index range,
    the rotation is :math:`\|\sin\Theta\|_F = (k - \|A^\top B\|_F^2)^{1/2}` and the theorem bounds it by
    :math:`\|H_bA - A\Lambda\|_F/\delta`, δ the distance from Λ to the eigenvalues of H_b outside the range.
    ``ratio`` (rotation / bound, ≤ 1) says how much of the rotation its gap allows actually happens; the
    bound is None where δ = 0.
    """
    A, B = vectors_a[:, band], vectors_b[:, band]
    k = A.shape[1]
    rotation = float(np.sqrt(max(k - np.sum((A.T @ B) ** 2), 0.0)))
    residual = vectors_b @ (eigenvalues_b[:, None] * (vectors_b.T @ A)) - A * eigenvalues_a[band]
    outside = np.delete(eigenvalues_b, np.arange(len(eigenvalues_b))[band])
    gap = float(np.min(np.abs(eigenvalues_a[band][:, None] - outside[None, :])))
    bound = float(np.linalg.norm(residual)) / gap if gap > 0 else None
    return {
        "rotation": rotation,
        "gap": gap,
        "perturbation": float(np.linalg.norm(residual)),
        "bound": bound,
        "ratio": rotation / bound if bound else None,
        "subspace_overlap": 1 - rotation**2 / k,
    }


def run(points: dict[str, Path], classes: int, out: Path, provenance: dict[str, Any]) -> Path:
    """Overlaps between consecutive checkpoints and between each checkpoint and the last (``points`` in order)."""
    labels = list(points)
    bases, spectra = {}, {}
    for label, path in points.items():
        with StoredHessian(path) as stored:
            bases[label], spectra[label] = stored.eigenvectors(), stored.eigenvalues
    P = bases[labels[0]].shape[0]
    ks = np.arange(1, min(3 * classes, P // 2) + 1)
    pairs = [(a, b) for a, b in zip(labels, labels[1:])] + [(a, labels[-1]) for a in labels[:-2]]
    arrays: dict[str, Any] = {"k": ks}
    per_pair = {}
    for a, b in pairs:
        name = f"{a}->{b}"
        rows = row_max_overlap(bases[a], bases[b])
        arrays[f"row_max/{name}"] = rows
        arrays[f"subspace/{name}"] = np.array([subspace_overlap(bases[a], bases[b], int(k)) for k in ks])
        per_pair[name] = {band: float(rows[s].mean()) for band, s in _bands(P, classes).items()}
        per_pair[name]["top_subspace"] = subspace_overlap(bases[a], bases[b], classes)
        per_pair[name]["bands"] = {
            band: davis_kahan(spectra[a], bases[a], spectra[b], bases[b], s) for band, s in _bands(P, classes).items()
        }
    last_pair = f"{labels[-2]}->{labels[-1]}"
    arrays["heatmap"] = np.abs(bases[labels[-2]][:, -HEATMAP_SIZE:].T @ bases[labels[-1]][:, -HEATMAP_SIZE:])
    random_rows = row_max_overlap(random_basis(P, seed=1), random_basis(P, seed=2))
    final = per_pair[last_pair]
    summary = {
        "pairs": per_pair,
        "last_pair": last_pair,
        "heatmap_pair": last_pair,
        "classes": classes,
        "random_row_max": float(random_rows.mean()),
        "random_subspace": classes / P,
        # Decided on band subspaces, which rotations inside a dense band do not move; the row maxima are drawn.
        "top_more_stable_than_bulk": final["bands"]["top"]["subspace_overlap"]
        > final["bands"]["bulk"]["subspace_overlap"],
        "top_minus_bulk": final["bands"]["top"]["subspace_overlap"] - final["bands"]["bulk"]["subspace_overlap"],
        "row_max_top_minus_bulk": final["top"] - final["bulk"],
    }
    return write_results(out, arrays, summary, provenance)
