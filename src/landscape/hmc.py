"""Hamiltonian Monte Carlo with an identity mass matrix, and the effective sample size of a trace.

The target is p(θ) ∝ exp(−U(θ)); for the posterior of the training objective (DESIGN §3, mean loss
plus the weight-decay prior) U = N·L. Leapfrog integration is stable on a quadratic for step sizes
ε < 2/√(λ_max(∇²U)), which sets ε from the computed spectrum. Each transition draws its step size
uniformly from [ε/2, ε]: with a fixed trajectory length, a direction whose period it matches (or
half-matches) never moves, which biases the chain (Neal 2011, §5.4.2.2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm


@dataclass
class Chain:
    """Accepted states (after burn-in), the acceptance rate over all proposals, and U along the chain."""

    samples: list[torch.Tensor]
    acceptance: float
    potentials: np.ndarray


def leapfrog(
    theta: torch.Tensor,
    momentum: torch.Tensor,
    gradient: Callable[[torch.Tensor], torch.Tensor],
    step_size: float,
    steps: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``steps`` leapfrog steps of H = U(θ) + ½|p|²."""
    p = momentum - 0.5 * step_size * gradient(theta)
    for step in range(steps):
        theta = theta + step_size * p
        if step < steps - 1:
            p = p - step_size * gradient(theta)
    return theta, p - 0.5 * step_size * gradient(theta)


def sample(
    potential: Callable[[torch.Tensor], float],
    gradient: Callable[[torch.Tensor], torch.Tensor],
    start: torch.Tensor,
    step_size: float,
    steps: int,
    samples: int,
    burn_in: int,
    seed: int,
    label: str = "hmc",
) -> Chain:
    """``burn_in + samples`` HMC transitions from ``start`` (step jittered in [ε/2, ε]); keeps the last ``samples``."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    rng = np.random.default_rng(seed)
    theta, u = start.clone(), potential(start)
    kept, potentials, accepted = [], [], 0
    for t in tqdm(range(burn_in + samples), desc=label, unit="sample", dynamic_ncols=True, leave=False):
        p = torch.randn(theta.shape, generator=generator, dtype=theta.dtype).to(theta.device)
        proposal, p_new = leapfrog(theta, p, gradient, step_size * rng.uniform(0.5, 1.0), steps)
        u_new = potential(proposal)
        log_ratio = u - u_new + 0.5 * float(p.double().pow(2).sum() - p_new.double().pow(2).sum())
        if np.isfinite(log_ratio) and np.log(rng.uniform()) < log_ratio:
            theta, u, accepted = proposal, u_new, accepted + 1
        potentials.append(u)
        if t >= burn_in:
            kept.append(theta.clone())
    return Chain(kept, accepted / (burn_in + samples), np.asarray(potentials))


def effective_sample_size(trace: np.ndarray) -> float:
    """Geyer's initial-positive-sequence estimate n / (1 + 2Σρ_k) of a scalar trace's ESS."""
    x = np.asarray(trace, dtype=float) - np.mean(trace)
    n = len(x)
    if n < 4 or np.var(x) == 0:
        return float(n)
    spectrum = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[:n] / (np.var(x) * n)
    total = 0.0
    for k in range(1, n - 1, 2):
        pair = acf[k] + acf[k + 1]
        if pair <= 0:
            break
        total += pair
    return float(n / (1 + 2 * total))
