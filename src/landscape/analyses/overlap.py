"""A4: are eigenvectors stable through training? Overlaps |V_aᵀ V_b| between checkpoints of the main run.

A single eigenvector inside a dense part of the spectrum is not determined by the matrix (any rotation
among near-equal eigenvalues is as good), so row maxima of |V_aᵀ V_b| favour well-separated directions
by construction. Bands are therefore compared as subspaces (invariant to rotations inside them), and each
band's rotation is set against the Davis–Kahan bound that its eigengap allows (:func:`davis_kahan`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from landscape.config import Config
from landscape.data import CLASSES
from landscape.hessian import StoredHessian
from landscape.registry import Analysis
from landscape.spectra import column_blocks, random_row_max, row_max_overlap, subspace_overlap
from landscape.store import write_results

ANALYSIS = Analysis(
    question="A4",
    doc="eigenvector overlaps between the main run's checkpoints",
    inputs={"hessians": "hessians:main"},
    config=("data",),
    figure="eigenvector overlaps between checkpoints: row maxima, top-k subspaces, top block",
)

# "More stable": the top band's subspace overlap exceeds the control's by the study's factor of two.
STABLER = 2.0
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
    eigenvalues_a: np.ndarray,
    vectors_a: np.ndarray | h5py.Dataset,
    eigenvalues_b: np.ndarray,
    vectors_b: np.ndarray | h5py.Dataset,
    band: slice,
) -> dict[str, float | None]:
    r"""A band's measured rotation between two Hessians against the Davis–Kahan sin Θ bound.

    With A the band's eigenvectors of H_a (eigenvalues Λ) and B those of H_b for the same index range,
    the rotation is :math:`\|\sin\Theta\|_F = (k - \|A^\top B\|_F^2)^{1/2}` and the theorem bounds it by
    :math:`\|H_bA - A\Lambda\|_F/\delta`, δ the distance from Λ to the eigenvalues of H_b outside the range.
    ``ratio`` (rotation / bound, ≤ 1) says how much of the rotation its gap allows actually happens; the
    bound is None where δ = 0. :math:`H_b A = V_b (\lambda_b \odot V_b^\top A)` is summed over column blocks
    of :math:`V_b`, so ``vectors_b`` may be an HDF5 dataset that is never read whole; the band is taken in float64.
    """
    A = np.asarray(vectors_a[:, band], dtype=np.float64)
    B = np.asarray(vectors_b[:, band], dtype=np.float64)
    k = A.shape[1]
    rotation = float(np.sqrt(max(k - np.sum((A.T @ B) ** 2), 0.0)))
    residual = -A * eigenvalues_a[band]
    for first, columns in column_blocks(vectors_b):
        columns = columns.astype(np.float64)
        residual += columns @ (eigenvalues_b[first : first + columns.shape[1], None] * (columns.T @ A))
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


def _pair(
    a: StoredHessian, basis_a: np.ndarray, b: StoredHessian, classes: int, ks: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Every overlap between checkpoints a and b, holding a's eigenbasis and reading b's in column blocks."""
    P = basis_a.shape[0]
    vectors_b, spectrum_a, spectrum_b = b.eigenvector_dataset, a.eigenvalues, b.eigenvalues
    top = int(max(ks.max(), classes))
    top_a, top_b = basis_a[:, -top:].astype(np.float64), vectors_b[:, P - top :].astype(np.float64)
    rows = row_max_overlap(basis_a, vectors_b)
    arrays = {"row_max": rows, "subspace": np.array([subspace_overlap(top_a, top_b, int(k)) for k in ks])}
    bands = _bands(P, classes)
    summary: dict[str, Any] = {band: float(rows[s].mean()) for band, s in bands.items()}
    summary["top_subspace"] = subspace_overlap(top_a, top_b, classes)
    summary["bands"] = {band: davis_kahan(spectrum_a, basis_a, spectrum_b, vectors_b, s) for band, s in bands.items()}
    return arrays, summary


def _bound(band: dict[str, float | None]) -> float:
    """A band's Davis–Kahan bound, infinite where its gap is zero (nothing pins the subspace)."""
    return np.inf if band["bound"] is None else band["bound"]


def stability_control(bands: dict[str, dict[str, float | None]]) -> str:
    """The band, other than the top, that its eigengap determines best (the smallest Davis–Kahan bound).

    A band whose gap allows any rotation loses its overlap whatever the landscape does, so comparing the top with
    it would favour the top by construction; the control is the band least free to rotate.
    """
    return min((band for band in bands if band != "top"), key=lambda band: _bound(bands[band]))


def analyse(points: dict[str, Path], classes: int, out: Path, provenance: dict[str, Any]) -> Path:
    """Overlaps between consecutive checkpoints and between each checkpoint and the last (``points`` in order).

    One eigenbasis is held at a time (P² elements) and the other read in column blocks, so the memory stays
    within the budget of the `paper` profile (issue 16) however many checkpoints there are.
    """
    labels = list(points)
    with StoredHessian(points[labels[0]]) as first:
        P = len(first.eigenvalues)
    ks = np.arange(1, min(3 * classes, P // 2) + 1)
    pairs = [(a, b) for a, b in zip(labels, labels[1:])] + [(a, labels[-1]) for a in labels[:-2]]
    arrays: dict[str, Any] = {"k": ks}
    per_pair = {}
    for a in labels[:-1]:
        with StoredHessian(points[a]) as stored_a:
            basis_a = stored_a.eigenvectors()
            for b in [b for first, b in pairs if first == a]:
                name = f"{a}->{b}"
                with StoredHessian(points[b]) as stored_b:
                    pair_arrays, per_pair[name] = _pair(stored_a, basis_a, stored_b, classes, ks)
                arrays[f"row_max/{name}"], arrays[f"subspace/{name}"] = pair_arrays["row_max"], pair_arrays["subspace"]
            del basis_a
    last_pair = f"{labels[-2]}->{labels[-1]}"
    with StoredHessian(points[labels[-2]]) as stored_a, StoredHessian(points[labels[-1]]) as stored_b:
        top = np.arange(max(P - HEATMAP_SIZE, 0), P)
        arrays["heatmap"] = np.abs(stored_a.eigenvectors(top).T @ stored_b.eigenvectors(top))
    final = per_pair[last_pair]
    control = stability_control(final["bands"])
    top, reference = final["bands"]["top"], final["bands"][control]
    # A control whose bound exceeds √k (the largest rotation there is) may rotate whatever the landscape does: then
    # no band pins its subspace down, and the comparison cannot be made.
    testable = bool(_bound(reference) < np.sqrt(classes))
    summary = {
        "pairs": per_pair,
        "last_pair": last_pair,
        "heatmap_pair": last_pair,
        "classes": classes,
        "random_row_max": random_row_max(P, seed=1),
        "random_subspace": classes / P,
        "stability_control": control,
        "stability_testable": testable,
        # Decided on band subspaces, which rotations inside a dense band do not move, against the band whose gap pins
        # it down best, when it pins it down at least as well as the top's (the row maxima are drawn).
        "top_more_stable": bool(
            testable
            and _bound(reference) <= _bound(top)
            and top["subspace_overlap"] > STABLER * reference["subspace_overlap"]
        ),
        "top_minus_control": top["subspace_overlap"] - reference["subspace_overlap"],
        "top_minus_bulk": top["subspace_overlap"] - final["bands"]["bulk"]["subspace_overlap"],
        "row_max_top_minus_bulk": final["top"] - final["bulk"],
    }
    return write_results(out, arrays, summary, provenance)


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, hessians: dict[str, Path]) -> Path:
    """The declared entry: the main run's Hessians in checkpoint order."""
    return analyse(hessians, len(CLASSES[cfg.data.name]), out, provenance)
