"""A5, A6, A10 mechanics on problems with known answers: noisy quadratics, exact quadratics, autograd."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from landscape import trajectory
from landscape.analyses import example_grads, lr_compare
from landscape.hessian import Objective
from landscape.models import ResNet
from landscape.params import flatten


def heavy_ball_path(
    curvatures: np.ndarray, start: np.ndarray, lr: float, momentum: float, noise: float, steps: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heavy-ball SGD on ½Σλ_i x_i² with Gaussian gradient noise: positions (T+1, D), gradients and buffers (T, D)."""
    rng = np.random.default_rng(seed)
    x, v = start.astype(float).copy(), np.zeros_like(start, dtype=float)
    positions, gradients, buffers = [x.copy()], [], []
    for _ in range(steps):
        g = curvatures * x + noise * rng.standard_normal(len(x))
        v = momentum * v + g
        x = x - lr * v
        gradients.append(g)
        buffers.append(v.copy())
        positions.append(x.copy())
    return np.array(positions), np.array(gradients), np.array(buffers)


def test_projection_returns_the_known_coordinates(tmp_path):
    rng = np.random.default_rng(0)
    P, T = 30, 50
    basis, _ = np.linalg.qr(rng.standard_normal((P, P)))
    origin = rng.standard_normal(P)
    coordinates = rng.standard_normal((T + 1, P))
    with h5py.File(tmp_path / "run.h5", "w") as fh:
        fh["params"] = (origin + coordinates @ basis.T).astype(np.float64)
        blocks = list(trajectory.projected_blocks(fh["params"], origin, lambda s: basis[:, s], P, block=7, rows=11))
    assert len(blocks) == 5
    recovered = np.concatenate([c for _, c in blocks], axis=1)
    assert np.abs(recovered - coordinates).max() < 1e-12


def test_settle_iterations_match_the_known_relaxation():
    """SGD (β = 0) relaxes as (1 - ηλ)^t: from distance d0 it enters a ±3σ band near t = ln(d0 / 3σ) / (ηλ)."""
    curvatures = np.array([0.5, 0.1, 0.02])
    lr, noise, steps, start = 0.1, 0.05, 20000, np.full(3, 5.0)
    positions, _, _ = heavy_ball_path(curvatures, start, lr, 0.0, noise, steps)
    sigma = noise * np.sqrt(lr / (curvatures * (2 - lr * curvatures)))  # exact stationary sd of the AR(1) recursion
    expected = np.log(start / (3 * sigma)) / -np.log(1 - lr * curvatures)
    window = steps // 200  # the analysis's choice; longer than the fastest direction's correlation time (20 steps)
    settle = trajectory.settle_iterations(positions, slice(steps // 2, steps + 1), window, width=3.0)
    # Settling is read off a running mean (lag ~window/2) of a noisy path: allow 25% of the time plus the window.
    assert np.all(np.abs(settle - expected) <= 0.25 * expected + window), (settle, expected)
    assert np.all(np.diff(settle) > 0)
    inside_from_start = trajectory.settle_iterations(positions[steps // 2 :], slice(0, steps // 2), window)
    assert np.all(inside_from_start == 0)


def test_settle_iterations_can_say_not_settled():
    """A direction still relaxing when the reference window starts, or drifting through it, has not settled."""
    steps, window = 4000, 20
    rng = np.random.default_rng(2)
    noise = 0.01 * rng.standard_normal((steps + 1, 3))
    t = np.arange(steps + 1)[:, None]
    paths = (
        np.hstack(
            [
                np.exp(-t / 100.0),  # relaxes long before the window: settles
                np.exp(-t / 3000.0),  # still relaxing when the window starts at 2000
                1e-3 * t,  # a steady drift: inside the band somewhere, but not stationary
            ]
        )
        + noise
    )
    settle = trajectory.settle_iterations(paths, slice(steps // 2, steps + 1), window)
    assert 0 < settle[0] < steps // 2 and settle[1] == -1 and settle[2] == -1, settle


def test_fluctuation_dissipation_ratio_is_one_at_stationarity():
    curvatures = np.array([2.0, 0.5, 0.1])
    lr, momentum = 0.05, 0.9
    positions, gradients, buffers = heavy_ball_path(curvatures, np.zeros(3), lr, momentum, 0.3, 200_000, seed=1)
    burn = 20_000
    ratio = trajectory.fluctuation_dissipation(positions[burn:-1], gradients[burn:], buffers[burn:], lr, momentum)
    # 180,000 correlated samples: the Monte-Carlo error of each ratio is a few per cent.
    assert np.allclose(ratio, 1.0, atol=0.08), ratio
    assert np.allclose(trajectory.momentum_buffers(positions[burn:], np.full(len(buffers) - burn, lr)), buffers[burn:])


def test_phases_split_at_learning_rate_changes():
    assert trajectory.phases(np.array([0.1, 0.1, 0.01, 0.01, 0.01, 0.001])) == [slice(0, 2), slice(2, 5), slice(5, 6)]


def test_per_example_gradients_sum_to_the_full_gradient():
    torch.manual_seed(0)
    model = ResNet(1, 3, 2, 2, 1).double()
    x, y = torch.randn(17, 1, 6, 6, dtype=torch.float64), torch.randint(0, 3, (17,))
    theta = flatten(model)
    per_example = example_grads.per_example_gradients(model, theta, x, y)
    full = Objective(model, x, y, weight_decay=0.01).gradient(theta)
    assert torch.allclose(per_example.mean(dim=0) + 0.01 * theta, full, rtol=0, atol=1e-12)


def test_band_decomposition_is_exact_on_a_quadratic():
    rng = np.random.default_rng(0)
    P = 25
    basis, _ = np.linalg.qr(rng.standard_normal((P, P)))
    eigenvalues = np.sort(rng.exponential(1.0, P))
    gradient, delta = rng.standard_normal(P), rng.standard_normal(P)
    hessian = basis @ np.diag(eigenvalues) @ basis.T
    per_band, total = lr_compare.decompose(gradient, eigenvalues, basis, delta, lr_compare.band_edges(P))
    assert total == pytest.approx(gradient @ delta + 0.5 * delta @ hessian @ delta)
    assert per_band.sum() == pytest.approx(total)
    assert lr_compare.band_edges(P)[-1] == P


def test_measured_band_gaps_equal_the_expansion_on_a_separable_quadratic_and_show_interactions_otherwise():
    """On a quadratic the band gaps measured by moving within one band equal the expansion's band sums exactly
    (the eigenbasis separates it); a planted cross-band term L += γ x_top x_bottom appears only as the interaction."""
    rng = np.random.default_rng(1)
    P = 25
    basis, _ = np.linalg.qr(rng.standard_normal((P, P)))
    eigenvalues = np.sort(rng.exponential(1.0, P))
    hessian, gradient = basis @ np.diag(eigenvalues) @ basis.T, rng.standard_normal(P)
    theta, delta, edges = rng.standard_normal(P), rng.standard_normal(P), lr_compare.band_edges(P)

    def quadratic(x, coupling=0.0):
        d = x - theta
        top, bottom = basis[:, -1] @ d, basis[:, 0] @ d
        return float(gradient @ d + 0.5 * d @ hessian @ d + coupling * top * bottom)

    measured = lr_compare.measured_band_gaps(quadratic, theta, basis, delta, edges)
    expanded, total = lr_compare.decompose(gradient, eigenvalues, basis, delta, edges)
    np.testing.assert_allclose(measured, expanded, rtol=1e-10, atol=1e-12)
    coupled = lr_compare.measured_band_gaps(lambda x: quadratic(x, 0.7), theta, basis, delta, edges)
    np.testing.assert_allclose(coupled, measured, rtol=1e-10, atol=1e-12)  # one band at a time never sees the coupling
    interaction = quadratic(theta + delta, 0.7) - coupled.sum()
    assert interaction == pytest.approx(0.7 * (basis[:, -1] @ delta) * (basis[:, 0] @ delta), rel=1e-9)


@pytest.mark.parametrize(
    ("gap", "predicted", "describes"),
    [
        (0.1, 0.12, True),
        (0.1, 0.06, True),
        (0.1, 0.04, False),
        (-0.095, 0.02, False),
        (-0.1, -0.15, True),
        (0.0, 0.0, False),
    ],
)
def test_a_band_decomposition_needs_an_expansion_that_describes_the_gap(gap, predicted, describes):
    assert lr_compare.expansion_describes(gap, predicted) is describes


def test_a_difference_of_band_medians_gets_a_bootstrap_interval_that_can_exclude_zero():
    rng = np.random.default_rng(0)
    separated = example_grads.median_difference(rng.normal(0.5, 0.05, 200), rng.normal(0.4, 0.05, 50))
    assert separated["low"] > 0 and separated["difference"] == pytest.approx(0.1, abs=0.03)
    same = example_grads.median_difference(rng.normal(0.5, 0.05, 200), rng.normal(0.5, 0.05, 50))
    assert same["low"] < 0 < same["high"]  # "48% vs 42%" without a real difference is not a finding


def test_trajectory_statistics_of_a_two_phase_noisy_quadratic_in_a_rotated_basis(tmp_path):
    """A5 end to end on a planted run: distances, per-phase variances against theory, and settling order."""
    from landscape import theory
    from landscape.analyses.trajectory import basis_statistics

    curvatures, momentum, noise = np.array([2.0, 0.2, 0.02]), 0.9, 0.1
    rates = (0.05, 0.005)
    start = np.array([3.0, -2.0, 1.0])
    first, _, _ = heavy_ball_path(curvatures, start, rates[0], momentum, noise, 20_000, seed=3)
    second, _, _ = heavy_ball_path(curvatures, first[-1], rates[1], momentum, noise, 20_000, seed=4)
    # (the second phase restarts the momentum at zero, a transient of ~1/(1-β) = 10 steps out of 20,000)
    coordinates = np.vstack([first, second[1:]])
    lrs = np.repeat(rates, 20_000)
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    origin = rng.standard_normal(3)
    with h5py.File(tmp_path / "run.h5", "w") as fh:
        fh["params"] = origin + coordinates @ basis.T
        stats = basis_statistics(fh["params"], origin, basis, [0, 20_000, 40_000], lrs, window=50)
    assert np.allclose(stats["start"], np.abs(start), rtol=1e-12)
    assert np.allclose(stats["checkpoints"][1], np.abs(first[-1]), rtol=1e-9)
    assert stats["phase_lr"].tolist() == list(rates)
    predicted = np.array([theory.stationary_variance(lr, curvatures, noise**2, momentum, "heavy_ball") for lr in rates])
    # 10,000 correlated samples per half phase; the flattest direction at the low rate relaxes over
    # (1-β)/(ηλ) = 1,000 steps, leaving ~10 independent samples: allow a factor of 2 there, 30% elsewhere.
    ratio = stats["phase_variance"] / predicted
    assert np.all(np.abs(ratio[:, :2] - 1) < 0.3), ratio
    assert np.all((ratio[:, 2] > 0.5) & (ratio[:, 2] < 2.0)), ratio
    settle = stats["settle"]
    assert settle[0] >= 0 and (settle[1] == -1 or settle[0] < settle[1]), settle


def test_a_direction_that_leaves_the_band_settles_when_it_comes_back_for_good():
    """Inside at the start, driven away, back at iteration 1,500: it settles there, not at 0 (its first entry)."""
    steps, window = 4000, 20
    noise = 0.01 * np.random.default_rng(3).standard_normal((steps + 1, 2))
    t = np.arange(steps + 1)
    away = np.where((t > 300) & (t < 1500), 1.0, 0.0)  # a detour while the rate is high
    paths = np.stack([away, np.zeros(steps + 1)], axis=1) + noise
    settle = trajectory.settle_iterations(paths, slice(steps // 2, steps + 1), window)
    assert 1500 <= settle[0] <= 1500 + window and settle[1] == 0, settle


def test_the_straight_path_on_a_quadratic_is_the_expansions_parabola_and_has_no_barrier():
    """On a convex quadratic the measured path equals t gᵀδ + ½t² δᵀHδ (to rounding) and its barrier is 0; on a
    planted double well, L = (x² − 1)², the path from one minimum to the other has the ridge's height, 1."""
    rng = np.random.default_rng(2)
    P = 12
    basis, _ = np.linalg.qr(rng.standard_normal((P, P)))
    eigenvalues = np.sort(rng.exponential(1.0, P))
    hessian, gradient = basis @ np.diag(eigenvalues) @ basis.T, rng.standard_normal(P)
    theta, delta = rng.standard_normal(P), rng.standard_normal(P)

    def quadratic(x):
        d = x - theta
        return float(gradient @ d + 0.5 * d @ hessian @ d)

    slope, curvature = lr_compare.expansion_along(basis.T @ gradient, eigenvalues, basis.T @ delta)
    steps, path = lr_compare.straight_path(quadratic, theta, delta)
    np.testing.assert_allclose(path, steps * slope + 0.5 * steps**2 * curvature, rtol=1e-10, atol=1e-12)
    assert lr_compare.barrier(path, steps) <= 1e-12
    steps, well = lr_compare.straight_path(lambda x: float((x[0] ** 2 - 1) ** 2), np.array([-1.0]), np.array([2.0]))
    assert lr_compare.barrier(well, steps) == pytest.approx(1.0)
