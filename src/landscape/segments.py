r"""Segmented Hessian columns: exact rows from the network's tail, the rows above from symmetry.

A network that is a chain of segments :math:`f = f_S \circ \dots \circ f_1` (for the ResNet: the stem,
each residual block, the pooled head) with parameters :math:`\theta = (\theta_1, \dots, \theta_S)` in that
order has a Hessian whose block :math:`H_{ab}` (rows of segment a, columns of segment b) depends, for
:math:`a, b \ge s`, only on the state :math:`z_s` entering segment s and on :math:`\theta_{\ge s}`:
with :math:`\theta_{<s}` held fixed, :math:`z_s` is a constant. So the columns of segment s, rows
:math:`\ge s`, are Hessian-vector products of the tail loss

.. math:: L_s(\theta_{\ge s}) = \frac{1}{N}\sum_n \ell\big(f_S \circ \dots \circ f_s(z_{s,n}), y_n\big)
          + \frac{\mathrm{wd}}{2}\lVert\theta\rVert^2 ,

whose forward and backward passes start at segment s; :math:`z_s` is computed once per data chunk
without gradients. The rows above (:math:`a < s`) are the transposes of blocks already computed for the
columns of segment a: :math:`H_{ab} = H_{ba}^\top`. The result is exact, not an approximation; only the
diagonal blocks :math:`H_{ss}` are computed twice (as columns and as rows), so the assembly's asymmetry
measures the products there, and :func:`probe_error` checks the whole matrix against full products.

A model declares its segments with a method ``segments() -> list[nn.Module]``, each module mapping the
state entering it to the state leaving it, whose parameters are the model's, contiguous and in the
model's order. :func:`model_segments` checks that declaration once: the parameters must tile the flat
vector, and the composition must reproduce ``model(x)`` bit for bit on a probe batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

from landscape import tiles
from landscape.params import unflatten


class SegmentationError(ValueError):
    """A model's declared segments do not reproduce the model; the message says how."""


@dataclass(frozen=True)
class Segment:
    """One link of the chain: its module and its parameters' slice ``start:stop`` of the flat vector."""

    module: nn.Module
    start: int
    stop: int


def model_segments(model: nn.Module, probe: torch.Tensor) -> list[Segment] | None:
    """The model's declared segments, checked against the model; None when it declares none.

    Args:
        probe: a few inputs on which the composition of the segments must equal ``model(probe)`` bitwise.

    Raises:
        SegmentationError: parameters out of order, not contiguous, shared, or missing; or the
            composition differs from the model's forward pass.
    """
    declare = getattr(model, "segments", None)
    if declare is None:
        return None
    offsets, offset = {}, 0
    for p in model.parameters():
        offsets[id(p)] = (offset, offset + p.numel())
        offset += p.numel()
    segments, expected = [], 0
    for index, module in enumerate(declare()):
        start = expected
        for p in module.parameters():
            if offsets.get(id(p), (None,))[0] != expected:
                raise SegmentationError(
                    f"{type(model).__name__}.segments(): segment {index} ({type(module).__name__}) "
                    f"holds a parameter that is not next in model.parameters() order (expected "
                    f"flat index {expected}); segments must list the parameters contiguously, in order"
                )
            expected = offsets[id(p)][1]
        segments.append(Segment(module, start, expected))
    if expected != offset:
        raise SegmentationError(
            f"{type(model).__name__}.segments() covers {expected} of the model's {offset} "
            "parameters; every parameter must belong to exactly one segment"
        )
    with torch.no_grad():
        state = probe
        for segment in segments:
            state = segment.module(state)
        if not torch.equal(state, model(probe)):
            raise SegmentationError(
                f"{type(model).__name__}.segments(): their composition differs from "
                f"model(x) on a probe batch (max difference {float((state - model(probe)).abs().max()):.3g}); "
                "the segments must be the forward pass, in order"
            )
    return segments


def _through(segments: list[Segment], parameters: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
    """The state after ``segments`` in order, their parameters the consecutive slices of ``parameters``."""
    offset = 0
    for segment in segments:
        size = segment.stop - segment.start
        state = functional_call(segment.module, unflatten(segment.module, parameters[offset : offset + size]), (state,))
        offset += size
    return state


def segment_columns(
    segments: list[Segment],
    index: int,
    theta: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    weight_decay: float,
    chunk_size: int,
    columns: range,
) -> torch.Tensor:
    """Rows ``segments[index].start:`` of the Hessian columns ``columns`` (all within segment ``index``), float64.

    Per data chunk: the state entering the segment without gradients, then forward-over-reverse products
    of the tail loss with unit tangents, vectorised over the columns and accumulated in float64.
    """
    segment, tail = segments[index], segments[index:]
    rows = theta.numel() - segment.start
    theta_tail = theta[segment.start :]
    tangents = torch.zeros(len(columns), rows, dtype=theta.dtype, device=theta.device)
    tangents[torch.arange(len(columns)), torch.tensor(list(columns), device=theta.device) - segment.start] = 1.0
    total = torch.zeros(len(columns), rows, dtype=torch.float64, device=theta.device)
    for first in range(0, len(y), chunk_size):
        chunk_x, chunk_y = x[first : first + chunk_size], y[first : first + chunk_size]
        with torch.no_grad():
            state = _through(segments[:index], theta[: segment.start], chunk_x)

        def tail_loss(t: torch.Tensor, state: torch.Tensor = state, chunk_y: torch.Tensor = chunk_y) -> torch.Tensor:
            return F.cross_entropy(_through(tail, t, state), chunk_y, reduction="sum")

        def product(v: torch.Tensor) -> torch.Tensor:
            return jvp(grad(tail_loss), (theta_tail,), (v,))[1]

        total += vmap(product)(tangents).double()
    return (total / len(y) + weight_decay * tangents.double()).T


def fill_from_symmetry(matrix: np.ndarray, segments: list[Segment], tile: int | None = None) -> None:
    """Write the rows above each segment's columns from the transposed blocks already there: H_ab = H_baᵀ (a < b).

    Row tiles keep the temporary that a transposed copy within one array needs to ``tile`` rows (at P ≈ 10^5 a
    whole block would be gigabytes).
    """
    tile = tile or tiles.tile(matrix.shape[0])
    for segment in segments[1:]:
        for row in range(0, segment.start, tile):
            rows = slice(row, min(row + tile, segment.start))
            matrix[rows, segment.start : segment.stop] = matrix[segment.start : segment.stop, rows].T
