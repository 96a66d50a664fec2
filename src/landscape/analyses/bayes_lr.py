"""B2: eigenvalue-dependent (Bayesian) learning rates, continued from the end point against plain SGD.

Per eigendirection of the final Hessian the rate r_i = 2B(1−β²)/(N(1+β)c_i + B(1−β)κ_i)
(:func:`landscape.theory.bayesian_learning_rates`, with the measured per-example noise c_i of A10)
makes heavy ball's stationary variance the posterior's, 1/(Nκ_i), for batches drawn with
replacement. Training continues from the end point for ``continue_iterations`` with these rates
(times each global scale in ``lr_scales``, then capped at the main run's initial rate: the flat
directions' posterior is far wider than the region where the quadratic model holds, and uncapped
rates of 10⁴–10⁵ there leave it within a few steps) and, as controls, with plain heavy ball at the run's
final rate and at the cap (when the cap binds for most directions, a Bayesian arm is mostly "SGD at the
cap rate", and this control separates that from the per-direction rates; a Bayesian arm is called better
only when it beats both controls). The study plan's prediction
for large networks, Bayesian rates in a few top directions only, is the arm ``bayes_top``: the Bayesian
rate (capped) in the top ``top_k`` eigendirections and the run's final rate in all others. Every arm sees
the same batches. Reported per arm and seed: the final metrics, and the
measured temperature — the variance of each direction over the second half against 1/(Nκ_i), for
the directions that relax within the first half at that arm's rates, and the ratio of that variance to the
noisy quadratic's i.i.d. prediction (plain SGD at the final rate is thereby the with-replacement control of B1's
last phase).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape import continuation, theory
from landscape.checkpoint import Point, load_point
from landscape.config import Config, ExperimentsConfig
from landscape.data import CLASSES, batch_order
from landscape.effective import measured_effective_curvature
from landscape.hessian import StoredHessian
from landscape.registry import Analysis
from landscape.seeds import LEVEL, compare, corrected, spread
from landscape.store import read_h5, write_results

ANALYSIS = Analysis(
    question="B2",
    doc="training continued with Bayesian per-direction learning rates against plain SGD",
    inputs={
        "run": "run:main",
        "hessian": "hessian:end",
        "example_grads": "result:example_grads",
        "curvature": "result:curvature",
    },
    config=("experiments", "train", "data"),
    figure="test loss and temperature of Bayesian learning rates by scale, against plain SGD",
)

METRICS = ("train_loss", "val_loss", "test_loss", "val_acc", "test_acc")


class ProjectedVariance:
    """Running variance of Vᵀθ over the iterates from ``first`` on (Welford), per eigendirection.

    The basis is used in the precision it comes in (no copy of a P x P matrix); the displacement θ − ``origin`` is
    projected, which leaves the variance unchanged and keeps its small fluctuations clear of a float32 basis's
    rounding of the large coordinates of θ itself. Moments are accumulated in float64.
    """

    def __init__(self, eigenvectors: np.ndarray | torch.Tensor, first: int, origin: torch.Tensor) -> None:
        self.basis = torch.as_tensor(eigenvectors, device=origin.device)
        self.origin = origin.to(self.basis.dtype)
        self.first, self.count = first, 0
        self.mean = torch.zeros(eigenvectors.shape[1], dtype=torch.float64, device=origin.device)
        self.m2 = torch.zeros_like(self.mean)

    def __call__(self, t: int, theta: torch.Tensor) -> None:
        """Add iterate ``t`` (skipped before ``first``)."""
        if t < self.first:
            return
        x = (self.basis.T @ (theta.to(self.basis.dtype) - self.origin)).double()
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)

    def variance(self) -> np.ndarray:
        """Sample variance per eigendirection of the iterates seen so far."""
        return (self.m2 / max(self.count - 1, 1)).cpu().numpy()


def arms(
    rates: np.ndarray, final_lr: float, max_rate: float, scales: tuple[float, ...], top_k: int = 0
) -> dict[str, np.ndarray | float]:
    """Per-direction rates (arrays, capped at ``max_rate``) of the Bayesian arms, plain rates of the SGD controls.

    ``rates`` follow the eigenvalues in ascending order, so the top ``top_k`` directions are the last entries.
    """
    plan: dict[str, np.ndarray | float] = {"sgd": final_lr, "sgd_at_cap": max_rate}
    plan.update({f"bayes_x{s:g}": np.minimum(s * rates, max_rate) for s in scales})
    if top_k > 0:
        top = np.full(len(rates), final_lr)
        top[-top_k:] = np.minimum(rates[-top_k:], max_rate)
        plan["bayes_top"] = top
    return plan


def _median_ratio_over_seeds(arrays: dict[str, Any], arm: str, seeds: int) -> dict[str, float] | None:
    """Mean and s.d. over seeds of each seed's median i.i.d. ratio; None if some seed resolves no direction."""
    ratios = [arrays[f"{arm}/iid_ratio_by_direction/{seed}"] for seed in range(seeds)]
    if not all(np.isfinite(r).any() for r in ratios):
        return None
    return spread([float(np.nanmedian(r)) for r in ratios])


def analyse(
    point: Point,
    hessian_file: Path,
    grads_results: Path,
    batch_size: int,
    momentum: float,
    max_rate: float,
    settings: ExperimentsConfig,
    out: Path,
    provenance: dict[str, Any],
    top_k: int = 0,
    effective_curvature: np.ndarray | None = None,
) -> Path:
    """Continue from the end point with Bayesian rates and with plain SGD, over ``seeds`` batch sequences.

    With ``effective_curvature`` (per direction, the curvature at SGD's scale) one more arm, ``bayes_effective``,
    uses it in place of λ_i in the Bayesian rate (scale one, capped like the others).
    """
    with StoredHessian(hessian_file) as stored:
        eigenvalues, eigenvectors = stored.eigenvalues, stored.eigenvectors()
    with read_h5(grads_results, ("noise", "eigenvalue")) as fh:
        noise = fh["noise"][:]
    n, T = point.data.train.y.numel(), settings.continue_iterations
    rates = theory.bayesian_learning_rates(eigenvalues, noise, batch_size, n, momentum)
    plan = arms(rates, point.lr, max_rate, settings.lr_scales, top_k)
    if effective_curvature is not None:
        effective_rates = theory.bayesian_learning_rates(effective_curvature, noise, batch_size, n, momentum)
        plan["bayes_effective"] = np.minimum(effective_rates, max_rate)
    positive = eigenvalues > 0
    posterior = 1 / (n * eigenvalues[positive])
    base = point.metrics(point.theta)
    arrays: dict[str, Any] = {"eigenvalue": eigenvalues, "bayes_rates": rates}
    results: dict[str, dict[str, list[float]]] = {
        arm: {m: [] for m in (*METRICS, "median_temperature", "relaxed_share")} for arm in plan
    }
    # P x P on the point's device once, not once per arm and seed, in the stored precision (shared with the array on a
    # CPU); a second copy in θ's dtype only where that differs (float64 storage, small P), never a float64 copy of a
    # float32 basis (issue 16's memory budget).
    stored_basis = torch.as_tensor(eigenvectors, device=point.theta.device)
    basis = stored_basis.to(point.theta.dtype)
    # Per arm, over the directions with κ > 0: relaxation times, and the noisy quadratic's i.i.d. stationary variance,
    # the exact prediction for batches drawn with replacement (at the run's final rate this arm is thereby the control
    # for B1's last phase, whose batches are shuffled epochs).
    positive_rates = {arm: np.broadcast_to(planned, eigenvalues.shape)[positive] for arm, planned in plan.items()}
    relaxation = {
        arm: theory.relaxation_time(r, eigenvalues[positive], momentum, "heavy_ball")
        for arm, r in positive_rates.items()
    }
    iid_variance = {
        arm: theory.stationary_variance(r, eigenvalues[positive], noise[positive] / batch_size, momentum, "heavy_ball")
        for arm, r in positive_rates.items()
    }
    for seed in range(settings.seeds):
        batches = batch_order(n, batch_size, T, seed=10_000 + seed, replacement=True)
        for arm, arm_rates in plan.items():
            tracker = ProjectedVariance(stored_basis, T // 2, point.theta)
            plain = np.isscalar(arm_rates)
            precondition = None if plain else continuation.eigen_preconditioner(basis, arm_rates, point.theta)
            lrs = np.full(T, arm_rates if plain else 1.0)
            final = continuation.heavy_ball(
                point, point.theta, batches, lrs, momentum, precondition, tracker, label=f"bayes_lr:{arm}:{seed}"
            )
            metrics = point.metrics(final)
            variance = tracker.variance()[positive]
            temperature = variance / posterior
            # Only directions that relax within the first half can have reached their stationary variance.
            relaxed = relaxation[arm] < T / 2
            # A variance over a window of T/2 iterations is biased low by about twice the correlation time over the
            # window: the i.i.d. ratio, a control for B1, keeps the directions whose relaxation time is a tenth of it.
            ratio = variance / iid_variance[arm]
            usable = (relaxation[arm] < T / 20) & np.isfinite(ratio) & (ratio > 0)
            arrays[f"{arm}/iid_ratio_by_direction/{seed}"] = np.where(usable, ratio, np.nan)
            for m in METRICS:
                results[arm][m].append(metrics[m])
            results[arm]["median_temperature"].append(
                float(np.median(temperature[relaxed])) if relaxed.any() else float("nan")
            )
            results[arm]["relaxed_share"].append(float(np.mean(relaxed)))
            arrays[f"{arm}/temperature/{seed}"] = temperature
    for arm, values in results.items():
        for m, v in values.items():
            arrays[f"{arm}/{m}"] = np.array(v)
    summaries = {arm: {m: spread(v) for m, v in values.items()} for arm, values in results.items()}
    bayes = [a for a in plan if a.startswith("bayes_x")]
    # Chosen on the validation set, so the test set decides the comparison it was not used to select.
    best = min(bayes, key=lambda a: summaries[a]["val_loss"]["mean"])

    # The best of the scales is chosen by its validation loss and any scale may be reported as differing, so comparisons
    # of scales are corrected for their number; the top-k and effective-curvature arms are single, declared controls.
    family = corrected(len(bayes))

    def gain(control: str, arm: str, level: float = LEVEL) -> dict[str, Any]:
        """Test-loss gain of ``arm`` over ``control``, decided by the paired t-interval over seeds (same batches)."""
        decided = compare(results[arm]["test_loss"], results[control]["test_loss"], level)
        return {
            "gain": -decided["difference"],
            "low": -decided["high"],
            "high": -decided["low"],
            "better": decided["lower"],
            "worse": decided["higher"],
        }

    by_scale = {arm: gain("sgd", arm, family) for arm in bayes}
    against_sgd = by_scale[best]
    against_cap = gain("sgd_at_cap", best, family)

    summary = {
        "base": base,
        "arms": summaries,
        "scales": list(settings.lr_scales),
        "best_bayes_arm": best,
        "scale_level": family,
        "best_bayes_scale": float(best.removeprefix("bayes_x")),
        "test_loss_gain": against_sgd["gain"],
        "best_against_sgd": against_sgd,
        # Every scale against SGD by the same rule: the best scale deciding nothing does not mean none differs.
        "worse_scales": [float(arm.removeprefix("bayes_x")) for arm in bayes if by_scale[arm]["worse"]],
        "better_scales": [float(arm.removeprefix("bayes_x")) for arm in bayes if by_scale[arm]["better"]],
        # Better only if it beats both controls: a gain over SGD at the final rate alone may be the higher rate's.
        "bayes_better": against_sgd["better"] and against_cap["better"],
        "bayes_worse": against_sgd["worse"],
        "iterations": T,
        "epochs": T * batch_size / n,
        "final_lr": point.lr,
        "rate_range": [float(rates.min()), float(rates.max())],
        "max_rate": max_rate,
        "capped_share": {arm: float(np.mean(plan[arm] >= max_rate)) for arm in bayes},
        # Per arm, the median i.i.d. ratio over the resolved directions, over the seeds (None where none resolve).
        "iid_ratio": {arm: _median_ratio_over_seeds(arrays, arm, settings.seeds) for arm in plan},
        "best_against_cap_control": against_cap,
        "top_k": top_k,
        "top_against_sgd": gain("sgd", "bayes_top") if "bayes_top" in plan else None,
        "effective_against_sgd": gain("sgd", "bayes_effective") if "bayes_effective" in plan else None,
        "effective_capped_share": float(np.mean(plan["bayes_effective"] >= max_rate))
        if "bayes_effective" in plan
        else None,
        "median_rate": float(np.median(rates)),
        "seeds": settings.seeds,
    }
    return write_results(out, arrays, summary, provenance)


def run(
    cfg: Config,
    out: Path,
    provenance: dict[str, Any],
    *,
    run: Path,
    hessian: Path,
    example_grads: Path,
    curvature: Path,
) -> Path:
    """The declared entry: Bayesian rates in the top C directions (C classes: the class-structure outliers)."""
    point = load_point(cfg, run, cfg.train.iterations)
    classes = len(CLASSES[cfg.data.name])
    with StoredHessian(hessian) as stored:
        kappa = measured_effective_curvature(stored.eigenvalues, classes, curvature)
    train = cfg.train
    return analyse(
        point,
        hessian,
        example_grads,
        train.batch_size,
        train.momentum,
        cfg.main_run.lr,
        cfg.experiments,
        out,
        provenance,
        top_k=classes,
        effective_curvature=kappa,
    )
