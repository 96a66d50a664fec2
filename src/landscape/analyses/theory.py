"""B1: the noisy-quadratic theory confronted with the measurements, and its Bayesian reading.

Per eigendirection of the final Hessian (curvature κ_i = λ_i, weight decay included) with the
measured per-example gradient variance c_i (A10), heavy-ball SGD at batch size B and rate η has a
stationary variance (``theory.stationary_variance``) and relaxation time. They are set against
the variances measured in each constant-LR phase and the settle iterations measured along the
main run (A5). The Bayesian reading: the temperature T_i = Var_i / (1/(Nκ_i)) per direction, and
the curvature κ* at which T = 1 for each phase's rate, from a power-law fit of the measured c_i(κ)
and, as a second curve, from Fisher ≈ Hessian (c = κ). The i.i.d. formulas hold for batches drawn
with replacement; the main runs shuffle once per epoch, so the correction for epoch-wise shuffling is
measured by simulation at log-spaced relaxation times and applied to each direction's prediction
(:func:`shuffled_prediction_factor`), giving a second, sampler-matched ratio measured/predicted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from landscape import theory
from landscape import trajectory as trajectory_mod
from landscape.config import Config
from landscape.registry import Analysis
from landscape.seeds import spread
from landscape.store import read_h5, read_summary, write_results

ANALYSIS = Analysis(
    question="B1",
    doc="stationary variances, settle times and temperatures of the noisy quadratic against the data",
    inputs={
        "run": "run:main",
        "trajectory": "result:trajectory",
        "example_grads": "result:example_grads",
        "spectrum": "result:spectrum",
        "curvature": "result:curvature",
        "phase_noise": "result:phase_noise",
    },
    config=("train", "data"),
    figure="predicted against measured stationary variance and settle iteration; temperature against λ",
    poster=True,
)

SETTLE_WIDTH = 3.0  # as in the trajectory analysis: settled within mean ± 3 sd
# The settle order's null: the noisy quadratic simulated with the measured spectrum, noise, start and schedule, dated
# by the trajectory's own criterion. Twenty paths give the null's Spearman to ~1/sqrt(20) of its spread; at most
# 4,096 directions (evenly spaced in rank) keep one path's iterates within ~200 MB on the `paper` run's length.
SETTLE_NULL_SEEDS = 20
SETTLE_NULL_DIRECTIONS = 4096
RATE_POINTS = 41  # learning rates at which the posterior-matching curvature κ*(η) is drawn
# Relaxation times (in epochs) at which the shuffling correction is simulated; between them it is interpolated in
# log time, beyond them held at the end value. Directions counted in a phase relax within half of it.
CORRECTION_EPOCHS = np.geomspace(0.03, 30.0, 9)


def shuffling_correction(
    lr: float, curvature: float, momentum: float, batch_size: int, n_examples: int, epochs: int = 400, seed: int = 0
) -> float:
    """Stationary variance with epoch-wise shuffling over that with replacement, simulated on one direction.

    Per-example gradients κx + z_n with fixed offsets z_n (mean 0, variance 1); both samplers run
    heavy ball on the same offsets, and the variance of x after a burn-in of a quarter is compared.
    ``curvature`` should relax well within the simulated ``epochs``.
    """
    rng = np.random.default_rng(seed)
    offsets = rng.standard_normal(n_examples)
    offsets -= offsets.mean()
    per_epoch = n_examples // batch_size
    variances = []
    for replacement in (True, False):
        x = v = 0.0
        samples = []
        for _ in range(epochs):
            order = rng.integers(0, n_examples, per_epoch * batch_size) if replacement else rng.permutation(n_examples)
            noise = offsets[order[: per_epoch * batch_size]].reshape(per_epoch, batch_size).mean(axis=1)
            for z in noise:
                v = momentum * v + curvature * x + z
                x -= lr * v
                samples.append(x)
        variances.append(np.var(samples[len(samples) // 4 :]))
    return float(variances[1] / variances[0])


def shuffled_prediction_factor(
    lr: float, curvature: np.ndarray, momentum: float, batch_size: int, n_examples: int
) -> np.ndarray:
    """Per direction, the stationary variance with epoch-wise shuffling over that with replacement.

    :func:`shuffling_correction` is simulated at the relaxation times ``CORRECTION_EPOCHS`` (heavy ball:
    τ ≈ (1 − β)/(ηκ) iterations) and interpolated in log τ to each curvature's relaxation time.
    """
    epoch = n_examples // batch_size
    grid = np.array(
        [
            shuffling_correction(lr, (1 - momentum) / (lr * e * epoch), momentum, batch_size, n_examples)
            for e in CORRECTION_EPOCHS
        ]
    )
    relaxation = (1 - momentum) / (lr * np.asarray(curvature) * epoch)
    return np.interp(
        np.log(np.clip(relaxation, CORRECTION_EPOCHS[0], CORRECTION_EPOCHS[-1])), np.log(CORRECTION_EPOCHS), grid
    )


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN: a quantity that does not exist (T never crosses 1) is stored as null."""
    return float(value) if np.isfinite(value) else None


def predicted_settle(
    lrs: np.ndarray, curvature: np.ndarray, start: np.ndarray, final_sd: np.ndarray, momentum: float
) -> np.ndarray:
    """The step from which the predicted mean |E x_t| stays within 3 predicted stationary sd of the last phase.

    "Stays", as the measured settle iteration (``landscape.trajectory.settle_iterations``): with momentum the mean
    oscillates and can leave the band after entering it. -1 if it is outside at the last step.
    """
    mean = np.stack([start, np.zeros_like(start)], -1)
    settle = np.zeros(len(curvature), dtype=int)
    cache: dict[float, np.ndarray] = {}
    for t, lr in enumerate(lrs):
        if lr not in cache:
            cache[lr] = theory.transition(lr, curvature, momentum, "heavy_ball")[0]
        settle[np.abs(mean[:, 0]) > SETTLE_WIDTH * final_sd] = t + 1
        mean = np.einsum("dij,dj->di", cache[lr], mean)
    return np.where(settle < len(lrs), settle, -1)


def settle_null(
    lrs: np.ndarray,
    curvature: np.ndarray,
    noise_var: np.ndarray,
    start: np.ndarray,
    momentum: float,
    seeds: int = SETTLE_NULL_SEEDS,
    directions: int = SETTLE_NULL_DIRECTIONS,
) -> dict[str, np.ndarray]:
    """Spearman(κ, settle iteration) and the settled share on the simulated noisy quadratic, one value per seed.

    The criterion is the trajectory's (:func:`landscape.trajectory.settle_iterations` over
    :func:`landscape.trajectory.settle_window`), so what it favours by construction is in the null too: the measured
    order says something about the network only where it differs from this one. ``noise_var`` is the gradient
    noise variance per step (c_i / B); directions beyond ``directions`` are thinned evenly in rank.
    """
    order = np.argsort(-curvature)
    chosen = order[np.unique(np.linspace(0, len(order) - 1, min(directions, len(order))).astype(int))]
    stationary, window = trajectory_mod.settle_window(lrs)
    spearman, settled_share = np.empty(seeds), np.empty(seeds)
    sharp = curvature[chosen] >= np.median(curvature[chosen])
    by_half = np.empty((seeds, 2))
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        path = theory.simulate_heavy_ball(
            lrs, curvature[chosen], np.sqrt(noise_var[chosen]), start[chosen], momentum, rng
        )
        settle = trajectory_mod.settle_iterations(path, stationary, window, SETTLE_WIDTH)
        settled = settle >= 0
        settled_share[seed] = settled.mean()
        by_half[seed] = settled[sharp].mean(), settled[~sharp].mean()
        spearman[seed] = (
            stats.spearmanr(curvature[chosen][settled], settle[settled]).statistic if settled.sum() >= 3 else np.nan
        )
    return {"spearman": spearman, "settled_share": settled_share, "by_half": by_half, "directions": chosen}


def phase_ratios(
    lr: float,
    curvature: np.ndarray,
    noise: np.ndarray,
    measured: np.ndarray,
    phase_length: int,
    batch_size: int,
    n_examples: int,
    momentum: float,
) -> dict[str, Any]:
    """Median measured/predicted stationary variance of one phase, i.i.d. and for epoch-wise shuffling.

    Over the directions with κ > 0 that relax within the first half of the phase (only those can have reached their
    stationary variance). Returns the ratios' medians, the relaxed share and the per-direction arrays.
    """
    positive = curvature > 0
    kappa, c = curvature[positive], noise[positive]
    predicted = theory.stationary_variance(lr, kappa, c / batch_size, momentum, "heavy_ball")
    ratio = measured[positive] / predicted
    relaxed = theory.relaxation_time(lr, kappa, momentum, "heavy_ball") < phase_length / 2
    finite = np.isfinite(ratio) & (ratio > 0) & relaxed
    shuffled = predicted * shuffled_prediction_factor(float(lr), kappa, momentum, batch_size, n_examples)
    shuffled_ratio = measured[positive] / shuffled
    return {
        "median_ratio": float(np.median(ratio[finite])) if finite.any() else None,
        "median_ratio_shuffled": float(np.median(shuffled_ratio[finite])) if finite.any() else None,
        "log_ratio_spread": float(np.std(np.log(ratio[finite]))) if finite.any() else None,
        # The medians rest on this many directions; the quartiles of the shuffled ratio give their spread.
        "compared": int(finite.sum()),
        "shuffled_quartiles": [float(q) for q in np.percentile(shuffled_ratio[finite], [25, 75])]
        if finite.any()
        else None,
        "relaxed_share": float(np.mean(relaxed)),
        "predicted": predicted,
        "shuffled": shuffled,
        "relaxed": relaxed,
    }


def own_basis_phases(
    trajectory_results: Path,
    phase_noise_results: Path,
    grads_results: Path,
    lrs: np.ndarray,
    batch_size: int,
    n_examples: int,
    momentum: float,
) -> dict[str, Any]:
    """Each phase predicted and measured in the eigenbasis of the Hessian inside its second half, where there is one.

    The curvatures and noise are that checkpoint's (:mod:`landscape.analyses.phase_noise`; the end point's are A10's),
    the measured variance A5's projection on that basis. A phase without a checkpoint in its second half gets None.
    """
    noise_summary = read_summary(phase_noise_results)
    bases, end = noise_summary["bases"], noise_summary["end"]
    lengths = [p.stop - p.start for p in trajectory_mod.long_phases(lrs)]
    out: dict[str, Any] = {}
    for k, label in bases.items():
        if label is None:
            out[k] = None
            continue
        source, prefix = (grads_results, "") if label == end else (phase_noise_results, f"{label}/")
        with read_h5(source, (f"{prefix}eigenvalue", f"{prefix}noise")) as fh:
            curvature, noise = fh[f"{prefix}eigenvalue"][:], fh[f"{prefix}noise"][:]
        with read_h5(trajectory_results, (f"{label}/phase_variance", f"{label}/phase_lr")) as fh:
            measured, lr = fh[f"{label}/phase_variance"][int(k)], float(fh[f"{label}/phase_lr"][int(k)])
        ratios = phase_ratios(lr, curvature, noise, measured, lengths[int(k)], batch_size, n_examples, momentum)
        out[k] = {"label": label, **{key: v for key, v in ratios.items() if not isinstance(v, np.ndarray)}}
    return out


def scale_aware_variance(
    curvature_results: Path,
    eigenvalues: np.ndarray,
    measured: np.ndarray,
    noise: np.ndarray,
    lr: float,
    phase_length: int,
    batch_size: int,
    momentum: float,
) -> dict[str, Any]:
    """The last phase's measured/predicted variance along A1's directions with κ = λ_i and with κ = c_i(h_SGD).

    ``c_i(h_SGD)`` is the second difference at the scale SGD explores (the curvature analysis); the
    comparison keeps the directions where both curvatures are positive, resolved, and relax within
    the phase under either (so the two medians are over the same directions).
    """
    with read_h5(curvature_results, ("index", "curvature_at_sgd", "resolved")) as fh:
        index, effective = fh["index"][:], fh["curvature_at_sgd"][:]
    lam, var, c = eigenvalues[index], measured[index], noise[index]
    keep = (lam > 0) & (effective > 0) & (var > 0)
    for kappa in (lam, effective):
        keep &= theory.relaxation_time(lr, np.where(keep, kappa, 1.0), momentum, "heavy_ball") < phase_length / 2
    ratios = {}
    for name, kappa in (("eigenvalue", lam), ("effective", effective)):
        ratios[name] = np.full(len(index), np.nan)
        ratios[name][keep] = var[keep] / theory.stationary_variance(
            lr, kappa[keep], c[keep] / batch_size, momentum, "heavy_ball"
        )
    median = {name: float(np.median(r[keep])) if keep.any() else None for name, r in ratios.items()}
    closer = keep.any() and abs(np.log(median["effective"])) < abs(np.log(median["eigenvalue"]))
    return {
        "directions": int(keep.sum()),
        "effective_closer": bool(closer),
        "median_ratio_eigenvalue": median["eigenvalue"],
        "median_ratio_effective": median["effective"],
        "median_curvature_ratio": float(np.median(effective[keep] / lam[keep])) if keep.any() else None,
    }


def analyse(
    trajectory_results: Path,
    grads_results: Path,
    spectrum_results: Path,
    lrs: np.ndarray,
    batch_size: int,
    n_examples: int,
    momentum: float,
    out: Path,
    provenance: dict[str, Any],
    curvature_results: Path | None = None,
    phase_noise_results: Path | None = None,
) -> Path:
    """Confront stationary variances, settle iterations and stability with the theory; the Bayesian temperatures.

    With ``curvature_results`` the last phase is also predicted with the curvature at SGD's scale along A1's directions;
    with ``phase_noise_results`` each phase is also predicted in its own basis (:func:`own_basis_phases`).
    """
    trajectory = read_summary(trajectory_results)
    final = trajectory["final_label"]
    with read_h5(trajectory_results, (f"{final}/eigenvalue", f"{final}/phase_variance")) as fh:
        eigenvalues = fh[f"{final}/eigenvalue"][:]
        measured_variance, phase_lr = fh[f"{final}/phase_variance"][:], fh[f"{final}/phase_lr"][:]
        measured_settle, start = fh[f"{final}/settle"][:], fh[f"{final}/start"][:]
    with read_h5(grads_results, ("noise", "eigenvalue")) as fh:
        example_noise = fh["noise"][:]
    law = read_summary(grads_results)["noise_law"]  # A10's fit: the study's one noise law
    positive = eigenvalues > 0
    kappa, c = eigenvalues[positive], example_noise[positive]
    arrays: dict[str, Any] = {"eigenvalue": kappa, "phase_lr": phase_lr}
    phases = {}
    phase_lengths = [p.stop - p.start for p in trajectory_mod.long_phases(lrs)]
    for k, lr in enumerate(phase_lr):
        ratios = phase_ratios(
            lr, eigenvalues, example_noise, measured_variance[k], phase_lengths[k], batch_size, n_examples, momentum
        )
        relaxed = ratios["relaxed"]
        arrays[f"predicted_variance/{k}"] = ratios["predicted"]
        arrays[f"measured_variance/{k}"] = measured_variance[k][positive]
        arrays[f"predicted_variance_shuffled/{k}"] = ratios["shuffled"]
        arrays[f"temperature/{k}"] = theory.temperature(lr, kappa, c, batch_size, n_examples, momentum)
        phases[str(k)] = {
            "lr": float(lr),
            "median_ratio": ratios["median_ratio"],
            "median_ratio_shuffled": ratios["median_ratio_shuffled"],
            "log_ratio_spread": ratios["log_ratio_spread"],
            "compared": ratios["compared"],
            "shuffled_quartiles": ratios["shuffled_quartiles"],
            "kappa_star_fisher": theory.posterior_matching_curvature(lr, batch_size, n_examples, momentum),
            "kappa_star_measured": _finite_or_none(
                theory.posterior_matching_curvature_measured(
                    lr, kappa, (law["scale"], law["power"]), batch_size, n_examples, momentum
                )
            ),
            # Over the data's directions, as drawn (weight decay's barely move, so they are all cold).
            "hot_share": float(
                np.mean(arrays[f"temperature/{k}"][kappa > 2 * trajectory.get("weight_decay", 0.0)] > 1)
            ),
            "relaxed_share": ratios["relaxed_share"],
        }
        arrays[f"relaxed/{k}"] = relaxed
    rates = np.geomspace(phase_lr.min() / 10, phase_lr.max() * 10, RATE_POINTS)
    arrays["kappa_star/lr"] = rates
    arrays["kappa_star/fisher"] = [
        theory.posterior_matching_curvature(r, batch_size, n_examples, momentum) for r in rates
    ]
    arrays["kappa_star/measured"] = [
        theory.posterior_matching_curvature_measured(
            r, kappa, (law["scale"], law["power"]), batch_size, n_examples, momentum
        )
        for r in rates
    ]
    final_sd = np.sqrt(theory.stationary_variance(phase_lr[-1], kappa, c / batch_size, momentum, "heavy_ball"))
    settle_pred = predicted_settle(lrs, kappa, start[positive], final_sd, momentum)
    both = (settle_pred >= 0) & (measured_settle[positive] >= 0)
    arrays["settle/predicted"], arrays["settle/measured"] = settle_pred, measured_settle[positive]
    null = settle_null(lrs, kappa, c / batch_size, start[positive], momentum)
    arrays["settle_null/spearman"], arrays["settle_null/settled_share"] = null["spearman"], null["settled_share"]
    measured_spearman = trajectory["bases"][final]["settle_spearman"]
    null_spearman = null["spearman"][np.isfinite(null["spearman"])]
    null_spread = spread(null_spearman) if len(null_spearman) else None
    null_interval = (
        [null_spread["mean"] - 2 * null_spread["sd"], null_spread["mean"] + 2 * null_spread["sd"]]
        if len(null_spearman) > 1
        else None
    )
    sharp = kappa >= np.median(kappa)  # the sharper half of the positive spectrum, as the null's halves
    spectrum = read_summary(spectrum_results)
    stability = {
        label: p["stability_ratio"] for label, p in spectrum["points"].items() if label in spectrum["main_points"]
    }
    # Curvatures whose relaxation time at the last rate is 0.1 and 1 epoch (heavy ball: τ ≈ (1-β)/(ηκ)).
    epoch = n_examples // batch_size
    corrections = {
        f"{fraction:g}": shuffling_correction(
            float(phase_lr[-1]), (1 - momentum) / (phase_lr[-1] * fraction * epoch), momentum, batch_size, n_examples
        )
        for fraction in (0.1, 1.0)
    }
    last = phases[str(len(phase_lr) - 1)]
    summary = {
        "phases": phases,
        "batch_size": batch_size,
        "n_examples": n_examples,
        "settle_spearman": float(stats.spearmanr(settle_pred[both], measured_settle[positive][both]).statistic)
        if both.sum() >= 3
        else None,
        "settle_median_ratio": float(np.median((measured_settle[positive][both] + 1) / (settle_pred[both] + 1)))
        if both.any()
        else None,
        "settle_compared": int(both.sum()),
        # The measured settle order against the simulated quadratic's under the same criterion (mean ± 2 sd of seeds).
        "settle_null": {
            "spearman": null_spread,
            "interval": null_interval,
            "settled_share": spread(null["settled_share"]),
            "settled_share_sharp_half": spread(null["by_half"][:, 0]),
            "settled_share_flat_half": spread(null["by_half"][:, 1]),
            "seeds": len(null["spearman"]),
            "directions": len(null["directions"]),
        },
        "settle_measured_spearman": measured_spearman,
        "settle_measured_share": trajectory["bases"][final]["settled_share"],
        # The network's settled share in the sharp and the flat half of the positive spectrum, as the null's.
        "settle_measured_share_sharp_half": float(np.mean(measured_settle[positive][sharp] >= 0)),
        "settle_measured_share_flat_half": float(np.mean(measured_settle[positive][~sharp] >= 0)),
        "settle_order_as_quadratic": None
        if measured_spearman is None or null_interval is None
        else bool(null_interval[0] <= measured_spearman <= null_interval[1]),
        "stability": stability,
        "shuffling_correction": corrections,
        "correction_epochs": [float(CORRECTION_EPOCHS[0]), float(CORRECTION_EPOCHS[-1])],
        # Decided with the prediction for the runs' own sampler (epoch-wise shuffling).
        "last_phase_within_factor_two": last["median_ratio_shuffled"] is not None
        and 0.5 <= last["median_ratio_shuffled"] <= 2.0,
        "last_phase_hot_share": last["hot_share"],
        "noise_law": law,
        "weight_decay": trajectory.get("weight_decay", 0.0),
        "scale_aware": None
        if curvature_results is None
        else scale_aware_variance(
            curvature_results,
            eigenvalues,
            measured_variance[-1],
            example_noise,
            float(phase_lr[-1]),
            phase_lengths[-1],
            batch_size,
            momentum,
        ),
        "own_basis": None
        if phase_noise_results is None
        else own_basis_phases(
            trajectory_results, phase_noise_results, grads_results, lrs, batch_size, n_examples, momentum
        ),
    }
    return write_results(out, arrays, summary, provenance)


def run(
    cfg: Config,
    out: Path,
    provenance: dict[str, Any],
    *,
    run: Path,
    trajectory: Path,
    example_grads: Path,
    spectrum: Path,
    curvature: Path,
    phase_noise: Path,
) -> Path:
    """The declared entry: the main run's schedule and the measurements the theory is confronted with."""
    with read_h5(run, ("lr",)) as fh:
        lrs = fh["lr"][:]
    train = cfg.train
    return analyse(
        trajectory,
        example_grads,
        spectrum,
        lrs,
        train.batch_size,
        cfg.data.n_train,
        train.momentum,
        out,
        provenance,
        curvature,
        phase_noise,
    )
