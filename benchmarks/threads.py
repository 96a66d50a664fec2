"""Benchmark: is a 2-core CPU better used by one 2-thread task or by two 1-thread tasks at once?

    python benchmarks/threads.py                  # cpu profile: SGD steps and Hessian columns
    python benchmarks/threads.py --profile smoke

The same two work items (a) SGD steps of the profile's model at its batch size and (b) segmented Hessian
columns over its training set, each timed three ways in one run:
  serial-2   one process with 2 torch threads, the two copies one after the other (today's `doit`)
  serial-1   one process with 1 thread, the two copies one after the other
  parallel-1 two processes with 1 thread each, at the same time (`doit -n 2` with `profile.threads = 1`)
Prints the wall time of two copies each way and the throughput of each against serial-2. A parallel-1
ratio above 1 means the graph's independent tasks (trainings, Hessians) finish sooner side by side.
Not part of the test suite; run it alone (it is itself the contention it measures).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import torch
import torch.nn.functional as F

from landscape import config
from landscape.data import load_dataset
from landscape.hessian import Objective, hessian_block
from landscape.models import build_model
from landscape.params import flatten


def sgd_steps(profile: str, steps: int) -> None:
    """(a) plain SGD with momentum on the profile's model and batch size."""
    cfg = config.load_profile(profile)
    data = load_dataset(cfg.data)
    model = build_model(cfg.model, data.input_shape, len(data.classes))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=cfg.train.momentum)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        index = torch.randint(len(data.train.y), (cfg.train.batch_size,), generator=generator)
        optimiser.zero_grad()
        F.cross_entropy(model(data.train.x[index]), data.train.y[index]).backward()
        optimiser.step()


def hessian_columns(profile: str, columns: int) -> None:
    """(b) the first ``columns`` columns of the float32 Hessian at initialisation, by the project's assembly."""
    cfg = config.load_profile(profile)
    data = load_dataset(cfg.data)
    model = build_model(cfg.model, data.input_shape, len(data.classes))
    objective = Objective(model, data.train.x, data.train.y, cfg.train.weight_decay, cfg.hessian.chunk_size)
    theta = flatten(model)
    for first in range(0, columns, cfg.hessian.block_size):
        hessian_block(objective, theta, first, min(cfg.hessian.block_size, columns - first))


def _worker(work: str, profile: str, amount: int, threads: int) -> None:
    torch.set_num_threads(threads)
    {"sgd": sgd_steps, "hessian": hessian_columns}[work](profile, amount)


def two_copies(work: str, profile: str, amount: int, threads: int, parallel: bool) -> float:
    """Wall seconds for two copies of one work item, in fresh processes, side by side or one after the other."""
    context = mp.get_context("spawn")
    start = time.perf_counter()
    if parallel:
        processes = [context.Process(target=_worker, args=(work, profile, amount, threads)) for _ in range(2)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
    else:
        for _ in range(2):
            process = context.Process(target=_worker, args=(work, profile, amount, threads))
            process.start()
            process.join()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu", choices=config.available())
    parser.add_argument("--steps", type=int, default=600, help="SGD steps per copy")
    parser.add_argument("--columns", type=int, default=256, help="Hessian columns per copy")
    args = parser.parse_args()
    print(f"{'work':8s} {'way':11s} {'2 copies (s)':>13s} {'throughput vs serial-2':>23s}")
    for work, amount in (("sgd", args.steps), ("hessian", args.columns)):
        reference = None
        for way, threads, parallel in (("serial-2", 2, False), ("serial-1", 1, False), ("parallel-1", 1, True)):
            seconds = two_copies(work, args.profile, amount, threads, parallel)
            reference = reference or seconds
            print(f"{work:8s} {way:11s} {seconds:13.1f} {reference / seconds:23.2f}", flush=True)


if __name__ == "__main__":
    main()
