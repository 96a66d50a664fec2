r"""Flat-vector view of a model: the one bridge between modules and every analysis.

An analysis sees the model as a function of one vector ``theta`` of length P; this module
converts between that vector and the module's named parameters and evaluates the
objective of DESIGN §3 at any ``theta`` through ``torch.func.functional_call``:

.. math:: L(\theta) = \frac{1}{N}\sum_{n=1}^N \ell(x_n, y_n; \theta) + \frac{\mathrm{wd}}{2}\lVert\theta\rVert^2
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call


def flatten(model: nn.Module) -> torch.Tensor:
    """The model's parameters concatenated into one detached vector (module order)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def unflatten(model: nn.Module, theta: torch.Tensor) -> dict[str, torch.Tensor]:
    """Named views of ``theta`` shaped like the model's parameters (differentiable in ``theta``)."""
    views, offset = {}, 0
    for name, p in model.named_parameters():
        views[name] = theta[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
    if offset != theta.numel():
        raise ValueError(f"theta has {theta.numel()} entries, the model {offset} parameters")
    return views


def load_flat(model: nn.Module, theta: torch.Tensor) -> None:
    """Copy ``theta`` into the model's parameters in place."""
    with torch.no_grad():
        for p, view in zip(model.parameters(), unflatten(model, theta).values()):
            p.copy_(view)


def logits_at(model: nn.Module, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The model's outputs on ``x`` with parameters ``theta``."""
    return functional_call(model, unflatten(model, theta), (x,))


def data_loss_at(
    model: nn.Module, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Cross-entropy of the batch (``mean`` or ``sum`` over its examples) at ``theta``."""
    return F.cross_entropy(logits_at(model, theta, x), y, reduction=reduction)


def objective_at(
    model: nn.Module, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, weight_decay: float
) -> torch.Tensor:
    """Mean cross-entropy of the batch plus (wd/2)|theta|^2: the objective of DESIGN §3."""
    return data_loss_at(model, theta, x, y) + 0.5 * weight_decay * theta.pow(2).sum()


def batches(n: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices covering ``range(n)`` in fixed order (full-dataset sums, no shuffling)."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))
