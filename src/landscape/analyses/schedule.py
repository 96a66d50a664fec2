"""B3: learning-rate schedules predicted from the measured spectrum, for heavy ball and Nesterov.

With the final Hessian's curvatures κ_i, the measured per-example gradient variances c_i (A10), the
main run's initial distances |x_i(0)| (A5), batch size B and momentum β, the expected excess loss
Σ ½κ_i E[x_i²] of any piecewise-constant schedule follows exactly from the moment recursion. It is
computed for the study's own schedule (and set against the measured objective), and a schedule of
``PIECES`` equal pieces is optimised for the final expected loss under the same iteration budget,
for heavy ball and for Nesterov.

The same question for update rules with constant coefficients: on a power-law model of the
measured spectrum (:func:`power_law_model`), the best constant SGD, heavy ball and Nesterov are
found, then a general linear rule over the last ``LAGS`` iterates (:mod:`landscape.linear_rules`) is
optimised from the best of them; each optimised rule is then evaluated on the measured spectrum.

All of that is prediction. To measure it, the optimised heavy-ball schedule, the best constant momentum
rule and the general rule are trained on the network from the main run's initialisation with the main
run's batches, for the same number of iterations, and their final objective and test metrics are set
against the main run's own (one seed: the same start and batches for every arm). Because λ_max rises
early in training far above its end-point value (B5's warm-up probes, :mod:`landscape.analyses.warmup`), every
schedule and rule is optimised among those stable at the largest λ_max measured along the way, not only at the end
point's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape import continuation, linear_rules, theory
from landscape.checkpoint import Point, load_point
from landscape.config import Config
from landscape.registry import Analysis
from landscape.store import read_h5, read_summary, write_results

ANALYSIS = Analysis(
    question="B3",
    doc="expected loss of the study's schedule, optimised schedules and optimised linear update rules",
    inputs={
        "run": "run:main",
        "trajectory": "result:trajectory",
        "example_grads": "result:example_grads",
        "warmup": "result:warmup",
    },
    config=("train",),
    figure="expected loss of the study's schedule against the measured one; optimised schedules and update rules",
    poster=True,
)

PIECES = 4
LAGS = 3  # one more than heavy ball and Nesterov, which the general rule contains
CURVE_POINTS = 30  # log-spaced iterations at which each constant rule's expected loss is reported
FIT_RANKS = 40  # log-spaced ranks for the spectrum's exponent, so each decade of rank weighs the same
# The power-law model is smooth in rank, so the optimiser sums it over this many log-spaced rank bins
# (one rank per bin at the top) instead of every rank: ~9x fewer directions per evaluation on `cpu`
# (1,826), the loss within 1e-3 relative (tests/test_schedule.py); reported losses use every rank.
QUADRATURE_BINS = 200


def power_law_model(
    eigenvalues: np.ndarray, noise_law: dict[str, float], start: np.ndarray, resolution: float = 0.0
) -> dict[str, Any]:
    """A power-law model of the measured noisy quadratic: λ_i = λ_1 i^(−p), c = s λ^q, x₀² = r λ^u.

    The spectrum's law passes through the measured top eigenvalue (so the model has the measured
    stability edge) and its exponent is fitted by least squares in log-log over log-spaced ranks; the
    noise law is the study's one fit (A10, :func:`landscape.theory.noise_law`); initial distances are a
    power law in λ. Both fits use only eigenvalues above ``resolution`` (the assembly's,
    :func:`landscape.spectra.eigenvalue_resolution`): below it an eigenvalue is the assembly's noise.
    The model still has one direction per eigenvalue.
    """
    order = np.argsort(-eigenvalues)
    kappa, x0 = eigenvalues[order], start[order]
    resolved = int(np.sum(kappa > resolution))
    ranks = np.unique(np.geomspace(1, resolved, FIT_RANKS).astype(int))
    log_r, log_ratio = np.log(ranks), np.log(kappa[ranks - 1] / kappa[0])
    exponent = float(-np.sum(log_r * log_ratio) / np.sum(log_r**2))
    noise_scale, noise_power = noise_law["scale"], noise_law["power"]
    start_scale, start_power = theory.power_law_fit(kappa[:resolved], x0[:resolved] ** 2)
    fitted = kappa[0] * np.arange(1, len(kappa) + 1, dtype=float) ** -exponent
    return {
        "eigenvalue": fitted,
        "noise": noise_scale * fitted**noise_power,
        "start": np.sqrt(start_scale * fitted**start_power),
        "laws": {
            "top_eigenvalue": float(kappa[0]),
            "spectrum_exponent": exponent,
            "noise_scale": noise_scale,
            "noise_power": noise_power,
            "start_scale": start_scale,
            "start_power": start_power,
            "resolution": resolution,
            "resolved_eigenvalues": resolved,
        },
    }


def rank_quadrature(count: int, bins: int = QUADRATURE_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Representative ranks (0-based) and weights of ``bins`` log-spaced bins covering ranks 1…``count``.

    Each bin is represented by its middle rank and weighted by its size, so Σ_i f(i) ≈ Σ_j w_j f(r_j)
    for any f smooth in log rank; the top bins hold one rank each and are exact.
    """
    edges = np.unique(np.round(np.geomspace(1, count + 1, bins + 1)).astype(int))
    return (edges[:-1] + edges[1:] - 1) // 2 - 1, np.diff(edges).astype(float)


def compare_rules(
    model: dict[str, Any],
    measured: tuple[np.ndarray, np.ndarray, np.ndarray],
    batch_size: int,
    iterations: int,
    initial_lr: float,
    stability_curvature: float,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Best constant SGD, heavy ball, Nesterov and general rule on the model; each also on the measured spectrum.

    Every rule is searched among those stable up to ``stability_curvature``, on the model summed by
    :func:`rank_quadrature`; its reported losses sum every rank. A rule's gradient steps η·b_k are
    reported beside its weights: along a direction only they and the iterate weights enter the
    recursion, so they are the comparable numbers across rules. Returns the summary, the arrays and the
    rules themselves (name -> LinearRule).
    """
    kappa, sigma2, x0 = model["eigenvalue"], model["noise"] / batch_size, model["start"]
    nodes, weights = rank_quadrature(len(kappa))
    on_nodes = (kappa[nodes], sigma2[nodes], x0[nodes])
    found = {
        method: linear_rules.optimise_method(
            *on_nodes, iterations, method, initial_lr, weights=weights, stability_curvature=stability_curvature
        )[0]
        for method in ("sgd", "heavy_ball", "nesterov")
    }
    model_loss = {name: linear_rules.expected_loss(rule, iterations, kappa, sigma2, x0) for name, rule in found.items()}
    best = min(("heavy_ball", "nesterov"), key=lambda m: model_loss[m])
    start = found[best]
    padding = (0.0,) * (LAGS - start.lags)
    start = linear_rules.LinearRule(start.lr, start.iterate_weights + padding, start.gradient_weights + padding)
    found["general"] = linear_rules.optimise_rule(
        *on_nodes, iterations, start, weights=weights, stability_curvature=stability_curvature
    )[0]
    model_loss["general"] = linear_rules.expected_loss(found["general"], iterations, kappa, sigma2, x0)
    checkpoints = np.unique(np.geomspace(1, iterations, CURVE_POINTS).astype(int))
    summary: dict[str, Any] = {}
    arrays: dict[str, Any] = {"rules/iterations": checkpoints}
    for name, rule in found.items():
        loss = model_loss[name]
        on_measured = linear_rules.expected_loss(rule, iterations, *measured)
        summary[name] = {
            "lr": rule.lr,
            "iterate_weights": list(rule.iterate_weights),
            "gradient_steps": [rule.lr * w for w in rule.gradient_weights],
            "model_final_excess": loss,
            "measured_final_excess": on_measured if np.isfinite(on_measured) else None,
        }
        arrays[f"rules/{name}/measured_curve"] = [
            linear_rules.expected_loss(rule, int(n), *measured) for n in checkpoints
        ]
    return {"rules": summary, "general_started_from": best}, arrays, found


def trained(
    point: Point,
    batches: np.ndarray,
    study_end: np.ndarray,
    schedule: np.ndarray,
    rules: dict[str, linear_rules.LinearRule],
    momentum: float,
) -> dict[str, dict[str, Any]]:
    """Final objective and test metrics of the study's run and of each arm trained from ``point`` on ``batches``.

    ``schedule`` is heavy ball's per-step rate; ``rules`` are constant rules. An arm whose iterate is not
    finite has diverged and gets no metrics.
    """
    ends = {
        "study": torch.as_tensor(study_end, dtype=point.theta.dtype, device=point.theta.device),
        "optimised_schedule": continuation.heavy_ball(
            point, point.theta, batches, schedule, momentum, label="schedule:trained"
        ),
    }
    ends.update(
        {
            name: continuation.linear_rule(point, point.theta, batches, rule, label=f"schedule:{name}")
            for name, rule in rules.items()
        }
    )
    out = {}
    for name, theta in ends.items():
        if not torch.isfinite(theta).all():
            out[name] = {"diverged": True, "objective": None, "test_loss": None, "test_acc": None}
            continue
        metrics = point.metrics(theta, ("train", "test"))
        penalty = 0.5 * point.weight_decay * float(theta.double().pow(2).sum())
        out[name] = {
            "diverged": False,
            "objective": metrics["train_loss"] + penalty,
            "test_loss": metrics["test_loss"],
            "test_acc": metrics["test_acc"],
        }
    return out


def study_prediction(
    lrs: np.ndarray, steps: np.ndarray, kappa: np.ndarray, sigma2: np.ndarray, x0: np.ndarray, momentum: float
) -> np.ndarray:
    """Predicted expected excess loss of the study's own schedule at its evaluation steps."""
    boundaries = np.unique(np.concatenate([steps, np.flatnonzero(np.diff(lrs)) + 1, [len(lrs)]]))
    boundaries = boundaries[boundaries > 0]
    lengths = np.diff(np.concatenate([[0], boundaries]))
    excess = theory.expected_loss_piecewise(lrs[boundaries - 1], lengths, kappa, sigma2, x0, momentum, "heavy_ball")
    predicted = np.concatenate([[float(np.sum(0.5 * kappa * x0**2))], excess])
    return predicted[np.searchsorted(np.concatenate([[0], boundaries]), steps)]


def optimised_schedules(
    kappa: np.ndarray,
    sigma2: np.ndarray,
    x0: np.ndarray,
    iterations: int,
    momentum: float,
    initial_lr: float,
    stability_curvature: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``PIECES``-piece schedules optimised for heavy ball and Nesterov, with their rates and stability edge.

    Only schedules stable up to ``stability_curvature`` are searched.
    """
    lengths = np.array([len(p) for p in np.array_split(np.arange(iterations), PIECES)])
    summary, arrays = {}, {}
    for method in ("heavy_ball", "nesterov"):
        schedule, best = theory.optimise_schedule(
            kappa, sigma2, x0, iterations, PIECES, momentum, method, initial_lr, stability_curvature
        )
        rates = schedule[np.cumsum(lengths) - 1]
        arrays[f"{method}/schedule"] = schedule
        arrays[f"{method}/curve"] = theory.expected_loss_piecewise(rates, lengths, kappa, sigma2, x0, momentum, method)
        edge = float(theory.stability_limit(1.0, momentum, method)) / stability_curvature
        summary[method] = {
            "final_excess": best,
            "rates": [float(r) for r in rates],
            "stability_edge_lr": edge,
            "at_stability_edge": bool(rates.min() > 0.99 * edge),
        }
    return summary, arrays


def peak_curvature(trajectory_results: Path, warmup_results: Path) -> dict[str, float]:
    """The largest λ_max measured on the main run's way.

    It is read from the run's checkpoint Hessians and from B5's probes of the first iterations at the main run's
    initial rate without warm-up (other batch orders, same start).

    B5's warm-up arm is left out: λ_max rises further at the warm-up's low rates (sharpening stops near the
    edge 2(1+β)/η), so its peak says nothing about what a schedule at the study's rates meets.
    """
    labels = read_summary(trajectory_results)["labels"]
    with read_h5(trajectory_results, tuple(f"{label}/eigenvalue" for label in labels)) as fh:
        checkpoints = max(float(fh[f"{label}/eigenvalue"][:].max()) for label in labels)
    with read_h5(warmup_results, ("none/lambda_max",)) as fh:
        early = float(np.max(fh["none/lambda_max"][:]))
    return {"checkpoints": checkpoints, "early_probes": early, "peak": max(checkpoints, early)}


def analyse(
    trajectory_results: Path,
    grads_results: Path,
    run_file: Path,
    batch_size: int,
    momentum: float,
    out: Path,
    provenance: dict[str, Any],
    initial_point: Point | None = None,
    warmup_results: Path | None = None,
) -> Path:
    """Predicted loss curve of the study's schedule, optimised schedules, and optimised constant update rules.

    With ``initial_point`` (the main run's initialisation) the optimised schedule and rules are also trained on the
    network. With ``warmup_results`` every schedule and rule is kept stable at the largest λ_max measured on
    the way (:func:`peak_curvature`); otherwise at the end point's.
    """
    trajectory_summary = read_summary(trajectory_results)
    final = trajectory_summary["final_label"]
    with read_h5(trajectory_results, (f"{final}/eigenvalue", f"{final}/start")) as fh:
        eigenvalues, start = fh[f"{final}/eigenvalue"][:], fh[f"{final}/start"][:]
    stability = (
        peak_curvature(trajectory_results, warmup_results)
        if warmup_results is not None
        else {"checkpoints": None, "early_probes": None, "peak": float(eigenvalues.max())}
    )
    with read_h5(grads_results, ("noise",)) as fh:
        noise = fh["noise"][:]
    with read_h5(run_file, ("lr", "eval/step", "eval/objective", "batch_indices", "params")) as fh:
        lrs, steps, objective = fh["lr"][:], fh["eval/step"][:], fh["eval/objective"][:]
        batches, study_end = fh["batch_indices"][:].astype(np.int64), fh["params"][-1]
    positive = eigenvalues > 0
    kappa, sigma2, x0 = eigenvalues[positive], noise[positive] / batch_size, start[positive]
    at_eval = study_prediction(lrs, steps, kappa, sigma2, x0, momentum)
    arrays: dict[str, Any] = {
        "study/steps": steps,
        "study/predicted": at_eval,
        "study/measured": objective,
        "study/lr": lrs,
    }
    methods, schedule_arrays = optimised_schedules(
        kappa, sigma2, x0, len(lrs), momentum, float(lrs[0]), stability["peak"]
    )
    resolution = trajectory_summary["bases"][final]["eigenvalue_resolution"]
    model = power_law_model(kappa, read_summary(grads_results)["noise_law"], x0, resolution)
    comparison, rule_arrays, rule_objects = compare_rules(
        model, (kappa, sigma2, x0), batch_size, len(lrs), float(lrs[0]), stability["peak"]
    )
    arrays.update(schedule_arrays | rule_arrays)
    arrays["model/eigenvalue"], arrays["measured/eigenvalue"] = model["eigenvalue"], np.sort(kappa)[::-1]
    study_final = float(at_eval[-1])
    log_measured = np.log(objective - objective.min() + 1e-12)
    rules = comparison["rules"]
    best_momentum = rules[comparison["general_started_from"]]
    summary = {
        "study_final_excess": study_final,
        "study_iterations": len(lrs),
        "methods": methods,
        "gain_heavy_ball": study_final / methods["heavy_ball"]["final_excess"],
        "gain_nesterov": study_final / methods["nesterov"]["final_excess"],
        "nesterov_better": methods["nesterov"]["final_excess"] < methods["heavy_ball"]["final_excess"],
        "curve_correlation": float(np.corrcoef(np.log(at_eval[:-1]), log_measured[:-1])[0, 1]),
        "pieces": PIECES,
        "stability_curvature": stability,
        "optimised_decreasing": bool(
            np.all(np.diff(methods["heavy_ball"]["rates"]) <= 0) and np.any(np.diff(methods["heavy_ball"]["rates"]) < 0)
        ),
        "power_law": model["laws"],
        **comparison,
        "lags": LAGS,
        "general_gain_over_best_momentum": best_momentum["model_final_excess"] / rules["general"]["model_final_excess"],
        "general_gain_transfers": (rules["general"]["measured_final_excess"] or np.inf)
        < (best_momentum["measured_final_excess"] or np.inf),
        "momentum_gain_over_sgd": rules["sgd"]["model_final_excess"] / best_momentum["model_final_excess"],
        "trained": None,
    }
    if initial_point is not None:
        best = comparison["general_started_from"]
        arms = trained(
            initial_point,
            batches,
            study_end,
            schedule_arrays["heavy_ball/schedule"],
            {"best_momentum_rule": rule_objects[best], "general_rule": rule_objects["general"]},
            momentum,
        )
        # Whether a trained arm ends lower is decided against the seeds' spread, in landscape.findings.trained_lower.
        summary["trained"] = arms
    return write_results(out, arrays, summary, provenance)


def run(
    cfg: Config,
    out: Path,
    provenance: dict[str, Any],
    *,
    run: Path,
    trajectory: Path,
    example_grads: Path,
    warmup: Path,
) -> Path:
    """The declared entry: the main run from initialisation, its trajectory, noise and loss floor."""
    train = cfg.train
    start = load_point(cfg, run, 0)
    return analyse(trajectory, example_grads, run, train.batch_size, train.momentum, out, provenance, start, warmup)
