"""General linear update rules against the independent AR(2) closed forms, the step recursion and simulation."""

import numpy as np
import pytest

from landscape import linear_rules, theory
from landscape.linear_rules import LinearRule

CURVATURES = np.array([4.0, 0.7, 0.03])


@pytest.mark.parametrize("method", ["sgd", "heavy_ball", "nesterov"])
def test_named_methods_match_the_closed_form_variance(method):
    rule = LinearRule.from_method(0.2, 0.8, method, lags=3)
    variance = linear_rules.stationary_variance(rule, CURVATURES, 0.5)
    momentum = 0.0 if method == "sgd" else 0.8
    assert variance == pytest.approx(theory.stationary_variance(0.2, CURVATURES, 0.5, momentum, method), rel=1e-9)


@pytest.mark.parametrize("method", ["heavy_ball", "nesterov"])
def test_stable_exactly_below_the_closed_form_limit(method):
    limit = float(theory.stability_limit(0.1, 0.9, method))
    rule = LinearRule.from_method(0.1, 0.9, method)
    radius = linear_rules.spectral_radius(rule, np.array([0.99 * limit, 1.01 * limit]))
    assert radius[0] < 1 < radius[1]
    assert linear_rules.expected_loss(rule, 10, np.array([1.01 * limit]), 1.0, 1.0) == np.inf


@pytest.mark.parametrize("method", ["heavy_ball", "nesterov"])
def test_expected_loss_equals_the_state_space_recursion(method):
    noise, start = np.array([0.3, 0.1, 0.01]), np.array([1.0, -1.0, 2.0])
    rule = LinearRule.from_method(0.05, 0.9, method, lags=4)
    expected = theory.expected_loss_piecewise(np.array([0.05]), np.array([300]), CURVATURES, noise, start, 0.9, method)[
        -1
    ]
    assert linear_rules.expected_loss(rule, 300, CURVATURES, noise, start) == pytest.approx(expected, rel=1e-9)


def test_a_three_lag_rule_matches_simulation():
    """A rule outside heavy ball and Nesterov: 4,000 simulated runs of 400 steps against the exact moments."""
    rule = LinearRule(0.05, (1.6, -0.4, -0.2), (1.2, -0.1, -0.1))
    assert np.all(linear_rules.spectral_radius(rule, CURVATURES) < 1)
    noise, start = np.array([0.5, 0.2, 0.01]), np.array([1.0, -2.0, 3.0])
    predicted = linear_rules.expected_loss(rule, 400, CURVATURES, noise, start)
    rng = np.random.default_rng(0)
    history = np.tile(start, (3, 4000, 1))  # lags × runs × directions, at rest
    a, b = np.array(rule.iterate_weights), np.array(rule.gradient_weights)
    for _ in range(400):
        point = np.einsum("k,krd->rd", b, history)
        gradient = CURVATURES * point + np.sqrt(noise) * rng.standard_normal(point.shape)
        new = np.einsum("k,krd->rd", a, history) - rule.lr * gradient
        history = np.concatenate([new[None], history[:-1]])
    simulated = np.mean(np.sum(0.5 * CURVATURES * history[0] ** 2, axis=1))
    # 4,000 runs: relative standard error of the mean loss ≈ 2%; 8% is a 4-sigma bound.
    assert simulated == pytest.approx(predicted, rel=0.08)


def test_optimised_rules_are_no_worse_than_their_starting_points():
    curvatures = np.geomspace(0.01, 5, 25)
    noise, start = 0.01 * curvatures, np.ones(25)
    hb, hb_loss = linear_rules.optimise_method(curvatures, noise, start, 500, "heavy_ball", initial_lr=0.1)
    sgd, sgd_loss = linear_rules.optimise_method(curvatures, noise, start, 500, "sgd", initial_lr=0.1)
    assert hb_loss <= linear_rules.expected_loss(
        LinearRule.from_method(0.1, 0.9, "heavy_ball"), 500, curvatures, noise, start
    )
    assert hb_loss < sgd_loss  # momentum helps on an ill-conditioned quadratic with a short budget
    padded = LinearRule(hb.lr, (*hb.iterate_weights, 0.0), (*hb.gradient_weights, 0.0))
    general, general_loss = linear_rules.optimise_rule(curvatures, noise, start, 500, padded)
    assert general_loss <= hb_loss * (1 + 1e-12)
    assert general_loss == pytest.approx(linear_rules.expected_loss(general, 500, curvatures, noise, start))


def test_weights_must_make_minima_fixed_points():
    with pytest.raises(ValueError, match="sum to 1"):
        LinearRule(0.1, (1.0, 0.5), (1.0, 0.0))
    with pytest.raises(ValueError, match="same"):
        LinearRule(0.1, (1.0,), (1.0, 0.0))


def test_noise_law_recovers_a_planted_power_and_ignores_the_weight_decay_directions():
    """c = 0.5 λ^1.5 × lognormal scatter (σ = 0.3) on 400 data directions, plus 100 directions at λ ≈ wd with
    vanishing noise that would drag a fit over every positive direction far off: the fit and its interval see
    only the data's, and the interval covers the planted power."""
    rng = np.random.default_rng(0)
    wd = 5e-4
    data = np.geomspace(2e-2, 5.0, 400)
    held = wd * (1 + 1e-3 * rng.random(100))
    eigenvalues = np.concatenate([held, data])
    noise = np.concatenate([1e-12 * np.ones(100), 0.5 * data**1.5 * np.exp(0.3 * rng.standard_normal(400))])
    law = theory.noise_law(eigenvalues, noise, wd)
    assert law["directions"] == 400 and law["weight_decay_excluded"] == 100
    assert law["power_low"] < 1.5 < law["power_high"] and law["power_high"] - law["power_low"] < 0.1
    assert law["power"] == pytest.approx(1.5, abs=0.05) and law["scale"] == pytest.approx(0.5, rel=0.1)
    assert theory.noise_law(eigenvalues, noise)["power"] > 2.5  # what including them would have said


def test_measured_posterior_matching_reduces_to_the_closed_form():
    lr, batch, n, momentum = 0.05, 32, 1500, 0.9
    kappa = np.geomspace(1e-3, 10, 50)
    closed = theory.posterior_matching_curvature(lr, batch, n, momentum, noise_scale=0.3)
    assert theory.posterior_matching_curvature_measured(lr, kappa, (0.3, 1.0), batch, n, momentum) == pytest.approx(
        closed, rel=1e-8
    )


def test_measured_posterior_matching_has_temperature_one_for_a_power_law():
    lr, batch, n, momentum = 0.05, 32, 1500, 0.9
    kappa = np.geomspace(1e-3, 10, 50)
    star = theory.posterior_matching_curvature_measured(lr, kappa, (0.02, 0.5), batch, n, momentum)
    assert theory.temperature(lr, star, 0.02 * np.sqrt(star), batch, n, momentum) == pytest.approx(1.0, rel=1e-8)
    assert np.isnan(theory.posterior_matching_curvature_measured(lr, kappa, (1e-12, 1.0), batch, n, momentum))


def test_optimised_general_rule_stays_stable_along_flat_directions():
    """A finite model has no flat directions; the optimised rule must still not diverge along them."""
    curvatures = 5.0 * np.arange(1, 200, dtype=float) ** -1.2
    noise, start = 0.5 * curvatures**2, 0.1 * curvatures**-0.25
    hb, _ = linear_rules.optimise_method(curvatures, noise, start, 600, "heavy_ball", initial_lr=0.1)
    padded = LinearRule(hb.lr, (*hb.iterate_weights, 0.0), (*hb.gradient_weights, 0.0))
    general, _ = linear_rules.optimise_rule(curvatures, noise, start, 600, padded)
    assert np.all(linear_rules.spectral_radius(general, np.geomspace(1e-7, 5.0, 300)) < 1)
    assert linear_rules.stable_up_to(hb, 5.0) and not linear_rules.stable_up_to(
        LinearRule.from_method(1.0, 0.0, "sgd"), 5.0
    )


def test_expected_loss_is_accurate_near_a_double_unit_root():
    """Optimised rules sit near a double root at 1 (radius 1 − 1e-8 for flat directions), where the Lyapunov
    solution is huge and S_n = S_∞ + Aⁿ(S_0 − S_∞)Aⁿᵀ could cancel; compare with the plain step recursion."""
    rule = LinearRule(0.0017, (1.9767768, -0.9535537, -0.0232231), (134.3, -40.6, -92.7))
    curvatures = np.geomspace(1e-6, 5.9, 60)
    noise, start = 0.01 * curvatures, np.ones(60)
    A, b = linear_rules.transition(rule, curvatures)
    mean, second = np.ones((60, 3)), np.zeros((60, 3, 3))
    for _ in range(600):
        mean = np.einsum("dij,dj->di", A, mean)
        second = np.einsum("dij,djk,dlk->dil", A, second, A) + noise[:, None, None] * b[:, :, None] * b[:, None, :]
    stepped = np.sum(0.5 * curvatures * (mean[:, 0] ** 2 + second[:, 0, 0]))
    assert linear_rules.expected_loss(rule, 600, curvatures, noise, start) == pytest.approx(stepped, rel=1e-6)


def test_weights_count_a_direction_that_many_times():
    rule = LinearRule(0.05, (1.6, -0.4, -0.2), (1.2, -0.1, -0.1))
    noise, start = np.array([0.3, 0.1, 0.01]), np.array([1.0, -1.0, 2.0])
    repeated = np.repeat(np.arange(3), [2, 1, 5])
    weighted = linear_rules.expected_loss(rule, 200, CURVATURES, noise, start, weights=np.array([2.0, 1.0, 5.0]))
    expanded = linear_rules.expected_loss(rule, 200, CURVATURES[repeated], noise[repeated], start[repeated])
    assert weighted == pytest.approx(expanded, rel=1e-12)


@pytest.mark.parametrize("method", ["sgd", "heavy_ball"])
def test_a_higher_stability_curvature_binds_the_optimised_rate(method):
    """Optimised on curvatures up to 5 but required stable up to 5,000 (the free heavy ball's edge is ~1,100)."""
    curvatures = np.geomspace(0.01, 5, 25)
    noise, start = 0.01 * curvatures, np.ones(25)
    free, free_loss = linear_rules.optimise_method(curvatures, noise, start, 500, method, initial_lr=0.1)
    bound, bound_loss = linear_rules.optimise_method(
        curvatures, noise, start, 500, method, initial_lr=0.1, stability_curvature=5e3
    )
    assert not linear_rules.stable_up_to(free, 5e3)  # else the test could not fail
    assert linear_rules.stable_up_to(bound, 5e3) and bound_loss >= free_loss
    general, _ = linear_rules.optimise_rule(
        curvatures,
        noise,
        start,
        500,
        LinearRule(bound.lr, (*bound.iterate_weights, 0.0), (*bound.gradient_weights, 0.0)),
        stability_curvature=5e3,
    )
    assert linear_rules.stable_up_to(general, 5e3)


def test_rank_quadrature_sums_a_power_law_model():
    """Every rank in exactly one bin, the top ranks exact, and a rule's loss on the model within 1e-3 relative."""
    from landscape.analyses.schedule import power_law_model, rank_quadrature

    count = 1826
    nodes, weights = rank_quadrature(count)
    assert weights.sum() == count and np.all(weights >= 1) and nodes.max() < count
    assert np.array_equal(nodes[:10], np.arange(10)) and np.all(weights[:10] == 1)
    eigenvalues = 4.6 * np.arange(1, count + 1, dtype=float) ** -1.3
    model = power_law_model(eigenvalues, {"scale": 0.3, "power": 1.5}, 0.2 * eigenvalues**-0.3)
    kappa, sigma2, x0 = model["eigenvalue"], model["noise"] / 32, model["start"]
    for rule in (
        LinearRule.from_method(0.1, 0.9, "heavy_ball"),
        LinearRule.from_method(0.01, 0.0, "sgd"),
        LinearRule(0.05, (1.6, -0.4, -0.2), (1.2, -0.1, -0.1)),
    ):
        full = linear_rules.expected_loss(rule, 3000, kappa, sigma2, x0)
        summed = linear_rules.expected_loss(rule, 3000, kappa[nodes], sigma2[nodes], x0[nodes], weights=weights)
        assert summed == pytest.approx(full, rel=1e-3)


def test_power_law_fits_ignore_eigenvalues_below_the_assemblys_resolution():
    """Planted sub-resolution eigenvalues (the assembly's noise) move neither the spectrum's nor the start's law."""
    from landscape.analyses.schedule import power_law_model

    resolved = 4.6 * np.arange(1, 301, dtype=float) ** -1.3
    rng = np.random.default_rng(1)
    laws = []
    for draw in range(2):
        noise_floor = rng.uniform(1e-9, 1e-7, 200) * (1 + draw)
        eigenvalues = np.concatenate([resolved, noise_floor])
        start = np.concatenate([0.2 * resolved**-0.3, rng.uniform(0.01, 5.0, 200)])
        with_cut = power_law_model(eigenvalues, {"scale": 0.3, "power": 1.5}, start, resolution=1e-6)["laws"]
        without = power_law_model(eigenvalues, {"scale": 0.3, "power": 1.5}, start)["laws"]
        laws.append((with_cut, without))
    (cut_a, raw_a), (cut_b, raw_b) = laws
    assert cut_a["spectrum_exponent"] == pytest.approx(1.3, abs=0.02) == cut_b["spectrum_exponent"]
    assert cut_a["start_power"] == pytest.approx(-0.6, abs=1e-9) and cut_b["start_power"] == pytest.approx(-0.6)
    assert cut_a["resolved_eigenvalues"] == 300
    assert abs(raw_a["spectrum_exponent"] - 1.3) > 0.5 and abs(raw_a["start_power"] + 0.6) > 0.05  # the control


def test_the_schur_cohn_test_agrees_with_the_eigenvalues_away_from_the_unit_circle():
    """Random rules over K = 1…4 lags and curvatures over six decades: stable exactly where the companion matrix's
    largest |eigenvalue| (numpy's eigvals, the independent reference) is below one, except within 1e-9 of one."""
    rng = np.random.default_rng(0)
    for lags in (1, 2, 3, 4):
        for _ in range(50):
            a, b = rng.normal(size=lags), rng.normal(size=lags)
            a[0], b[0] = 1 - a[1:].sum(), 1 - b[1:].sum()
            rule = LinearRule(float(np.exp(rng.normal(-2, 1))), tuple(a), tuple(b))
            A = linear_rules.transition(rule, np.geomspace(1e-4, 1e2, 200))[0]
            radius = linear_rules._radius(A)
            decided = np.abs(radius - 1) > 1e-9
            assert np.array_equal(linear_rules._stable(A)[decided], (radius < 1)[decided])
    momentum = LinearRule.from_method(0.1, 0.9, "heavy_ball")
    assert linear_rules._stable(linear_rules.transition(momentum, np.array([1.0, 37.0, 38.5]))[0]).tolist() == [
        True,
        True,
        False,  # heavy ball is stable for ηλ < 2(1 + β) = 3.8
    ]
