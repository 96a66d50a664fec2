"""A11: which eigenbands overfit — noise injected along low, high or all eigendirections, and tuned per band.

At the main run's end point θ (Hessian eigenpairs λ_i, v_i), Gaussian noise σ Σ_{i∈band} z_i v_i is
added along the data's directions (λ > 2·wd: those at or below are held by weight decay, mostly units
dead on every example, and left out) below their median eigenvalue (``low``), above it (``high``) or
all of them (``all``). Bands are compared at matched training-loss increase, not at equal σ: the
quadratic model predicts an increase ΔL = ½σ² Σ_{i∈band} λ_i, so equal σ would put far more loss on
the sharp half than on the flat one and confound "which band" with "how much noise". Each band's σ
follows from log-spaced predicted ΔL up to ``noise_max_increase``; because the model mispredicts the
rise beyond its range, the halves are also compared at the same *measured* training-loss rise
(:func:`at_measured_rise`), which decides the comparison. Two variants first move one half exactly to its
quadratic minimum (:func:`landscape.eigenbasis.newton_step`; its length is reported, since along flat
directions with a non-zero gradient that minimum can be far outside the region the model describes)
and add noise to the other. Then the noise level of each
of ``tune_bands`` log-spaced bands is tuned on the validation set by Adam on log σ_k, with the
reparameterised gradient of the expected validation loss, and the tuned noise is evaluated on the
test set (expected metrics over draws, and the ensemble of the draws). Every randomised part is
repeated over ``seeds``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from landscape import eigenbasis
from landscape.checkpoint import Point, ensemble, load_point, prediction_metrics
from landscape.config import Config, ExperimentsConfig
from landscape.hessian import StoredHessian
from landscape.params import data_loss_at
from landscape.registry import Analysis
from landscape.seeds import compare, corrected, spread
from landscape.store import write_results

ANALYSIS = Analysis(
    question="A11",
    doc="noise injected by eigenband (low, high, all; fit one half, perturb the other); levels tuned on validation",
    inputs={"run": "run:main", "hessian": "hessian:end"},
    config=("experiments",),
    figure="validation and test loss against the noise level per band and variant; tuned noise level per band",
    poster=True,
)

METRICS = ("train_loss", "val_loss", "test_loss", "val_acc", "test_acc")
# (band moved to its minimum first, band that gets the noise)
VARIANTS = {
    "low": (None, "low"),
    "high": (None, "high"),
    "all": (None, "all"),
    "fit_low_noise_high": ("low", "high"),
    "fit_high_noise_low": ("high", "low"),
}


def halves(eigenvalues: np.ndarray, weight_decay: float = 0.0) -> dict[str, np.ndarray]:
    """Masks of the data's directions below and above their median eigenvalue, and of all of them.

    The data's directions are those with λ > 2·``weight_decay`` (λ > 0 without weight decay).
    """
    data = eigenvalues > 2 * weight_decay if weight_decay > 0 else eigenvalues > 0
    median = np.median(eigenvalues[data])
    return {"low": data & (eigenvalues <= median), "high": eigenvalues > median, "all": data}


def at_measured_rise(train_rise: np.ndarray, values: np.ndarray, target: float) -> np.ndarray:
    """Per seed, ``values`` (seeds, levels) interpolated to where the measured training-loss rise reaches ``target``.

    The rise is made non-decreasing over the levels (noise draws can make it dip at tiny σ) before the linear
    interpolation; a seed that never reaches ``target`` gets its largest level's value.
    """
    return np.array([np.interp(target, np.maximum.accumulate(rise), value) for rise, value in zip(train_rise, values)])


def matched_sigmas(eigenvalues: np.ndarray, mask: np.ndarray, increases: np.ndarray) -> np.ndarray:
    r"""The σ at which noise on the ``mask`` directions raises the quadratic training loss by each of ``increases``.

    .. math:: \Delta L = \tfrac12 \sigma^2 \sum_{i \in \mathrm{mask}} \lambda_i \quad\Rightarrow\quad
              \sigma = \sqrt{2\,\Delta L / \textstyle\sum_{i\in\mathrm{mask}} \lambda_i}.
    """
    return np.sqrt(2 * np.asarray(increases) / eigenvalues[mask].sum())


def noise_sweep(
    point: Point,
    eigenvalues: np.ndarray,
    eigenvectors: np.ndarray,
    gradient: np.ndarray,
    increases: np.ndarray,
    settings: ExperimentsConfig,
) -> dict[str, np.ndarray]:
    """Metrics (seeds, increase) of every variant at matched predicted increases, each over ``noise_draws`` draws."""
    masks = halves(eigenvalues, point.weight_decay)
    theta = point.theta
    arrays: dict[str, np.ndarray] = {}
    for index, (variant, (fit, noisy)) in enumerate(
        tqdm(VARIANTS.items(), desc="noise:variants", unit="variant", dynamic_ncols=True, leave=False)
    ):
        start = theta.double().cpu().numpy()
        if fit is not None:
            start = start + eigenbasis.newton_step(gradient, eigenvalues, eigenvectors, masks[fit])
        sigmas = matched_sigmas(eigenvalues, masks[noisy], increases)
        arrays[f"sigma/{variant}"] = sigmas
        values = np.zeros((len(METRICS), settings.seeds, len(sigmas)))
        for seed in range(settings.seeds):
            rng = np.random.default_rng([seed, index])
            for j, sigma in enumerate(sigmas):
                draws = eigenbasis.band_noise(eigenvectors, masks[noisy], sigma, settings.noise_draws, rng)
                rows = [
                    point.metrics(torch.as_tensor(start + d, dtype=theta.dtype, device=theta.device)) for d in draws
                ]
                values[:, seed, j] = [np.mean([r[m] for r in rows]) for m in METRICS]
        for m, metric in enumerate(METRICS):
            arrays[f"{variant}/{metric}"] = values[m]
    return arrays


def tune_band_noise(
    point: Point,
    eigenvectors: np.ndarray,
    bands: list[np.ndarray],
    initial_sigma: float,
    settings: ExperimentsConfig,
    seed: int,
) -> np.ndarray:
    """Noise levels σ_k (per band) minimising the expected validation loss, by Adam on log σ_k."""
    theta = point.theta
    generator = torch.Generator(device="cpu").manual_seed(seed)
    # Each band is a run of consecutive eigenvalues, so its columns are a view of V (no copy on a CPU).
    bases = [
        torch.as_tensor(eigenvectors[:, eigenbasis.columns_of(m)], dtype=theta.dtype, device=theta.device)
        for m in bands
    ]
    log_sigma = torch.full(
        (len(bands),), float(np.log(initial_sigma)), dtype=theta.dtype, device=theta.device, requires_grad=True
    )
    optimiser = torch.optim.Adam([log_sigma], lr=settings.tune_lr)
    x, y = point.data.val.x, point.data.val.y
    for _ in tqdm(range(settings.tune_steps), desc=f"noise:tune:{seed}", unit="step", dynamic_ncols=True, leave=False):
        optimiser.zero_grad()
        loss = 0.0
        for _ in range(settings.tune_draws):
            directions = [
                b @ torch.randn(b.shape[1], generator=generator, dtype=theta.dtype).to(theta.device) for b in bases
            ]
            noise = sum(torch.exp(s) * d for s, d in zip(log_sigma, directions))
            loss = loss + data_loss_at(point.model, theta + noise, x, y) / settings.tune_draws
        loss.backward()
        optimiser.step()
    return torch.exp(log_sigma).detach().cpu().double().numpy()


def evaluate_tuned(
    point: Point,
    eigenvectors: np.ndarray,
    bands: list[np.ndarray],
    sigmas: np.ndarray,
    draws: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Expected metrics under the tuned noise, and those of the ensemble of its draws (``ensemble_`` prefix)."""
    theta = point.theta
    log_probs: dict[str, list[torch.Tensor]] = {"val": [], "test": []}
    for _ in range(draws):
        noise = sum(eigenbasis.band_noise(eigenvectors, m, s, 1, rng)[0] for m, s in zip(bands, sigmas))
        noisy = theta + torch.as_tensor(noise, dtype=theta.dtype, device=theta.device)
        for split in log_probs:
            log_probs[split].append(point.log_probabilities(noisy, split))
    rows = [prediction_metrics({s: lp[k] for s, lp in log_probs.items()}, point.data) for k in range(draws)]
    expected = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
    averaged = prediction_metrics({s: ensemble(lp) for s, lp in log_probs.items()}, point.data)
    return expected | {f"ensemble_{k}": v for k, v in averaged.items()}


def analyse(
    point: Point, hessian_file: Path, settings: ExperimentsConfig, out: Path, provenance: dict[str, Any]
) -> Path:
    """The noise sweep over bands and variants, and the per-band noise levels tuned on validation."""
    with StoredHessian(hessian_file) as stored:
        eigenvalues, eigenvectors, gradient = stored.eigenvalues, stored.eigenvectors(), stored.gradient
    base = point.metrics(point.theta)
    masks = halves(eigenvalues, point.weight_decay)
    positive = eigenvalues[masks["all"]]
    # σ spans three decades, as ΔL ∝ σ² spans six.
    increases = np.geomspace(settings.noise_max_increase * 1e-6, settings.noise_max_increase, settings.noise_scales)
    arrays: dict[str, Any] = {
        "predicted_increase": increases,
        **noise_sweep(point, eigenvalues, eigenvectors, gradient, increases, settings),
    }
    sigma_max = float(matched_sigmas(eigenvalues, masks["all"], increases[-1:])[0])
    newton = {
        fit: float(np.linalg.norm(eigenbasis.newton_step(gradient, eigenvalues, eigenvectors, masks[fit])))
        for fit in ("low", "high")
    }

    bands = eigenbasis.log_bands(eigenvalues, settings.tune_bands)
    band_eigenvalue = np.array([np.exp(np.mean(np.log(eigenvalues[m]))) for m in bands])
    tuned = np.array(
        [tune_band_noise(point, eigenvectors, bands, sigma_max / 10, settings, seed) for seed in range(settings.seeds)]
    )
    evaluations = [
        evaluate_tuned(point, eigenvectors, bands, tuned[s], settings.noise_draws, np.random.default_rng([s, 99]))
        for s in range(settings.seeds)
    ]
    posterior_sd = 1 / np.sqrt(point.data.train.y.numel() * band_eigenvalue)
    arrays.update(
        {
            "tuned/sigma": tuned,
            "tuned/band_eigenvalue": band_eigenvalue,
            "tuned/posterior_sd": posterior_sd,
            "tuned/band_size": np.array([m.sum() for m in bands]),
        }
    )

    improvement = {v: base["test_loss"] - arrays[f"{v}/test_loss"].mean(axis=0).min() for v in VARIANTS}
    best = max(improvement, key=improvement.get)
    best_level = int(np.argmin(arrays[f"{best}/test_loss"].mean(axis=0)))
    at_max = {v: {m: spread(arrays[f"{v}/{m}"][:, -1]) for m in METRICS} for v in VARIANTS}
    rise = {v: arrays[f"{v}/train_loss"] - base["train_loss"] for v in ("low", "high")}
    # The largest measured rise every seed of both halves reaches.
    common_rise = float(min(np.maximum.accumulate(r, axis=1)[:, -1].min() for r in rise.values()))
    at_rise = {v: at_measured_rise(rise[v], arrays[f"{v}/test_loss"], common_rise) for v in rise}
    high_against_low = compare(at_rise["high"], at_rise["low"])
    theta_norm = float(point.theta.double().norm())
    tuned_metrics = {key: spread(np.array([e[key] for e in evaluations])) for key in evaluations[0]}
    summary = {
        "base": base,
        "max_increase": settings.noise_max_increase,
        "sigma_at_max": {v: float(arrays[f"sigma/{v}"][-1]) for v in VARIANTS},
        "median_eigenvalue": float(np.median(positive)),
        "at_max_increase": at_max,
        "newton_step_norm": newton,
        "newton_step_relative": {fit: value / theta_norm for fit, value in newton.items()},
        "best_variant": best,
        "best_test_loss_improvement": float(improvement[best]),
        # The best of len(VARIANTS) x noise_scales arms is tested, so the interval is Bonferroni-corrected for them.
        "noise_helps": compare(
            arrays[f"{best}/test_loss"][:, best_level],
            base["test_loss"],
            level=corrected(len(VARIANTS) * settings.noise_scales),
        )["lower"],
        "arms_searched": len(VARIANTS) * settings.noise_scales,
        "high_hurts_more": at_max["high"]["test_loss"]["mean"] > at_max["low"]["test_loss"]["mean"],
        "weight_decay_excluded": int(np.sum((eigenvalues >= 0) & ~masks["all"])),
        "measured_rise": common_rise,
        "at_measured_rise": {v: spread(values) for v, values in at_rise.items()},
        # The decision: test loss at the same measured training-loss rise, high half against low, paired by seed.
        "high_hurts_more_at_measured_rise": high_against_low["higher"],
        "low_hurts_more_at_measured_rise": high_against_low["lower"],
        "high_minus_low_at_measured_rise": high_against_low,
        "tuned": tuned_metrics,
        "tuned_sigma_mean": tuned.mean(axis=0).tolist(),
        "tuned_sigma_sd": (tuned.std(axis=0, ddof=1) if settings.seeds > 1 else np.zeros(len(bands))).tolist(),
        "tuned_over_posterior": (tuned.mean(axis=0) / posterior_sd).tolist(),
        "band_eigenvalue": band_eigenvalue.tolist(),
        "tuned_test_gain": base["test_loss"] - tuned_metrics["test_loss"]["mean"],
        "tuned_ensemble_test_gain": base["test_loss"] - tuned_metrics["ensemble_test_loss"]["mean"],
        "seeds": settings.seeds,
    }
    return write_results(out, arrays, summary, provenance)


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, run: Path, hessian: Path) -> Path:
    """The declared entry: the main run's end point and its Hessian."""
    return analyse(load_point(cfg, run, cfg.train.iterations), hessian, cfg.experiments, out, provenance)
