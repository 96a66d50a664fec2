r"""SGD with momentum on the objective of DESIGN §3, logging every iterate; resumable bit for bit.

The update is PyTorch's heavy-ball convention with weight decay inside the gradient,

.. math:: g_t = \nabla_\theta \frac{1}{B}\sum_{n\in\mathcal B_t}\ell_n(\theta_t) + \mathrm{wd}\,\theta_t,\quad
          v_{t+1} = \beta v_t + g_t,\quad \theta_{t+1} = \theta_t - \eta_t v_{t+1},

so weight decay is part of the objective (and of its Hessian). The batch order, learning
rates, every iterate, every batch loss and periodic evaluations go to ``runs/<run>.h5``
(DESIGN §4). The file is written as ``<run>.h5.partial`` with a resume point every
``train.flush_every`` steps and renamed when the run ends; rerunning a killed run
continues from its last resume point and gives bitwise-identical iterates.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from landscape import config as config_mod
from landscape.config import Config, RunConfig
from landscape.data import Dataset, Split, batch_order, load_dataset
from landscape.models import build_model, count_parameters
from landscape.params import flatten
from landscape.store import provenance, set_provenance

EVAL_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "objective")


def lr_schedule(run: RunConfig, iterations: int) -> np.ndarray:
    """Learning rate of every step, shape (iterations,), float64.

    ``step``: ``lr`` times ``gamma`` per milestone passed (T1). ``constant``: ``lr`` (T2).
    ``anneal``: ``lr`` for the first ``hold`` fraction, then a geometric decay reaching
    ``final_lr`` at the last step, so runs with different ``lr`` end at the same rate (T3).
    """
    steps = np.arange(iterations)
    if run.schedule == "constant":
        return np.full(iterations, run.lr)
    if run.schedule == "step":
        passed = sum((steps >= round(f * iterations)).astype(int) for f in run.milestones)
        return run.lr * run.gamma ** np.asarray(passed, dtype=float)
    hold = round(run.hold * iterations)
    progress = np.clip((steps - hold) / max(iterations - 1 - hold, 1), 0.0, 1.0)
    return run.lr * (run.final_lr / run.lr) ** progress


def eval_steps(iterations: int, every: int) -> np.ndarray:
    """Steps at which the run is evaluated: 0, every, 2*every, ... and always the last."""
    return np.unique(np.append(np.arange(0, iterations + 1, every), iterations))


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, or ``auto`` (cuda when available); ``LANDSCAPE_DEVICE`` overrides the profile."""
    name = os.environ.get("LANDSCAPE_DEVICE", name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "the profile asks for device 'cuda' but torch sees no GPU; set LANDSCAPE_DEVICE=cpu to run on the CPU"
        )
    return torch.device(name)


def configure_determinism(cfg: Config) -> torch.device:
    """Fix threads and deterministic kernels so a profile and seed give bitwise-identical iterates."""
    torch.set_num_threads(cfg.profile.threads)
    torch.use_deterministic_algorithms(True, warn_only=False)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    full_float32_precision()
    return resolve_device(cfg.profile.device)


def full_float32_precision() -> None:
    """IEEE float32 in every CUDA matmul and convolution: no TensorFloat-32.

    cuDNN convolutions use TF32 by default on Ampere and later GPUs: 10 mantissa bits, unit
    round-off 2^-11 ≈ 4.9e-4. At the end of the `cpu` profile's main run 56% of the Hessian's
    eigenvalues are smaller than 2^-11 · λ_max, so TF32 products would bury the bulk of the spectrum.
    """
    torch.backends.cuda.matmul.fp32_precision = "ieee"
    torch.backends.cudnn.conv.fp32_precision = "ieee"
    torch.backends.cudnn.rnn.fp32_precision = "ieee"


@torch.no_grad()
def evaluate(model: torch.nn.Module, split: Split, batch_size: int) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over a whole split, in fixed batches, accumulated in float64."""
    total_loss, correct = 0.0, 0
    for start in range(0, len(split), batch_size):
        x, y = split.x[start : start + batch_size], split.y[start : start + batch_size]
        logits = model(x)
        total_loss += F.cross_entropy(logits, y, reduction="sum").double().item()
        correct += int((logits.argmax(1) == y).sum())
    return total_loss / len(split), correct / len(split)


def _evaluate_all(model: torch.nn.Module, data: Dataset, cfg: Config) -> dict[str, float]:
    bs = cfg.train.eval_batch_size
    (train_loss, train_acc), (val_loss, val_acc), (test_loss, test_acc) = (
        evaluate(model, s, bs) for s in (data.train, data.val, data.test)
    )
    penalty = 0.5 * cfg.train.weight_decay * float(flatten(model).double().pow(2).sum())
    return {
        "train_loss": train_loss,
        "train_acc": train_acc,
        "val_loss": val_loss,
        "val_acc": val_acc,
        "test_loss": test_loss,
        "test_acc": test_acc,
        "objective": train_loss + penalty,
    }


@dataclass
class _State:
    step: int
    momentum: list[torch.Tensor]
    wall_seconds: float


def _create(
    path: Path,
    cfg: Config,
    run: RunConfig,
    data: Dataset,
    theta0: np.ndarray,
    order: np.ndarray,
    lrs: np.ndarray,
    evals: np.ndarray,
    meta: dict,
) -> None:
    """Lay out a fresh partial run file: fixed-size datasets, the batch order and rates up front."""
    T, P = cfg.train.iterations, theta0.size
    rows = int(max(1, min(T + 1, (4 << 20) // (4 * P))))  # ~4 MiB chunks of whole iterates
    with h5py.File(path, "w") as fh:
        set_provenance(fh, meta)
        # lzf with byte shuffling stores iterates in 0.75 of the space at the same read speed (benchmarks/storage.py).
        fh.create_dataset("params", shape=(T + 1, P), dtype="f4", chunks=(rows, P), compression="lzf", shuffle=True)
        fh["params"][0] = theta0
        fh.create_dataset("batch_indices", data=order, dtype="i4")
        fh.create_dataset("lr", data=lrs)
        fh.create_dataset("train_loss", shape=(T,), dtype="f8", fillvalue=np.nan)
        eval_group = fh.create_group("eval")
        eval_group.create_dataset("step", data=evals)
        for key in EVAL_METRICS:
            eval_group.create_dataset(key, shape=(len(evals),), dtype="f8", fillvalue=np.nan)
        split_group = fh.create_group("splits")
        for name, split in (("train", data.train), ("val", data.val), ("test", data.test)):
            split_group.create_dataset(f"{name}_index", data=split.index.astype(np.int64))
        resume = fh.create_group("resume")
        resume.create_dataset("momentum", shape=(P,), dtype="f4", fillvalue=0.0)
        resume.attrs["step"] = 0
        resume.attrs["wall_seconds"] = 0.0
        # No random-number state is kept: training draws no random numbers (the batch order is drawn up front and
        # saved, the model has no dropout), so the resume point is the parameters and the momentum alone, and two
        # builds write the same bytes (a process's global generator state would differ between them).


def _open_resume(path: Path, model: torch.nn.Module, expected_hash: str) -> _State | None:
    """Restore parameters and momentum from a partial file; None if it is unusable."""
    try:
        with h5py.File(path, "r") as fh:
            if fh.attrs.get("config_hash") != expected_hash:
                return None
            step = int(fh["resume"].attrs["step"])
            theta = torch.from_numpy(fh["params"][step])
            momentum_flat = torch.from_numpy(fh["resume/momentum"][:])
            wall = float(fh["resume"].attrs["wall_seconds"])
    except (OSError, KeyError, ValueError) as err:
        warnings.warn(f"{path}: cannot resume ({err}); starting the run again from step 0", stacklevel=2)
        return None
    momentum, offset = [], 0
    with torch.no_grad():
        for p in model.parameters():
            n = p.numel()
            p.copy_(theta[offset : offset + n].view_as(p))
            momentum.append(momentum_flat[offset : offset + n].view_as(p).to(p.device).clone())
            offset += n
    return _State(step, momentum, wall)


def _flush(
    path: Path,
    first: int,
    thetas: list[np.ndarray],
    losses: list[float],
    eval_rows: dict[int, dict],
    momentum: list[torch.Tensor],
    wall: float,
) -> None:
    """Write buffered iterates ``first+1 ..`` then the resume point, so the point never runs ahead of the data."""
    with h5py.File(path, "r+") as fh:
        if thetas:
            fh["params"][first + 1 : first + 1 + len(thetas)] = np.stack(thetas)
            fh["train_loss"][first : first + len(losses)] = np.asarray(losses)
        for index, row in eval_rows.items():
            for key, value in row.items():
                fh["eval"][key][index] = value
        fh.flush()
        fh["resume/momentum"][:] = torch.cat([m.reshape(-1) for m in momentum]).cpu().numpy()
        fh["resume"].attrs["wall_seconds"] = wall
        fh["resume"].attrs["step"] = first + len(thetas)
        fh.flush()


def train_run(
    cfg: Config, run_name: str, target: Path, task: str = "", progress: bool = True, config_hash: str = ""
) -> Path:
    """Train one run of the profile and write its iterate log to ``target`` (resuming if a partial exists).

    ``config_hash`` names the run's inputs (default: the hash of its configuration sections); a
    partial file with another hash is not resumed.
    """
    device = configure_determinism(cfg)
    run = cfg.run(run_name)
    run_hash = config_hash or config_mod.section_hash(*config_mod.run_inputs(cfg, run_name))
    data = load_dataset(cfg.data).to(device)
    model_cfg = cfg.run_model(run_name)
    model = build_model(model_cfg, data.input_shape, len(data.classes)).to(device)
    T, B = cfg.train.iterations, cfg.train.batch_size
    order = batch_order(len(data.train), B, T, cfg.train.batch_seed + run.seed)
    lrs = lr_schedule(run, T)
    evals = eval_steps(T, cfg.train.eval_every)
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)

    state = _open_resume(partial, model, run_hash) if partial.exists() else None
    if state is None:
        meta = provenance(cfg.name, run_hash, task or f"train:{run_name}")
        meta.update(
            run=run_name,
            schedule=json.dumps(config_mod.as_dict(run)),
            model=json.dumps(config_mod.as_dict(model_cfg)),
            parameter_count=count_parameters(model),
            model_width=model.width,
            dataset=data.name,
            input_shape=json.dumps(data.input_shape),
        )
        _create(partial, cfg, run, data, flatten(model).cpu().numpy(), order, lrs, evals, meta)
        state = _State(0, [torch.zeros_like(p) for p in model.parameters()], 0.0)

    params = list(model.parameters())
    order_t = torch.from_numpy(order.astype(np.int64)).to(device)
    eval_index = {int(s): i for i, s in enumerate(evals)}
    thetas: list[np.ndarray] = []
    losses: list[float] = []
    eval_rows: dict[int, dict] = {}
    first, started = state.step, time.perf_counter()
    if first == 0 and 0 in eval_index:
        eval_rows[eval_index[0]] = _evaluate_all(model, data, cfg)

    bar = tqdm(total=T, initial=first, desc=f"train:{run_name}", unit="it", disable=not progress, dynamic_ncols=True)
    for step in range(first, T):
        batch = order_t[step]
        loss = F.cross_entropy(model(data.train.x[batch]), data.train.y[batch])
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g, v in zip(params, grads, state.momentum):
                v.mul_(cfg.train.momentum).add_(g + cfg.train.weight_decay * p)
                p.sub_(lrs[step] * v)
        thetas.append(flatten(model).cpu().numpy())
        losses.append(loss.item())
        if step + 1 in eval_index:
            eval_rows[eval_index[step + 1]] = _evaluate_all(model, data, cfg)
            bar.set_postfix(
                loss=f"{losses[-1]:.3f}",
                val_acc=f"{eval_rows[eval_index[step + 1]]['val_acc']:.3f}",
                lr=f"{lrs[step]:.2g}",
            )
        bar.update()
        if len(thetas) == cfg.train.flush_every or step + 1 == T:
            wall = state.wall_seconds + time.perf_counter() - started
            _flush(partial, first, thetas, losses, eval_rows, state.momentum, wall)
            first, thetas, losses, eval_rows = step + 1, [], [], {}
    bar.close()
    with h5py.File(partial, "r+") as fh:
        fh.attrs["wall_seconds"] = float(fh["resume"].attrs["wall_seconds"])
        fh.attrs["completed_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    os.replace(partial, target)
    return target
