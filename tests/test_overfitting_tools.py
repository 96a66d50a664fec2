"""The overfitting experiments' tools against closed forms and simulation: Newton steps, band noise, HMC, Bayesian LRs."""

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
    assert loss(moved) - loss(theta) == pytest.approx(eigenbasis.newton_gain(gradient, eigenvalues, eigenvectors, mask), rel=1e-10)


def test_noise_along_one_eigenvector_raises_the_loss_by_half_lambda_sigma_squared():
    H, eigenvalues, eigenvectors, minimum = _quadratic()
    theta = minimum + 0.3
    loss = lambda t: 0.5 * np.einsum("...i,ij,...j->...", t - minimum, H, t - minimum)  # noqa: E731
    mask = np.zeros(12, dtype=bool)
    mask[7] = True
    noise = eigenbasis.band_noise(eigenvectors, mask, 0.2, 40_000, np.random.default_rng(2))
    increase = loss(theta + noise) - loss(theta)
    expected = 0.5 * eigenvalues[7] * 0.2**2
    # 40,000 draws: the mean's standard error is ~0.7% of the mean (chi-square with one dof, plus the linear term); 4 se.
    assert increase.mean() == pytest.approx(expected, rel=4 * increase.std() / np.sqrt(40_000) / expected)


def test_log_bands_partition_the_positive_spectrum():
    eigenvalues = np.concatenate([[-0.1, 0.0], np.geomspace(1e-4, 1, 30)])
    bands = eigenbasis.log_bands(eigenvalues, 5)
    assert sum(b.sum() for b in bands) == 30 and not np.any(np.logical_and(*bands[:2]))


def test_hmc_recovers_a_gaussian_covariance():
    covariance = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    precision = torch.tensor(np.linalg.inv(covariance))
    chain = hmc.sample(lambda t: float(0.5 * t @ precision @ t), lambda t: precision @ t, torch.zeros(3, dtype=torch.float64),
                       step_size=0.3, steps=10, samples=6000, burn_in=100, seed=0)
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
    """Simulated heavy ball with per-direction rates, batches drawn with replacement from fixed per-example gradients."""
    rng = np.random.default_rng(0)
    N, B, beta, D = 400, 8, 0.9, 4
    curvature = np.array([2.0, 0.5, 0.1, 0.02])
    offsets = rng.standard_normal((N, D)) * np.sqrt(np.array([1.5, 0.4, 0.2, 0.01]))
    offsets -= offsets.mean(axis=0)
    c = offsets.var(axis=0)
    rates = theory.bayesian_learning_rates(curvature, c, B, N, beta)
    assert np.allclose(theory.stationary_variance(rates, curvature, c / B, beta, "heavy_ball"), 1 / (N * curvature), rtol=1e-10)
    x, v, samples = np.zeros(D), np.zeros(D), []
    for t in range(300_000):
        g = curvature * x + offsets[rng.integers(0, N, B)].mean(axis=0)
        v = beta * v + g
        x = x - rates * v
        if t > 20_000:
            samples.append(x.copy())
    # ~280,000 correlated samples (relaxation ≤ ~1,000 steps): the variance is within ~5%; allow 15%.
    assert np.var(samples, axis=0) == pytest.approx(1 / (N * curvature), rel=0.15)
