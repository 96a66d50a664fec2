r"""Peak host memory of every task that reads a whole eigenbasis, measured on a synthetic Hessian of P parameters.

At the `paper` profile's P = 98,524 one P x P float32 matrix is 39 GB, so the study fits one machine only if no
task holds more than about two of them: the budget is :math:`2 P^2 s` bytes (s bytes per stored element) plus
O(P·N). This module measures each task against it, as a multiple of :math:`P^2 s`:

* a synthetic Hessian file per checkpoint in the schema of :class:`landscape.hessian.StoredHessian`
  (orthonormal DCT-II eigenvectors, a spectrum with negative, bulk and outlier eigenvalues), stored in
  ``storage`` precision as the `paper` profile stores it, and the small files the tasks read beside it;
* a point whose model has exactly P parameters (softmax regression: the memory of an eigenbasis task depends on
  P, not on the network's shape), on N synthetic examples;
* each task in its own process (``python -m landscape.memory TASK FOLDER``), the growth of its resident set's
  high-water mark over the call (``VmHWM`` after a reset, which sees numpy, HDF5 and torch allocations alike);
* at two sizes, and the slope of the growth in P² (:func:`matrices_held`): the number of matrices the task
  holds. What does not grow with P² (torch's and scipy's first use, about 180 MB) cancels, where at one size it
  would be counted as several matrices at P = 3,000.

``benchmarks/memory.py`` runs it at P = 4,000 and 8,000; ``tests/test_memory.py`` at 3,500 and 5,000 holds every
analysis to the budget. :data:`MEASURED` keeps the benchmark's figures, from which ``plan`` prints
the largest task's peak at a profile's P.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.fft
import torch
from torch import nn

from landscape.checkpoint import Point
from landscape.config import ExperimentsConfig, LandscapeConfig
from landscape.data import Dataset, Split
from landscape.hessian import StoredHessian, write_hessian
from landscape.params import flatten
from landscape.resources import STORAGE_BYTES
from landscape.store import write_results

CLASSES = 10
EXAMPLES = 64  # N: small, so that O(P·N) terms stay far below P² at the P measured
LABELS = ("main@0", "main@100")  # the checkpoints whose synthetic Hessians the overlap compares
RUNS = ("main", "other")  # the runs whose end points lr_compare compares
SETTINGS = ExperimentsConfig(
    seeds=2,
    noise_scales=2,
    noise_draws=1,
    tune_bands=2,
    tune_steps=2,
    tune_draws=1,
    thresholds=3,
    continue_iterations=4,
    lr_scales=(1.0,),
    hmc_samples=2,
    hmc_burn_in=1,
    hmc_steps=2,
)
LANDSCAPE = LandscapeConfig(
    directions=4, points=5, batch_sizes=(8,), batches=2, random_directions=2, fine_points=11, fine_decades=2,
    fine_directions=1, points_per_pass=1,
)  # fmt: skip
# P x P matrices each analysis holds at its peak, by `python benchmarks/memory.py` (P = 4,000 and 8,000, float32
# storage, 2026-12-06, this repository's 2-core machine; control 3.00). `plan` scales the largest to a profile's P.
# The Hessian and batch-Hessian tasks (3.16 and 3.08 there: the matrix and syevd's 2P² workspace on a CPU) are
# plan's "finishing a Hessian" line instead: on a GPU the host holds the matrix and its eigenvectors.
MEASURED: dict[str, float] = {
    "overlap": 1.28,
    "bayes_lr": 1.00,
    "example_grads": 1.07,
    "fine_structure": 1.13,
    "lr_compare": 1.13,
    "noise": 1.10,
    "random_dirs": 1.13,
    "threshold": 1.13,
}


def synthetic_point(P: int, seed: int = 0) -> Point:
    """Softmax regression with exactly ``P`` parameters (P ≡ 0 mod CLASSES + 1 rounded) on random examples."""
    features = max(P // CLASSES - 1, 1)
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(features, CLASSES))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=generator))

    def split(n: int) -> Split:
        x = torch.randn(n, 1, 1, features, generator=generator)
        return Split(x, torch.randint(0, CLASSES, (n,), generator=generator), np.arange(n))

    data = Dataset("synthetic", tuple(str(c) for c in range(CLASSES)), split(EXAMPLES), split(100), split(100))
    return Point(model, flatten(model).detach(), data, lr=0.01, weight_decay=5e-4)


def _spectrum(P: int) -> np.ndarray:
    negatives, outliers = -np.geomspace(1e-2, 1e-4, 5), np.geomspace(2.0, 20.0, CLASSES)
    return np.sort(np.concatenate([negatives, np.geomspace(1e-6, 1.0, P - 5 - CLASSES), outliers]))


def write_hessian_file(path: Path, theta: np.ndarray, storage: str, shift: int) -> None:
    """A Hessian file in the store's schema: V diag(λ) Vᵀ with V an orthonormal DCT-II basis (columns permuted)."""
    P = len(theta)
    eigenvalues = _spectrum(P)
    eigenvectors = np.roll(scipy.fft.dct(np.eye(P, dtype=storage), norm="ortho", axis=0), shift, axis=1)
    with h5py.File(path, "w") as fh:
        fh.create_dataset("eigenvalues", data=eigenvalues.astype(storage))
        fh.create_dataset("eigenvectors", data=eigenvectors)
        del eigenvectors
        fh.create_dataset("hessian", shape=(P, P), dtype=storage)  # never read by the tasks measured; left empty
        fh.create_dataset("gradient", data=np.random.default_rng(shift).standard_normal(P) * 1e-3)
        fh.create_dataset("theta", data=theta.astype(np.float64))
        fh.attrs.update(loss=1.0, storage=storage, probe_error=0.0, asymmetry=0.0, dtype="float32")


def write_inputs(folder: Path, P: int, storage: str = "float32") -> None:
    """Every file a measured task reads: Hessians per checkpoint and per run, noise, run ends, training results."""
    folder.mkdir(parents=True, exist_ok=True)
    theta = synthetic_point(P).theta.numpy()
    for shift, label in enumerate(LABELS):
        write_hessian_file(folder / f"{label}.h5", theta, storage, shift)
    for name in RUNS:
        (folder / f"{name}@end.h5").unlink(missing_ok=True)
        (folder / f"{name}@end.h5").symlink_to(f"{LABELS[-1]}.h5")
        with h5py.File(folder / f"run_{name}.h5", "w") as fh:
            fh.create_dataset("params", data=np.stack([theta, theta + 1e-3 * (name != RUNS[0])]).astype(np.float32))
    eigenvalues = _spectrum(P)
    write_results(folder / "example_grads.h5", {"noise": np.abs(eigenvalues), "eigenvalue": eigenvalues}, {}, {})
    final = {"train_loss": 0.1, "val_acc": 0.9, "test_acc": 0.9, "test_loss": 0.2}
    runs = {
        name: {"initial_lr": 0.1 / (k + 1), "schedule": {"schedule": "anneal"}, "final": final}
        for k, name in enumerate(RUNS)
    }
    write_results(folder / "training.h5", {}, {"runs": runs}, {})


def _phase_noise(point: Point, hessian: Path) -> np.ndarray:
    from landscape.analyses.example_grads import gradient_noise

    x, y = point.examples()
    with StoredHessian(hessian) as stored:
        basis = torch.as_tensor(stored.eigenvectors())
    return gradient_noise(point.model, point.theta, x, y, basis, 50)


def _tasks(folder: Path, point: Point) -> dict[str, Callable[[], Any]]:
    from landscape.analyses import (
        batch_spectrum,
        bayes_lr,
        example_grads,
        fine_structure,
        lr_compare,
        noise,
        overlap,
        random_dirs,
        threshold,
    )

    hessian, out, meta = folder / f"{LABELS[-1]}.h5", folder / "out", {"config_hash": "memory"}
    line = point.line(EXAMPLES, 1)
    objective = point.objective(EXAMPLES)
    x, y = point.examples()
    P = point.theta.numel()
    return {
        # The measurement's control (tests/test_memory.py): three float32 P x P arrays, written so they are resident.
        "control_three_matrices": lambda: [np.ones((P, P), dtype=np.float32) for _ in range(3)],
        "overlap": lambda: overlap.analyse(
            {label: folder / f"{label}.h5" for label in LABELS}, CLASSES, out / "o.h5", {}
        ),
        "bayes_lr": lambda: bayes_lr.analyse(
            point, hessian, folder / "example_grads.h5", 8, 0.9, 0.1, SETTINGS, out / "b.h5", {}, top_k=CLASSES
        ),
        "example_grads": lambda: example_grads.analyse(
            point.model, point.theta, x, y, point.weight_decay, hessian, CLASSES, 50, out / "e.h5", {}
        ),
        "fine_structure": lambda: fine_structure.analyse(
            {"float64": (line, point.theta), "float32": (line, point.theta)}, hessian, LANDSCAPE, out / "f.h5", {}
        ),
        "lr_compare": lambda: lr_compare.analyse(
            folder / "training.h5",
            {name: folder / f"run_{name}.h5" for name in RUNS},
            {name: folder / f"{name}@end.h5" for name in RUNS},
            RUNS[0],
            out / "l.h5",
            {},
            lambda theta: objective.loss(torch.as_tensor(theta, dtype=point.theta.dtype)),
        ),
        "noise": lambda: noise.analyse(point, hessian, SETTINGS, out / "n.h5", {}),
        # phase_noise's core: the gradient noise in a stored basis, which it opens as example_grads does.
        "phase_noise": lambda: _phase_noise(point, hessian),
        "random_dirs": lambda: random_dirs.analyse(line, point.theta, hessian, CLASSES, LANDSCAPE, out / "r.h5", {}),
        "threshold": lambda: threshold.analyse(point, hessian, SETTINGS.thresholds, out / "t.h5", {}),
        "hessian": lambda: write_hessian(
            point.objective(EXAMPLES), point.theta, out / "h.h5", meta, 32, progress=False, storage="float32"
        ),
        "spectrum_batch": lambda: batch_spectrum.compute(
            point, hessian, (8,), 1, 0, 32, EXAMPLES, out / "s.h5", meta, progress=False, storage="float32"
        ),
    }


TASKS = (
    "hessian", "spectrum_batch", "overlap", "bayes_lr", "example_grads", "fine_structure", "lr_compare", "noise",
    "random_dirs", "threshold", "phase_noise",
)  # fmt: skip


def _status_bytes(field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (its high-water mark) of this process, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"/proc/self/status has no {field}: the memory audit needs Linux")


def _reset_peak() -> None:
    """Set the high-water mark to the resident set now (Linux ≥ 4.0: ``echo 5 > /proc/self/clear_refs``)."""
    Path("/proc/self/clear_refs").write_text("5")


def measure_here(task: str, folder: Path) -> dict[str, float]:
    """Run ``task`` on the inputs in ``folder`` in this process: growth of the peak resident set, and seconds."""
    with h5py.File(folder / f"{LABELS[-1]}.h5", "r") as fh:
        P, storage = fh["eigenvalues"].shape[0], fh.attrs["storage"]
    point = synthetic_point(P)
    (folder / "out").mkdir(exist_ok=True)
    call = _tasks(folder, point)[task]
    _reset_peak()
    before, start = _status_bytes("VmRSS"), time.perf_counter()
    call()
    growth = _status_bytes("VmHWM") - before
    return {
        "bytes": growth,
        "matrices": growth / (P * P * STORAGE_BYTES[storage]),
        "seconds": time.perf_counter() - start,
    }


def measure(task: str, folder: Path, threads: int = 1) -> dict[str, float]:
    """:func:`measure_here` in a fresh process, so that one task's peak does not hide another's."""
    env = {"OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-m", "landscape.memory", task, str(folder)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory measurement of {task} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def matrices_held(tasks: tuple[str, ...], small: Path, large: Path, workers: int = 2) -> dict[str, dict[str, float]]:
    r"""The P x P matrices each task holds at its peak: the slope of its peak growth g in :math:`P^2 s` between sizes.

    :math:`(g_2 - g_1) / ((P_2^2 - P_1^2) s)`: what does not grow with P (torch's and scipy's first use, ~180 MB)
    cancels; what grows linearly (c bytes per parameter: vectors, per-block temporaries) adds
    :math:`c / (s (P_1 + P_2))`, which overstates the count, never understates it. Below P ≈ 3,000 the allocator's
    thresholds make g jump by tens of MB between neighbouring sizes (measured at P = 1,000 ... 6,000): the sizes
    must be large enough for a matrix to dwarf them. ``workers`` processes measure at once (each its own peak).
    """
    sizes = {}
    for folder in (small, large):
        with h5py.File(folder / f"{LABELS[-1]}.h5", "r") as fh:
            sizes[folder] = fh["eigenvalues"].shape[0] ** 2 * STORAGE_BYTES[fh.attrs["storage"]]
    jobs = [(task, folder) for task in tasks for folder in (small, large)]
    with ThreadPoolExecutor(workers) as pool:
        growth = dict(zip(jobs, pool.map(lambda job: measure(*job)["bytes"], jobs)))
    return {
        task: {
            "matrices": (growth[task, large] - growth[task, small]) / (sizes[large] - sizes[small]),
            "peak_bytes": float(growth[task, large]),
        }
        for task in tasks
    }


if __name__ == "__main__":
    print(json.dumps(measure_here(sys.argv[1], Path(sys.argv[2]))))
