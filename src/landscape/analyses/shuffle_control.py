"""B1's control for the shuffling correction: the same rate with batches drawn with replacement.

The runs draw their batches as shuffled epochs, and B1 corrects the noisy quadratic's i.i.d. stationary variance
for that sampler by a simulated factor (:func:`landscape.analyses.theory.shuffling_correction`). B2's plain-SGD
arms continue from the end point with batches drawn with replacement, where the i.i.d. prediction needs no
correction. Where such an arm's rate is a phase's rate, the two measure, direction by direction on the directions
both let relax, (a) the i.i.d. theory under its own sampler, and (b) the measured effect of shuffling (the phase's
variance over the control's) against the correction's prediction (the shuffled over the i.i.d. prediction).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landscape.config import Config
from landscape.findings import FACTOR
from landscape.registry import Analysis
from landscape.seeds import interval
from landscape.store import read_h5, read_summary, write_results

ANALYSIS = Analysis(
    question="B1",
    doc="the shuffling correction against continued training with batches drawn with replacement",
    inputs={"theory": "result:theory", "bayes_lr": "result:bayes_lr"},
    figure="variance over the i.i.d. prediction per direction, i.i.d. batches against shuffled epochs",
)

CONTROLS = ("sgd", "sgd_at_cap")  # B2's plain heavy-ball arms: the run's final rate and the cap (its initial rate)


def _control_rate(summary: dict[str, Any], arm: str) -> float:
    return summary["final_lr"] if arm == "sgd" else summary["max_rate"]


def compare_phase(
    control_ratios: np.ndarray, phase_measured: np.ndarray, phase_iid: np.ndarray, phase_shuffled: np.ndarray
) -> dict[str, Any]:
    r"""One control against one phase over the directions both resolve.

    Args:
        control_ratios: seeds × directions, the control's variance over the i.i.d. prediction (NaN: not relaxed).
        phase_measured: the phase's measured variance per direction (NaN or ≤ 0 where it did not relax).
        phase_iid, phase_shuffled: the phase's i.i.d. and shuffled predictions.

    The measured shuffling factor per direction is :math:`v_\mathrm{phase}/v_\mathrm{control}
    = (v_\mathrm{phase}/p_\mathrm{iid}) / r_\mathrm{control}`; the correction predicts
    :math:`p_\mathrm{shuffled}/p_\mathrm{iid}`. Medians over the common directions, spread over seeds.
    """
    common = np.all(np.isfinite(control_ratios), axis=0) & np.isfinite(phase_measured) & (phase_measured > 0)
    if not common.any():
        return {"directions": 0}
    phase_ratio = phase_measured[common] / phase_iid[common]
    measured_factor = phase_ratio[None, :] / control_ratios[:, common]
    predicted_factor = phase_shuffled[common] / phase_iid[common]
    per_seed = np.median(measured_factor, axis=1)
    predicted = float(np.median(predicted_factor))
    measured = interval(per_seed)
    decided = measured["n"] > 1
    return {
        "directions": int(common.sum()),
        "control_iid_ratio": interval(np.median(control_ratios[:, common], axis=1)),
        "phase_iid_ratio": float(np.median(phase_ratio)),
        "phase_shuffled_ratio": float(np.median(phase_measured[common] / phase_shuffled[common])),
        "measured_shuffle_factor": measured,
        "predicted_shuffle_factor": predicted,
        # > 1: the correction predicts more reduction by shuffling than the control measures.
        "correction_overshoot": float(np.median(per_seed) / predicted),
        # Decided over seeds: the measured factor's t-interval inside, or wholly outside, a factor of two of the
        # prediction; anything else is not established (with one seed, always).
        "correction_within": bool(
            decided and predicted / FACTOR <= measured["low"] <= measured["high"] <= FACTOR * predicted
        ),
        "correction_off": bool(
            decided and (measured["low"] > FACTOR * predicted or measured["high"] < predicted / FACTOR)
        ),
        "common": common,
    }


def analyse(theory_results: Path, bayes_results: Path, out: Path, provenance: dict[str, Any]) -> Path:
    """Every control whose rate is one of the main run's phases, compared with that phase."""
    bayes = read_summary(bayes_results)
    with read_h5(theory_results, ("phase_lr", "eigenvalue")) as fh:
        phase_lr, eigenvalues = fh["phase_lr"][:], fh["eigenvalue"][:]
        phases = {
            k: {
                key: fh[f"{key}/{k}"][:]
                for key in ("measured_variance", "predicted_variance", "predicted_variance_shuffled", "relaxed")
            }
            for k in range(len(phase_lr))
        }
    arrays: dict[str, Any] = {"eigenvalue": eigenvalues}
    controls: dict[str, Any] = {}
    required = [f"{arm}/iid_ratio_by_direction/{seed}" for arm in CONTROLS for seed in range(bayes["seeds"])]
    with read_h5(bayes_results, required) as fh:
        for arm in CONTROLS:
            rate = _control_rate(bayes, arm)
            matching = [k for k, lr in enumerate(phase_lr) if np.isclose(lr, rate, rtol=1e-9)]
            if not matching:
                continue
            k = matching[-1]
            ratios = np.stack([fh[f"{arm}/iid_ratio_by_direction/{seed}"][:] for seed in range(bayes["seeds"])])
            if ratios.shape[1] != len(eigenvalues):
                raise ValueError(
                    f"{bayes_results}: {arm}/iid_ratio_by_direction has {ratios.shape[1]} directions, "
                    f"{theory_results} has {len(eigenvalues)}: the two results come from different Hessians; "
                    "rebuild both (doit profile=...)"
                )
            phase = phases[k]
            measured = np.where(phase["relaxed"].astype(bool), phase["measured_variance"], np.nan)
            result = compare_phase(ratios, measured, phase["predicted_variance"], phase["predicted_variance_shuffled"])
            common = result.pop("common", None)
            controls[arm] = {"lr": float(rate), "phase": k, **result}
            arrays[f"{arm}/control_ratio"] = ratios
            if common is not None:
                arrays[f"{arm}/common"] = common
                arrays[f"{arm}/phase_ratio"] = phase["measured_variance"] / phase["predicted_variance"]
                arrays[f"{arm}/predicted_factor"] = phase["predicted_variance_shuffled"] / phase["predicted_variance"]
    summary = {"controls": controls, "seeds": bayes["seeds"], "iterations": bayes["iterations"]}
    return write_results(out, arrays, summary, provenance)


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, theory: Path, bayes_lr: Path) -> Path:
    """The declared entry: B1's phases and B2's plain-SGD continuations."""
    return analyse(theory, bayes_lr, out, provenance)
