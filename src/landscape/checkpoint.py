"""A saved iterate of a run, ready for analysis: the model, its flat parameters and the data."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from landscape.config import Config, ModelConfig
from landscape.data import Dataset, load_dataset
from landscape.hessian import Objective
from landscape.linesearch import LineLoss
from landscape.models import build_model
from landscape.params import batches, logits_at
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

    def log_probabilities(self, theta: torch.Tensor, split: str, batch_size: int = 1000) -> torch.Tensor:
        """Log p(class | x) at ``theta`` for every example of ``split`` (train, val or test), in float64."""
        x = getattr(self.data, split).x
        with torch.no_grad():
            return torch.cat(
                [logits_at(self.model, theta, x[s]).double().log_softmax(-1) for s in batches(len(x), batch_size)]
            )

    def metrics(self, theta: torch.Tensor, splits: tuple[str, ...] = ("train", "val", "test")) -> dict[str, float]:
        """Mean cross-entropy (``<split>_loss``) and accuracy (``<split>_acc``) of ``theta`` on each split."""
        return prediction_metrics({s: self.log_probabilities(theta, s) for s in splits}, self.data)

    def line(
        self,
        chunk_size: int,
        points_per_pass: int,
        indices: torch.Tensor | None = None,
        dtype: torch.dtype | None = None,
    ) -> LineLoss:
        """Line searches of the training objective (or of the batch ``indices``), optionally in another dtype."""
        dtype = dtype or self.theta.dtype
        x, y = self.examples(indices)
        model = copy.deepcopy(self.model).to(dtype)
        return LineLoss(model, x.to(dtype), y, self.weight_decay, chunk_size, points_per_pass)


def prediction_metrics(log_probabilities: dict[str, torch.Tensor], data: Dataset) -> dict[str, float]:
    """Loss and accuracy per split from log-probabilities (of one model, or of an ensemble's average)."""
    out = {}
    for split, logp in log_probabilities.items():
        y = getattr(data, split).y
        out[f"{split}_loss"] = float(-logp[torch.arange(len(y)), y].mean())
        out[f"{split}_acc"] = float((logp.argmax(1) == y).double().mean())
    return out


def ensemble(log_probabilities: list[torch.Tensor]) -> torch.Tensor:
    """Log of the average predictive probability of several models: the Bayesian model average."""
    stacked = torch.stack(log_probabilities)
    return torch.logsumexp(stacked, 0) - torch.log(torch.tensor(float(len(log_probabilities)), dtype=stacked.dtype))


def load_point(cfg: Config, run_file: Path, step: int) -> Point:
    """Iterate ``step`` of the run in ``run_file``, cast to ``cfg.hessian.dtype``, on the profile's device."""
    device = configure_determinism(cfg)
    dtype = DTYPES[cfg.hessian.dtype]
    with read_h5(run_file, ("params", "lr")) as fh:
        if not 0 <= step < fh["params"].shape[0]:
            raise ValueError(
                f"{run_file}: no iterate {step}; "
                f"the run has {fh['params'].shape[0]} (0 ... {fh['params'].shape[0] - 1})"
            )
        theta = torch.from_numpy(fh["params"][step]).to(device=device, dtype=dtype)
        lrs = fh["lr"][:]
        # The run file records the model it trained (activation included); older files used the profile's.
        model_cfg = ModelConfig(**json.loads(fh.attrs["model"])) if "model" in fh.attrs else cfg.model
    data = load_dataset(cfg.data).to(device)
    data = Dataset(
        data.name, data.classes, *(type(s)(s.x.to(dtype), s.y, s.index) for s in (data.train, data.val, data.test))
    )
    model = build_model(model_cfg, data.input_shape, len(data.classes)).to(device=device, dtype=dtype)
    return Point(model, theta, data, float(lrs[min(step, len(lrs) - 1)]), cfg.train.weight_decay)
