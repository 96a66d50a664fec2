"""The dry run: its size formulas against files the code really writes, and its estimate of a profile."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
import torch

from landscape import config
from landscape.hessian import Objective, hessian_block, write_hessian
from landscape.models import ResNet
from landscape.params import flatten
from landscape.plan import (
    BUDGET_SHARE_OF_PEAK,
    GPU_FLOAT32_PEAK,
    _flops,
    estimate,
    footprint,
    hessian_file_bytes,
)
from landscape.resources import (
    FOOTPRINT_CACHE,
    RESOURCE_OVERRIDE,
    STORAGE_BYTES,
    Footprint,
    cached_footprint,
    check_resources,
    shortfalls,
)

REPO = Path(__file__).resolve().parents[1]
MACHINE_MEMORY = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


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


def test_the_gpu_profile_is_the_scale_the_issue_asks_for_and_its_study_bound_is_the_sum_of_its_stages():
    # Issue 16: real Fashion-MNIST at 28 x 28, P >= 20,000, N >= 10,000, the whole study within an hour of one
    # GPU by the counted work at 40 % of the float32 peak.
    cfg = config.load_profile("gpu")
    assert (cfg.data.name, cfg.data.image_size) == ("fashion_mnist", 28) and cfg.data.n_train >= 10_000
    plan = estimate(cfg, sample_examples=16, sample_tangents=8, steps=2)  # counts more per column: a longer bound
    assert plan.parameters >= 20_000 and plan.training_examples == cfg.data.n_train
    stages = plan.study_flops
    assert stages["Hessians"] == plan.hessians * plan.parameters * plan.flops_per_column
    assert stages["training"] > 0 and 0 < stages["mini-batch Hessians"] < stages["Hessians"]
    seconds = sum(stages.values()) / (BUDGET_SHARE_OF_PEAK * GPU_FLOAT32_PEAK)
    print(f"gpu profile: {plan.parameters:,} parameters, counted bound {seconds / 60:.1f} min")
    assert seconds <= 3600
    assert "study   counted work" in "\n".join(plan.lines("gpu"))


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


def test_a_machine_short_of_disk_or_memory_is_named_with_the_figures():
    need = Footprint(parameters=1000, hessians=2, storage="float32", run_bytes=10**6, hessian_bytes=16 * 10**6)
    assert need.memory_bytes == 8 * 10**6 and need.disk_bytes == 21 * 10**6
    assert shortfalls(need, built_bytes=0, free_disk_bytes=21 * 10**6, memory_bytes=8 * 10**6) == []
    short_disk, short_memory = shortfalls(need, built_bytes=0, free_disk_bytes=20 * 10**6, memory_bytes=7 * 10**6)
    assert "21.0 MB of disk" in short_disk and "20.0 MB is free" in short_disk
    assert "8.0 MB of memory" in short_memory and "P = 1,000" in short_memory and "7.0 MB" in short_memory
    # What is already built counts: a half-built profile needs only the rest.
    assert shortfalls(need, built_bytes=5 * 10**6, free_disk_bytes=16 * 10**6, memory_bytes=8 * 10**6) == []


def test_the_profiles_footprint_is_the_plans_and_is_kept_per_configuration(tmp_path):
    cfg = config.load_profile("smoke")
    sizes, plan = footprint(cfg), estimate(cfg)
    assert (sizes.parameters, sizes.disk_bytes, sizes.memory_bytes) == (
        plan.parameters,
        plan.disk_bytes,
        plan.memory_bytes,
    )
    assert cached_footprint(cfg, tmp_path) == sizes and (tmp_path / FOOTPRINT_CACHE).is_file()
    other = config.load_profile("cpu")  # another configuration does not read the kept answer
    assert cached_footprint(other, tmp_path) == footprint(other) != sizes
    (tmp_path / FOOTPRINT_CACHE).write_text("{damaged")
    assert cached_footprint(cfg, tmp_path) == sizes


PAPER_FITS = footprint(config.load_profile("paper")).memory_bytes <= MACHINE_MEMORY


@pytest.mark.skipif(PAPER_FITS, reason="this machine has the memory of the paper profile")
def test_a_profile_too_large_for_the_machine_is_refused_unless_overridden(tmp_path, monkeypatch):
    cfg = config.load_profile("paper")
    with pytest.raises(config.ConfigError, match=f"of memory to finish a Hessian.*{RESOURCE_OVERRIDE}=1"):
        check_resources(cfg, tmp_path / "build" / "paper")
    monkeypatch.setenv(RESOURCE_OVERRIDE, "1")
    check_resources(cfg, tmp_path / "build" / "paper")


@pytest.mark.skipif(PAPER_FITS, reason="this machine has the memory of the paper profile")
def test_doit_refuses_the_paper_profile_here_before_any_work_but_lists_it(tmp_path):
    for item in ("dodo.py", "configs", "src"):
        (shutil.copytree if (REPO / item).is_dir() else shutil.copy)(REPO / item, tmp_path / item)
    env = {k: v for k, v in os.environ.items() if k != RESOURCE_OVERRIDE}

    def doit(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "doit", *args], cwd=tmp_path, capture_output=True, text=True, env=env, check=False
        )

    start = time.perf_counter()
    refused = doit("profile=paper")
    assert refused.returncode != 0 and time.perf_counter() - start < 60
    message = refused.stderr.strip().splitlines()[-1]
    assert (
        message.startswith("error: ")
        and "configs/paper.toml" in message
        and "python -m landscape plan paper" in message
    )
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "build" / "paper" / "runs").exists()
    listed = doit("list", "profile=paper")
    assert listed.returncode == 0 and "paper" in listed.stdout
