"""Benchmark: time of one full Hessian of the `paper` profile's model, extrapolated from one measured HVP block.

    python benchmarks/hessian_paper_scale.py                       # the profile's device: GPU if available
    python benchmarks/hessian_paper_scale.py --examples 512 --block 8   # a quick CPU estimate

The `paper` model (98,524 parameters) on CIFAR-shaped random inputs (the data's values do not
change the cost). One block of ``--block`` HVPs is timed over ``--examples`` inputs (all 50,000 by
default) after a warm-up; the full Hessian needs P / block such blocks, each over 50,000 examples:

    t_full = t_block * (P / block) * (50,000 / examples)

Prints the measurement, the extrapolation, and the device it was measured on. Not a test.
"""

from __future__ import annotations

import argparse
import time

import torch

from landscape import config
from landscape.hessian import Objective
from landscape.models import build_model, count_parameters
from landscape.params import flatten
from landscape.train import configure_determinism

N_PAPER = 50_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=N_PAPER)
    parser.add_argument("--block", type=int, default=0, help="HVPs per pass (default: the profile's block_size)")
    parser.add_argument("--chunk", type=int, default=0, help="examples per vmap chunk (default: the profile's)")
    parser.add_argument("--dtype", default="", help="float32 or float64 (default: the profile's)")
    args = parser.parse_args()
    cfg = config.load_profile("paper")
    device = configure_determinism(cfg)  # the profile's device ("auto": CUDA when available), IEEE float32 (no TF32)
    dtype = getattr(torch, args.dtype or cfg.hessian.dtype)
    block, chunk = args.block or cfg.hessian.block_size, args.chunk or cfg.hessian.chunk_size
    torch.manual_seed(0)
    model = build_model(cfg.model, (3, 32, 32), 10).to(device=device, dtype=dtype)
    theta = flatten(model)
    P = count_parameters(model)
    x = torch.randn(args.examples, 3, 32, 32, device=device, dtype=dtype)
    y = torch.randint(0, 10, (args.examples,), device=device)
    objective = Objective(model, x, y, cfg.train.weight_decay, chunk)
    tangents = torch.randn(block, P, device=device, dtype=dtype)
    Objective(model, x[:chunk], y[:chunk], cfg.train.weight_decay, chunk).hvp(theta, tangents)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    objective.hvp(theta, tangents)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    full = seconds * (P / block) * (N_PAPER / args.examples)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device        {name}")
    print(f"model         paper ResNet, {P} parameters, {dtype}")
    print(f"measured      {block} HVPs over {args.examples} examples (chunks of {chunk}): {seconds:.2f} s")
    print(f"extrapolated  full Hessian ({P} columns x {N_PAPER} examples): {full / 3600:.1f} h")
    if device.type == "cuda":
        print(f"peak memory   {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
