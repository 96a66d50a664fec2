"""Closed forms of the noisy quadratic against the discrete Lyapunov solution, spectral radii and Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import solve_discrete_lyapunov

from landscape import theory

CASES = [(0.1, 1.0, 0.0), (0.1, 5.0, 0.9), (0.05, 30.0, 0.9), (0.3, 0.2, 0.5), (0.01, 150.0, 0.95)]


@pytest.mark.parametrize("method", theory.METHODS)
@pytest.mark.parametrize(("lr", "curvature", "momentum"), CASES)
def test_variance_matches_the_lyapunov_solution(method, lr, curvature, momentum):
    A, b = theory.state_space(lr, curvature, momentum, method)
    stable = np.abs(np.linalg.eigvals(A)).max() < 1
    closed = theory.stationary_variance(lr, curvature, 0.7, momentum, method)
    if not stable:
        assert np.isinf(closed)
        return
    exact = solve_discrete_lyapunov(A, 0.7 * np.outer(b, b))[0, 0]
    assert closed == pytest.approx(exact, rel=1e-10)


@pytest.mark.parametrize("method", theory.METHODS)
@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_stability_limit_is_where_the_spectral_radius_reaches_one(method, momentum):
    lr = 0.1
    limit = float(theory.stability_limit(lr, momentum, method))
    radius = lambda k: np.abs(np.linalg.eigvals(theory.state_space(lr, k, momentum, method)[0])).max()  # noqa: E731
    assert radius(limit * 0.999) < 1 < radius(limit * 1.001)
    assert radius(limit * 0.5) < 1
    assert np.isinf(theory.stationary_variance(lr, limit * 1.01, 1.0, momentum, method))
    assert np.isinf(theory.relaxation_time(lr, limit * 1.01, momentum, method))


@pytest.mark.parametrize("method", theory.METHODS)
def test_relaxation_time_is_the_decay_of_the_mean(method):
    lr, curvature, momentum = 0.05, 2.0, 0.9
    A, _ = theory.state_space(lr, curvature, momentum, method)
    rho = np.abs(np.linalg.eigvals(A)).max()
    assert theory.relaxation_time(lr, curvature, momentum, method) == pytest.approx(-1 / np.log(rho), rel=1e-10)
    assert theory.spectral_radius(lr, curvature, momentum, method) == pytest.approx(rho, rel=1e-10)


@pytest.mark.parametrize("method", theory.METHODS)
def test_variance_matches_a_long_simulation(method):
    """5 parallel chains x 200,000 steps: the sample variance is within 3% (its relative sd here is <1%)."""
    lr, curvature, momentum, noise = 0.05, 2.0, 0.8, 1.0
    A, b = theory.state_space(lr, curvature, momentum, method)
    rng = np.random.default_rng(0)
    state, samples = np.zeros((len(b), 5)), []
    for t in range(200_000):
        state = A @ state + np.outer(b, rng.standard_normal(5)) * np.sqrt(noise)
        if t >= 10_000:
            samples.append(state[0].copy())
    simulated = np.var(np.array(samples))
    assert simulated == pytest.approx(
        float(theory.stationary_variance(lr, curvature, noise, momentum, method)), rel=0.03
    )


def test_arrays_broadcast_and_unstable_is_inf():
    curvatures = np.array([[0.1], [1.0], [100.0]])
    variance = theory.stationary_variance(0.1, curvatures, np.array([1.0, 2.0]), 0.9, "heavy_ball")
    assert variance.shape == (3, 2)
    assert np.isinf(variance[2]).all() and np.isfinite(variance[:2]).all()
    assert np.allclose(variance[:, 1][:2], 2 * variance[:, 0][:2])
    with pytest.raises(ValueError, match="allowed values"):
        theory.stationary_variance(0.1, 1.0, 1.0, 0.9, "adam")


def test_posterior_matching_curvature_has_temperature_one():
    lr, batch, n, momentum = 0.05, 32, 1500, 0.9
    kappa = theory.posterior_matching_curvature(lr, batch, n, momentum)
    assert theory.temperature(lr, kappa, kappa, batch, n, momentum) == pytest.approx(1.0, rel=1e-10)
    assert (
        theory.temperature(lr, 2 * kappa, 2 * kappa, batch, n, momentum)
        > 1
        > theory.temperature(lr, kappa / 2, kappa / 2, batch, n, momentum)
    )


def test_expected_loss_curve_matches_simulation():
    """Moment recursion against 2,000 simulated heavy-ball runs on a 3-direction quadratic with a step schedule."""
    curvatures, noise, start = np.array([5.0, 1.0, 0.05]), np.array([0.5, 0.2, 0.01]), np.array([1.0, -2.0, 3.0])
    lrs = np.concatenate([np.full(150, 0.1), np.full(150, 0.01)])
    predicted = theory.expected_loss_curve(lrs, curvatures, noise, start, 0.9, "heavy_ball", every=50)
    rng = np.random.default_rng(0)
    x, v = np.tile(start, (2000, 1)), np.zeros((2000, 3))
    simulated = [np.mean(np.sum(0.5 * curvatures * x**2, axis=1))]
    for t, lr in enumerate(lrs):
        v = 0.9 * v + curvatures * x + np.sqrt(noise) * rng.standard_normal(x.shape)
        x = x - lr * v
        if (t + 1) % 50 == 0:
            simulated.append(np.mean(np.sum(0.5 * curvatures * x**2, axis=1)))
    # 2,000 runs: the mean loss has a relative standard error of ~3%; 10% is a 3-sigma bound.
    assert np.allclose(predicted, simulated, rtol=0.1)


def test_optimised_schedule_is_no_worse_than_constant():
    curvatures = np.geomspace(0.01, 10, 30)
    noise, start = curvatures * 0.01, np.ones(30)
    constant = theory.expected_loss_curve(np.full(400, 0.05), curvatures, noise, start, 0.9, every=400)[-1]
    schedule, best = theory.optimise_schedule(curvatures, noise, start, 400, 3, 0.9, initial_lr=0.05)
    assert best <= constant + 1e-12
    assert best == pytest.approx(theory.expected_loss_curve(schedule, curvatures, noise, start, 0.9, every=400)[-1])


def test_optimised_schedule_stays_below_the_stability_curvature_edge():
    curvatures = np.geomspace(0.01, 10, 30)
    noise, start = curvatures * 0.01, np.ones(30)
    free, _ = theory.optimise_schedule(curvatures, noise, start, 400, 3, 0.9, initial_lr=0.05)
    bound, _ = theory.optimise_schedule(
        curvatures, noise, start, 400, 3, 0.9, initial_lr=0.05, stability_curvature=40.0
    )
    edge = float(theory.stability_limit(1.0, 0.9, "heavy_ball")) / 40.0
    assert free.max() > edge  # unconstrained, the first piece would be unstable at curvature 40
    assert bound.max() < edge


@pytest.mark.parametrize("method", theory.METHODS)
def test_piecewise_moments_equal_the_step_by_step_recursion(method):
    curvatures, noise, start = np.array([3.0, 0.4, 0.02]), np.array([0.3, 0.1, 0.01]), np.array([1.0, -1.0, 2.0])
    rates, lengths = np.array([0.1, 0.03, 0.005]), np.array([40, 70, 90])
    fast = theory.expected_loss_piecewise(rates, lengths, curvatures, noise, start, 0.8, method)
    steps = np.repeat(rates, lengths)
    slow = theory.expected_loss_curve(steps, curvatures, noise, start, 0.8, method)
    assert fast == pytest.approx(slow[np.cumsum(lengths)], rel=1e-9)


@pytest.mark.parametrize("method", ["nesterov", "nesterov_torch", "sgd"])
def test_expected_loss_curve_matches_simulation_for_every_method(method):
    """As above, for the other methods, simulated through their state-space form from rest."""
    curvatures, noise, start = np.array([5.0, 0.05]), np.array([0.5, 0.01]), np.array([1.0, 3.0])
    lrs = np.full(200, 0.05)
    predicted = theory.expected_loss_curve(lrs, curvatures, noise, start, 0.9, method, every=200)[-1]
    state = np.repeat(theory.initial_state(start, curvatures, method)[None], 4000, axis=0)  # (runs, D, 2)
    rng = np.random.default_rng(1)
    for lr in lrs:
        A, b = theory.transition(lr, curvatures, 0.9, method)
        state = (
            np.einsum("dij,rdj->rdi", A, state) + b[None] * (np.sqrt(noise) * rng.standard_normal((4000, 2)))[..., None]
        )
    simulated = np.mean(np.sum(0.5 * curvatures * state[..., 0] ** 2, axis=1))
    assert simulated == pytest.approx(predicted, rel=0.1)


def test_scale_aware_prediction_recovers_variances_planted_with_the_effective_curvature(tmp_path):
    """Variances made by the theory with κ = c(h_SGD) = 3λ: the effective curvature predicts them, λ misses by 1/3."""
    import h5py

    from landscape.analyses.theory import scale_aware_variance

    eigenvalues = np.array([-0.5, 0.01, 0.2, 1.0, 5.0])
    effective = 3.0 * eigenvalues
    noise = np.array([1.0, 0.5, 2.0, 1.0, 4.0])
    lr, momentum, batch = 0.01, 0.9, 32
    measured = np.where(
        eigenvalues > 0, theory.stationary_variance(lr, np.abs(effective), noise / batch, momentum, "heavy_ball"), 1.0
    )
    with h5py.File(tmp_path / "curvature.h5", "w") as fh:
        fh["index"], fh["curvature_at_sgd"], fh["resolved"] = np.arange(5), effective, np.ones((5, 3), dtype=bool)
    result = scale_aware_variance(tmp_path / "curvature.h5", eigenvalues, measured, noise, lr, 10**6, batch, momentum)
    assert result["directions"] == 4  # the negative direction is left out
    assert result["median_ratio_effective"] == pytest.approx(1.0, rel=1e-12)
    # Var ∝ 1/(κ(2(1+β) − ηκ)): with ηκ ≪ 1 the ratio is close to 1/3 (exactly: the median of the planted ratios).
    planted = [
        theory.stationary_variance(lr, 3 * k, n / batch, momentum, "heavy_ball")
        / theory.stationary_variance(lr, k, n / batch, momentum, "heavy_ball")
        for k, n in zip(eigenvalues[1:], noise[1:])
    ]
    assert result["median_ratio_eigenvalue"] == pytest.approx(np.median(planted), rel=1e-12)
    assert result["median_curvature_ratio"] == pytest.approx(3.0)
    slow = scale_aware_variance(tmp_path / "curvature.h5", eigenvalues, measured, noise, lr, 400, batch, momentum)
    assert slow["directions"] < 4  # directions that cannot relax within half a 400-step phase are left out


def test_shuffled_prediction_factor_between_the_finite_population_limit_and_epoch_cancellation():
    """Epoch-wise shuffling against batches drawn with replacement, on the noisy quadratic (heavy ball, β = 0.9).

    A direction that relaxes within a couple of steps sees only one batch mean at a time, whose variance
    without replacement is the finite-population fraction (N − B)/(N − 1) = 0.979 of the i.i.d. one (±10 %:
    simulation error of 400 epochs); one that relaxes over 30 epochs sees the noise summed over whole epochs,
    which vanishes, so its variance is a small fraction (< 10 %). In between, the factor falls with τ.
    """
    from landscape.analyses.theory import CORRECTION_EPOCHS, shuffled_prediction_factor

    lr, momentum, batch, n = 0.001, 0.9, 32, 1500
    kappa = (1 - momentum) / (lr * CORRECTION_EPOCHS * (n // batch))
    factor = shuffled_prediction_factor(lr, kappa, momentum, batch, n)
    assert factor[0] == pytest.approx((n - batch) / (n - 1), rel=0.1)
    assert factor[-1] < 0.1 and np.all(np.diff(factor) < 0)
    beyond = shuffled_prediction_factor(lr, np.array([kappa[0] * 10, kappa[-1] / 10]), momentum, batch, n)
    assert beyond == pytest.approx(factor[[0, -1]])  # held at the grid's ends


def test_noise_law_leaves_out_eigenvalues_below_the_resolution():
    """A planted floor of unresolved eigenvalues with unrelated noise does not move the fitted power."""
    from landscape.theory import noise_law

    rng = np.random.default_rng(0)
    lam = np.concatenate([np.geomspace(1e-2, 10, 200), rng.uniform(1e-9, 1e-7, 100)])
    noise = np.concatenate([0.5 * np.geomspace(1e-2, 10, 200) ** 1.4, rng.uniform(1e-3, 1.0, 100)])
    assert noise_law(lam, noise, resolution=1e-6)["power"] == pytest.approx(1.4, abs=1e-9)
    assert abs(noise_law(lam, noise)["power"] - 1.4) > 0.1  # the control: without the cut the floor pulls the fit


def test_predicted_settle_is_when_the_mean_stays_in_the_band_not_when_it_first_enters():
    """Heavy ball at β = 0.9 overshoots: the mean crosses the band, leaves it on the other side, and comes back."""
    from landscape.analyses.theory import SETTLE_WIDTH, predicted_settle

    lrs, curvature, start, sd = np.full(400, 0.1), np.array([1.0]), np.array([1.0]), np.array([0.01])
    settle = predicted_settle(lrs, curvature, start, sd, 0.9)[0]
    x, v, path = 1.0, 0.0, []
    for _ in lrs:  # the mean of heavy ball on ½λx² without noise
        path.append(x)
        v = 0.9 * v + x
        x -= 0.1 * v
    inside = np.abs(path) <= SETTLE_WIDTH * sd[0]
    first_entry = int(np.argmax(inside))
    assert first_entry < settle and inside[settle:].all() and not inside[settle - 1]
    assert predicted_settle(lrs[:10], curvature, start, sd, 0.9)[0] == -1  # still outside at the end


def test_simulated_heavy_ball_has_the_closed_form_mean_and_stationary_variance():
    """20,000 independent paths at one curvature: their mean follows A^t x_0 (the transition matrix, no noise term)
    and their variance after 40 relaxation times is theory.stationary_variance. Monte-Carlo tolerances: the mean's
    standard error is sd/sqrt(D) (4 se allowed); the variance's relative standard error is sqrt(2/D) = 1% (4 se)."""
    D, lr, kappa, beta, sigma = 20_000, 0.05, 2.0, 0.9, 0.3
    steps = int(40 * theory.relaxation_time(lr, kappa, beta, "heavy_ball"))
    curvature, start = np.full(D, kappa), np.full(D, 1.5)
    path = theory.simulate_heavy_ball(
        np.full(steps, lr), curvature, np.full(D, sigma), start, beta, np.random.default_rng(0)
    )
    A, _ = theory.state_space(lr, kappa, beta, "heavy_ball")
    state = np.array([1.5, 0.0])
    for t in range(1, 30):
        state = A @ state
        assert abs(path[t].mean() - state[0]) <= 4 * path[t].std() / np.sqrt(D) + 1e-12
    predicted = theory.stationary_variance(lr, kappa, sigma**2, beta, "heavy_ball")
    assert path[-1].var() == pytest.approx(predicted, rel=4 * np.sqrt(2 / D))


def test_the_settle_null_is_reproducible_and_orders_sharp_directions_first_on_a_wide_spectrum():
    """On the noisy quadratic every direction relaxes in (1-β)/(ηκ): with curvatures spanning three decades, the
    simulated settle order follows the curvature (Spearman < -0.5); the same seeds give the same values."""
    from landscape.analyses.theory import settle_null

    curvature = np.geomspace(1e-1, 1e2, 60)
    lrs = np.concatenate([np.full(1500, 0.01), np.full(1500, 0.001)])
    args = (lrs, curvature, 1e-4 * curvature, np.full(60, 1.0), 0.9)
    null = settle_null(*args, seeds=3)
    assert np.all(null["spearman"] < -0.5) and np.all(null["settled_share"] > 0.5)
    np.testing.assert_array_equal(settle_null(*args, seeds=3)["spearman"], null["spearman"])
    assert len(settle_null(*args, seeds=1, directions=10)["directions"]) == 10


def test_each_phase_gets_the_latest_checkpoint_of_its_second_half_as_its_own_basis():
    from landscape.analyses.phase_noise import own_bases
    from landscape.trajectory import phase_bases

    lrs = np.concatenate([np.full(3000, 0.1), np.full(1500, 0.01), np.full(1500, 0.001)])
    # Phase halves (iterates): 1501..3000, 3751..4500, 5251..6000; 246 lies in no half, 4500 in the second.
    assert phase_bases(lrs, [0, 246, 2459, 6000]) == [2459, None, 6000]
    assert phase_bases(lrs, [0, 1200, 2000, 2900, 4500, 6000]) == [2900, 4500, 6000]
    labels = ["main@246", "main@2459", "main@6000"]
    assert own_bases(lrs, labels) == {"0": "main@2459", "1": None, "2": "main@6000"}


def test_phase_ratios_are_one_where_the_measured_variance_is_the_prediction():
    """Planted: measured = the i.i.d. prediction, so the i.i.d. ratio is 1 over the relaxed directions; directions
    slower than half the phase are left out, and a negative curvature never enters."""
    from landscape.analyses.theory import phase_ratios

    curvature = np.concatenate([[-0.5], np.geomspace(1e-4, 10, 40)])
    noise = 0.3 * np.abs(curvature)
    lr, beta, B, length = 0.05, 0.9, 16, 400
    measured = np.zeros_like(curvature)
    measured[1:] = theory.stationary_variance(lr, curvature[1:], noise[1:] / B, beta, "heavy_ball")
    ratios = phase_ratios(lr, curvature, noise, measured, length, B, 1000, beta)
    assert ratios["median_ratio"] == pytest.approx(1.0, rel=1e-12)
    relaxed = theory.relaxation_time(lr, curvature[1:], beta, "heavy_ball") < length / 2
    assert ratios["relaxed_share"] == pytest.approx(relaxed.mean()) and 0 < relaxed.mean() < 1
