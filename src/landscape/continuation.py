"""Training continued from a saved iterate: heavy ball (PyTorch's convention), optionally preconditioned in the eigenbasis.

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


def eigen_preconditioner(eigenvectors: np.ndarray | torch.Tensor, rates: np.ndarray, like: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """R(v) = V diag(rates) Vᵀ v, in ``like``'s dtype and device."""
    basis = torch.as_tensor(eigenvectors, dtype=like.dtype, device=like.device)
    scale = torch.as_tensor(rates, dtype=like.dtype, device=like.device)
    return lambda v: basis @ (scale * (basis.T @ v))


def heavy_ball(point: Point, start: torch.Tensor, batches: np.ndarray, lrs: np.ndarray, momentum: float,
               precondition: Callable[[torch.Tensor], torch.Tensor] | None = None,
               observe: Callable[[int, torch.Tensor], None] | None = None, label: str = "continue") -> torch.Tensor:
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
