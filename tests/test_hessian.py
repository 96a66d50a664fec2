"""Hessians against independent references: dense torch.func.hessian in float64, eigh, kill-and-resume."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
from conftest import kill_on_event
from torch.func import hessian as reference_hessian

from landscape.hessian import (
    Objective,
    StoredHessian,
    cuda_eigh_library,
    dense_hessian,
    eigendecomposition,
    lanczos,
    symmetrise_in_place,
    write_hessian,
)
from landscape.models import ResNet
from landscape.params import flatten, objective_at
from landscape.store import SchemaError

WEIGHT_DECAY = 1e-2


def _problem(norm: str, n: int = 24, seed: int = 0, dtype=torch.float64):
    torch.manual_seed(seed)
    model = ResNet(1, 3, 2, 2, 1, norm=norm).to(dtype)
    x = torch.randn(n, 1, 6, 6, dtype=dtype)
    y = torch.randint(0, 3, (n,))
    return model, x, y, flatten(model)


def _reference(model, x, y, theta):
    return reference_hessian(lambda t: objective_at(model, t, x, y, WEIGHT_DECAY))(theta).numpy()


def _relative(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("norm", ["group", "none"])
@pytest.mark.parametrize(("chunk", "block"), [(7, 5), (24, 64)])
def test_dense_hessian_matches_torch_func_hessian(norm, chunk, block):
    model, x, y, theta = _problem(norm)
    objective = Objective(model, x, y, WEIGHT_DECAY, chunk_size=chunk)
    # float64 throughout: both sides differ only by summation order, ~1e-15 relative; 1e-10 leaves room.
    assert _relative(dense_hessian(objective, theta, block_size=block), _reference(model, x, y, theta)) < 1e-10


def test_hvp_over_the_dataset_equals_hessian_times_vector():
    model, x, y, theta = _problem("group")
    H = _reference(model, x, y, theta)
    vectors = torch.randn(3, theta.numel(), dtype=torch.float64)
    products = Objective(model, x, y, WEIGHT_DECAY, chunk_size=5).hvp(theta, vectors).numpy()
    assert _relative(products, vectors.numpy() @ H) < 1e-10
    single = Objective(model, x, y, WEIGHT_DECAY).hvp(theta, vectors[0]).numpy()
    assert _relative(single, H @ vectors[0].numpy()) < 1e-10


def test_loss_and_gradient_match_autograd():
    model, x, y, theta = _problem("group")
    objective = Objective(model, x, y, WEIGHT_DECAY, chunk_size=5)
    t = theta.clone().requires_grad_(True)
    loss = objective_at(model, t, x, y, WEIGHT_DECAY)
    (gradient,) = torch.autograd.grad(loss, t)
    assert abs(objective.loss(theta) - loss.item()) < 1e-12
    assert _relative(objective.gradient(theta).numpy(), gradient.numpy()) < 1e-12


def test_minibatch_hessian_is_the_hessian_of_the_batch_objective():
    model, x, y, theta = _problem("group", n=40)
    batch = torch.tensor([3, 17, 5, 29, 11])
    H = dense_hessian(Objective(model, x[batch], y[batch], WEIGHT_DECAY), theta)
    assert _relative(H, _reference(model, x[batch], y[batch], theta)) < 1e-10


def test_eigendecomposition_is_orthonormal_and_ascending():
    model, x, y, theta = _problem("group")
    H = dense_hessian(Objective(model, x, y, WEIGHT_DECAY), theta)
    values, vectors = eigendecomposition(H)
    assert np.all(np.diff(values) >= 0)
    assert np.abs(vectors.T @ vectors - np.eye(len(values))).max() < 1e-10
    assert _relative(vectors @ np.diag(values) @ vectors.T, H) < 1e-10


@pytest.mark.parametrize("krylov", [None, 12])
@pytest.mark.parametrize("which", ["LA", "SA"])
def test_lanczos_matches_the_dense_eigenvalues(which, krylov):
    model, x, y, theta = _problem("group")
    objective = Objective(model, x, y, WEIGHT_DECAY)
    values, _ = eigendecomposition(dense_hessian(objective, theta))
    top, vectors = lanczos(objective, theta, k=5, which=which, krylov=krylov)
    expected = values[-5:] if which == "LA" else values[:5]
    assert np.abs(top - expected).max() / np.abs(values).max() < 1e-6
    H_v = objective.hvp(theta, torch.from_numpy(vectors.T.copy())).numpy().T
    assert np.abs(H_v - vectors * top).max() / np.abs(values).max() < 1e-6


def test_float32_products_agree_with_float64():
    model64, x, y, theta64 = _problem("group")
    exact = dense_hessian(Objective(model64, x, y, WEIGHT_DECAY), theta64)
    model32 = model64.to(torch.float32)
    approx = dense_hessian(Objective(model32, x.float(), y, WEIGHT_DECAY), theta64.float())
    # float32 products (unit round-off 6e-8) summed over a few dozen terms in float64: ~1e-6 relative.
    assert _relative(approx, exact) < 1e-5


@pytest.mark.parametrize("tile", [1, 3, 7, 64])
def test_in_place_symmetrisation_is_bitwise_the_copying_one(tile):
    raw = np.random.default_rng(tile).standard_normal((23, 23))
    expected_asymmetry = np.abs(raw - raw.T).max() / np.abs(raw).max()
    matrix = raw.copy()
    asymmetry = symmetrise_in_place(matrix, tile)
    assert np.array_equal(matrix, 0.5 * (raw + raw.T))
    assert asymmetry == expected_asymmetry


def test_the_gpu_eigh_falls_back_to_magma_only_when_cusolvers_workspace_does_not_fit():
    h200_free = 135 * 10**9  # what torch.cuda.mem_get_info reported free on the H200 of 2026-12-01
    assert cuda_eigh_library(16_384, torch.float32, h200_free) == "cusolver"
    assert cuda_eigh_library(98_524, torch.float32, h200_free) == "magma"  # 6.1 * P^2 * 4 B = 237 GB
    assert cuda_eigh_library(60_000, torch.float64, h200_free) == "magma"  # 176 GB
    assert cuda_eigh_library(40_000, torch.float32, h200_free) == "cusolver"  # 39 GB


def test_float32_storage_keeps_the_spectrum(tmp_path):
    model, x, y, theta = _problem("group")
    objective = Objective(model, x, y, WEIGHT_DECAY)
    exact = dense_hessian(objective, theta)
    values64, _ = eigendecomposition(exact)
    target = write_hessian(
        objective, theta, tmp_path / "h32.h5", {"config_hash": "h"}, 16, progress=False, storage="float32"
    )
    with h5py.File(target) as fh:
        assert {fh[k].dtype for k in ("hessian", "eigenvalues", "eigenvectors")} == {np.dtype("float32")}
        assert fh.attrs["storage"] == "float32"
        stored, values, vectors = fh["hessian"][:], fh["eigenvalues"][:], fh["eigenvectors"][:]
    scale = np.abs(values64).max()
    # Rounding H to float32 moves each eigenvalue by at most |ΔH|_2 <= P * 2^-24 * max|H| (~1e-5 here);
    # a backward-stable float32 eigh adds a few times P * 2^-24 |H|. 1e-5 of λ_max bounds both for P ≈ 90.
    assert _relative(stored, exact) < 2**-23
    assert np.abs(values - values64).max() / scale < 1e-5
    residual = exact @ vectors.astype(np.float64) - vectors.astype(np.float64) * values
    assert np.abs(residual).max() / scale < 1e-5
    assert np.abs(vectors.T.astype(np.float64) @ vectors - np.eye(len(values))).max() < 1e-5


def test_the_stored_hessian_reader_returns_what_write_hessian_stored(tmp_path):
    model, x, y, theta = _problem("group")
    objective = Objective(model, x, y, WEIGHT_DECAY)
    target = write_hessian(objective, theta, tmp_path / "h.h5", {"config_hash": "h"}, 16, progress=False)
    with h5py.File(target) as fh:
        values, vectors, gradient, loss = (
            fh["eigenvalues"][:],
            fh["eigenvectors"][:],
            fh["gradient"][:],
            fh.attrs["loss"],
        )
    columns = np.array([7, 2, 7, len(values) - 1, 0])  # unsorted, with a repeat: HDF5 alone refuses both
    with StoredHessian(target) as stored:
        assert np.array_equal(stored.eigenvalues, values) and np.array_equal(stored.gradient, gradient)
        assert stored.loss == loss and np.array_equal(stored.eigenvectors(), vectors)
        assert np.array_equal(stored.eigenvectors(columns), vectors[:, columns])
        assert stored.eigenvector_dataset.shape == vectors.shape
    with h5py.File(target, "a") as fh:
        del fh["gradient"]
    with pytest.raises(SchemaError, match="h.h5: dataset 'gradient' missing"):
        StoredHessian(target)


HESSIAN_SCRIPT = """
import sys, time, torch
from pathlib import Path
from landscape.hessian import Objective, dense_hessian, write_hessian
from landscape.models import ResNet
from landscape.params import flatten
torch.manual_seed(0)
model = ResNet(1, 10, 2, 2, 1).double()  # 400 parameters: 50 blocks of 8, killed after 12
x, y = torch.randn(96, 1, 8, 8, dtype=torch.float64), torch.randint(0, 10, (96,))
objective, theta, stall_after = Objective(model, x, y, 1e-3, 32), flatten(model), int(sys.argv[3])
stored = []

def store_or_stall(first, block, store):
    # After `stall_after` blocks are on disk, the next one is computed but never stored: the kill lands between blocks.
    if len(stored) == stall_after:
        print(f"stalled with {len(stored)} blocks stored", flush=True)
        time.sleep(3600)
    store(first, block)
    stored.append(first)

def run_blocks(firsts, store):
    dense_hessian(objective, theta, int(sys.argv[2]), on_block=lambda f, b: store_or_stall(f, b, store), blocks=firsts)

write_hessian(objective, theta, Path(sys.argv[1]), {"config_hash": "h"}, block_size=int(sys.argv[2]), progress=False,
              run_blocks=run_blocks)
"""


def test_killed_hessian_resumes_to_the_identical_matrix(tmp_path):
    target, reference = tmp_path / "killed.h5", tmp_path / "reference.h5"
    partial = tmp_path / "killed.h5.partial"
    proc = subprocess.Popen([sys.executable, "-c", HESSIAN_SCRIPT, str(target), "8", "12"], stdout=subprocess.PIPE)
    kill_on_event(proc, lambda line: line.startswith("stalled"), "a stall after 12 stored blocks")
    assert not target.exists()
    with h5py.File(partial, "r") as fh:
        assert fh["blocks_done"][:].sum() == 12 < len(fh["blocks_done"]), "the kill should land mid-way"
    never = "-1"  # the resumed and the reference runs never stall
    subprocess.run([sys.executable, "-c", HESSIAN_SCRIPT, str(target), "8", never], check=True)
    subprocess.run([sys.executable, "-c", HESSIAN_SCRIPT, str(reference), "8", never], check=True)
    assert not partial.exists()
    with h5py.File(target) as got, h5py.File(reference) as ref:
        for key in ("hessian", "eigenvalues", "eigenvectors", "gradient"):
            assert np.array_equal(got[key][:], ref[key][:]), key
        assert np.array_equal(got["hessian"][:], got["hessian"][:].T)
        assert got.attrs["asymmetry"] < 1e-12
