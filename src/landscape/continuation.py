"""Training continued from a saved iterate, by heavy ball or by any constant linear update rule.

Heavy ball follows PyTorch's convention and can be preconditioned in the eigenbasis; a linear update rule
combines the last K iterates (:mod:`landscape.linear_rules`).

One step on the batch b_t is v ← βv + ∇L_b(θ), θ ← θ − η_t R(v), with R the identity (plain SGD)
or R(v) = V diag(r) Vᵀv, per-eigendirection rates r (the Bayesian rates of B2). L_b is the batch
objective of DESIGN §3 (mean loss plus weight decay).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from landscape.checkpoint import Point
from landscape.linear_rules import LinearRule


def eigen_preconditioner(
    eigenvectors: np.ndarray | torch.Tensor, rates: np.ndarray, like: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """R(v) = V diag(rates) Vᵀ v, in ``like``'s dtype and device."""
    basis = torch.as_tensor(eigenvectors, dtype=like.dtype, device=like.device)
    scale = torch.as_tensor(rates, dtype=like.dtype, device=like.device)
    return lambda v: basis @ (scale * (basis.T @ v))


def heavy_ball(
    point: Point,
    start: torch.Tensor,
    batches: np.ndarray,
    lrs: np.ndarray,
    momentum: float,
    precondition: Callable[[torch.Tensor], torch.Tensor] | None = None,
    observe: Callable[[int, torch.Tensor], None] | None = None,
    label: str = "continue",
) -> torch.Tensor:
    """Run ``len(batches)`` steps from ``start`` at rest; ``observe(t, θ_t)`` sees every iterate, θ_0 included."""
    theta, velocity = start.clone(), torch.zeros_like(start)
    if observe:
        observe(0, theta)
    for t, batch in enumerate(tqdm(batches, desc=label, unit="it", dynamic_ncols=True, leave=False)):
        objective = point.objective(chunk_size=len(batch), indices=torch.as_tensor(batch, device=start.device))
        velocity = momentum * velocity + objective.gradient(theta).to(theta.dtype)
        theta = theta - float(lrs[t]) * (precondition(velocity) if precondition else velocity)
        if observe:
            observe(t + 1, theta)
    return theta


def linear_rule(
    point: Point, start: torch.Tensor, batches: np.ndarray, rule: LinearRule, label: str = "rule"
) -> torch.Tensor:
    r"""Run a constant linear rule ``len(batches)`` steps from ``start`` at rest; the last iterate (inf if diverged).

    .. math:: x_{t+1} = \sum_k a_k x_{t-k} - \eta\, \nabla L_{b_t}\Big(\sum_k b_k x_{t-k}\Big),

    with the history before the start filled with ``start`` (at rest), as :mod:`landscape.linear_rules`
    assumes; heavy ball at a constant rate is a = (1+β, −β), b = (1, 0).
    """
    history = [start.clone() for _ in range(rule.lags)]  # history[k] = x_{t-k}
    for batch in tqdm(batches, desc=label, unit="it", dynamic_ncols=True, leave=False):
        objective = point.objective(chunk_size=len(batch), indices=torch.as_tensor(batch, device=start.device))
        probe = sum(b * x for b, x in zip(rule.gradient_weights, history))
        step = objective.gradient(probe).to(start.dtype)
        new = sum(a * x for a, x in zip(rule.iterate_weights, history)) - rule.lr * step
        if not torch.isfinite(new).all():
            return new
        history = [new, *history[:-1]]
    return history[0]
