"""SGD, heavy ball and Nesterov on the noisy quadratic: exact per-direction closed forms.

Along one eigendirection the loss is ½κx² (κ = λ + wd is the curvature, weight decay included)
and a mini-batch gradient is g = κx + ξ with E ξ = 0, Var ξ = σ². The methods (η: learning
rate, β: momentum) are linear recursions driven by ξ:

- ``sgd``:            x' = x − η g(x)
- ``heavy_ball``:     v' = β v + g(x),  x' = x − η v'          (PyTorch's SGD with momentum)
- ``nesterov``:       y = x + β(x − x₋),  x' = y − η g(y)      (the textbook form)
- ``nesterov_torch``: v' = β v + g(x),  x' = x − η (g(x) + β v')  (PyTorch's ``nesterov=True``;
  its stored point is the textbook method's look-ahead y)

Heavy ball and textbook Nesterov are AR(2) processes x_{t+1} = φ₁x_t + φ₂x_{t−1} − c ξ_t, whose
stationary variance is γ₀ = (1 − φ₂) c²σ² / ((1 + φ₂)((1 − φ₂)² − φ₁²)) and whose mean decays
with the spectral radius ρ of z² − φ₁z − φ₂; the relaxation time is −1/ln ρ iterations.
Outside the stable interval every function returns ``inf``. All arguments broadcast.
"""

from __future__ import annotations

import numpy as np

METHODS = ("sgd", "heavy_ball", "nesterov", "nesterov_torch")
ArrayLike = float | np.ndarray


def _check(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method {method!r}: allowed values are {', '.join(METHODS)}")


def ar2_coefficients(lr: ArrayLike, curvature: ArrayLike, momentum: ArrayLike, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(φ₁, φ₂, c) of the iterate's recursion x_{t+1} = φ₁x_t + φ₂x_{t−1} − c ξ_t (textbook Nesterov for ``nesterov_torch``)."""
    _check(method)
    h = np.asarray(lr, dtype=float) * np.asarray(curvature, dtype=float)
    beta = np.asarray(momentum, dtype=float)
    eta = np.asarray(lr, dtype=float)
    if method == "sgd":
        return 1 - h + 0 * beta, 0 * h + 0 * beta, eta + 0 * h + 0 * beta
    if method == "heavy_ball":
        return 1 + beta - h, -beta + 0 * h, eta + 0 * h + 0 * beta
    return (1 - h) * (1 + beta), -beta * (1 - h), eta + 0 * h + 0 * beta


def spectral_radius(lr: ArrayLike, curvature: ArrayLike, momentum: ArrayLike = 0.0, method: str = "sgd") -> np.ndarray:
    """Largest |root| of z² − φ₁ z − φ₂: the factor by which the mean's error shrinks per step, asymptotically."""
    phi1, phi2, _ = ar2_coefficients(lr, curvature, momentum, method)
    discriminant = (phi1**2 + 4 * phi2).astype(complex)
    roots = np.stack([(phi1 + np.sqrt(discriminant)) / 2, (phi1 - np.sqrt(discriminant)) / 2])
    return np.abs(roots).max(axis=0)


def stability_limit(lr: ArrayLike, momentum: ArrayLike = 0.0, method: str = "sgd") -> np.ndarray:
    """The largest stable curvature κ_max: the recursion is stable for 0 < κ < κ_max.

    sgd 2/η; heavy ball 2(1+β)/η; Nesterov (both forms) 2(1+β)/(η(1+2β)).
    """
    _check(method)
    eta, beta = np.asarray(lr, dtype=float), np.asarray(momentum, dtype=float)
    if method == "sgd":
        return 2 / eta + 0 * beta
    if method == "heavy_ball":
        return 2 * (1 + beta) / eta
    return 2 * (1 + beta) / (eta * (1 + 2 * beta))


def _stable(lr: ArrayLike, curvature: ArrayLike, momentum: ArrayLike, method: str) -> np.ndarray:
    kappa = np.asarray(curvature, dtype=float)
    return (kappa > 0) & (kappa < stability_limit(lr, momentum, method)) & (np.asarray(momentum) < 1) & (np.asarray(momentum) >= 0)


def relaxation_time(lr: ArrayLike, curvature: ArrayLike, momentum: ArrayLike = 0.0, method: str = "sgd") -> np.ndarray:
    """Iterations for the mean's error to shrink by e: −1 / ln ρ (inf where unstable)."""
    rho = spectral_radius(lr, curvature, momentum, method)
    with np.errstate(divide="ignore"):
        tau = -1.0 / np.log(np.where(rho > 0, rho, np.finfo(float).tiny))
    return np.where(_stable(lr, curvature, momentum, method), tau, np.inf)


def stationary_variance(lr: ArrayLike, curvature: ArrayLike, noise_var: ArrayLike, momentum: ArrayLike = 0.0,
                        method: str = "sgd") -> np.ndarray:
    """Stationary variance of the stored iterate, Var x (inf where unstable).

    sgd: ησ² / (κ(2 − ηκ)); heavy ball: (1+β)ησ² / ((1−β)κ(2(1+β) − ηκ)); Nesterov: the AR(2)
    formula with φ₁ = (1−ηκ)(1+β), φ₂ = −β(1−ηκ); PyTorch's Nesterov stores y = x + β(x − x₋),
    whose variance is ((1+β)² + β²)γ₀ − 2β(1+β)γ₁ with γ₁ = φ₁γ₀/(1 − φ₂).
    """
    phi1, phi2, c = ar2_coefficients(lr, curvature, momentum, method)
    sigma2 = np.asarray(noise_var, dtype=float)
    stable = _stable(lr, curvature, momentum, method)
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma0 = (1 - phi2) * c**2 * sigma2 / ((1 + phi2) * ((1 - phi2) ** 2 - phi1**2))
        if method == "nesterov_torch":
            beta = np.asarray(momentum, dtype=float)
            gamma1 = phi1 * gamma0 / (1 - phi2)
            gamma0 = ((1 + beta) ** 2 + beta**2) * gamma0 - 2 * beta * (1 + beta) * gamma1
    return np.where(stable, gamma0, np.inf)


def state_space(lr: float, curvature: float, momentum: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """The recursion as s' = A s + b ξ with s = (x, v) (or (x, x₋) for textbook Nesterov): an independent reference."""
    _check(method)
    eta, k, beta = lr, curvature, momentum
    if method == "sgd":
        return np.array([[1 - eta * k]]), np.array([-eta])
    if method == "heavy_ball":
        return np.array([[1 - eta * k, -eta * beta], [k, beta]]), np.array([-eta, 1.0])
    if method == "nesterov":
        return np.array([[(1 - eta * k) * (1 + beta), -(1 - eta * k) * beta], [1.0, 0.0]]), np.array([-eta, 0.0])
    return np.array([[1 - eta * (1 + beta) * k, -eta * beta**2], [k, beta]]), np.array([-eta * (1 + beta), 1.0])


def posterior_variance(curvature: ArrayLike, n_examples: int) -> np.ndarray:
    """Variance of the Laplace posterior along a direction, 1 / (N κ), for the objective L = mean loss + prior."""
    return 1.0 / (n_examples * np.asarray(curvature, dtype=float))


def temperature(lr: ArrayLike, curvature: ArrayLike, example_noise: ArrayLike, batch_size: int, n_examples: int,
                momentum: ArrayLike = 0.0, method: str = "heavy_ball") -> np.ndarray:
    """T_i = stationary variance / posterior variance, with σ² = c_i / B (batches drawn with replacement)."""
    variance = stationary_variance(lr, curvature, np.asarray(example_noise) / batch_size, momentum, method)
    return variance / posterior_variance(curvature, n_examples)


def posterior_matching_curvature(lr: float, batch_size: int, n_examples: int, momentum: float = 0.0,
                                 noise_scale: float = 1.0) -> float:
    """The one curvature κ* at which heavy-ball SGD samples the posterior (T = 1), if c = noise_scale · κ.

    With c = aκ (a = 1: Fisher ≈ Hessian), T(κ) = N a κ (1+β) η / (B (1−β)(2(1+β) − ηκ)) rises with κ,
    so T = 1 at κ* = 2B(1−β²) / (η (N a (1+β) + B (1−β))): sharper directions run hot, flatter ones cold.
    """
    beta = momentum
    return 2 * batch_size * (1 - beta**2) / (lr * (n_examples * noise_scale * (1 + beta) + batch_size * (1 - beta)))
