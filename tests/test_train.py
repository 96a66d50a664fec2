"""Training: schedules, and a run killed mid-way resumes to bitwise-identical iterates."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
from conftest import kill_on_event

from landscape import config
from landscape.config import RunConfig
from landscape.data import load_dataset
from landscape.models import build_model
from landscape.params import data_loss_at
from landscape.train import configure_determinism, eval_steps, lr_schedule, train_run

# Trains, but stalls at the first flush after a resume point at step >= 2 * flush_every is on disk: the
# next flush_every iterates are computed and not yet written, as in any kill between two flushes.
STALLING_TRAIN_SCRIPT = """
import sys, time
from pathlib import Path
from landscape import config, train
flush = train._flush
def flush_or_stall(path, first, thetas, *rest):
    if first >= 2 * len(thetas):
        unwritten = f"{first + 1}..{first + len(thetas)}"
        print(f"stalled with a resume point at {first} and steps {unwritten} unwritten", flush=True)
        time.sleep(3600)
    flush(path, first, thetas, *rest)
train._flush = flush_or_stall
train.train_run(config.load(sys.argv[1]), "main", Path(sys.argv[2]), progress=False)
"""


def test_determinism_turns_off_tensorfloat32():
    # cuDNN convolutions default to TF32 on Ampere and later GPUs, which would bury the Hessian's bulk.
    torch.backends.cudnn.conv.fp32_precision = "tf32"
    configure_determinism(config.load_profile("smoke"))
    assert torch.backends.cudnn.conv.fp32_precision == "ieee"
    assert torch.backends.cuda.matmul.fp32_precision == "ieee"


def test_step_schedule():
    lrs = lr_schedule(RunConfig("m", "step", 0.1, milestones=(0.5, 0.75), gamma=0.1), 8)
    np.testing.assert_allclose(lrs, [0.1] * 4 + [0.01] * 2 + [0.001] * 2)


def test_anneal_runs_end_at_the_same_rate():
    a = lr_schedule(RunConfig("a", "anneal", 0.1, final_lr=0.001, hold=0.25), 100)
    b = lr_schedule(RunConfig("b", "anneal", 0.01, final_lr=0.001, hold=0.25), 100)
    assert a[0] == 0.1 and b[0] == 0.01 and a[24] == 0.1
    assert np.isclose(a[-1], 0.001) and np.isclose(b[-1], 0.001)
    assert np.all(np.diff(a) <= 0)


def test_constant_schedule_and_eval_steps():
    assert np.all(lr_schedule(RunConfig("c", "constant", 0.03), 10) == 0.03)
    assert eval_steps(25, 10).tolist() == [0, 10, 20, 25]


def _tiny(smoke_doc, iterations, flush_every=50):
    smoke_doc["train"].update(
        iterations=iterations, flush_every=flush_every, eval_every=100, checkpoints=[0, iterations]
    )
    smoke_doc["hessian"]["batch_steps"] = []
    smoke_doc["runs"] = {"main": {**smoke_doc["runs"]["main"], "replicas": 0}}
    return smoke_doc


def test_run_file_layout(smoke_doc, write_profile, tmp_path):
    cfg = config.load(write_profile(_tiny(smoke_doc, iterations=60, flush_every=25)))
    generator = torch.get_rng_state()
    path = train_run(cfg, "main", tmp_path / "main.h5", progress=False)
    # Training draws no random numbers, which is why a resume point needs no generator state (train._create).
    assert torch.equal(torch.get_rng_state(), generator)
    assert not (tmp_path / "main.h5.partial").exists()
    with h5py.File(path) as fh:
        P = fh.attrs["parameter_count"]
        assert fh["params"].shape == (61, P) and fh["batch_indices"].shape == (60, 32)
        assert np.all(np.isfinite(fh["train_loss"][:])) and np.all(np.isfinite(fh["eval/test_acc"][:]))
        assert fh["eval/step"][:].tolist() == [0, 60]
        assert fh.attrs["profile"] == "test" and fh.attrs["task"] == "train:main"
        for key in ("git_commit", "git_dirty", "versions", "created_at", "config_hash"):
            assert key in fh.attrs
        theta0, theta1, batch, lr = fh["params"][0], fh["params"][1], fh["batch_indices"][0], fh["lr"][0]
    # Replaying the first step from the log (saved batch, saved rate, zero momentum) gives the logged iterate,
    # up to float32 rounding of a differently ordered update (~1e-8); a wrong batch or rate moves it by ~1e-3.
    data = load_dataset(cfg.data)
    model = build_model(cfg.model, data.input_shape, 10)
    theta = torch.from_numpy(theta0).requires_grad_(True)
    loss = data_loss_at(model, theta, data.train.x[batch], data.train.y[batch])
    (grad,) = torch.autograd.grad(loss, theta)
    replay = theta.detach() - lr * (grad + cfg.train.weight_decay * theta.detach())
    np.testing.assert_allclose(replay.numpy(), theta1, rtol=0, atol=1e-6)


def test_killed_run_resumes_bitwise_identical(smoke_doc, write_profile, tmp_path):
    profile = write_profile(_tiny(smoke_doc, iterations=200))
    cfg = config.load(profile)
    reference = train_run(cfg, "main", tmp_path / "reference.h5", progress=False)

    target = tmp_path / "killed.h5"
    partial = tmp_path / "killed.h5.partial"
    proc = subprocess.Popen(
        [sys.executable, "-c", STALLING_TRAIN_SCRIPT, str(profile), str(target)], stdout=subprocess.PIPE
    )
    event = kill_on_event(proc, lambda line: line.startswith("stalled"), "a stall after a flushed resume point")
    assert not target.exists()
    with h5py.File(partial) as fh:
        resumed_from = int(fh["resume"].attrs["step"])
    assert resumed_from == int(re.search(r"resume point at (\d+)", event)[1]), event
    assert 0 < resumed_from < cfg.train.iterations

    train_run(cfg, "main", target, progress=False)
    with h5py.File(reference) as ref, h5py.File(target) as got:
        for key in ("params", "train_loss", "lr", "batch_indices", "eval/val_loss", "resume/momentum"):
            assert np.array_equal(ref[key][:], got[key][:], equal_nan=True), key


@pytest.mark.parametrize("corrupt", [True, False])
def test_unusable_partial_restarts_from_zero(smoke_doc, write_profile, tmp_path, corrupt):
    cfg = config.load(write_profile(_tiny(smoke_doc, iterations=40, flush_every=20)))
    reference = train_run(cfg, "main", tmp_path / "reference.h5", progress=False)
    partial = tmp_path / "again.h5.partial"
    if corrupt:
        partial.write_bytes(b"not an hdf5 file")
    else:
        with h5py.File(partial, "w") as fh:
            fh.attrs["config_hash"] = "from another configuration"
    with pytest.warns(UserWarning) if corrupt else contextlib.nullcontext():
        train_run(cfg, "main", tmp_path / "again.h5", progress=False)
    with h5py.File(reference) as ref, h5py.File(tmp_path / "again.h5") as got:
        assert np.array_equal(ref["params"][:], got["params"][:])
