"""Benchmark: one whole segmented Hessian of a profile's model, timed, against its counted work.

    python benchmarks/hessian_profile.py gpu                 # on a GPU: the `gpu` profile's Hessian, all N examples
    python benchmarks/hessian_profile.py smoke --examples 64 # a quick check on a CPU

Builds the profile's model at its initialisation, draws inputs of the profile's shape (the values of the inputs do
not change the cost) and assembles the full P x P Hessian exactly as the build does (``hessian.dense_hessian``:
segmented when the model declares segments, the profile's dtype, block and chunk sizes), then decomposes it
(``hessian.eigendecomposition``, the profile's storage precision). Prints the seconds of each, the work counted by
``torch.utils.flop_counter`` for the same assembly (``plan._hessian_cost``), the rate achieved, and that rate as a
share of the float32 peak the dry run assumes (``plan.BUDGET_SHARE_OF_PEAK`` of ``plan.GPU_FLOAT32_PEAK``): the
first GPU that runs this measures the assumption behind the `gpu` profile's one-hour bound. Not a test.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from tqdm import tqdm

from landscape import config
from landscape.data import CLASSES
from landscape.hessian import Objective, block_starts, complete, eigendecomposition, hessian_block, symmetrise_in_place
from landscape.models import build_model
from landscape.params import flatten
from landscape.plan import BUDGET_SHARE_OF_PEAK, CHANNELS, GPU_FLOAT32_PEAK, _hessian_cost
from landscape.train import configure_determinism


def synchronised(device: torch.device) -> float:
    """The time, after the device has finished its queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", choices=config.available())
    parser.add_argument("--examples", type=int, default=0, help="examples N (default: the profile's n_train)")
    args = parser.parse_args()
    cfg = config.load_profile(args.profile)
    device = configure_determinism(cfg)
    dtype = getattr(torch, cfg.hessian.dtype)
    shape = (CHANNELS[cfg.data.name], cfg.data.image_size, cfg.data.image_size)
    classes = len(CLASSES[cfg.data.name])
    examples = args.examples or cfg.data.n_train
    torch.manual_seed(0)
    model = build_model(cfg.model, shape, classes).to(device=device, dtype=dtype)
    theta = flatten(model).detach()
    P = theta.numel()
    x = torch.randn(examples, *shape, device=device, dtype=dtype)
    y = torch.randint(0, classes, (examples,), device=device)
    objective = Objective(model, x, y, cfg.train.weight_decay, min(cfg.hessian.chunk_size, examples))
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device        {name}")
    print(
        f"model         {args.profile} ResNet, {P:,} parameters, {dtype}, {examples:,} examples, "
        f"{len(objective.segments() or [])} segments"
    )

    sample = Objective(
        model, x[: objective.chunk_size], y[: objective.chunk_size], cfg.train.weight_decay, objective.chunk_size
    )
    _, flops_per_column = _hessian_cost(sample, theta, min(32, cfg.hessian.block_size, P), device)
    flops = flops_per_column * (examples / sample.n) * P

    matrix = np.empty((P, P), dtype=cfg.hessian.storage)
    start = synchronised(device)
    for first in tqdm(block_starts(P, cfg.hessian.block_size), desc="Hessian", unit="block"):
        count = min(cfg.hessian.block_size, P - first)
        matrix[:, first : first + count] = hessian_block(objective, theta, first, count)
    complete(matrix, objective)
    asymmetry = symmetrise_in_place(matrix)
    assembly = synchronised(device) - start
    start = time.perf_counter()
    eigenvalues, _ = eigendecomposition(matrix, device, getattr(torch, cfg.hessian.storage))
    decomposition = time.perf_counter() - start

    rate = flops / assembly
    print(
        f"assembly      {assembly:,.1f} s ({flops:.3e} FLOP counted: {rate / 1e12:.2f} TFLOP/s, "
        f"{rate / GPU_FLOAT32_PEAK:.1%} of the {GPU_FLOAT32_PEAK / 1e12:.0f} TFLOP/s float32 peak; "
        f"the dry run assumes {BUDGET_SHARE_OF_PEAK:.0%})"
    )
    print(
        f"eigh          {decomposition:,.1f} s ({cfg.hessian.storage}); lambda in "
        f"[{eigenvalues.min():.3g}, {eigenvalues.max():.3g}], asymmetry {asymmetry:.2e}"
    )
    if device.type == "cuda":
        print(f"peak memory   {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB on the device")


if __name__ == "__main__":
    main()
