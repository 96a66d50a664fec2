"""B4: two predictions at the end of training — a final epoch at batch size 1, and HMC from the end point.

(a) One epoch (N steps, batches of one drawn with replacement) of heavy ball from the end point at
the rate η_T/B, which keeps the run's last η/B (the noise temperature of the SDE limit) while each
step's noise is that of a single example; and the same epoch at ``LOWERED`` times that rate, the
study plan's "learning rate decreased to almost nothing", which lowers the temperature as well.
(b) HMC on the posterior exp(−N·L(θ)) of the training objective (the weight-decay term is the prior),
started at the end point, step size ``hmc_step_fraction`` of the leapfrog bound 2/√(N λ_max) from the
computed spectrum; the Bayesian model average of the kept states is set against the SGD solution. Each is
repeated over ``seeds``.

An HMC average can lower the test loss merely by averaging nearby models. Two controls say whether the posterior
matters: (c) the model average of as many isotropic Gaussian perturbations of the end point, scaled so that the
training loss rises as much as HMC's states measured (from the quadratic's σ² = 2ΔL / tr H_data, then rescaled on
the measured rise), paired with HMC by seed; (d) the model average of as many iterates of the main run's last
phase (second half), SGD's own samples. And whether the chains are stationary: the drift of the potential over the
kept states, in standard deviations (the difference of the means of their two halves over the s.d. of all of them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape import continuation, hmc
from landscape import trajectory as trajectory_mod
from landscape.checkpoint import Point, ensemble, load_point, prediction_metrics
from landscape.config import Config, ExperimentsConfig
from landscape.data import batch_order
from landscape.hessian import StoredHessian
from landscape.registry import Analysis
from landscape.seeds import compare, spread
from landscape.store import read_h5, write_results

ANALYSIS = Analysis(
    question="B4",
    doc="a final epoch at batch size 1, and HMC from the end point",
    inputs={"run": "run:main", "hessian": "hessian:end"},
    config=("experiments", "train"),
    figure="test loss and accuracy after the batch-size-1 epoch and of the HMC model average",
)

METRICS = ("train_loss", "val_loss", "test_loss", "val_acc", "test_acc")
CALIBRATION_STEPS = 2  # rescalings of the random control's σ to HMC's measured rise (cpu: within a few per cent)
DRIFT = 1.0  # the largest |potential_drift| of a chain called stationary
LOWERED = 0.1  # the lowered batch-1 epoch runs at a tenth of η_T/B: ten times colder than the run's end


def evaluate(point: Point, theta: torch.Tensor) -> tuple[dict[str, float], np.ndarray]:
    """``point.metrics(theta)`` and the cross-entropy on every test example, from one pass over each split."""
    log_probs = {s: point.log_probabilities(theta, s) for s in ("train", "val", "test")}
    test = log_probs["test"]
    losses = -test[torch.arange(len(test)), point.data.test.y.to(test.device)].cpu().numpy()
    return prediction_metrics(log_probs, point.data), losses


def batch_one_epoch(
    point: Point, lr: float, momentum: float, settings: ExperimentsConfig, label: str = "batch1"
) -> tuple[list[dict[str, float]], np.ndarray]:
    """Metrics after one epoch at batch size 1 and rate ``lr``, per seed, and per-example test losses (seed mean).

    Every rate sees the same batches, drawn with replacement from one seed per repetition.
    """
    n = point.data.train.y.numel()
    rows, losses = [], []
    for seed in range(settings.seeds):
        batches = batch_order(n, 1, n, seed=20_000 + seed, replacement=True)
        final = continuation.heavy_ball(
            point, point.theta, batches, np.full(n, lr), momentum, label=f"endgame:{label}:{seed}"
        )
        metrics, test_losses = evaluate(point, final)
        rows.append(metrics)
        losses.append(test_losses)
    return rows, np.mean(losses, axis=0)


def average_of(point: Point, thetas: list[torch.Tensor]) -> dict[str, float]:
    """Metrics of the model average (mean predictive probability) of the parameter vectors ``thetas``."""
    splits = ("train", "val", "test")
    return prediction_metrics(
        {s: ensemble([point.log_probabilities(t, s) for t in thetas]) for s in splits}, point.data
    )


def perturbation_scale(rise: float, data_trace: float) -> float:
    r"""σ for which isotropic noise raises the quadratic model of the data loss by ``rise`` (0 if either is not > 0).

    .. math:: \tfrac12\sigma^2 \operatorname{tr} H_{\mathrm{data}} = \Delta L
    """
    return float(np.sqrt(2 * rise / data_trace)) if rise > 0 and data_trace > 0 else 0.0


def matched_perturbations(
    point: Point, sigma: float, target: float, samples: int, seed: int, base: float
) -> tuple[dict[str, float], float, float]:
    """The model average of ``samples`` end points perturbed by N(0, σ²I) at the measured training-loss rise ``target``.

    ``base`` is the end point's own training loss, from which the rise is measured.

    ``sigma`` (the quadratic model's scale, :func:`perturbation_scale`) starts the search; with the noise draws fixed
    and antithetic, the mean rise grows about as σ², so ``CALIBRATION_STEPS`` rescalings σ ← σ (target / rise)^½
    bring the measured rise to the target. Returns the average's metrics, the states' mean rise and the σ used.
    """
    generator = torch.Generator().manual_seed(40_000 + seed)
    # Antithetic pairs (n, −n): the gradient's linear term cancels in the mean rise, which is then even in σ and
    # close to quadratic, so the rescaling converges; unpaired draws leave a term ∝ σ that can dominate at small σ.
    draws = [
        torch.randn(point.theta.shape, generator=generator, dtype=torch.float64) for _ in range((samples + 1) // 2)
    ]
    noise = [sign * n for n in draws for sign in (1.0, -1.0)][:samples]

    def states(scale: float) -> tuple[list[torch.Tensor], float]:
        thetas = [point.theta + (scale * n).to(point.theta.dtype) for n in noise]
        return thetas, float(np.mean([point.metrics(t, ("train",))["train_loss"] for t in thetas]) - base)

    thetas, rise = states(sigma)
    for _ in range(CALIBRATION_STEPS):
        if rise <= 0 or target <= 0:
            break
        sigma *= float(np.sqrt(target / rise))
        thetas, rise = states(sigma)
    return average_of(point, thetas), rise, sigma


def last_phase_iterates(run_file: Path, samples: int, dtype: torch.dtype) -> list[torch.Tensor]:
    """``samples`` evenly spaced iterates of the second half of the run's last constant-rate phase."""
    with read_h5(run_file, ("params", "lr")) as fh:
        half = trajectory_mod.stationary_half(trajectory_mod.phases(fh["lr"][:])[-1])
        steps = np.unique(np.linspace(half.start, half.stop - 1, samples).astype(int))
        return [torch.as_tensor(fh["params"][int(t)], dtype=dtype) for t in steps]


def potential_drift(potentials: np.ndarray) -> float:
    """(mean of the second half − mean of the first half) / s.d. of all: ~0 for a stationary chain."""
    first, second = np.array_split(np.asarray(potentials, dtype=np.float64), 2)
    spread_all = float(np.std(potentials))
    return float((second.mean() - first.mean()) / spread_all) if spread_all > 0 else 0.0


def hmc_chains(point: Point, lambda_max: float, settings: ExperimentsConfig) -> tuple[list[dict[str, Any]], float]:
    """Per seed: the model average's metrics, the mean single-state metrics, acceptance and ESS; and the step size."""
    n = point.data.train.y.numel()
    objective = point.objective(chunk_size=min(n, 1000))
    step_size = settings.hmc_step_fraction * 2 / np.sqrt(n * lambda_max)
    chains = []
    for seed in range(settings.seeds):
        chain = hmc.sample(
            lambda t: n * objective.loss(t),
            lambda t: n * objective.gradient(t).to(t.dtype),
            point.theta,
            step_size,
            settings.hmc_steps,
            settings.hmc_samples,
            settings.hmc_burn_in,
            seed=30_000 + seed,
            label=f"endgame:hmc:{seed}",
        )
        log_probs = {
            s: [point.log_probabilities(theta, s) for theta in chain.samples] for s in ("train", "val", "test")
        }
        single = [
            prediction_metrics({s: lp[k] for s, lp in log_probs.items()}, point.data) for k in range(len(chain.samples))
        ]
        chains.append(
            {
                "average": prediction_metrics({s: ensemble(lp) for s, lp in log_probs.items()}, point.data),
                "single": {m: float(np.mean([r[m] for r in single])) for m in single[0]},
                "acceptance": chain.acceptance,
                "ess": hmc.effective_sample_size(chain.potentials[settings.hmc_burn_in :]),
                "drift": potential_drift(chain.potentials[settings.hmc_burn_in :]),
                "potentials": chain.potentials,
                "distance": float((chain.samples[-1] - point.theta).double().norm()),
            }
        )
    return chains, float(step_size)


def analyse(
    point: Point,
    hessian_file: Path,
    batch_size: int,
    momentum: float,
    settings: ExperimentsConfig,
    out: Path,
    provenance: dict[str, Any],
    run_file: Path | None = None,
) -> Path:
    """Both predictions, each over ``seeds``, and HMC's controls (the iterate average needs ``run_file``)."""
    with StoredHessian(hessian_file) as stored:
        lambda_max = float(stored.eigenvalues[-1])
        data_trace = float(stored.eigenvalues.sum()) - point.weight_decay * len(stored.eigenvalues)
    base, base_losses = evaluate(point, point.theta)
    epoch, epoch_losses = batch_one_epoch(point, point.lr / batch_size, momentum, settings)
    lowered, lowered_losses = batch_one_epoch(
        point, LOWERED * point.lr / batch_size, momentum, settings, label="batch1_lowered"
    )
    chains, step_size = hmc_chains(point, lambda_max, settings)
    arrays: dict[str, Any] = {f"batch1/{m}": np.array([r[m] for r in epoch]) for m in METRICS}
    arrays.update({f"batch1_lowered/{m}": np.array([r[m] for r in lowered]) for m in METRICS})
    for m in METRICS:
        arrays[f"hmc_average/{m}"] = np.array([c["average"][m] for c in chains])
        arrays[f"hmc_single/{m}"] = np.array([c["single"][m] for c in chains])
    for seed, c in enumerate(chains):
        arrays[f"hmc_potential/{seed}"] = c["potentials"]
    # Control (c): random perturbations at HMC's measured training-loss rise, one ensemble per seed (paired).
    hmc_rise = float(np.mean(arrays["hmc_single/train_loss"])) - base["train_loss"]
    start = perturbation_scale(hmc_rise, data_trace)
    perturbed = [
        matched_perturbations(point, start, hmc_rise, settings.hmc_samples, seed, base["train_loss"])
        for seed in range(settings.seeds)
    ]
    for m in METRICS:
        arrays[f"random_average/{m}"] = np.array([r[0][m] for r in perturbed])
    iterates = (
        average_of(point, last_phase_iterates(run_file, settings.hmc_samples, point.theta.dtype))
        if run_file is not None
        else None
    )
    batch1 = {m: spread(arrays[f"batch1/{m}"]) for m in METRICS}
    batch1_lowered = {m: spread(arrays[f"batch1_lowered/{m}"]) for m in METRICS}
    average = {m: spread(arrays[f"hmc_average/{m}"]) for m in METRICS}
    single = {m: spread(arrays[f"hmc_single/{m}"]) for m in METRICS}

    # The study's decision rule: an arm improves (worsens) when its t-interval over seeds lies wholly below (above)
    # the end point's test loss.
    decided = {
        arm: compare(arrays[f"{arm}/test_loss"], base["test_loss"])
        for arm in ("batch1", "batch1_lowered", "hmc_average")
    }
    # The seeds measure only the batch orders' randomness; the test set's own sampling error is measured by pairing
    # the two models on every test example. An epoch improves only if both intervals lie below zero.
    over_examples = {
        "batch1": compare(epoch_losses, base_losses),
        "batch1_lowered": compare(lowered_losses, base_losses),
    }

    summary = {
        "base": base,
        "batch1": batch1,
        "batch1_lr": point.lr / batch_size,
        "batch1_improves": decided["batch1"]["lower"] and over_examples["batch1"]["lower"],
        "batch1_over_seeds": decided["batch1"],
        "batch1_lowered_over_seeds": decided["batch1_lowered"],
        "batch1_over_examples": over_examples["batch1"],
        "batch1_lowered_over_examples": over_examples["batch1_lowered"],
        "batch1_lowered_improves_over_seeds": decided["batch1_lowered"]["lower"],
        "batch1_lowered": batch1_lowered,
        "batch1_lowered_lr": LOWERED * point.lr / batch_size,
        "batch1_lowered_factor": LOWERED,
        "batch1_lowered_improves": decided["batch1_lowered"]["lower"] and over_examples["batch1_lowered"]["lower"],
        "batch1_lowered_worsens": decided["batch1_lowered"]["higher"] and over_examples["batch1_lowered"]["higher"],
        "hmc_average": average,
        "hmc_single": single,
        "hmc_improves": decided["hmc_average"]["lower"],
        "hmc_worsens": decided["hmc_average"]["higher"],
        "hmc_step_size": step_size,
        "hmc_steps": settings.hmc_steps,
        "hmc_samples": settings.hmc_samples,
        "hmc_acceptance": spread([c["acceptance"] for c in chains]),
        "hmc_ess": spread([c["ess"] for c in chains]),
        "hmc_distance": spread([c["distance"] for c in chains]),
        "hmc_drift": spread([c["drift"] for c in chains]),
        # As the trajectory's drift test: halves more than one s.d. apart (a linear trend gives √3 ≈ 1.7) is a drift.
        "hmc_stationary": bool(max(abs(c["drift"]) for c in chains) <= DRIFT),
        "hmc_train_rise": hmc_rise,
        "random_sigma": spread([r[2] for r in perturbed]),
        "random_sigma_quadratic": start,
        "random_train_rise": spread([r[1] for r in perturbed]),
        "random_average": {m: spread(arrays[f"random_average/{m}"]) for m in METRICS},
        "hmc_against_random": compare(arrays["hmc_average/test_loss"], arrays["random_average/test_loss"]),
        "iterate_average": iterates,
        "lambda_max": lambda_max,
        "seeds": settings.seeds,
    }
    return write_results(out, arrays, summary, provenance)


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, run: Path, hessian: Path) -> Path:
    """The declared entry: the main run's end point and its Hessian."""
    point = load_point(cfg, run, cfg.train.iterations)
    train = cfg.train
    return analyse(point, hessian, train.batch_size, train.momentum, cfg.experiments, out, provenance, run)
