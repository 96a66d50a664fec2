"""A4: are eigenvectors stable through training? Overlaps |V_aᵀ V_b| between checkpoints of the main run."""

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
    return {"top": slice(P - classes, P), "bulk": slice(middle - classes // 2, middle + classes - classes // 2),
            "bottom": slice(0, classes)}


def run(points: dict[str, Path], classes: int, out: Path, provenance: dict[str, Any]) -> Path:
    """Overlaps between consecutive checkpoints and between each checkpoint and the last (``points`` in order)."""
    labels = list(points)
    bases = {}
    for label, path in points.items():
        with StoredHessian(path) as stored:
            bases[label] = stored.eigenvectors()
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
        "top_more_stable_than_bulk": final["top"] > final["bulk"],
        "top_minus_bulk": final["top"] - final["bulk"],
    }
    return write_results(out, arrays, summary, provenance)
