"""The overfitting experiments' tools against closed forms and simulation: Newton steps, band noise, HMC, Bayes LRs."""

import numpy as np
import pytest
import torch

from landscape import eigenbasis, hmc, theory


def _quadratic(P: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    eigenvectors, _ = np.linalg.qr(rng.standard_normal((P, P)))
    eigenvalues = np.geomspace(1e-3, 10, P)
    H = eigenvectors @ np.diag(eigenvalues) @ eigenvectors.T
    minimum = rng.standard_normal(P)
    return H, eigenvalues, eigenvectors, minimum


def test_newton_step_lands_on_the_minimum_of_the_chosen_directions():
    H, eigenvalues, eigenvectors, minimum = _quadratic()
    theta = minimum + np.random.default_rng(1).standard_normal(12)
    gradient = H @ (theta - minimum)
    mask = eigenvalues > 0.1
    moved = theta + eigenbasis.newton_step(gradient, eigenvalues, eigenvectors, mask)
    offset = eigenvectors.T @ (moved - minimum)
    assert np.allclose(offset[mask], 0.0, atol=1e-12)  # chosen directions exactly at their minima
    assert np.allclose(offset[~mask], (eigenvectors.T @ (theta - minimum))[~mask], atol=1e-12)  # others untouched
    loss = lambda t: 0.5 * (t - minimum) @ H @ (t - minimum)  # noqa: E731
    assert loss(moved) - loss(theta) == pytest.approx(
        eigenbasis.newton_gain(gradient, eigenvalues, eigenvectors, mask), rel=1e-10
    )


def test_noise_along_one_eigenvector_raises_the_loss_by_half_lambda_sigma_squared():
    H, eigenvalues, eigenvectors, minimum = _quadratic()
    theta = minimum + 0.3
    loss = lambda t: 0.5 * np.einsum("...i,ij,...j->...", t - minimum, H, t - minimum)  # noqa: E731
    mask = np.zeros(12, dtype=bool)
    mask[7] = True
    noise = eigenbasis.band_noise(eigenvectors, mask, 0.2, 40_000, np.random.default_rng(2))
    increase = loss(theta + noise) - loss(theta)
    expected = 0.5 * eigenvalues[7] * 0.2**2
    # 40,000 draws: the mean's standard error is ~0.7% of the mean (chi-square with one dof, plus the linear term);
    # allow 4 se.
    assert increase.mean() == pytest.approx(expected, rel=4 * increase.std() / np.sqrt(40_000) / expected)


def test_log_bands_partition_the_positive_spectrum():
    eigenvalues = np.concatenate([[-0.1, 0.0], np.geomspace(1e-4, 1, 30)])
    bands = eigenbasis.log_bands(eigenvalues, 5)
    assert sum(b.sum() for b in bands) == 30 and not np.any(np.logical_and(*bands[:2]))


def test_hmc_recovers_a_gaussian_covariance():
    covariance = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    precision = torch.tensor(np.linalg.inv(covariance))
    chain = hmc.sample(
        lambda t: float(0.5 * t @ precision @ t),
        lambda t: precision @ t,
        torch.zeros(3, dtype=torch.float64),
        step_size=0.3,
        steps=10,
        samples=6000,
        burn_in=100,
        seed=0,
    )
    samples = torch.stack(chain.samples).numpy()
    # 6,000 nearly independent samples: entries of the sample covariance have standard error ≲ 0.04; allow 0.12.
    assert np.allclose(np.cov(samples.T), covariance, atol=0.12)
    assert 0.6 < chain.acceptance <= 1.0
    assert hmc.effective_sample_size(samples[:, 0]) > 1000


def test_effective_sample_size_of_an_ar1_trace():
    rng = np.random.default_rng(0)
    phi, n = 0.9, 200_000
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + rng.standard_normal()
    # ESS of AR(1) is n(1 − φ)/(1 + φ); 10% covers the estimator's error at this length.
    assert hmc.effective_sample_size(x) == pytest.approx(n * (1 - phi) / (1 + phi), rel=0.1)


def test_bayesian_learning_rates_make_the_stationary_variance_the_posterior():
    """Simulated heavy ball with per-direction rates, batches drawn with replacement from fixed example gradients."""
    rng = np.random.default_rng(0)
    N, B, beta, D = 400, 8, 0.9, 4
    curvature = np.array([2.0, 0.5, 0.1, 0.02])
    offsets = rng.standard_normal((N, D)) * np.sqrt(np.array([1.5, 0.4, 0.2, 0.01]))
    offsets -= offsets.mean(axis=0)
    c = offsets.var(axis=0)
    rates = theory.bayesian_learning_rates(curvature, c, B, N, beta)
    assert np.allclose(
        theory.stationary_variance(rates, curvature, c / B, beta, "heavy_ball"), 1 / (N * curvature), rtol=1e-10
    )
    x, v, samples = np.zeros(D), np.zeros(D), []
    for t in range(300_000):
        g = curvature * x + offsets[rng.integers(0, N, B)].mean(axis=0)
        v = beta * v + g
        x = x - rates * v
        if t > 20_000:
            samples.append(x.copy())
    # ~280,000 correlated samples (relaxation ≤ ~1,000 steps): the variance is within ~5%; allow 15%.
    assert np.var(samples, axis=0) == pytest.approx(1 / (N * curvature), rel=0.15)


def test_bayesian_arms_have_their_controls_and_a_top_k_arm():
    from landscape.analyses.bayes_lr import arms

    rates = np.array([50.0, 5.0, 0.5, 0.05, 0.005])  # ascending eigenvalues: the sharpest direction is last
    plan = arms(rates, final_lr=0.01, max_rate=0.1, scales=(1.0, 4.0), top_k=2)
    assert plan["sgd"] == 0.01 and plan["sgd_at_cap"] == 0.1
    np.testing.assert_array_equal(plan["bayes_x1"], [0.1, 0.1, 0.1, 0.05, 0.005])
    np.testing.assert_array_equal(plan["bayes_x4"], [0.1, 0.1, 0.1, 0.1, 0.02])
    np.testing.assert_array_equal(plan["bayes_top"], [0.01, 0.01, 0.01, 0.05, 0.005])  # Bayesian in the top 2 only
    assert "bayes_top" not in arms(rates, 0.01, 0.1, (1.0,))


def test_matched_noise_raises_a_quadratic_by_the_same_amount_on_either_band():
    """Monte Carlo on ½xᵀHx: noise at the matched σ raises it by the planted ΔL on the flat and the sharp half alike."""
    from landscape import eigenbasis
    from landscape.analyses.noise import halves, matched_sigmas

    rng = np.random.default_rng(0)
    eigenvalues = np.geomspace(1e-4, 10.0, 40)
    basis = np.linalg.qr(rng.standard_normal((40, 40)))[0]
    hessian = basis @ np.diag(eigenvalues) @ basis.T
    masks = halves(eigenvalues)
    for band in ("low", "high"):
        sigma = matched_sigmas(eigenvalues, masks[band], np.array([0.3]))[0]
        draws = eigenbasis.band_noise(basis, masks[band], sigma, 20000, rng)
        rise = 0.5 * np.einsum("ni,ij,nj->n", draws, hessian, draws)
        # 20,000 draws of a weighted chi-square: the mean is within 3 standard errors of 0.3.
        assert abs(rise.mean() - 0.3) < 3 * rise.std() / np.sqrt(len(rise)), (band, rise.mean())


def test_halves_leave_out_the_weight_decay_directions():
    from landscape.analyses.noise import halves

    eigenvalues = np.array([-0.1, 0.0, 1e-3, 2e-3, 0.01, 0.1, 1.0, 10.0])
    masks = halves(eigenvalues, weight_decay=1e-3)  # 0 ≤ λ ≤ 2e-3 is weight decay's
    assert masks["all"].tolist() == [False, False, False, False, True, True, True, True]
    assert masks["low"].tolist() == [False] * 4 + [True, True, False, False]
    assert masks["high"].tolist() == [False] * 6 + [True, True]
    assert halves(eigenvalues)["all"].sum() == 6  # without weight decay: every positive direction


def test_at_measured_rise_interpolates_each_seed_to_the_same_training_loss_rise():
    """Planted: test loss = 2 × train rise (seed 0) and 3 × (seed 1); at a common rise of 0.5 they read 1.0 and 1.5,
    although the seeds reach it at different noise levels; a dip at the smallest level does not break the order."""
    from landscape.analyses.noise import at_measured_rise

    rise = np.array([[0.01, 0.005, 0.2, 0.6, 1.0], [0.02, 0.1, 0.3, 0.5, 0.9]])
    values = np.array([2.0, 3.0])[:, None] * rise
    assert at_measured_rise(rise, values, 0.5) == pytest.approx([1.0, 1.5])
    assert at_measured_rise(rise, values, 5.0) == pytest.approx([2.0, 2.7])  # beyond reach: the largest level


def _toy_point():
    import torch

    from landscape.checkpoint import Point
    from landscape.data import Dataset, Split
    from landscape.models import ResNet
    from landscape.params import flatten

    torch.manual_seed(0)
    model = ResNet(1, 3, 2, 2, 1).double()
    split = Split(torch.randn(40, 1, 6, 6, dtype=torch.float64), torch.randint(0, 3, (40,)), np.arange(40))
    return Point(model, flatten(model), Dataset("toy", ("a", "b", "c"), split, split, split), 0.05, 1e-3)


def test_a_linear_rule_with_heavy_ball_weights_is_heavy_ball():
    """continuation.linear_rule with a = (1+β, −β), b = (1, 0) against continuation.heavy_ball at a constant rate."""
    import torch

    from landscape import continuation
    from landscape.linear_rules import LinearRule

    point = _toy_point()
    batches = np.random.default_rng(0).integers(0, 40, (30, 8))
    momentum, lr = 0.9, 0.05
    reference = continuation.heavy_ball(point, point.theta, batches, np.full(30, lr), momentum)
    rule = LinearRule.from_method(lr, momentum, "heavy_ball")
    got = continuation.linear_rule(point, point.theta, batches, rule)
    # The two forms round differently (velocity vs iterate differences): agreement to ~1e-12 of |θ| in float64.
    assert torch.allclose(got, reference, rtol=0, atol=1e-12 * float(reference.norm()))
    diverging = continuation.linear_rule(point, point.theta, batches, LinearRule.from_method(1e6, 0.0, "sgd"))
    assert not torch.isfinite(diverging).all()  # a rule that diverges stops and says so by a non-finite iterate


def test_trained_arms_report_their_metrics_and_divergence():
    """B3 on the network: the study's end measured as given, a heavy-ball schedule trains, a diverging rule says so."""
    from landscape.analyses.schedule import trained
    from landscape.linear_rules import LinearRule

    point = _toy_point()
    batches = np.random.default_rng(1).integers(0, 40, (20, 8))
    end = point.theta.numpy() * 0.5
    arms = trained(
        point,
        batches,
        end,
        np.full(20, 0.05),
        {"calm": LinearRule.from_method(0.05, 0.9, "heavy_ball"), "wild": LinearRule.from_method(1e6, 0.0, "sgd")},
        0.9,
    )
    metrics = point.metrics(point.theta.new_tensor(end), ("train", "test"))
    assert arms["study"]["test_loss"] == metrics["test_loss"]
    assert arms["study"]["objective"] == metrics["train_loss"] + 0.5 * 1e-3 * float((point.theta * 0.5).pow(2).sum())
    # A constant schedule and the heavy-ball rule at the same rate are the same training: same objective to rounding.
    assert arms["calm"]["objective"] == pytest.approx(arms["optimised_schedule"]["objective"], rel=1e-10)
    assert arms["wild"] == {"diverged": True, "objective": None, "test_loss": None, "test_acc": None}


def _toy_hessian_file(point, path):
    """The toy point's exact float64 Hessian (torch.func), in the schema of a stored Hessian."""
    import h5py

    from landscape.hessian import dense_hessian

    objective = point.objective(chunk_size=40)
    hessian = dense_hessian(objective, point.theta)
    eigenvalues, eigenvectors = np.linalg.eigh(hessian)
    with h5py.File(path, "w") as fh:
        fh["eigenvalues"], fh["eigenvectors"] = eigenvalues, eigenvectors
        fh["gradient"] = objective.gradient(point.theta).numpy()
        fh.attrs.update(loss=objective.loss(point.theta), asymmetry=0.0, assembly_seconds=1.0, dtype="float64")
    return path, eigenvalues


def test_effective_curvature_scales_each_band_by_its_ratio():
    from landscape.effective import effective_curvature

    eigenvalues = np.array([-0.3, 0.0, 0.01, 0.1, 1.0, 5.0, 9.0])
    scaled = effective_curvature(eigenvalues, classes=2, ratios={"top": 1.5, "bulk": 4.0})
    np.testing.assert_allclose(scaled, [-0.3, 0.0, 0.04, 0.4, 4.0, 7.5, 13.5])
    np.testing.assert_array_equal(effective_curvature(eigenvalues, 2, {"top": None, "bulk": None}), eigenvalues)


def test_threshold_moves_and_predictions_on_a_toy_network(tmp_path):
    """Exact Hessian of a toy ResNet: the unmoved threshold reproduces the end point; a curvature twice λ halves every
    Newton step exactly and its model predicts half the gain; the full Newton step's predicted change is −½Σg²/λ."""
    from landscape.analyses import threshold
    from landscape.store import read_h5, read_summary

    point = _toy_point()
    path, eigenvalues = _toy_hessian_file(point, tmp_path / "hessian.h5")
    threshold.analyse(point, path, 5, tmp_path / "threshold.h5", {"task": "t"}, effective_curvature=2 * eigenvalues)
    summary = read_summary(tmp_path / "threshold.h5")
    assert summary["base"] == point.metrics(point.theta) and summary["thresholds"] == 6
    with read_h5(tmp_path / "threshold.h5", ("step_norm", "effective/step_norm")) as fh:
        np.testing.assert_allclose(fh["effective/step_norm"][:], fh["step_norm"][:] / 2, rtol=1e-12)
        np.testing.assert_allclose(fh["effective/predicted_change"][:], fh["predicted_change"][:] / 2, rtol=1e-12)
        assert fh["moved"][-1] == 0 and fh["moved"][0] == np.sum(eigenvalues > 0)
    assert summary["effective"]["all_positive_step_norm"] == pytest.approx(summary["all_positive_step_norm"] / 2)


def test_loss_floor_fits_one_run_per_schedule_and_reports_the_seed_spread():
    """Planted: final losses on the line 0.05 + 2η over three schedules; the main schedule's seed replicas, far off
    the line, neither enter the fit nor move its intercept, and their spread is reported beside it."""
    from landscape.analyses.mysteries import loss_floor

    rates = {"main": 0.001, "main_seed1": 0.001, "const_a": 0.03, "const_b": 0.01}
    losses = {"main": 0.052, "main_seed1": 0.4, "const_a": 0.11, "const_b": 0.07}
    training = {
        "comparable_runs": ["main", "const_a", "const_b"],
        "model_runs": list(rates),
        "main_over_seeds": {"train_loss": {"mean": 0.226, "sd": 0.25, "n": 2}},
        "runs": {r: {"final_lr": rates[r], "final": {"train_loss": losses[r]}} for r in rates},
    }
    eigenvalues, noise = np.array([0.5, 2.0]), np.array([0.1, 0.4])
    floor = loss_floor(training, eigenvalues, noise, 32, 0.9)
    assert floor["runs"] == ["main", "const_a", "const_b"]
    assert floor["intercept"] == pytest.approx(0.05, abs=1e-12) and floor["slope"] == pytest.approx(2.0, abs=1e-9)
    assert floor["seed_spread"]["sd"] == 0.25
    # The planted points lie on the line (no residual), so the seed spread is the whole error of the intercept:
    # 0.25 × sqrt([(XᵀX)⁻¹]₀₀) for the three rates.
    design = np.stack([np.ones(3), [0.001, 0.03, 0.01]], 1)
    assert floor["intercept_se_with_seeds"] == pytest.approx(
        0.25 * np.sqrt(np.linalg.inv(design.T @ design)[0, 0]), rel=1e-3
    )


def test_profile_fits_report_every_form_tied_for_most_common(tmp_path):
    """Two directions quadratic and two quartic: both forms are the most common, not the first in dictionary order."""
    import h5py

    from landscape.analyses import profile_fits
    from landscape.store import read_summary

    ts, rng = np.linspace(-1, 1, 41), np.random.default_rng(0)
    profiles = [0.5 * ts**2, 2.0 * ts**2, 0.5 * ts**2 + 3.0 * ts**4, 1.0 * ts**2 + 5.0 * ts**4]
    profiles = [p + 1e-4 * rng.standard_normal(len(ts)) for p in profiles]
    with h5py.File(tmp_path / "ls.h5", "w") as fh:
        fh.attrs["summary"] = '{"labels": ["main@9"]}'
        for key, value in {
            "ts": np.tile(ts, (4, 1)),
            "losses": np.array(profiles),
            "eigenvalue": [1.0, 4.0, 1.0, 2.0],
            "band": np.array([b"top", b"top", b"bulk", b"bulk"]),
            "t_max": np.ones(4),
        }.items():
            fh[f"main@9/{key}"] = value
    profile_fits.analyse(tmp_path / "ls.h5", tmp_path / "pf.h5", {"task": "t"})
    summary = read_summary(tmp_path / "pf.h5")
    assert sorted(summary["most_common_forms"]) == ["quadratic", "quartic"]


def test_bayes_lr_arms_on_a_toy_network(tmp_path):
    """Every arm trains from the same end point on the same batches: with the effective curvature equal to λ the
    effective arm is the scale-one arm exactly; the Bayesian arm is called better only if it beats both controls."""
    import h5py

    from landscape.analyses import bayes_lr
    from landscape.config import ExperimentsConfig
    from landscape.store import read_summary

    point = _toy_point()
    path, eigenvalues = _toy_hessian_file(point, tmp_path / "hessian.h5")
    with h5py.File(tmp_path / "grads.h5", "w") as fh:
        fh["eigenvalue"], fh["noise"] = eigenvalues, np.abs(eigenvalues) + 1e-3
    settings = ExperimentsConfig(seeds=2, continue_iterations=12, lr_scales=(1.0, 4.0))
    bayes_lr.analyse(
        point,
        path,
        tmp_path / "grads.h5",
        8,
        0.9,
        0.05,
        settings,
        tmp_path / "b.h5",
        {"task": "t"},
        top_k=2,
        effective_curvature=eigenvalues.copy(),
    )
    summary = read_summary(tmp_path / "b.h5")
    arms = summary["arms"]
    assert set(arms) == {"sgd", "sgd_at_cap", "bayes_x1", "bayes_x4", "bayes_top", "bayes_effective"}
    assert arms["bayes_effective"]["test_loss"] == arms["bayes_x1"]["test_loss"]
    assert summary["bayes_better"] == (
        summary["best_against_sgd"]["better"] and summary["best_against_cap_control"]["better"]
    )
    assert summary["effective_capped_share"] == summary["capped_share"]["bayes_x1"]
    # Two scales: the best is chosen among them, so its comparisons are corrected for two.
    assert summary["scale_level"] == pytest.approx(1 - 0.05 / 2)
    assert summary["iid_ratio"]["sgd"] is None or set(summary["iid_ratio"]["sgd"]) == {"mean", "sd"}


def test_endgame_on_a_toy_network(tmp_path):
    """B4 with known answers: a vanishing HMC step accepts every proposal and averages the end point itself; an
    oversized one rejects nearly all; an epoch at rate zero leaves the end point's metrics exactly as they are."""
    import dataclasses

    from landscape.analyses import endgame
    from landscape.config import ExperimentsConfig
    from landscape.store import read_summary

    point = _toy_point()
    path, eigenvalues = _toy_hessian_file(point, tmp_path / "hessian.h5")
    settings = ExperimentsConfig(seeds=2, hmc_samples=4, hmc_burn_in=1, hmc_steps=5, hmc_step_fraction=1e-6)
    endgame.analyse(dataclasses.replace(point, lr=0.0), path, 8, 0.9, settings, tmp_path / "e.h5", {"task": "t"})
    summary = read_summary(tmp_path / "e.h5")
    assert summary["lambda_max"] == eigenvalues[-1]
    assert summary["batch1"]["test_loss"]["mean"] == summary["base"]["test_loss"]
    assert not summary["batch1_improves"] and not summary["batch1_lowered_worsens"]
    # Paired on every test example, an unchanged model differs by exactly zero: no verdict either way.
    assert summary["batch1_lowered_over_examples"]["difference"] == 0.0
    assert not summary["batch1_lowered_over_examples"]["lower"]
    assert summary["hmc_acceptance"]["mean"] == 1.0
    assert summary["hmc_average"]["test_loss"]["mean"] == pytest.approx(summary["base"]["test_loss"], rel=1e-6)
    assert summary["hmc_distance"]["mean"] < 1e-3
    # The random control at HMC's (vanishing) rise is the end point's own average; no run file, no iterate control.
    assert summary["random_average"]["test_loss"]["mean"] == pytest.approx(summary["base"]["test_loss"], rel=1e-5)
    assert summary["iterate_average"] is None and summary["hmc_stationary"] in (True, False)
    # Steps 20x the leapfrog stability bound 2/sqrt(N λ_max): the energy error explodes and proposals are rejected.
    endgame.analyse(point, path, 8, 0.9, dataclasses.replace(settings, hmc_step_fraction=20.0), tmp_path / "f.h5", {})
    assert read_summary(tmp_path / "f.h5")["hmc_acceptance"]["mean"] < 0.3


def test_warmup_lrs_ramp_linearly_then_hold():
    from landscape.analyses.warmup import warmup_lrs

    np.testing.assert_allclose(warmup_lrs(0.1, 6, 4), [0.025, 0.05, 0.075, 0.1, 0.1, 0.1])
    np.testing.assert_array_equal(warmup_lrs(0.1, 3, 0), [0.1, 0.1, 0.1])


def test_warmup_probes_measure_the_dense_top_eigenvalue_against_the_stability_limit(tmp_path):
    """B5's warm-up arms on the exact toy Hessian: the first probe (step 0, both arms at the initialisation) is the
    dense float64 λ_max to Lanczos's tolerance, and its ratio is λ_max η_0 / 2(1+β) with each arm's first rate."""
    from landscape.analyses import warmup
    from landscape.config import ExperimentsConfig
    from landscape.store import read_h5, read_summary

    point = _toy_point()
    _, eigenvalues = _toy_hessian_file(point, tmp_path / "h.h5")
    top = eigenvalues[-1]
    settings = ExperimentsConfig(seeds=2, warmup_iterations=8, warmup_length=4, warmup_probes=3)
    warmup.analyse(point, 0.05, 8, 0.9, settings, tmp_path / "w.h5", {"task": "t"})
    summary = read_summary(tmp_path / "w.h5")
    with read_h5(tmp_path / "w.h5", ("none/lambda_max", "none/ratio", "warmup/ratio", "none/step")) as fh:
        assert fh["none/step"][:].tolist() == [0, 4, 8]
        # The tolerance the analysis asks of Lanczos (ARPACK's relative accuracy of the eigenvalue).
        tolerance = warmup.LANCZOS_TOLERANCE
        np.testing.assert_allclose(fh["none/lambda_max"][:, 0], top, rtol=tolerance)
        np.testing.assert_allclose(fh["none/ratio"][:, 0], top * 0.05 / 3.8, rtol=tolerance)
        np.testing.assert_allclose(fh["warmup/ratio"][:, 0], top * 0.05 / 4 / 3.8, rtol=tolerance)
    assert summary["seeds"] == 2 and summary["warmup_length"] == 4


def test_hmc_controls_perturbation_scale_drift_and_last_phase_iterates(tmp_path):
    """σ from ½σ² tr H = ΔL (closed form); a trending potential drifts, white noise does not; the iterate control
    reads evenly spaced iterates of the second half of the last constant-rate phase."""
    import h5py

    from landscape.analyses.endgame import last_phase_iterates, perturbation_scale, potential_drift

    assert perturbation_scale(0.02, 4.0) == pytest.approx(0.1) and perturbation_scale(-1.0, 4.0) == 0.0
    rng = np.random.default_rng(0)
    assert abs(potential_drift(rng.standard_normal(400))) < 0.3
    # A linear trend L with noise of s.d. s: (L/2) / sqrt(L²/12 + s²) = 5 / sqrt(8.33 + 1) = 1.64.
    assert potential_drift(np.linspace(0, 10, 400) + rng.standard_normal(400)) == pytest.approx(1.64, abs=0.1)
    lrs = np.concatenate([np.full(60, 0.1), np.full(40, 0.01)])
    with h5py.File(tmp_path / "run.h5", "w") as fh:
        fh["lr"], fh["params"] = lrs, np.arange(101, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    steps = [float(t[0]) for t in last_phase_iterates(tmp_path / "run.h5", 5, torch.float64)]
    assert steps == [81.0, 85.0, 90.0, 95.0, 100.0]  # the phase is steps 60..99, its second half iterates 81..100


def test_the_random_control_is_rescaled_to_the_measured_rise():
    """On the toy network a start half the right σ reaches the training-loss rise of σ = 0.2 within 5% after the
    rescalings (the rise is not exactly quadratic in σ, which is why the control is rescaled on the measurement; the
    toy is an initialisation, not a minimum, so small σ would probe its non-convex neighbourhood)."""
    from landscape.analyses.endgame import matched_perturbations

    point = _toy_point()
    base = point.metrics(point.theta, ("train",))["train_loss"]
    _, target, _ = matched_perturbations(point, 0.2, 0.0, 6, 0, base)
    _, rise, sigma = matched_perturbations(point, 0.1, target, 6, 0, base)
    assert rise == pytest.approx(target, rel=0.05) and sigma == pytest.approx(0.2, rel=0.1)
