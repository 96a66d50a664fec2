"""Segmented Hessians against full products and torch.func.hessian (float64), and checks of a declaration."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from torch import nn
from torch.func import hessian as reference_hessian

from landscape.hessian import Objective, dense_hessian, probe_error, write_hessian
from landscape.models import PooledHead, ResNet
from landscape.params import flatten, objective_at
from landscape.segments import SegmentationError, model_segments

WEIGHT_DECAY = 1e-2


def _problem(norm: str, stages: int, blocks: int) -> tuple[ResNet, torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = ResNet(1, 3, 2, stages, blocks, norm).double()
    x, y = torch.randn(20, 1, 6, 6, dtype=torch.float64), torch.randint(0, 3, (20,))
    return model, x, y, flatten(model)


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize(
    ("norm", "stages", "blocks", "block_size"),
    [
        ("group", 2, 1, 7),  # a projection shortcut; blocks of 7 columns straddle every segment boundary
        ("none", 2, 1, 5),  # no normalisation (biases instead)
        ("group", 1, 2, 64),  # identity shortcuts; one block holds several segments
    ],
)
def test_segmented_hessian_equals_full_products_and_torch_func_hessian(norm, stages, blocks, block_size):
    model, x, y, theta = _problem(norm, stages, blocks)
    full = dense_hessian(Objective(model, x, y, WEIGHT_DECAY, 8, segmented=False), theta, block_size)
    segmented_objective = Objective(model, x, y, WEIGHT_DECAY, 8)
    assert len(segmented_objective.segments()) == 2 + stages * blocks
    segmented = dense_hessian(segmented_objective, theta, block_size)
    exact = reference_hessian(lambda t: objective_at(model, t, x, y, WEIGHT_DECAY))(theta).numpy()
    # The same float64 derivatives in another order (and half of them by transposition): ~1e-15 relative.
    assert _relative(segmented, full) < 1e-12
    assert _relative(segmented, exact) < 1e-12


def test_the_stored_file_carries_the_probe_error_of_a_segmented_assembly(tmp_path):
    model, x, y, theta = _problem("group", 2, 1)
    objective = Objective(model, x, y, WEIGHT_DECAY, 8)
    with h5py.File(write_hessian(objective, theta, tmp_path / "h.h5", {"config_hash": "h"}, 7, progress=False)) as fh:
        assert fh.attrs["segments"] == 4
        assert fh.attrs["probe_error"] < 1e-12


def test_a_planted_error_shows_in_the_probe_error():
    model, x, y, theta = _problem("group", 2, 1)
    objective = Objective(model, x, y, WEIGHT_DECAY, 8)
    matrix = dense_hessian(objective, theta, 7)
    assert probe_error(objective, theta, matrix) < 1e-12
    scale = np.abs(matrix).max()
    matrix[40, 3] += 1e-3 * scale  # one wrong entry, as a wrong block or a wrong fill from symmetry would leave
    # A unit probe has |v_3| ~ P^-1/2 ≈ 0.1, so the planted 1e-3 shows at ~1e-4 of max |Hv|: ten decades above
    # round-off.
    assert probe_error(objective, theta, matrix) > 1e-6


class _Skipping(ResNet):
    def segments(self) -> list[nn.Module]:
        return [self.stem, *self.blocks[1:], *super().segments()[-1:]]


class _Reordered(ResNet):
    def segments(self) -> list[nn.Module]:
        first, *rest = super().segments()
        return [*rest[:1], first, *rest[1:]]


class _WrongForward(ResNet):
    def segments(self) -> list[nn.Module]:
        return [*super().segments()[:-1], _MaxPooledHead(self.head)]


class _MaxPooledHead(PooledHead):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.amax(dim=(2, 3)))


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (_Skipping, "not next in model.parameters"),
        (_Reordered, "not next in model.parameters"),
        (_WrongForward, "composition differs from model"),
    ],
)
def test_a_wrong_declaration_fails_with_a_clear_error(cls, message):
    torch.manual_seed(0)
    model = cls(1, 3, 2, 1, 2).double()
    with pytest.raises(SegmentationError, match=message):
        model_segments(model, torch.randn(2, 1, 6, 6, dtype=torch.float64))


def test_a_model_without_segments_gets_full_products():
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 3)).double()
    x, y = torch.randn(10, 1, 6, 6, dtype=torch.float64), torch.randint(0, 3, (10,))
    objective = Objective(model, x, y, WEIGHT_DECAY, 4)
    assert objective.segments() is None
    theta = flatten(model)
    exact = reference_hessian(lambda t: objective_at(model, t, x, y, WEIGHT_DECAY))(theta).numpy()
    assert _relative(dense_hessian(objective, theta, 16), exact) < 1e-12
