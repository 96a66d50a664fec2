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


def ar2_coefficients(
    lr: ArrayLike, curvature: ArrayLike, momentum: ArrayLike, method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(φ₁, φ₂, c) of the recursion x_{t+1} = φ₁x_t + φ₂x_{t−1} − c ξ_t (textbook Nesterov for ``nesterov_torch``)."""
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
    return (
        (kappa > 0)
        & (kappa < stability_limit(lr, momentum, method))
        & (np.asarray(momentum) < 1)
        & (np.asarray(momentum) >= 0)
    )


def relaxation_time(lr: ArrayLike, curvature: ArrayLike, momentum: ArrayLike = 0.0, method: str = "sgd") -> np.ndarray:
    """Iterations for the mean's error to shrink by e: −1 / ln ρ (inf where unstable)."""
    rho = spectral_radius(lr, curvature, momentum, method)
    with np.errstate(divide="ignore"):
        tau = -1.0 / np.log(np.where(rho > 0, rho, np.finfo(float).tiny))
    return np.where(_stable(lr, curvature, momentum, method), tau, np.inf)


def stationary_variance(
    lr: ArrayLike, curvature: ArrayLike, noise_var: ArrayLike, momentum: ArrayLike = 0.0, method: str = "sgd"
) -> np.ndarray:
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
    """The recursion at one curvature as s' = A s + b ξ (see :func:`transition`): checked against the closed forms."""
    A, b = transition(lr, np.array([curvature], dtype=float), momentum, method)
    return A[0], b[0]


def posterior_variance(curvature: ArrayLike, n_examples: int) -> np.ndarray:
    """Variance of the Laplace posterior along a direction, 1 / (N κ), for the objective L = mean loss + prior."""
    return 1.0 / (n_examples * np.asarray(curvature, dtype=float))


def temperature(
    lr: ArrayLike,
    curvature: ArrayLike,
    example_noise: ArrayLike,
    batch_size: int,
    n_examples: int,
    momentum: ArrayLike = 0.0,
    method: str = "heavy_ball",
) -> np.ndarray:
    """T_i = stationary variance / posterior variance, with σ² = c_i / B (batches drawn with replacement)."""
    variance = stationary_variance(lr, curvature, np.asarray(example_noise) / batch_size, momentum, method)
    return variance / posterior_variance(curvature, n_examples)


def posterior_matching_curvature(
    lr: float, batch_size: int, n_examples: int, momentum: float = 0.0, noise_scale: float = 1.0
) -> float:
    """The one curvature κ* at which heavy-ball SGD samples the posterior (T = 1), if c = noise_scale · κ.

    With c = aκ (a = 1: Fisher ≈ Hessian), T(κ) = N a κ (1+β) η / (B (1−β)(2(1+β) − ηκ)) rises with κ,
    so T = 1 at κ* = 2B(1−β²) / (η (N a (1+β) + B (1−β))): sharper directions run hot, flatter ones cold.
    """
    beta = momentum
    return 2 * batch_size * (1 - beta**2) / (lr * (n_examples * noise_scale * (1 + beta) + batch_size * (1 - beta)))


def bayesian_learning_rates(
    curvature: np.ndarray,
    example_noise: np.ndarray,
    batch_size: int,
    n_examples: int,
    momentum: float = 0.0,
    stability_margin: float = 0.5,
) -> np.ndarray:
    """Per-direction rates η_i at which heavy ball's stationary variance is the posterior's, 1/(Nκ_i).

    Setting (1+β)η c/(B(1−β)κ(2(1+β) − ηκ)) = 1/(Nκ) (batches with replacement, σ² = c/B) gives
    η_i = 2B(1−β²) / (N(1+β)c_i + B(1−β)κ_i). Where the noise is too small for that rate to be stable
    the rate is capped at ``stability_margin`` of the stability limit 2(1+β)/κ_i; non-positive
    curvatures (no Gaussian posterior) use the smallest positive one.
    """
    kappa = np.asarray(curvature, dtype=float)
    kappa = np.where(kappa > 0, kappa, kappa[kappa > 0].min())
    c = np.maximum(np.asarray(example_noise, dtype=float), 0.0)
    beta = momentum
    rates = 2 * batch_size * (1 - beta**2) / (n_examples * (1 + beta) * c + batch_size * (1 - beta) * kappa)
    return np.minimum(rates, stability_margin * stability_limit(1.0, beta, "heavy_ball") / kappa)


def power_law_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, p) of the least-squares line log y = log a + p log x over the points where both are positive."""
    keep = (np.asarray(x) > 0) & (np.asarray(y) > 0)
    slope, intercept = np.polyfit(np.log(np.asarray(x)[keep]), np.log(np.asarray(y)[keep]), 1)
    return float(np.exp(intercept)), float(slope)


def noise_law(
    eigenvalues: np.ndarray,
    noise: np.ndarray,
    weight_decay: float = 0.0,
    level: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
    resolution: float = 0.0,
) -> dict[str, float]:
    r"""The gradient-noise law :math:`c_i = a\,\lambda_i^p` over the data's directions, with a bootstrap interval of p.

    The one fit of the study's noise law, which every analysis that needs c(κ) reads. Directions with
    0 ≤ λ ≤ 2·``weight_decay`` are left out: their curvature is weight decay's, not the data's, and near
    λ = wd their tiny noise would pull a log-log line far from the bulk's law. The interval resamples the
    directions with replacement (``resamples`` times, percentile interval at ``level``). Eigenvalues
    below the assembly's ``resolution`` (:func:`landscape.spectra.eigenvalue_resolution`) are left out too.
    """
    lam, c = np.asarray(eigenvalues, dtype=float), np.asarray(noise, dtype=float)
    data = (lam > 2 * weight_decay) & (lam > max(resolution, 0.0)) & (c > 0)
    x, y = np.log(lam[data]), np.log(c[data])
    power, log_scale = np.polyfit(x, y, 1)
    rng, slopes = np.random.default_rng(seed), []
    # 100 resamples at a time: the same draws as all at once, in a tenth of the memory (at the `paper` profile's P, all
    # 1,000 at once would be several GB).
    for first in range(0, resamples, 100):
        picks = rng.integers(0, len(x), (min(100, resamples - first), len(x)))
        xs, ys = x[picks], y[picks]
        xs_centred = xs - xs.mean(axis=1, keepdims=True)
        slopes.append(
            np.sum(xs_centred * (ys - ys.mean(axis=1, keepdims=True)), axis=1) / np.sum(xs_centred**2, axis=1)
        )
    slopes = np.concatenate(slopes)
    low, high = np.quantile(slopes, [(1 - level) / 2, (1 + level) / 2])
    return {
        "scale": float(np.exp(log_scale)),
        "power": float(power),
        "power_low": float(low),
        "power_high": float(high),
        "level": level,
        "directions": int(data.sum()),
        "weight_decay_excluded": int(np.sum((lam >= 0) & (lam <= 2 * weight_decay))) if weight_decay > 0 else 0,
    }


def posterior_matching_curvature_measured(
    lr: float, curvature: np.ndarray, law: tuple[float, float], batch_size: int, n_examples: int, momentum: float = 0.0
) -> float:
    """κ* at which heavy-ball SGD runs at the posterior's temperature, with the measured noise law c(κ) = a κ^p.

    ``law`` is (a, p) (:func:`noise_law`), and T(κ) = N(1+β)η c(κ) / (B(1−β)(2(1+β) − ηκ)) is solved for
    T = 1 on (0, κ_max) by bisection in log κ. For p = 1 this is :func:`posterior_matching_curvature` with
    ``noise_scale = a``. Returns nan when T does not cross 1 on the interval the spectrum ``curvature``
    spans, widened by a factor of 100 below.
    """
    from scipy.optimize import brentq

    amplitude, power = law
    beta, eta = momentum, lr
    kappa_max = float(stability_limit(lr, momentum, "heavy_ball"))

    def log_temperature(log_kappa: float) -> float:
        kappa = np.exp(log_kappa)
        noise = amplitude * kappa**power
        return float(
            np.log(n_examples * (1 + beta) * eta * noise / (batch_size * (1 - beta) * (2 * (1 + beta) - eta * kappa)))
        )

    low = np.log(np.min(np.asarray(curvature)[np.asarray(curvature) > 0]) / 100)
    grid = np.linspace(low, np.log(kappa_max) - 1e-9, 400)
    values = np.array([log_temperature(g) for g in grid])
    crossings = np.flatnonzero(np.sign(values[:-1]) != np.sign(values[1:]))
    if len(crossings) == 0:
        return float("nan")
    k = crossings[0]
    return float(np.exp(brentq(log_temperature, grid[k], grid[k + 1], xtol=1e-12)))


def transition(lr: float, curvature: np.ndarray, momentum: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Batched state-space matrices A (D, 2, 2) and noise vectors b (D, 2) for every curvature.

    The state is (x, v) for heavy ball and PyTorch's Nesterov, (x, x₋) for textbook Nesterov, and (x, 0)
    for SGD. One definition serves the moment recursions and, through :func:`state_space`, the tests
    that check it against the independently derived AR(2) closed forms.
    """
    kappa = np.asarray(curvature, dtype=float)
    eta, beta = lr, momentum
    zero, one = np.zeros_like(kappa), np.ones_like(kappa)
    if method == "sgd":
        A = np.stack([np.stack([1 - eta * kappa, zero], -1), np.stack([zero, zero], -1)], -2)
        b = np.stack([-eta * one, zero], -1)
    elif method == "heavy_ball":
        A = np.stack([np.stack([1 - eta * kappa, -eta * beta * one], -1), np.stack([kappa, beta * one], -1)], -2)
        b = np.stack([-eta * one, one], -1)
    elif method == "nesterov":
        A = np.stack(
            [np.stack([(1 - eta * kappa) * (1 + beta), -(1 - eta * kappa) * beta], -1), np.stack([one, zero], -1)], -2
        )
        b = np.stack([-eta * one, zero], -1)
    else:
        _check(method)
        A = np.stack(
            [np.stack([1 - eta * (1 + beta) * kappa, -eta * beta**2 * one], -1), np.stack([kappa, beta * one], -1)], -2
        )
        b = np.stack([-eta * (1 + beta) * one, one], -1)
    return A, b


def simulate_heavy_ball(
    lrs: np.ndarray,
    curvature: np.ndarray,
    noise_sd: np.ndarray,
    start: np.ndarray,
    momentum: float,
    rng: np.random.Generator,
) -> np.ndarray:
    r"""One sample path per direction of heavy ball on the noisy quadratic: the iterates :math:`x_0 \dots x_T`.

    In PyTorch's convention, with independent Gaussian gradient noise of s.d. ``noise_sd`` per direction and step:

    .. math:: v_{t+1} = \beta v_t + \kappa x_t + \sigma\,\xi_t, \qquad x_{t+1} = x_t - \eta_t v_{t+1},
        \quad \xi_t \sim \mathcal N(0, 1).

    Returns an array of shape (T + 1, D), row t the iterate after t steps (row 0 is ``start``).
    """
    x, velocity = np.array(start, dtype=np.float64), np.zeros(len(curvature))
    path = np.empty((len(lrs) + 1, len(curvature)))
    path[0] = x
    for t, lr in enumerate(lrs):
        velocity = momentum * velocity + curvature * x + noise_sd * rng.standard_normal(len(curvature))
        x = x - lr * velocity
        path[t + 1] = x
    return path


def initial_state(start: np.ndarray, curvature: np.ndarray, method: str) -> np.ndarray:
    """The state (D, 2) of a run at rest at x = ``start``: zero velocity, or x₋ = x for textbook Nesterov."""
    x = np.asarray(start, dtype=float) * np.ones_like(np.asarray(curvature, dtype=float))
    return np.stack([x, x if method == "nesterov" else np.zeros_like(x)], -1)


def expected_loss_curve(
    lrs: np.ndarray,
    curvature: np.ndarray,
    noise_var: np.ndarray,
    start: np.ndarray,
    momentum: float = 0.0,
    method: str = "heavy_ball",
    every: int = 1,
) -> np.ndarray:
    """Exact expected excess loss E[Σ_i ½κ_i x_i²] along a schedule, by the moment recursion (no sampling).

    Each direction starts at x = ``start`` with zero velocity; per step the first and second moments
    propagate as m' = A m, S' = A S Aᵀ + σ² b bᵀ with the step's learning rate. Returns the value at
    steps 0, ``every``, 2·``every``, … and at the end.
    """
    kappa = np.asarray(curvature, dtype=float)
    sigma2 = np.broadcast_to(np.asarray(noise_var, dtype=float), kappa.shape)
    mean = initial_state(start, kappa, method)
    second = np.zeros((*kappa.shape, 2, 2))
    out = [float(np.sum(0.5 * kappa * mean[..., 0] ** 2))]
    cache: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    for t, lr in enumerate(np.asarray(lrs, dtype=float)):
        if lr not in cache:
            cache[lr] = transition(lr, kappa, momentum, method)
        A, b = cache[lr]
        mean = np.einsum("...ij,...j->...i", A, mean)
        second = (
            np.einsum("...ij,...jk,...lk->...il", A, second, A)
            + sigma2[..., None, None] * b[..., :, None] * b[..., None, :]
        )
        if (t + 1) % every == 0 or t + 1 == len(lrs):
            out.append(float(np.sum(0.5 * kappa * (mean[..., 0] ** 2 + second[..., 0, 0]))))
    return np.asarray(out)


def expected_loss_piecewise(
    rates: np.ndarray,
    lengths: np.ndarray,
    curvature: np.ndarray,
    noise_var: np.ndarray,
    start: np.ndarray,
    momentum: float = 0.0,
    method: str = "heavy_ball",
) -> np.ndarray:
    """Expected excess loss at the end of each constant-rate piece, in O(log length) per piece.

    Within a piece of n steps with a stable transition A, S_n = S_∞ + Aⁿ(S_0 − S_∞)Aⁿᵀ and m_n = Aⁿ m_0,
    with S_∞ the stationary second moment (the discrete Lyapunov solution). Equal to the step-by-step
    :func:`expected_loss_curve` at the piece ends; returns inf once a piece is unstable.
    """
    kappa = np.asarray(curvature, dtype=float)
    sigma2 = np.broadcast_to(np.asarray(noise_var, dtype=float), kappa.shape)
    mean = initial_state(start, kappa, method)
    second = np.zeros((*kappa.shape, 2, 2))
    out = []
    for lr, n in zip(rates, lengths):
        if np.any(kappa >= stability_limit(lr, momentum, method)) or np.any(kappa <= 0):
            return np.asarray(out + [np.inf] * (len(rates) - len(out)))
        A, b = transition(lr, kappa, momentum, method)
        mean, second = advance_moments(A, b, sigma2, mean, second, int(n))
        out.append(float(np.sum(0.5 * kappa * (mean[..., 0] ** 2 + second[..., 0, 0]))))
    return np.asarray(out)


def stationary_second_moment(A: np.ndarray, b: np.ndarray, noise_var: np.ndarray) -> np.ndarray:
    """Solution S of the discrete Lyapunov equation S = A S Aᵀ + σ² b bᵀ, batched over leading axes (A stable)."""
    k = A.shape[-1]
    noise = noise_var[..., None, None] * b[..., :, None] * b[..., None, :]
    kron = np.einsum("...ij,...kl->...ikjl", A, A).reshape(*A.shape[:-2], k * k, k * k)
    return np.linalg.solve(np.eye(k * k) - kron, noise.reshape(*A.shape[:-2], k * k, 1)).reshape(noise.shape)


def advance_moments(
    A: np.ndarray, b: np.ndarray, noise_var: np.ndarray, mean: np.ndarray, second: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """First and second moments after ``n`` steps of s' = A s + b ξ (A stable), in O(log n).

    m_n = Aⁿ m_0 and S_n = S_∞ + Aⁿ(S_0 − S_∞)Aⁿᵀ, with S_∞ the Lyapunov solution; ``second`` is the
    noise-driven part of the second moment (the mean's part is carried by ``mean``).
    """
    stationary = stationary_second_moment(A, b, noise_var)
    power = np.linalg.matrix_power(A, n)
    mean = np.einsum("...ij,...j->...i", power, mean)
    second = stationary + np.einsum("...ij,...jk,...lk->...il", power, second - stationary, power)
    return mean, second


def piecewise_schedule(log_lrs: np.ndarray, iterations: int) -> np.ndarray:
    """Equal-length pieces of constant learning rate exp(log_lrs[k])."""
    pieces = np.array_split(np.arange(iterations), len(log_lrs))
    return np.concatenate([np.full(len(p), np.exp(v)) for p, v in zip(pieces, log_lrs)])


def optimise_schedule(
    curvature: np.ndarray,
    noise_var: np.ndarray,
    start: np.ndarray,
    iterations: int,
    pieces: int,
    momentum: float,
    method: str = "heavy_ball",
    initial_lr: float = 0.1,
    stability_curvature: float | None = None,
) -> tuple[np.ndarray, float]:
    """The piecewise-constant schedule (``pieces`` equal pieces) minimising the final expected excess loss.

    Each piece's rate is η_max · sigmoid(u_k), with η_max the largest rate stable for
    ``stability_curvature`` (default the largest curvature), so every candidate is stable; u is searched
    by Nelder–Mead from ``initial_lr`` (clipped to half of η_max). A network's λ_max changes during
    training, so a schedule meant to be trained should be kept stable at the largest λ_max measured on
    the way, not only at the end point's. Returns the per-step schedule and its final expected loss.
    """
    from scipy.optimize import minimize
    from scipy.special import expit, logit

    kappa_max = float(np.max(curvature)) if stability_curvature is None else float(stability_curvature)
    eta_max = float(stability_limit(1.0, momentum, method)) / kappa_max * (1 - 1e-9)
    lengths = np.array([len(p) for p in np.array_split(np.arange(iterations), pieces)])

    def final_loss(u: np.ndarray) -> float:
        return float(
            expected_loss_piecewise(eta_max * expit(u), lengths, curvature, noise_var, start, momentum, method)[-1]
        )

    u0 = np.full(pieces, logit(min(initial_lr / eta_max, 0.5)))
    result = minimize(
        final_loss, u0, method="Nelder-Mead", options={"maxiter": 400 * pieces, "xatol": 1e-4, "fatol": 1e-14}
    )
    return np.repeat(eta_max * expit(result.x), lengths), float(result.fun)
