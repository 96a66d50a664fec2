"""The paper's claims, decided by tests over the results: the abstract and conclusion state what holds.

Each finding is a named yes/no test over the analyses' summaries, with the numbers it rests on. The
templates choose their sentences by ``findings.<name>.holds`` and quote ``findings.<name>.evidence``,
so a claim in the abstract changes when the results do, and never by editing prose.
"""

from __future__ import annotations

from typing import Any

from landscape.seeds import t_quantile

# Two numbers agree "within a factor of two" when their ratio lies in [1/2, 2].
FACTOR = 2.0

# A Bayesian arm whose rates sit at the cap in at least this share of directions is, but for a tenth of them, plain
# SGD at the cap rate: the per-direction rates are then hardly tested, whatever the comparison decides.
MOSTLY_CAPPED = 0.9

# The interventions on the network the study plan predicts to help, each decided by the seeds rule.
INTERVENTIONS = ("sharp_noise_hurts_more", "bayes_lr_helps", "hmc_helps", "batch_one_helps")


def _finding(holds: bool, **evidence: Any) -> dict[str, Any]:
    return {"holds": bool(holds), "evidence": evidence}


def _measured_gain(schedule: dict[str, Any]) -> float | None:
    """The general rule's gain over the better momentum rule on the measured spectrum (None if either diverges)."""
    rules = schedule["rules"]
    momentum, general = rules[schedule["general_started_from"]], rules["general"]
    if momentum["measured_final_excess"] is None or general["measured_final_excess"] is None:
        return None
    return momentum["measured_final_excess"] / general["measured_final_excess"]


def trained_lower(schedule: dict[str, Any], training: dict[str, Any], arm: str, than: str) -> dict[str, Any]:
    """Whether B3's ``arm``, trained on the network for one seed, ends below ``than`` beyond the seeds' spread."""
    spread = training["main_over_seeds"]["objective"]
    trained = schedule.get("trained") or {}
    ends = [trained.get(name, {}).get("objective") for name in (arm, than)]
    difference = None if None in ends else ends[0] - ends[1]
    # The 95 % range of the difference of two independent runs of the study's schedule, t_{n-1}·√2·s (s: its final
    # objective's s.d. over its n seeds). Runs that share a start and a batch order vary less, so the rule errs
    # towards "not established".
    margin = t_quantile(spread["n"]) * 2**0.5 * spread["sd"] if spread["n"] > 1 else None
    return {
        "lower": difference is not None and margin is not None and difference < -margin,
        "difference": difference,
        "seed_sd": spread["sd"],
        "seeds": spread["n"],
        "margin": margin,
    }


def _within_factor(ratio: float | None) -> bool:
    return ratio is not None and 1 / FACTOR <= ratio <= FACTOR


def helped(evaluated: dict[str, dict[str, Any]]) -> list[str]:
    """The interventions (of :data:`INTERVENTIONS`, in that order) whose predicted help the rule establishes."""
    return [key for key in INTERVENTIONS if evaluated[key]["holds"]]


def evaluate(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every finding from the summaries in ``results`` (analysis name → summary)."""
    spectrum, trajectory, theory = results["spectrum"], results["trajectory"], results["theory"]
    schedule, noise, bayes, endgame = results["schedule"], results["noise"], results["bayes_lr"], results["endgame"]
    phases = [theory["phases"][str(k)] for k in range(len(theory["phases"]))]
    trained_schedule = trained_lower(schedule, results["training"], "optimised_schedule", "study")
    last_control = results["shuffle_control"]["controls"].get("sgd", {"directions": 0})
    correction_off = last_control.get("correction_off", False)
    last = phases[-1]
    last_within = _within_factor(last["median_ratio_shuffled"])
    return {
        "outliers_match_classes": _finding(
            spectrum["outliers_match_classes"], outliers=spectrum["final_outliers"], classes=spectrum["classes"]
        ),
        "below_edge_of_stability": _finding(
            not spectrum["any_beyond_stability"], max_ratio=spectrum["max_stability_ratio"]
        ),
        # Decided at equal steps h (curvature against scale); A1's line searches compare at equal rise ΔL, which probes
        # the bulk at much longer steps than the top, and are quoted beside it.
        "top_more_quadratic": _finding(
            results["curvature"]["equal_step"]["first_closer"],
            closer_steps=results["curvature"]["equal_step"]["first_closer_steps"],
            steps=results["curvature"]["equal_step"]["steps"],
            at_equal_rise=results["linesearch"]["top_more_quadratic_than_bulk"],
        ),
        # The curvature SGD feels along the top directions (at its own spread) is the eigenvalue within A1's tolerance.
        "top_curvature_is_eigenvalue_at_sgd_scale": _finding(
            results["curvature"]["bands"]["top"]["quadratic_at_sgd_scale"],
            ratio=results["curvature"]["bands"]["top"]["median_ratio_at_sgd"],
        ),
        "top_eigenvectors_stable": _finding(
            results["overlap"]["top_more_stable"],
            testable=results["overlap"]["stability_testable"],
            control=results["overlap"]["stability_control"],
            top_minus_control=results["overlap"]["top_minus_control"],
        ),
        "sharp_settle_first": _finding(trajectory["sharp_settle_first"]),
        # When each direction settles, predicted from the measured spectrum, noise and start against the measurement.
        "theory_predicts_settle": _finding(
            theory["settle_median_ratio"] is not None and _within_factor(theory["settle_median_ratio"]),
            median_ratio=theory["settle_median_ratio"],
            spearman=theory["settle_spearman"],
            compared=theory["settle_compared"],
        ),
        # The measured settle order against the noisy quadratic's under the same criterion (simulated; B1's null).
        "settle_order_as_quadratic": _finding(
            bool(theory["settle_order_as_quadratic"]),
            measured=theory["settle_measured_spearman"],
            null=(theory["settle_null"]["spearman"] or {}).get("mean"),
            interval=theory["settle_null"]["interval"],
            weaker=theory["settle_null"]["interval"] is not None
            and theory["settle_measured_spearman"] is not None
            and theory["settle_measured_spearman"] > theory["settle_null"]["interval"][1],
        ),
        # With the prediction for the sampler the runs use (epoch-wise shuffling); the i.i.d. ratio is quoted beside.
        # An agreement the shuffling control shows to rest on a wrong correction is not a prediction.
        "theory_predicts_variance": _finding(
            last_within and not correction_off,
            within_factor=last_within,
            correction_off=correction_off,
            median_ratio=last["median_ratio_shuffled"],
            within_rates=[p["lr"] for p in phases if _within_factor(p["median_ratio_shuffled"])],
            off_rates=[p["lr"] for p in phases if not _within_factor(p["median_ratio_shuffled"])],
            earlier_phases_off=sum(not _within_factor(p["median_ratio_shuffled"]) for p in phases[:-1]),
            iid_ratio=last["median_ratio"],
            compared=last.get("compared"),
            lr=last["lr"],
            relaxed_share=last["relaxed_share"],
        ),
        # The correction's predicted effect of shuffling against the one measured with B2's i.i.d. control at the
        # last phase's rate, on the directions both resolve.
        "shuffle_correction_measured": _finding(
            last_control.get("correction_within", False),
            **last_control,
        ),
        # Decided by the network: the optimised schedule trained from the same start and batches ends lower.
        "optimised_schedule_gains": _finding(
            trained_schedule["lower"], gain=schedule["gain_heavy_ball"], trained=trained_schedule
        ),
        "general_rule_transfers": _finding(
            schedule["general_gain_transfers"],
            model_gain=schedule["general_gain_over_best_momentum"],
            measured_gain=_measured_gain(schedule),
            trained=trained_lower(schedule, results["training"], "general_rule", "best_momentum_rule"),
        ),
        # Decided at the same measured training-loss rise, by the study's rule over seeds.
        "sharp_noise_hurts_more": _finding(
            noise["high_hurts_more_at_measured_rise"],
            flat_hurts_more=noise["low_hurts_more_at_measured_rise"],
            rise=noise["measured_rise"],
            high=noise["at_measured_rise"]["high"]["mean"],
            low=noise["at_measured_rise"]["low"]["mean"],
        ),
        "bayes_lr_helps": _finding(
            bayes["bayes_better"],
            worse=bayes["bayes_worse"],
            gain=bayes["test_loss_gain"],
            worse_scales=bayes["worse_scales"],
            better_scales=bayes["better_scales"],
            cap_differs=bayes["best_against_cap_control"]["better"] or bayes["best_against_cap_control"]["worse"],
            capped_share=bayes["capped_share"][bayes["best_bayes_arm"]],
            mostly_capped=bayes["capped_share"][bayes["best_bayes_arm"]] >= MOSTLY_CAPPED,
        ),
        # HMC helps as HMC only if its average beats the end point and, paired by seed, an average of random
        # perturbations of the end point at the same training-loss rise (which may help by averaging alone). Decided on
        # test loss; the accuracy is quoted beside it, since the study plan's prediction is about both.
        "hmc_helps": _finding(
            endgame["hmc_improves"] and endgame["hmc_against_random"]["lower"],
            lowers_loss=endgame["hmc_improves"],
            worse=endgame["hmc_worsens"],
            hmc=endgame["hmc_average"]["test_loss"]["mean"],
            base=endgame["base"]["test_loss"],
            hmc_acc=endgame["hmc_average"]["test_acc"]["mean"],
            base_acc=endgame["base"]["test_acc"],
            random=endgame["random_average"]["test_loss"]["mean"],
            random_acc=endgame["random_average"]["test_acc"]["mean"],
            beats_random=endgame["hmc_against_random"]["lower"],
            stationary=endgame["hmc_stationary"],
        ),
        # The study plan's prediction is for a rate lowered to almost nothing: the lowered arm decides it.
        "batch_one_helps": _finding(
            endgame["batch1_lowered_improves"],
            worse=endgame["batch1_lowered_worsens"],
            after=endgame["batch1_lowered"]["test_loss"]["mean"],
            at_run_temperature=endgame["batch1"]["test_loss"]["mean"],
            base=endgame["base"]["test_loss"],
        ),
    }
