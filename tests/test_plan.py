"""The dry run: its size formulas against files the code really writes, and its estimate of a profile."""

from __future__ import annotations

import h5py
import pytest
import torch

from landscape import config
from landscape.hessian import Objective, hessian_block, write_hessian
from landscape.models import ResNet
from landscape.params import flatten
from landscape.plan import STORAGE_BYTES, _flops, estimate, hessian_file_bytes


@pytest.mark.parametrize("storage", ["float64", "float32"])
def test_hessian_file_size_is_predicted(tmp_path, storage):
    torch.manual_seed(0)
    model = ResNet(1, 3, 2, 2, 1).double()
    theta = flatten(model)
    objective = Objective(model, torch.randn(16, 1, 6, 6, dtype=torch.float64), torch.randint(0, 3, (16,)), 1e-2)
    target = write_hessian(
        objective, theta, tmp_path / "h.h5", {"config_hash": "h"}, 16, progress=False, storage=storage
    )
    with h5py.File(target) as fh:
        stored = sum(fh[k].id.get_storage_size() for k in fh)
    # The datasets are exactly the predicted bytes; the file adds HDF5 headers and provenance attributes.
    assert stored == hessian_file_bytes(theta.numel(), storage)
    assert 0 <= target.stat().st_size - stored < 16_384


def test_estimate_of_the_smoke_profile():
    plan = estimate(config.load_profile("smoke"))
    P = plan.parameters
    assert plan.memory_bytes == 2 * P * P * STORAGE_BYTES[plan.storage]
    assert plan.hessian_bytes == plan.hessians * hessian_file_bytes(P, plan.storage)
    assert plan.seconds_per_column > 0 and plan.training_seconds > 0
    # A forward-over-reverse HVP costs several forward passes; each column sums one over every example.
    assert plan.flops_per_column > 2 * P
    # Segmented columns (the smoke ResNet declares stem, blocks and head) cost less than full products.
    assert 0 < plan.flops_per_column < plan.full_flops_per_column
    text = "\n".join(plan.lines("smoke"))
    assert "FLOP per Hessian" in text and f"{P:,} parameters" in text and "of full products" in text


def test_counted_work_is_linear_in_examples_and_columns():
    # The dry run scales one sampled block to N examples and P columns; that is exact only if the work is
    # linear in examples and, apart from one primal pass per block, in columns.
    torch.manual_seed(0)
    model = ResNet(1, 3, 2, 2, 1)
    theta = flatten(model)

    def work(examples: int, columns: int) -> int:
        objective = Objective(model, torch.randn(examples, 1, 6, 6), torch.randint(0, 3, (examples,)), 1e-2, examples)
        objective.segments()  # the declaration is checked once per objective (a probe forward), not per block
        return _flops(lambda: hessian_block(objective, theta, 0, columns))

    assert work(16, 4) == 2 * work(8, 4)
    per_column = work(8, 5) - work(8, 4)
    assert work(8, 8) - work(8, 4) == 4 * per_column
    assert work(8, 4) - 4 * per_column > 0  # the primal pass, once per block
