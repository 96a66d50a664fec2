"""Dry run: the disk, memory and time a profile will need, from its configuration and a timed sample of its work.

Sizes follow from the configuration: a run file holds every iterate, (T+1)·P float32, and its
batches; a Hessian file holds the matrix and its eigenvectors, 2·P² float64 (plus P² more for the
partial file while it is assembled), and assembling one holds about four P × P float64 matrices in
memory (raw, symmetrised, eigenvectors, LAPACK workspace). Times are extrapolated from work timed on
this machine with the profile's model: a few SGD steps, and one block of Hessian-vector products
over a slice of synthetic inputs of the profile's shape, scaled linearly in tangents and examples
(the cost of a forward-over-reverse pass is linear in both).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from landscape.config import Config
from landscape.data import CLASSES
from landscape.hessian import Objective, hessian_block
from landscape.models import build_model
from landscape.params import flatten
from landscape.train import configure_determinism

CHANNELS = {"digits": 1, "fashion_mnist": 1, "cifar10": 3}
SAMPLE_TANGENTS = 32  # at most this many Hessian columns in the timed block (the profile's block_size if smaller)
SAMPLE_EXAMPLES = 250  # at most this many examples in the timed block (the profile's chunk_size if smaller)
SAMPLE_STEPS = 20  # timed SGD steps, after warm-up


@dataclass
class Plan:
    """What a profile needs: bytes on disk and in memory, and seconds, per stage and in total."""

    parameters: int
    hessians: int
    run_bytes: int
    hessian_bytes: int
    hessian_memory_bytes: int
    training_seconds: float
    hessian_seconds: float
    seconds_per_column: float
    device: str

    @property
    def disk_bytes(self) -> int:
        return self.run_bytes + self.hessian_bytes

    def lines(self, profile: str) -> list[str]:
        gb, hours = 1e9, 3600.0
        return [
            f"profile {profile} on {self.device}: {self.parameters:,} parameters, {self.hessians} dense Hessians",
            f"  disk    {self.disk_bytes / gb:,.2f} GB  (runs {self.run_bytes / gb:,.2f} GB, Hessians {self.hessian_bytes / gb:,.2f} GB)",
            f"  memory  {self.hessian_memory_bytes / gb:,.2f} GB  while a Hessian is assembled and decomposed",
            f"  time    training {self.training_seconds / hours:,.2f} h, Hessians {self.hessian_seconds / hours:,.2f} h "
            f"({self.seconds_per_column * 1e3:,.1f} ms per column over all training examples)",
            "  (analyses and documents not included; times extrapolated from a timed sample on this machine)",
        ]


def _time(fn, repeats: int) -> float:
    for _ in range(min(repeats, 3)):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def estimate(cfg: Config) -> Plan:
    """Sizes from the configuration; times from a timed sample of training and of one HVP block."""
    device = configure_determinism(cfg)
    shape = (CHANNELS[cfg.data.name], cfg.data.image_size, cfg.data.image_size)
    classes = len(CLASSES[cfg.data.name])
    model = build_model(cfg.model, shape, classes).to(device)
    theta = flatten(model).detach()
    P, T, B, N = theta.numel(), cfg.train.iterations, cfg.train.batch_size, cfg.data.n_train
    dtype = torch.float64 if cfg.hessian.dtype == "float64" else torch.float32
    hessians = len(cfg.hessian_points())

    x = torch.randn(B, *shape, device=device)
    y = torch.randint(0, classes, (B,), device=device)
    optimiser = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=cfg.train.momentum)

    def step() -> None:
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()

    step_seconds = _time(step, SAMPLE_STEPS)
    examples = min(SAMPLE_EXAMPLES, cfg.hessian.chunk_size, N)
    sample = Objective(model.to(dtype), torch.randn(examples, *shape, device=device, dtype=dtype),
                       torch.randint(0, classes, (examples,), device=device), cfg.train.weight_decay, examples)
    tangents = min(SAMPLE_TANGENTS, cfg.hessian.block_size, P)
    block_seconds = _time(lambda: hessian_block(sample, theta.to(dtype), 0, tangents), 2)
    per_column = block_seconds / tangents * N / examples
    return Plan(
        parameters=P, hessians=hessians,
        run_bytes=len(cfg.runs) * ((T + 1) * P * 4 + T * B * 4),
        hessian_bytes=hessians * 2 * P * P * 8,
        hessian_memory_bytes=4 * P * P * 8,
        training_seconds=len(cfg.runs) * T * step_seconds,
        hessian_seconds=hessians * P * per_column,
        seconds_per_column=per_column,
        device=str(device),
    )
