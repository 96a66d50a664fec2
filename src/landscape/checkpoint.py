"""A saved iterate of a run, ready for analysis: the model, its flat parameters and the data."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from landscape.config import Config
from landscape.data import Dataset, load_dataset
from landscape.hessian import Objective
from landscape.linesearch import LineLoss
from landscape.models import build_model
from landscape.store import read_h5
from landscape.train import configure_determinism

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class Point:
    """One iterate ``theta`` of a run, in the profile's Hessian dtype, with the model and data it belongs to."""

    model: nn.Module
    theta: torch.Tensor
    data: Dataset
    lr: float  # the learning rate in force at this iterate (of the step that leaves it)
    weight_decay: float

    def examples(self, indices: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The training examples (x, y), all of them or those at ``indices``."""
        x, y = self.data.train.x, self.data.train.y
        return (x, y) if indices is None else (x[indices], y[indices])

    def objective(self, chunk_size: int, indices: torch.Tensor | None = None) -> Objective:
        """The training objective (DESIGN §3) over the whole training set, or over ``indices`` only."""
        return Objective(self.model, *self.examples(indices), self.weight_decay, chunk_size)

    def line(self, chunk_size: int, points_per_pass: int, indices: torch.Tensor | None = None,
             dtype: torch.dtype | None = None) -> LineLoss:
        """Line searches of the training objective (or of the batch ``indices``), optionally in another dtype."""
        dtype = dtype or self.theta.dtype
        x, y = self.examples(indices)
        model = copy.deepcopy(self.model).to(dtype)
        return LineLoss(model, x.to(dtype), y, self.weight_decay, chunk_size, points_per_pass)


def load_point(cfg: Config, run_file: Path, step: int) -> Point:
    """Iterate ``step`` of the run in ``run_file``, cast to ``cfg.hessian.dtype``, on the profile's device."""
    device = configure_determinism(cfg)
    dtype = DTYPES[cfg.hessian.dtype]
    with read_h5(run_file, ("params", "lr")) as fh:
        if not 0 <= step < fh["params"].shape[0]:
            raise ValueError(f"{run_file}: no iterate {step}; the run has {fh['params'].shape[0]} (0 ... {fh['params'].shape[0] - 1})")
        theta = torch.from_numpy(fh["params"][step]).to(device=device, dtype=dtype)
        lrs = fh["lr"][:]
    data = load_dataset(cfg.data).to(device)
    data = Dataset(data.name, data.classes, *(type(s)(s.x.to(dtype), s.y, s.index) for s in (data.train, data.val, data.test)))
    model = build_model(cfg.model, data.input_shape, len(data.classes)).to(device=device, dtype=dtype)
    return Point(model, theta, data, float(lrs[min(step, len(lrs) - 1)]), cfg.train.weight_decay)
