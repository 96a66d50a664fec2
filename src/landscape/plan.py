"""Dry run: the disk, memory, work and time a profile will need, from its configuration and a timed sample.

Sizes follow from the configuration (P parameters, s bytes per stored Hessian element, from
``hessian.storage``): a run file holds every iterate, (T+1)·P float32, and its batches; a Hessian
file holds the matrix and its eigenvectors, 2·P²·s, plus P²·s for the partial file while it is
assembled; finishing one holds the matrix (symmetrised in place) and its eigenvectors, 2·P²·s, in
host memory, and the same plus the solver's workspace on the device that runs ``eigh``.

Work and time are extrapolated from one block of Hessian-vector products with the profile's model
over a slice of synthetic inputs of the profile's shape (the values of the inputs do not change the
cost), scaled linearly in columns and examples — a forward-over-reverse pass is linear in both. Its
floating-point operations are counted by ``torch.utils.flop_counter`` (matrix products and
convolutions only, so a lower bound), which gives a device-independent lower bound on the time of a
Hessian on any GPU: work / peak rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from landscape.config import Config
from landscape.data import CLASSES
from landscape.hessian import Objective, hessian_block
from landscape.memory import MEASURED as MEASURED_MATRICES
from landscape.models import build_model
from landscape.params import flatten
from landscape.resources import STORAGE_BYTES, Footprint, format_bytes
from landscape.train import configure_determinism

CHANNELS = {"digits": 1, "fashion_mnist": 1, "cifar10": 3}
SAMPLE_TANGENTS = 32  # at most this many Hessian columns in the timed block (the profile's block_size if smaller)
SAMPLE_EXAMPLES = 250  # at most this many examples in the timed block (the profile's chunk_size if smaller)
SAMPLE_STEPS = 20  # timed SGD steps, after warm-up
# NVIDIA H100/H200 SXM datasheets: 67 TFLOP/s in IEEE float32 without tensor cores. The Hessian
# runs in IEEE float32 (no TF32: train.full_float32_precision), so this bounds its time from below.
GPU_FLOAT32_PEAK = 67e12
# The share of that peak a whole build is budgeted at: dense convolutions and matrix products sustain well above
# it, the small and memory-bound kernels of a 25k-parameter network below (to be measured: benchmarks/gpu_check.sh).
BUDGET_SHARE_OF_PEAK = 0.4
# Symmetric eigendecomposition with eigenvectors, ~9 n^3 FLOP (Golub & Van Loan, Matrix Computations, 4th ed.,
# §8.3: symmetric QR with accumulated transformations); divide and conquer does less, so this overstates the work.
EIGH_FLOPS_PER_N3 = 9.0


def hessian_file_bytes(P: int, storage: str) -> int:
    """Bytes of one Hessian file: the matrix and its eigenvectors (P x P each), eigenvalues, gradient, θ."""
    s = STORAGE_BYTES[storage]
    return 2 * P * P * s + P * s + 2 * P * 8


def run_file_bytes(P: int, iterations: int, batch_size: int) -> int:
    """Bytes of one run file before compression: every iterate in float32 and every batch's indices."""
    return (iterations + 1) * P * 4 + iterations * batch_size * 4


@dataclass
class Plan(Footprint):
    """What a profile needs: bytes on disk and in memory, operations and seconds, per stage and in total."""

    training_seconds: float
    seconds_per_column: float
    flops_per_column: float
    device: str
    full_flops_per_column: float = 0.0  # the same work by full products (no segments), for the ratio
    training_flops: float = 0.0  # every run's SGD steps, counted
    training_examples: int = 0  # N, the examples each full Hessian column is summed over
    batch_hessian_count: int = 0  # H2: mini-batch Hessians (sizes x batches x checkpoints), each decomposed
    batch_hessian_examples: int = 0  # H2: the examples summed over every mini-batch Hessian
    block: tuple[int, int] = (0, 0)  # the profile's HVP block: columns and examples per vectorised pass
    block_memory_bytes: float | None = None  # CUDA only: device memory of one such block, scaled from the sample
    device_memory_bytes: int | None = None  # CUDA only: the device's total memory

    @property
    def hessian_seconds(self) -> float:
        """Time for every dense Hessian at the measured rate per column."""
        return self.hessians * self.parameters * self.seconds_per_column

    @property
    def flops_per_hessian(self) -> float:
        """Counted floating-point operations of one dense Hessian."""
        return self.parameters * self.flops_per_column

    @property
    def study_flops(self) -> dict[str, float]:
        """Counted work per stage: training, full Hessians, mini-batch Hessians (H2), and every eigendecomposition."""
        per_example_column = self.flops_per_column / self.training_examples if self.training_examples else 0.0
        return {
            "training": self.training_flops,
            "Hessians": self.hessians * self.flops_per_hessian,
            "mini-batch Hessians": self.parameters * per_example_column * self.batch_hessian_examples,
            "eigh": (self.hessians + self.batch_hessian_count) * EIGH_FLOPS_PER_N3 * float(self.parameters) ** 3,
        }

    def lines(self, profile: str) -> list[str]:
        """The plan as the lines ``python -m landscape plan`` prints."""
        rate = self.flops_per_column / self.seconds_per_column
        return [
            f"profile {profile} on {self.device}: {self.parameters:,} parameters, "
            f"{self.hessians} dense Hessians stored in {self.storage}",
            f"  disk    {format_bytes(self.disk_bytes)}  (runs {format_bytes(self.run_bytes)} before compression, "
            f"Hessians {format_bytes(self.hessian_bytes)}, one partial file {format_bytes(self.partial_bytes)})",
            f"  memory  {format_bytes(self.memory_bytes)}  host, and device plus eigh workspace, "
            "while a Hessian is finished",
            *self._analysis_memory_line(),
            f"  time    training {_duration(self.training_seconds)}, Hessians {_duration(self.hessian_seconds)} "
            f"({self.seconds_per_column * 1e3:,.1f} ms per column over all training examples)",
            f"  work    {self.flops_per_hessian:.2e} FLOP per Hessian (counted; {self._segmented_share()}), "
            f"{rate / 1e9:,.0f} GFLOP/s sustained here; "
            f"at a {GPU_FLOAT32_PEAK / 1e12:.0f} TFLOP/s float32 GPU peak (H100/H200) one Hessian takes "
            f">= {_duration(self.flops_per_hessian / GPU_FLOAT32_PEAK)}",
            *self._study_line(),
            *self._block_line(),
            "  (analyses and documents not included; times extrapolated from a timed sample on this machine)",
        ]

    def _analysis_memory_line(self) -> list[str]:
        if not MEASURED_MATRICES:
            return []
        task = max(MEASURED_MATRICES, key=MEASURED_MATRICES.get)
        matrices = MEASURED_MATRICES[task]
        peak = matrices * self.parameters**2 * STORAGE_BYTES[self.storage]
        return [
            f"  memory  {format_bytes(peak)}  host for the largest eigenbasis task ({task}: {matrices:.2f} P x P "
            "matrices, measured by benchmarks/memory.py)"
        ]

    def _study_line(self) -> list[str]:
        stages = self.study_flops
        total = sum(stages.values())
        parts = ", ".join(f"{name} {flops:.2e}" for name, flops in stages.items())
        seconds = total / (BUDGET_SHARE_OF_PEAK * GPU_FLOAT32_PEAK)
        return [
            f"  study   counted work {total:.2e} FLOP ({parts}); at {BUDGET_SHARE_OF_PEAK:.0%} of the "
            f"{GPU_FLOAT32_PEAK / 1e12:.0f} TFLOP/s float32 peak: {_duration(seconds)}"
        ]

    def _segmented_share(self) -> str:
        if not self.full_flops_per_column or self.full_flops_per_column == self.flops_per_column:
            return "full products: the model declares no segments"
        return (
            f"segmented, {self.flops_per_column / self.full_flops_per_column:.2f} of full products' "
            f"{self.parameters * self.full_flops_per_column:.2e}"
        )

    def _block_line(self) -> list[str]:
        if self.block_memory_bytes is None:
            return []
        fits = (
            "fits"
            if self.block_memory_bytes < 0.8 * self.device_memory_bytes
            else "does NOT fit: lower hessian.chunk_size"
        )
        return [
            f"  device  an HVP block of {self.block[0]} columns x {self.block[1]} examples needs "
            f"{format_bytes(self.block_memory_bytes)} of {format_bytes(self.device_memory_bytes)}: {fits}"
        ]


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:,.1f} h"
    return f"{seconds / 60:,.1f} min" if seconds >= 60 else f"{seconds:,.1f} s"


def _time(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    for _ in range(min(repeats, 3)):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def _flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def _column_cost(
    objective: Objective, theta: torch.Tensor, first: int, count: int, device: torch.device
) -> tuple[float, float]:
    """Seconds and FLOP per column of Hessian columns ``first:first+count`` over the objective's examples."""
    block = lambda: hessian_block(objective, theta, first, count)  # noqa: E731
    return _time(block, 1, device) / count, _flops(block) / count


def _hessian_cost(sample: Objective, theta: torch.Tensor, tangents: int, device: torch.device) -> tuple[float, float]:
    """Mean seconds and FLOP per column over all P columns: per segment when the model declares segments.

    A segmented column costs less the later its segment starts, so each segment's first ``tangents``
    columns are measured and weighted by the segment's size.
    """
    segments = sample.segments()
    if segments is None:
        return _column_cost(sample, theta, 0, tangents, device)
    seconds = flops = 0.0
    for segment in segments:
        size = segment.stop - segment.start
        per_second, per_flop = _column_cost(sample, theta, segment.start, min(tangents, size), device)
        seconds, flops = seconds + per_second * size, flops + per_flop * size
    return seconds / theta.numel(), flops / theta.numel()


def _input_shape(cfg: Config) -> tuple[int, int, int]:
    return CHANNELS[cfg.data.name], cfg.data.image_size, cfg.data.image_size


def footprint(cfg: Config) -> Footprint:
    """Disk and memory of a profile, from its configuration (the model is built to count its parameters)."""
    P = flatten(build_model(cfg.model, _input_shape(cfg), len(CLASSES[cfg.data.name]))).numel()
    hessians = len(cfg.hessian_points())
    return Footprint(
        parameters=P,
        hessians=hessians,
        storage=cfg.hessian.storage,
        run_bytes=len(cfg.runs) * run_file_bytes(P, cfg.train.iterations, cfg.train.batch_size),
        hessian_bytes=hessians * hessian_file_bytes(P, cfg.hessian.storage),
    )


def estimate(
    cfg: Config,
    sample_examples: int = SAMPLE_EXAMPLES,
    sample_tangents: int = SAMPLE_TANGENTS,
    steps: int = SAMPLE_STEPS,
) -> Plan:
    """Sizes from the configuration; work and times from a sample of training and of one HVP block.

    A smaller sample is quicker and counts more work per column (one primal pass per block is shared by fewer
    columns), so its bound errs on the long side.
    """
    device = configure_determinism(cfg)
    shape = _input_shape(cfg)
    classes = len(CLASSES[cfg.data.name])
    model = build_model(cfg.model, shape, classes).to(device)
    theta = flatten(model).detach()
    P, B, N = theta.numel(), cfg.train.batch_size, cfg.data.n_train
    dtype = torch.float64 if cfg.hessian.dtype == "float64" else torch.float32
    sizes = footprint(cfg)

    x = torch.randn(B, *shape, device=device)
    y = torch.randint(0, classes, (B,), device=device)
    optimiser = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=cfg.train.momentum)

    def step() -> None:
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()

    step_seconds = _time(step, steps, device)
    step_flops = _flops(step)
    batch_checkpoints = len(cfg.batch_spectrum_steps()) * cfg.hessian.batches_per_size
    columns, chunk = cfg.hessian.block_size, min(cfg.hessian.chunk_size, N)
    examples = min(sample_examples, chunk)
    sample = Objective(
        model.to(dtype),
        torch.randn(examples, *shape, device=device, dtype=dtype),
        torch.randint(0, classes, (examples,), device=device),
        cfg.train.weight_decay,
        examples,
    )
    tangents = min(sample_tangents, columns, P)
    sample_theta = theta.to(dtype)
    block = lambda: hessian_block(sample, sample_theta, 0, tangents)  # noqa: E731
    scale = N / examples
    seconds_per_column, flops_per_column = _hessian_cost(sample, sample_theta, tangents, device)
    full = Objective(sample.model, sample.x, sample.y, sample.weight_decay, examples, segmented=False)
    full_flops_per_column = _flops(lambda: hessian_block(full, sample_theta, 0, tangents)) / tangents
    memory: dict[str, Any] = {}
    if device.type == "cuda":
        # Activations of a vectorised pass grow with columns x examples; the model and data do not.
        baseline = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        block()
        per_pair = (torch.cuda.max_memory_allocated() - baseline) / (tangents * examples)
        memory = {
            "block_memory_bytes": baseline + per_pair * columns * chunk,
            "device_memory_bytes": torch.cuda.get_device_properties(device).total_memory,
        }
    return Plan(
        **asdict(sizes),
        training_seconds=len(cfg.runs) * cfg.train.iterations * step_seconds,
        training_flops=len(cfg.runs) * cfg.train.iterations * step_flops,
        training_examples=N,
        batch_hessian_count=batch_checkpoints * len(cfg.hessian.batch_sizes),
        batch_hessian_examples=batch_checkpoints * sum(cfg.hessian.batch_sizes),
        seconds_per_column=seconds_per_column * scale,
        flops_per_column=flops_per_column * scale,
        full_flops_per_column=full_flops_per_column * scale,
        device=str(device),
        block=(columns, chunk),
        **memory,
    )
