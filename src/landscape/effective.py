"""The curvature SGD feels at its own scale, per eigendirection, from the curvature-against-scale measurement (A1).

An eigenvalue is the curvature at one point; along a ReLU network's eigendirections the second difference
at the step SGD explores differs from it (``analyses/curvature.py``). Analyses that set rates or steps from
a curvature (B2's Bayesian rates, A12's Newton steps) can use this one instead of λ_i.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landscape.store import read_summary


def effective_curvature(eigenvalues: np.ndarray, classes: int, ratios: dict[str, float | None]) -> np.ndarray:
    r"""Per direction, the effective curvature :math:`\kappa_i = \lambda_i\,r_b`.

    :math:`r_b` is the median of :math:`c(h_{\mathrm{SGD}})/\lambda` measured along the directions of the band b
    that i belongs to.

    ``ratios`` maps "top" (the ``classes`` largest eigenvalues) and "bulk" (the other positive ones) to the
    measured median ratio; a band without one, and every non-positive direction, keeps λ_i. The ratio is
    measured along a few directions per band and applied to all of the band's: a band-level correction.
    """
    kappa = np.asarray(eigenvalues, dtype=float).copy()
    positive = np.flatnonzero(kappa > 0)
    ordered = positive[np.argsort(kappa[positive])]
    for band, members in (("top", ordered[-classes:]), ("bulk", ordered[:-classes])):
        if ratios.get(band) is not None and ratios[band] > 0:
            kappa[members] *= ratios[band]
    return kappa


def measured_effective_curvature(eigenvalues: np.ndarray, classes: int, curvature_results: Path) -> np.ndarray:
    """:func:`effective_curvature` with the band ratios at SGD's scale read from the curvature analysis's results."""
    bands = read_summary(curvature_results)["bands"]
    ratios = {band: bands.get(band, {}).get("median_ratio_at_sgd") for band in ("top", "bulk")}
    return effective_curvature(eigenvalues, classes, ratios)
