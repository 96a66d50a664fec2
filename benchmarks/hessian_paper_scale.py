"""Benchmark: time of one full Hessian of the `paper` profile's model, extrapolated from one measured HVP block.

    python benchmarks/hessian_paper_scale.py                       # the profile's device: GPU if available
    python benchmarks/hessian_paper_scale.py --examples 512 --block 8   # a quick CPU estimate

The `paper` model (98,524 parameters) on CIFAR-shaped random inputs (the data's values do not
change the cost). One block of ``--block`` HVPs is timed over ``--examples`` inputs (all 50,000 by
default) after a warm-up; the full Hessian needs P / block such blocks, each over 50,000 examples:

    t_full = t_block * (P / block) * (50,000 / examples)

With ``--segmented`` the project's segmented assembly (landscape.segments) is timed instead: one block
of ``--block`` columns at the start of every segment, each weighted by the segment's size (a column costs
less the later its segment starts):

    t_full = sum_s t_block(s) * (P_s / block) * (50,000 / examples)

Prints the measurement, the extrapolation, and the device it was measured on. Not a test.
"""

from __future__ import annotations

import argparse
import time

import torch

from landscape import config
from landscape.hessian import Objective, hessian_block
from landscape.models import build_model, count_parameters
from landscape.params import flatten
from landscape.train import configure_determinism

N_PAPER = 50_000


def timed(work, device: torch.device) -> float:
    """Seconds of one call of ``work`` (the device synchronised before and after)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    work()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=N_PAPER)
    parser.add_argument("--block", type=int, default=0, help="HVPs per pass (default: the profile's block_size)")
    parser.add_argument("--chunk", type=int, default=0, help="examples per vmap chunk (default: the profile's)")
    parser.add_argument("--dtype", default="", help="float32 or float64 (default: the profile's)")
    parser.add_argument("--segmented", action="store_true", help="time the segmented assembly, segment by segment")
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
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device        {name}")
    print(f"model         paper ResNet, {P} parameters, {dtype}")
    if args.segmented:
        warm_up = Objective(model, x[:chunk], y[:chunk], cfg.train.weight_decay, chunk)
        for segment in warm_up.segments():
            hessian_block(warm_up, theta, segment.start, min(block, segment.stop - segment.start))
        full = 0.0
        for segment in objective.segments():
            count = min(block, segment.stop - segment.start)
            seconds = timed(lambda: hessian_block(objective, theta, segment.start, count), device)
            full += seconds * ((segment.stop - segment.start) / count) * (N_PAPER / args.examples)
            print(
                f"measured      segment [{segment.start}, {segment.stop}): {count} columns over {args.examples} "
                f"examples (chunks of {chunk}): {seconds:.2f} s"
            )
        print(f"extrapolated  full segmented Hessian ({P} columns x {N_PAPER} examples): {full / 3600:.1f} h")
    else:
        tangents = torch.randn(block, P, device=device, dtype=dtype)
        Objective(model, x[:chunk], y[:chunk], cfg.train.weight_decay, chunk).hvp(theta, tangents)  # warm-up
        seconds = timed(lambda: objective.hvp(theta, tangents), device)
        full = seconds * (P / block) * (N_PAPER / args.examples)
        print(f"measured      {block} HVPs over {args.examples} examples (chunks of {chunk}): {seconds:.2f} s")
        print(f"extrapolated  full Hessian ({P} columns x {N_PAPER} examples): {full / 3600:.1f} h")
    if device.type == "cuda":
        print(f"peak memory   {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
