r"""A1 at every scale: the effective curvature along eigendirections against the step size, and the scale SGD explores.

Along a unit eigenvector :math:`v_i` of the final Hessian the symmetric second difference

.. math:: c_i(h) = \frac{L(\theta + h v_i) - 2L(\theta) + L(\theta - h v_i)}{h^2}

equals :math:`\lambda_i` at every :math:`h` for a quadratic, and tends to :math:`\lambda_i` as
:math:`h \to 0` wherever :math:`L` is twice differentiable. A ReLU network is only piecewise smooth: its
units switch at finite distances from :math:`\theta`, so :math:`c_i(h)` leaves :math:`\lambda_i` once the
step reaches them. A line search over :math:`[-h, h]` sees the same: the least-squares curvature of a
quadratic through five points on that interval is reported beside :math:`c_i(h)`.

Both are measured in float64 for :math:`h` from ``SCALES[0]`` to ``SCALES[-1]`` times :math:`\|\theta\|`,
and compared with the scale SGD explores along :math:`v_i`: the standard deviation of the main run's
iterates projected on :math:`v_i` over the second half of its last constant-rate phase (the stationary
part, as in A5). The curvature that matters for SGD's stationary behaviour is :math:`c_i` at that scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from landscape.checkpoint import load_point
from landscape.config import Config
from landscape.hessian import StoredHessian
from landscape.linesearch import TOLERANCE, LineFunction, fit_polynomial, noise_floor, select_directions
from landscape.paths import point_label, point_of_label
from landscape.registry import Analysis
from landscape.store import read_h5, write_results
from landscape.trajectory import long_phases

ANALYSIS = Analysis(
    question="A1",
    doc="curvature at every scale: float64 second differences along eigendirections against the step, and SGD's scale",
    inputs={
        "run": "run:main",
        "hessian": "hessian:end",
        "linesearch": "result:linesearch",
        "contrast_runs": "runs:contrasts",
        "contrast_hessians": "hessians:contrasts",
    },
    config=("landscape", "hessian"),
    figure="effective curvature over λ against the step size and against the quadratic rise, by band",
)

# Step sizes in units of |θ|: 2^-20 ≈ 1e-6 to 1 in factors of two (21 scales). Below 1e-6 the float64
# round-off of a loss (~1e-14 relative) exceeds the second difference of the flattest directions measured.
# Factors of two let the line-search fit at h reuse the evaluations at h/2: two per scale instead of six.
SCALES = 2.0 ** np.arange(-20, 1)
# The line-search fit at scale h uses t ∈ {-h, -h/2, 0, h/2, h}.
FIT_FRACTIONS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])


def second_difference(
    line: LineFunction, theta: torch.Tensor, direction: torch.Tensor, steps: np.ndarray, loss0: float
) -> np.ndarray:
    """c(h) = (L(θ+hd) − 2L(θ) + L(θ−hd)) / h² for every h in ``steps``."""
    plus = line.along(theta, direction, steps)
    minus = line.along(theta, direction, -steps)
    return (plus - 2.0 * loss0 + minus) / steps**2


def fitted_curvatures(ts: np.ndarray, losses: np.ndarray) -> np.ndarray:
    """Twice the quadratic coefficient of a least-squares fit to each row of ``losses`` at the points ``ts`` (rows)."""
    return np.array([2.0 * fit_polynomial(t, loss, 2)[2] for t, loss in zip(ts, losses)])


def line_profiles(
    line: LineFunction, theta: torch.Tensor, direction: torch.Tensor, steps: np.ndarray, loss0: float
) -> tuple[np.ndarray, np.ndarray]:
    """Second differences at ``steps`` (each twice the one before) and the 5-point fits on [−h, h].

    Two losses per step suffice.

    The fit at h needs L(θ ± h/2), which is the previous step's pair; the first step's half is evaluated once more.
    """
    halves = np.concatenate([[steps[0] / 2], steps])
    plus = line.along(theta, direction, halves)
    minus = line.along(theta, direction, -halves)
    curvature = (plus[1:] - 2.0 * loss0 + minus[1:]) / steps**2
    ts = FIT_FRACTIONS[None, :] * steps[:, None]
    losses = np.stack([minus[1:], minus[:-1], np.full(len(steps), loss0), plus[:-1], plus[1:]], axis=1)
    return curvature, fitted_curvatures(ts, losses)


def resolution(floor: float, steps: np.ndarray | float) -> np.ndarray | float:
    """Worst-case round-off of c(h): three loss evaluations, each off by at most ``floor``, divided by h²."""
    return 4.0 * floor / steps**2


def quadratic_range(scales: np.ndarray, ratio: np.ndarray, resolved: np.ndarray, tolerance: float = TOLERANCE) -> float:
    """The largest scale up to which every resolved c(h)/λ is within ``tolerance`` of 1 (0 if the smallest is not)."""
    bad = resolved & (np.abs(ratio - 1.0) > tolerance)
    if not bad.any():
        return float(scales[resolved].max()) if resolved.any() else 0.0
    first_bad = int(np.argmax(bad))
    below = resolved[:first_bad]
    return float(scales[:first_bad][below].max()) if below.any() else 0.0


def sgd_spread(params: Any, lrs: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, slice]:
    """Standard deviation of the iterates along each column of ``vectors`` over the second half of the last long phase.

    ``params`` is the run's (T+1, P) iterate log (an HDF5 dataset or array); step t moves θ_t with rate
    ``lrs[t]``, so the phase's iterates are θ_{start+1} … θ_{stop}.
    """
    phase = long_phases(lrs)[-1]
    window = slice((phase.start + phase.stop) // 2 + 1, phase.stop + 1)
    coordinates = params[window].astype(np.float64) @ vectors
    return coordinates.std(axis=0), window


def profile(
    line: LineFunction,
    theta: torch.Tensor,
    vector: np.ndarray,
    eigenvalue: float,
    loss0: float,
    steps: np.ndarray,
    floor: float,
) -> dict[str, np.ndarray]:
    """Second differences, line-search fits and their round-off bound along one direction at the steps ``steps``."""
    direction = torch.as_tensor(vector, dtype=theta.dtype, device=theta.device)
    bound = resolution(floor, steps)
    curvature, fitted = line_profiles(line, theta, direction, steps, loss0)
    return {
        "second_difference": curvature,
        "fitted": fitted,
        "resolution": bound,
        "resolved": bound <= TOLERANCE * abs(eigenvalue),
    }


def band_summary(
    bands: np.ndarray,
    eigenvalues: np.ndarray,
    at_sgd: np.ndarray,
    sgd_scales: np.ndarray,
    ranges: np.ndarray,
    resolved_at_sgd: np.ndarray,
) -> dict[str, dict[str, Any]]:
    """Per band: medians of c(h_SGD)/λ, of the SGD scale and of the quadratic range (both in units of |θ|)."""
    out = {}
    for band in dict.fromkeys(bands.tolist()):
        mask = bands == band
        ratio = at_sgd[mask] / eigenvalues[mask]
        usable = resolved_at_sgd[mask]
        median_ratio = float(np.median(ratio[usable])) if usable.any() else None
        out[band] = {
            "count": int(mask.sum()),
            "resolved_at_sgd": int(usable.sum()),
            "median_ratio_at_sgd": median_ratio,
            "min_ratio_at_sgd": float(ratio[usable].min()) if usable.any() else None,
            "max_ratio_at_sgd": float(ratio[usable].max()) if usable.any() else None,
            "median_sgd_scale": float(np.median(sgd_scales[mask])),
            "median_abs_eigenvalue": float(np.median(np.abs(eigenvalues[mask]))),
            "median_curvature_at_sgd": float(np.median(at_sgd[mask])),
            "median_quadratic_range": float(np.median(ranges[mask])),
            "quadratic_at_sgd_scale": median_ratio is not None and abs(median_ratio - 1.0) <= TOLERANCE,
        }
    return out


def equal_step(
    ratio: np.ndarray, resolved: np.ndarray, bands: np.ndarray, first: str = "top", second: str = "bulk"
) -> dict[str, Any]:
    """Is band ``first`` closer to quadratic than ``second`` at the same step h, not at the same rise ΔL?

    At every step where at least half of each band's directions are resolved, the medians over each band of
    |c_i(h)/λ_i − 1| are compared. A step decides only where at least one band leaves ``TOLERANCE`` (where
    both stay within it, both are quadratic there: a tie, whatever the round-off says); ``first_closer``
    holds when the first band's median is the smaller at most of the deciding steps.
    """
    deviation = np.where(resolved, np.abs(ratio - 1.0), np.nan)
    masks = [bands == first, bands == second]
    common = np.all(
        [resolved[m].mean(axis=0) >= 0.5 if m.any() else np.zeros(ratio.shape[1], bool) for m in masks], axis=0
    )
    medians = np.array([np.nanmedian(deviation[m][:, common], axis=0) for m in masks]).reshape(2, -1)
    deciding = medians.max(axis=0) > TOLERANCE
    closer = int(np.sum(deciding & (medians[0] < medians[1])))
    return {
        "bands": [first, second],
        "steps": int(deciding.sum()),
        "tied_steps": int(np.sum(~deciding)),
        "first_closer_steps": closer,
        "first_closer": bool(closer > deciding.sum() / 2),
    }


def measure(
    line: LineFunction,
    theta: torch.Tensor,
    indices: np.ndarray,
    band_of: np.ndarray,
    hessian_file: Path,
    run_file: Path,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Curvature against scale along eigenvectors ``indices`` (bands ``band_of``) at ``theta``: arrays and summary."""
    with StoredHessian(hessian_file) as stored:
        eigenvalues = stored.eigenvalues[indices]
        vectors = stored.eigenvectors(indices).astype(np.float64)
    with read_h5(run_file, ("params", "lr")) as fh:
        sgd_scales, window = sgd_spread(fh["params"], fh["lr"][:], vectors)
    norm = float(theta.norm())
    steps = SCALES * norm
    loss0 = float(line.along(theta, torch.zeros_like(theta), np.zeros(1))[0])
    floor = noise_floor(loss0, torch.float64)
    curves = {k: np.empty((len(indices), len(steps))) for k in ("second_difference", "fitted", "resolution")}
    resolved = np.empty((len(indices), len(steps)), dtype=bool)
    at_sgd, resolved_at_sgd, ranges = np.empty(len(indices)), np.empty(len(indices), dtype=bool), np.empty(len(indices))
    for k in tqdm(range(len(indices)), desc="curvature", unit="direction", dynamic_ncols=True, leave=False):
        measured = profile(line, theta, vectors[:, k], float(eigenvalues[k]), loss0, steps, floor)
        for key in curves:
            curves[key][k] = measured[key]
        resolved[k] = measured["resolved"]
        ranges[k] = quadratic_range(SCALES, measured["second_difference"] / eigenvalues[k], measured["resolved"])
        direction = torch.as_tensor(vectors[:, k], dtype=theta.dtype, device=theta.device)
        at_sgd[k] = second_difference(line, theta, direction, sgd_scales[k : k + 1], loss0)[0]
        resolved_at_sgd[k] = resolution(floor, sgd_scales[k]) <= TOLERANCE * abs(eigenvalues[k])
    bands = band_summary(band_of, eigenvalues, at_sgd, sgd_scales / norm, ranges, resolved_at_sgd)
    arrays = {
        "scales": SCALES,
        "index": indices,
        "band": band_of.astype("S"),
        "eigenvalue": eigenvalues,
        "sgd_scale": sgd_scales / norm,
        "curvature_at_sgd": at_sgd,
        "resolved": resolved,
        "quadratic_range": ranges,
        **curves,
    }
    summary = {
        "theta_norm": norm,
        "loss0": loss0,
        "sgd_window": [window.start, window.stop - 1],
        "bands": bands,
        "equal_step": equal_step(curves["second_difference"] / eigenvalues[:, None], resolved, band_of),
        "bands_with_ratio": [
            band for band, b in bands.items() if band != "zero" and b["median_ratio_at_sgd"] is not None
        ],
    }
    return arrays, summary


def analyse(
    line: LineFunction,
    theta: torch.Tensor,
    hessian_file: Path,
    linesearch_results: Path,
    label: str,
    run_file: Path,
    out: Path,
    provenance: dict[str, Any],
    contrasts: dict[str, tuple[LineFunction, torch.Tensor, Path, Path]] | None = None,
) -> Path:
    """Curvature against scale along A1's eigendirections at ``label`` (the end point ``theta``, in float64).

    ``hessian_file`` holds the point's eigenvectors, ``run_file`` the run whose last phase gives the SGD
    scale. ``contrasts`` (label -> line, theta, Hessian file, run file) are end points of runs that differ
    only in their activation; each is measured along its own Hessian's directions, chosen as A1 chooses
    them (the same count per band), and stored under ``contrast/<label>/``.
    """
    with read_h5(linesearch_results, (f"{label}/index", f"{label}/band")) as fh:
        indices, band_of = fh[f"{label}/index"][:], fh[f"{label}/band"][:].astype(str)
    arrays, summary = measure(line, theta, indices, band_of, hessian_file, run_file)
    summary.update(
        label=label, tolerance=TOLERANCE, smallest_scale=float(SCALES[0]), largest_scale=float(SCALES[-1]), contrasts={}
    )
    for name, (contrast_line, contrast_theta, contrast_hessian, contrast_run) in (contrasts or {}).items():
        with StoredHessian(contrast_hessian) as stored:
            selected = select_directions(stored.eigenvalues, len(indices))
        contrast_indices = np.concatenate(list(selected.values()))
        contrast_bands = np.concatenate([[band] * len(members) for band, members in selected.items()])
        contrast_arrays, summary["contrasts"][name] = measure(
            contrast_line, contrast_theta, contrast_indices, contrast_bands, contrast_hessian, contrast_run
        )
        arrays.update({f"contrast/{name}/{key}": value for key, value in contrast_arrays.items()})
    return write_results(out, arrays, summary, provenance)


def run(
    cfg: Config,
    out: Path,
    provenance: dict[str, Any],
    *,
    run: Path,
    hessian: Path,
    linesearch: Path,
    contrast_runs: dict[str, Path],
    contrast_hessians: dict[str, Path],
) -> Path:
    """The declared entry: the main run's end point and the contrasts', in float64."""
    end = cfg.train.iterations

    def float64_line(run_file: Path) -> tuple[LineFunction, torch.Tensor]:
        point = load_point(cfg, run_file, end)
        line = point.line(cfg.hessian.chunk_size, cfg.landscape.points_per_pass, dtype=torch.float64)
        return line, point.theta.double()

    contrasts = {}
    for label, hessian_file in contrast_hessians.items():
        run_file = contrast_runs[point_of_label(label)[0]]
        contrasts[label] = (*float64_line(run_file), hessian_file, run_file)
    label = point_label(cfg.main_run.name, end)
    return analyse(*float64_line(run), hessian, linesearch, label, run, out, provenance, contrasts)
