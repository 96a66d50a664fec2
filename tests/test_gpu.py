"""The GPU path against the CPU float64 references; skipped on a machine without CUDA (run it where there is one).

LANDSCAPE_DEVICE=cuda .venv/bin/python -m pytest tests/test_gpu.py    # or benchmarks/gpu_check.sh
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from torch.func import hessian as reference_hessian

from landscape import config, hessian
from landscape.hessian import CUDA_FLOAT32_EIGH_FROM, Objective, dense_hessian, eigendecomposition
from landscape.models import ResNet
from landscape.params import flatten, objective_at
from landscape.train import full_float32_precision, train_run

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
WEIGHT_DECAY = 1e-2


def _problem():
    torch.manual_seed(0)
    model = ResNet(1, 3, 2, 2, 1).double()
    x, y = torch.randn(24, 1, 6, 6, dtype=torch.float64), torch.randint(0, 3, (24,))
    exact = reference_hessian(lambda t: objective_at(model, t, x, y, WEIGHT_DECAY))(flatten(model)).numpy()
    return model, x, y, exact


def _relative(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_float64_hessian_on_the_gpu_matches_the_cpu_reference():
    model, x, y, exact = _problem()
    device = torch.device("cuda")
    got = dense_hessian(Objective(model.to(device), x.to(device), y.to(device), WEIGHT_DECAY, 7), flatten(model), 5)
    # Same float64 arithmetic in another order: ~1e-15 relative; 1e-10 as on the CPU.
    assert _relative(got, exact) < 1e-10


def test_float32_hessian_on_the_gpu_has_full_float32_precision():
    full_float32_precision()
    model, x, y, exact = _problem()
    device = torch.device("cuda")
    model32 = model.to(device=device, dtype=torch.float32)
    got = dense_hessian(Objective(model32, x.float().to(device), y.to(device), WEIGHT_DECAY, 7), flatten(model32), 5)
    # IEEE float32 products: ~1e-6 relative, as on the CPU; TF32 convolutions (unit round-off 4.9e-4) fail this.
    assert _relative(got, exact) < 1e-5


def _eigh_errors(matrix: np.ndarray, device: str) -> tuple[float, float]:
    """Eigenvalue error and residual of a float32 ``eigendecomposition`` on ``device``, in units of max |lambda|."""
    reference, _ = eigendecomposition(matrix)
    values, vectors = eigendecomposition(matrix, device, torch.float32)
    scale = np.abs(reference).max()
    residual = matrix @ vectors.astype(np.float64) - vectors.astype(np.float64) * values
    return float(np.abs(values - reference).max() / scale), float(np.abs(residual).max() / scale)


def test_float32_eigh_on_the_gpu_keeps_the_spectrum_of_a_small_hessian():
    # cuSOLVER alone gave 1.2e-4 here (2026-12-01, H200); below CUDA_FLOAT32_EIGH_FROM the GPU solves in float64.
    *_, exact = _problem()
    assert max(_eigh_errors(exact, "cuda")) < 1e-5


@pytest.mark.parametrize("library", ["cusolver", "magma"])
def test_float32_eigh_on_the_gpu_keeps_the_spectrum_at_the_float32_size(library, monkeypatch):
    # The smallest matrix decomposed in float32 on a GPU, a known spectrum spanning five decades and both signs, by
    # cuSOLVER and by MAGMA (what the paper's P = 98,524 gets: cuSOLVER's workspace does not fit one H200).
    if library == "magma":
        monkeypatch.setitem(hessian.EIGH_PEAK_ELEMENTS, "cusolver", 1e12)
    n = CUDA_FLOAT32_EIGH_FROM
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((n, n)))
    spectrum = np.sign(rng.standard_normal(n)) * np.logspace(-5, 0, n)
    matrix = (basis * spectrum) @ basis.T
    # Backward-stable float32: error ~ sqrt(n) * 6e-8 ≈ 4e-6 of max |lambda| (1.7e-6 measured on random matrices).
    assert max(_eigh_errors(0.5 * (matrix + matrix.T), "cuda")) < 2e-5


def test_training_on_the_gpu_is_bitwise_repeatable(smoke_doc, write_profile, tmp_path):
    smoke_doc["profile"]["device"] = "cuda"
    smoke_doc["train"].update(iterations=40, flush_every=15, checkpoints=[0, 40], eval_every=20)
    smoke_doc["hessian"]["batch_steps"] = []
    smoke_doc["runs"] = {"main": {**smoke_doc["runs"]["main"], "replicas": 0}}
    cfg = config.load(write_profile(smoke_doc))
    first = train_run(cfg, "main", tmp_path / "first.h5", progress=False)
    second = train_run(cfg, "main", tmp_path / "second.h5", progress=False)
    with h5py.File(first) as a, h5py.File(second) as b:
        assert np.array_equal(a["params"][:], b["params"][:])
