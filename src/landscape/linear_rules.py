r"""General linear update rules over the last K iterates on the noisy quadratic, and their optimisation.

A rule with lags K, rate η, iterate weights a and gradient weights b steps

.. math:: x_{t+1} = \sum_{k<K} a_k x_{t-k} - \eta\, g\Big(\sum_{k<K} b_k x_{t-k}\Big),
   \qquad \sum_k a_k = \sum_k b_k = 1,

the constraints making every minimum a fixed point. SGD is K = 1; heavy ball is a = (1+β, −β),
b = (1, 0); textbook Nesterov is a = b = (1+β, −β). Along a direction with curvature κ and gradient
noise of variance σ², the state s = (x_t, …, x_{t−K+1}) follows s' = A s + e₁(−η ξ) with the companion
matrix A whose first row is a_k − ηκ b_k, so moments follow exactly as in :mod:`landscape.theory`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landscape import theory

SUM_TOLERANCE = 1e-9
# Stability is required on (0, κ_max], checked on a log grid this many decades deep: a rule tuned to a
# finite model must not diverge along flat directions the model lacks (the general rule otherwise learns to).
STABILITY_DECADES = 8
STABILITY_POINTS = 200


@dataclass(frozen=True)
class LinearRule:
    """One constant rule: rate, iterate weights a_k and gradient weights b_k (k = 0 is the current iterate)."""

    lr: float
    iterate_weights: tuple[float, ...]
    gradient_weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.iterate_weights) != len(self.gradient_weights) or not self.iterate_weights:
            raise ValueError("iterate_weights and gradient_weights need the same, positive length (the number of lags)")
        for name in ("iterate_weights", "gradient_weights"):
            if abs(sum(getattr(self, name)) - 1) > SUM_TOLERANCE:
                raise ValueError(f"{name} {getattr(self, name)} must sum to 1 so that a minimum is a fixed point")

    @property
    def lags(self) -> int:
        """K, the number of past iterates the rule combines."""
        return len(self.iterate_weights)

    @classmethod
    def from_method(cls, lr: float, momentum: float, method: str, lags: int | None = None) -> LinearRule:
        """SGD, heavy ball or textbook Nesterov as a rule, padded with zero weights to ``lags``."""
        if method == "sgd":
            a, b = [1.0], [1.0]
        elif method == "heavy_ball":
            a, b = [1 + momentum, -momentum], [1.0, 0.0]
        elif method == "nesterov":
            a = b = [1 + momentum, -momentum]
        else:
            raise ValueError(f"method {method!r}: allowed values are sgd, heavy_ball, nesterov")
        pad = max(0, (lags or len(a)) - len(a))
        return cls(float(lr), tuple(a + [0.0] * pad), tuple(b + [0.0] * pad))


def transition(rule: LinearRule, curvature: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Companion matrices A (D, K, K) and noise vectors b (D, K) for every curvature."""
    kappa = np.asarray(curvature, dtype=float)
    a, g = np.asarray(rule.iterate_weights), np.asarray(rule.gradient_weights)
    A = np.zeros((*kappa.shape, rule.lags, rule.lags))
    A[..., 0, :] = a - rule.lr * kappa[..., None] * g
    A[..., np.arange(1, rule.lags), np.arange(rule.lags - 1)] = 1.0
    b = np.zeros((*kappa.shape, rule.lags))
    b[..., 0] = -rule.lr
    return A, b


def spectral_radius(rule: LinearRule, curvature: np.ndarray) -> np.ndarray:
    """Largest |eigenvalue| of the companion matrix per curvature: below 1 exactly where the rule is stable."""
    return _radius(transition(rule, curvature)[0])


def _radius(A: np.ndarray) -> np.ndarray:
    return np.abs(np.linalg.eigvals(A)).max(axis=-1)


def _stable(A: np.ndarray) -> np.ndarray:
    r"""Whether every eigenvalue of each companion matrix lies strictly inside the unit circle (Schur–Cohn test).

    The characteristic polynomial of a companion matrix with first row :math:`c` is
    :math:`p_K(z) = z^K - c_1 z^{K-1} - \dots - c_K`. With :math:`k` the constant term of the monic
    :math:`p_n` and :math:`\tilde p_n` its reversal, :math:`p_{n-1} = (p_n - k\tilde p_n)/((1-k^2) z)` is monic of
    degree :math:`n-1`, and the roots of :math:`p_n` lie inside the unit disk iff :math:`|k|<1` and those of
    :math:`p_{n-1}` do. K vectorised steps over every curvature replace one eigenvalue solve per matrix, which
    was the optimisers' bottleneck (about 30 % of the schedule analysis).
    """
    poly = np.concatenate([np.ones((*A.shape[:-2], 1)), -A[..., 0, :]], axis=-1)  # descending powers, monic
    stable = np.ones(A.shape[:-2], dtype=bool)
    for degree in range(A.shape[-1], 0, -1):
        k = poly[..., degree]
        stable &= np.abs(k) < 1
        scale = np.where(stable, 1 - k**2, 1.0)[..., None]
        poly = ((poly - k[..., None] * poly[..., ::-1]) / scale)[..., :degree]
    return stable


def stable_up_to(rule: LinearRule, top_curvature: float) -> bool:
    """Whether the rule is stable at every curvature in (0, ``top_curvature``] (on a log grid)."""
    grid = top_curvature * np.geomspace(10.0**-STABILITY_DECADES, 1.0, STABILITY_POINTS)
    return bool(np.all(_stable(transition(rule, grid)[0])))


def stationary_variance(rule: LinearRule, curvature: np.ndarray, noise_var: np.ndarray) -> np.ndarray:
    """Stationary variance of the iterate per direction (the Lyapunov solution); inf where unstable."""
    kappa = np.asarray(curvature, dtype=float)
    A, b = transition(rule, kappa)
    sigma2 = np.broadcast_to(np.asarray(noise_var, dtype=float), kappa.shape)
    variance = theory.stationary_second_moment(A, b, sigma2)[..., 0, 0]
    return np.where(_stable(A), variance, np.inf)


def expected_loss(
    rule: LinearRule,
    iterations: int,
    curvature: np.ndarray,
    noise_var: np.ndarray,
    start: np.ndarray,
    weights: np.ndarray | None = None,
) -> float:
    """Exact expected excess loss Σ_i w_i ½κ_i E[x_i²] after ``iterations`` steps from rest at ``start``.

    It is inf if the rule is unstable. ``weights`` w_i (default 1) let one direction stand for several alike (a
    quadrature over ranks).
    """
    kappa = np.asarray(curvature, dtype=float)
    A, b = transition(rule, kappa)
    if not np.all(_stable(A)):
        return float("inf")
    sigma2 = np.broadcast_to(np.asarray(noise_var, dtype=float), kappa.shape)
    mean = np.repeat((np.asarray(start, dtype=float) * np.ones_like(kappa))[..., None], rule.lags, axis=-1)
    second = np.zeros((*kappa.shape, rule.lags, rule.lags))
    mean, second = theory.advance_moments(A, b, sigma2, mean, second, int(iterations))
    weights = np.ones_like(kappa) if weights is None else np.asarray(weights, dtype=float)
    return float(np.sum(weights * 0.5 * kappa * (mean[..., 0] ** 2 + second[..., 0, 0])))


def _rule_from(params: np.ndarray, lags: int) -> LinearRule:
    """Unconstrained parameters (log η, a_1…, b_1…) → a rule with a_0 = 1 − Σ a_k, b_0 = 1 − Σ b_k."""
    a_rest, b_rest = params[1:lags], params[lags:]
    return LinearRule(
        float(np.exp(params[0])),
        (1 - float(np.sum(a_rest)), *map(float, a_rest)),
        (1 - float(np.sum(b_rest)), *map(float, b_rest)),
    )


def _minimise(objective, start: np.ndarray, steps: np.ndarray, maxiter: int) -> np.ndarray:
    from scipy.optimize import minimize

    simplex = np.vstack([start, start + np.diag(steps)])
    result = minimize(
        objective,
        start,
        method="Nelder-Mead",
        options={"initial_simplex": simplex, "maxiter": maxiter, "xatol": 1e-6, "fatol": 0.0},
    )
    return result.x


def optimise_method(
    curvature: np.ndarray,
    noise_var: np.ndarray,
    start: np.ndarray,
    iterations: int,
    method: str,
    initial_lr: float,
    initial_momentum: float = 0.9,
    weights: np.ndarray | None = None,
    stability_curvature: float | None = None,
) -> tuple[LinearRule, float]:
    """The constant rate (and momentum, for heavy ball and Nesterov) minimising the final expected excess loss.

    Only rules stable on (0, κ_max] are searched (:func:`stable_up_to`); κ_max is ``stability_curvature`` if given,
    else the largest curvature; ``weights`` as in :func:`expected_loss`.
    """
    top = float(np.max(curvature)) if stability_curvature is None else float(stability_curvature)
    from scipy.special import expit, logit

    def rule(params: np.ndarray) -> LinearRule:
        return LinearRule.from_method(
            float(np.exp(params[0])), float(expit(params[1])) if method != "sgd" else 0.0, method
        )

    def loss(params: np.ndarray) -> float:
        candidate = rule(params)
        if not stable_up_to(candidate, top):
            return float("inf")
        return expected_loss(candidate, iterations, curvature, noise_var, start, weights)

    # Start inside the stable region: shrink the rate until the starting rule is stable.
    initial = np.array([np.log(initial_lr)] + ([] if method == "sgd" else [float(logit(initial_momentum))]))
    while not np.isfinite(loss(initial)):
        initial[0] -= np.log(2)
    best = _minimise(loss, initial, np.full(len(initial), 0.5), 400 * len(initial))
    return rule(best), loss(best)


def optimise_rule(
    curvature: np.ndarray,
    noise_var: np.ndarray,
    start: np.ndarray,
    iterations: int,
    initial: LinearRule,
    weights: np.ndarray | None = None,
    stability_curvature: float | None = None,
) -> tuple[LinearRule, float]:
    """All of a rule's weights and its rate, minimising the final expected excess loss, searched from ``initial``.

    Only rules stable on (0, κ_max] are searched (:func:`stable_up_to`); κ_max and ``weights`` as in
    :func:`optimise_method`.

    Nelder–Mead never returns a point worse than its starting vertex, so the result is at least as
    good as ``initial`` (e.g. the best heavy ball, padded to more lags).
    """
    lags = initial.lags
    top = float(np.max(curvature)) if stability_curvature is None else float(stability_curvature)
    params = np.array([np.log(initial.lr), *initial.iterate_weights[1:], *initial.gradient_weights[1:]])

    def loss(p: np.ndarray) -> float:
        candidate = _rule_from(p, lags)
        if not stable_up_to(candidate, top):
            return float("inf")
        return expected_loss(candidate, iterations, curvature, noise_var, start, weights)

    best = _minimise(loss, params, np.concatenate([[0.2], np.full(2 * (lags - 1), 0.05)]), 600 * len(params))
    return _rule_from(best, lags), loss(best)
