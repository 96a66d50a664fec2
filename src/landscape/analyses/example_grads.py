"""A10: per-example gradients in the eigenbasis — one example or many behind each direction?

At the end of the main run every example's gradient g_n = ∇ℓ_n (vmap over examples, streamed in
chunks) is decomposed in the final Hessian's eigenbasis, a_{ni} = v_iᵀ g_n. Streamed statistics
per direction: the distribution of |cos(g_n, v_i)| (a histogram per eigenband; the directions
with 0 ≤ λ ≤ 2 wd, held mostly by weight decay, are a band of their own), the share of
Σ_n a_{ni}² carried by the top 1% of examples, the participation ratio (Σ_n a²)² / Σ_n a⁴ / N
(1 if all examples contribute equally, 1/N if one does), and the gradient-noise variance
c_i = v_iᵀ C v_i with C the per-example gradient covariance, set against λ_i (is C ≈ H?).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap
from tqdm import tqdm

from landscape import theory
from landscape.checkpoint import load_point
from landscape.config import Config
from landscape.data import CLASSES
from landscape.hessian import StoredHessian
from landscape.params import unflatten
from landscape.registry import Analysis
from landscape.spectra import eigenbands, stored_resolution
from landscape.store import write_results

ANALYSIS = Analysis(
    question="A10",
    doc="per-example gradients in the final eigenbasis: cosines, concentration, noise vs curvature",
    inputs={"run": "run:main", "hessian": "hessian:end"},
    config=("hessian", "data"),
    figure="per-example gradient cosines by band, concentration across examples, noise against curvature",
)

COS_BINS = np.linspace(0.0, 1.0, 51)
TOP_SHARE = 0.01  # the top 1% of examples
BOOTSTRAP = 2000  # resamples of the directions of a band, for the interval of a difference of band medians


def median_difference(a: np.ndarray, b: np.ndarray, level: float = 0.95, seed: int = 0) -> dict[str, float]:
    """median(a) − median(b), with the percentile interval of a bootstrap over the directions of each band."""
    rng = np.random.default_rng(seed)
    resampled = [np.median(rng.choice(a, len(a))) - np.median(rng.choice(b, len(b))) for _ in range(BOOTSTRAP)]
    low, high = np.percentile(resampled, [50 * (1 - level), 50 * (1 + level)])
    return {"difference": float(np.median(a) - np.median(b)), "low": float(low), "high": float(high), "level": level}


def per_example_gradients(
    model: torch.nn.Module, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """∇_θ ℓ(x_n, y_n; θ) for every example of the chunk, shape (n, P) (cross-entropy only, no weight decay)."""

    def loss(t: torch.Tensor, xn: torch.Tensor, yn: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, unflatten(model, t), (xn[None],))
        return F.cross_entropy(logits, yn[None])

    return vmap(grad(loss), in_dims=(None, 0, 0))(theta, x, y)


def projected_gradients(
    model: torch.nn.Module,
    theta: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    basis: torch.Tensor,
    chunk: int,
    desc: str,
) -> Iterator[tuple[torch.Tensor, np.ndarray]]:
    """Per chunk of ``chunk`` examples, their gradients (float64) and their coordinates a_{ni} = v_iᵀ g_n in ``basis``.

    The projection is done in the basis's stored precision (a float64 copy of a float32 basis would triple the memory
    at the ``paper`` profile's P); the coordinates come back in float64.
    """
    for start in tqdm(range(0, len(y), chunk), desc=desc, unit="chunk", dynamic_ncols=True, leave=False):
        g = per_example_gradients(model, theta, x[start : start + chunk], y[start : start + chunk]).double()
        yield g, (g.to(basis.dtype) @ basis).double().cpu().numpy()


def gradient_noise(
    model: torch.nn.Module, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, basis: torch.Tensor, chunk: int
) -> np.ndarray:
    r"""Per column v_i of ``basis``, the variance over examples of v_iᵀ∇ℓ_n: :math:`c_i = v_i^\top C v_i`.

    C is the per-example gradient covariance (divisor N); the examples are streamed in chunks of ``chunk``.
    """
    sums, squares = np.zeros(basis.shape[1]), np.zeros(basis.shape[1])
    for _, a in projected_gradients(model, theta, x, y, basis, chunk, "gradient_noise"):
        sums += a.sum(axis=0)
        squares += (a**2).sum(axis=0)
    return squares / len(y) - (sums / len(y)) ** 2


BAND_NAMES = ("weight_decay", "bottom", "bulk", "top")  # the order of spectra.eigenbands


def band_of(eigenvalues: np.ndarray, classes: int, weight_decay: float) -> np.ndarray:
    """Band label per eigen-index, an index into ``BAND_NAMES`` (``spectra.eigenbands``)."""
    labels = np.empty(len(eigenvalues), dtype=int)
    for label, indices in enumerate(eigenbands(eigenvalues, classes, weight_decay).values()):
        labels[indices] = label
    return labels


def analyse(
    model: torch.nn.Module,
    theta: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    weight_decay: float,
    hessian_file: Path,
    classes: int,
    chunk: int,
    out: Path,
    provenance: dict[str, Any],
) -> Path:
    """Streamed per-example statistics in the eigenbasis of ``hessian_file``."""
    with StoredHessian(hessian_file) as stored:
        eigenvalues, eigenvectors, full_gradient = stored.eigenvalues, stored.eigenvectors(), stored.gradient
        resolution = stored_resolution(eigenvalues, stored.attrs)
    N, P = len(y), len(eigenvalues)
    basis = torch.as_tensor(eigenvectors, device=theta.device)  # shared with the array on a CPU: no copy
    keep = max(int(np.ceil(TOP_SHARE * N)), 1)
    sums = {k: np.zeros(P) for k in ("a", "a2", "a4")}
    largest = np.zeros((0, P))
    bands = band_of(eigenvalues, classes, weight_decay)
    histograms = np.zeros((len(BAND_NAMES), len(COS_BINS) - 1))
    gradient_sum = np.zeros(P)
    for g, a in projected_gradients(model, theta, x, y, basis, chunk, "example_grads"):
        gradient_sum += g.sum(dim=0).cpu().numpy()
        norms = np.linalg.norm(g.cpu().numpy(), axis=1, keepdims=True)
        cosines = np.abs(a) / np.maximum(norms, 1e-300)
        for band in range(len(BAND_NAMES)):
            histograms[band] += np.histogram(cosines[:, bands == band], bins=COS_BINS)[0]
        sums["a"] += a.sum(axis=0)
        sums["a2"] += (a**2).sum(axis=0)
        sums["a4"] += (a**4).sum(axis=0)
        largest = -np.sort(-np.concatenate([largest, a**2]), axis=0)[:keep]
    mean_gradient = gradient_sum / N + weight_decay * theta.double().cpu().numpy()
    noise = sums["a2"] / N - (sums["a"] / N) ** 2
    top_share = largest.sum(axis=0) / np.maximum(sums["a2"], 1e-300)
    participation = sums["a2"] ** 2 / np.maximum(sums["a4"], 1e-300) / N
    curvature = eigenvalues - weight_decay  # the data part of the Hessian, which C is compared with
    positive = curvature > 0
    summary = {
        "examples": N,
        "top_share_fraction": TOP_SHARE,
        "gradient_check": float(np.abs(mean_gradient - full_gradient).max() / np.abs(full_gradient).max()),
        "band_sizes": {name: int(np.sum(bands == b)) for b, name in enumerate(BAND_NAMES)},
        "bands": {
            name: {
                "median_top_share": float(np.median(top_share[bands == b])),
                "median_participation": float(np.median(participation[bands == b])),
                "median_noise_ratio": float(
                    np.median(noise[(bands == b) & positive] / curvature[(bands == b) & positive])
                )
                if np.any((bands == b) & positive)
                else None,
            }
            for b, name in enumerate(BAND_NAMES)
            if np.any(bands == b)
        },
        "noise_law": theory.noise_law(eigenvalues, noise, weight_decay, resolution=resolution),
        "eigenvalue_resolution": resolution,
        "weight_decay": weight_decay,
        "noise_curvature_spearman": float(
            np.corrcoef(np.argsort(np.argsort(curvature[positive])), np.argsort(np.argsort(noise[positive])))[0, 1]
        ),
    }
    # "Fewer examples behind the flat directions" holds when the bootstrap interval of the difference excludes zero.
    summary["top_share_bottom_minus_top"] = median_difference(top_share[bands == 1], top_share[bands == 3])
    summary["few_examples_at_bottom"] = summary["top_share_bottom_minus_top"]["low"] > 0
    top_ratio = summary["bands"]["top"]["median_noise_ratio"]
    summary["c_within_factor_two_of_h_at_top"] = top_ratio is not None and 0.5 < top_ratio < 2
    arrays = {
        "eigenvalue": eigenvalues,
        "noise": noise,
        "top_share": top_share,
        "participation": participation,
        "cos_histograms": histograms,
        "cos_bins": COS_BINS,
        "band": bands,
        "band_names": np.array(BAND_NAMES, dtype="S"),
    }
    return write_results(out, arrays, summary, provenance)


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, run: Path, hessian: Path) -> Path:
    """The declared entry: the main run's end point and its Hessian."""
    point = load_point(cfg, run, cfg.train.iterations)
    x, y = point.data.train.x, point.data.train.y
    classes, chunk = len(CLASSES[cfg.data.name]), cfg.hessian.chunk_size
    return analyse(point.model, point.theta, x, y, point.weight_decay, hessian, classes, chunk, out, provenance)
