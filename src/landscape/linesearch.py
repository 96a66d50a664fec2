r"""Losses along lines θ + t·d, many points per pass over the data, and the quadratic model of them.

A line search here is an evaluation of the objective of DESIGN §3 (or of a mini-batch
objective) at a grid of step sizes ``t`` along a direction ``d``. ``points_per_pass`` grid
points are evaluated together, the forward pass vectorised over them with ``vmap``: a good
trade on a GPU. On a CPU the plain forward pass per point is faster (measured on the cpu
profile: 2.7 ms per point in float32 against 8.5 ms vectorised over 64 points; 17.7 against
21.8 ms in float64), so the CPU profiles set ``points_per_pass = 1``.

The quadratic model of the loss along a unit direction ``d`` is

.. math:: q(t) = L(\theta) + t\, g^\top d + \tfrac12 t^2\, d^\top H d ,

which for an eigenvector ``v_i`` is ``L + t g_i + ½ λ_i t²``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from landscape.params import unflatten

TOLERANCE = 0.1  # "quadratic" means: within 10% of the quadratic model's own rise


def noise_floor(loss0: float, dtype: torch.dtype) -> float:
    """Absolute round-off of one loss evaluation, taken as 100 unit round-offs of the loss (a sum of many terms)."""
    return 100 * float(torch.finfo(dtype).eps) * abs(loss0)


class LineFunction(Protocol):
    """Anything that evaluates a loss along θ + t·d (a network's :class:`LineLoss`, or a test function)."""

    def along(self, theta: torch.Tensor, direction: torch.Tensor, ts: np.ndarray) -> np.ndarray:
        """Loss at θ + t·d for every t, float64."""


@dataclass
class LineLoss:
    """Evaluates (1/N) Σ ℓ_n(θ + t d) + (wd/2)|θ + t d|² at many ``t`` over fixed data.

    Args:
        model: the network (structure only).
        x, y: the examples of the objective (all training data, or one batch).
        weight_decay: ``wd``.
        chunk_size: examples per vectorised pass.
        points_per_pass: grid points evaluated together (memory scales with chunk x points).
    """

    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    weight_decay: float
    chunk_size: int = 250
    points_per_pass: int = 64

    def _data_sum(self, thetas: torch.Tensor) -> torch.Tensor:
        def one(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            logits = functional_call(self.model, unflatten(self.model, theta), (x,))
            return F.cross_entropy(logits, y, reduction="sum")

        total = torch.zeros(len(thetas), dtype=torch.float64, device=thetas.device)
        for start in range(0, len(self.y), self.chunk_size):
            x, y = self.x[start : start + self.chunk_size], self.y[start : start + self.chunk_size]
            if len(thetas) == 1:  # one point: a plain forward pass (vmap over weights makes convolutions grouped)
                total += one(thetas[0], x, y).double()
            else:
                total += vmap(one, in_dims=(0, None, None))(thetas, x, y).double()
        return total

    @torch.no_grad()
    def along(self, theta: torch.Tensor, direction: torch.Tensor, ts: np.ndarray) -> np.ndarray:
        """L(θ + t d) for every ``t`` in ``ts``, float64 array of the same length."""
        steps = torch.as_tensor(np.asarray(ts), dtype=theta.dtype, device=theta.device)
        out = np.empty(len(steps))
        for start in range(0, len(steps), self.points_per_pass):
            block = steps[start : start + self.points_per_pass]
            thetas = theta[None, :] + block[:, None] * direction[None, :].to(theta.dtype)
            penalty = 0.5 * self.weight_decay * thetas.double().pow(2).sum(dim=1)
            out[start : start + len(block)] = (self._data_sum(thetas) / len(self.y) + penalty).cpu().numpy()
        return out


def quadratic_prediction(loss0: float, slope: float, curvature: float, ts: np.ndarray) -> np.ndarray:
    """q(t) = L0 + t·slope + ½·curvature·t²."""
    ts = np.asarray(ts, dtype=np.float64)
    return loss0 + slope * ts + 0.5 * curvature * ts**2


def step_scale(curvature: float, loss_increase: float, cap: float) -> float:
    """The ``t`` at which ½|curvature| t² equals ``loss_increase``, at most ``cap``."""
    if curvature == 0:
        return cap
    return float(min(np.sqrt(2.0 * loss_increase / abs(curvature)), cap))


def symmetric_grid(t_max: float, points: int) -> np.ndarray:
    """``points`` (odd) equally spaced steps in [-t_max, t_max], exactly symmetric, with 0 in the middle."""
    half = np.linspace(0.0, t_max, (points | 1) // 2 + 1)
    return np.concatenate([-half[:0:-1], half])


def fit_polynomial(ts: np.ndarray, losses: np.ndarray, degree: int) -> np.ndarray:
    """Least-squares polynomial coefficients, lowest order first (t is rescaled for conditioning)."""
    scale = max(np.abs(ts).max(), np.finfo(float).tiny)
    coefficients = np.polynomial.polynomial.polyfit(ts / scale, losses, degree)
    return coefficients / scale ** np.arange(degree + 1)


@dataclass(frozen=True)
class QuadraticCheck:
    """How well a measured profile matches its quadratic model."""

    max_deviation: float  # max |L - q| over the grid, relative to the quadratic's increase at the end of the grid
    fitted_curvature: float  # 2 c2 of a quadratic fit to the central half of the grid
    asymmetry: float  # max |(L(t) - L(-t))/2 - t·slope| relative to the quadratic's increase
    valid_fraction: float  # largest T/t_max with |L - q| <= tol·½|λ|t² for all |t| <= T


def check_quadratic(
    ts: np.ndarray,
    losses: np.ndarray,
    loss0: float,
    slope: float,
    curvature: float,
    tolerance: float = 0.1,
    floor: float = 0.0,
) -> QuadraticCheck:
    """Compare a profile on a symmetric grid with its quadratic model.

    Args:
        floor: deviations below this absolute value count as agreement (round-off of the loss).
    """
    ts, losses = np.asarray(ts), np.asarray(losses)
    t_max = np.abs(ts).max()
    predicted = quadratic_prediction(loss0, slope, curvature, ts)
    scale = max(0.5 * abs(curvature) * t_max**2, np.finfo(float).tiny)
    error = np.abs(losses - predicted)
    central = np.abs(ts) <= t_max / 2
    coefficients = fit_polynomial(ts[central], losses[central], 2)
    mirrored = losses[::-1]
    odd = np.abs(0.5 * (losses - mirrored) - slope * ts)
    bad = error > tolerance * 0.5 * abs(curvature) * ts**2 + floor
    first_bad = np.abs(ts[bad]).min() if bad.any() else np.inf
    inside = np.abs(ts) < first_bad
    valid = float(np.abs(ts[inside]).max() / t_max) if inside.any() else 0.0
    return QuadraticCheck(float(error.max() / scale), float(2 * coefficients[2]), float(odd.max() / scale), valid)


def select_directions(eigenvalues: np.ndarray, count: int) -> dict[str, np.ndarray]:
    """Eigenvector indices (ascending order) in four bands: top, bulk (log-spaced ranks), near zero, negative."""
    P = len(eigenvalues)
    n_top = max(count // 3, 1)
    n_neg = min(max(count // 6, 1), int(np.sum(eigenvalues < 0)))
    n_zero = max(count // 6, 1)
    n_bulk = max(count - n_top - n_neg - n_zero, 1)
    top = np.arange(P - 1, P - 1 - n_top, -1)
    positive = int(np.sum(eigenvalues > 0))
    ranks = np.unique(np.geomspace(n_top + 1, max(positive, n_top + 2), n_bulk + 1).astype(int))[:n_bulk]
    bulk = P - ranks
    negative = np.arange(n_neg)
    taken = set(top) | set(bulk) | set(negative)
    zero = np.array([i for i in np.argsort(np.abs(eigenvalues)) if i not in taken][:n_zero])
    return {"top": top, "bulk": bulk, "zero": zero, "negative": negative}
