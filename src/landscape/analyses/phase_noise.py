"""B1 in each phase's own landscape: the gradient noise in the eigenbasis of a Hessian inside the phase.

The noisy quadratic predicts a constant-rate phase's stationary variance from the curvatures and gradient noise
where that phase is measured (its second half). B1 uses the end point's Hessian for every phase; for an earlier
phase that is another landscape. Where a main-run checkpoint lies in a phase's second half
(:func:`landscape.trajectory.phase_bases`), this analysis measures the per-example gradient noise
c_i = v_iᵀ C v_i at that checkpoint in that checkpoint's eigenbasis, as A10 does at the end point; B1 then
predicts the phase in its own basis, where A5 measures it too. The end point's own noise is A10's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape import paths
from landscape import trajectory as trajectory_mod
from landscape.analyses.example_grads import gradient_noise
from landscape.checkpoint import load_point
from landscape.config import Config
from landscape.hessian import StoredHessian
from landscape.registry import Analysis
from landscape.store import read_h5, write_results

ANALYSIS = Analysis(
    question="B1",
    doc="gradient noise in the eigenbasis of the Hessian inside each constant-rate phase",
    inputs={"run": "run:main", "hessians": "hessians:main_trained"},
    config=("hessian", "data"),
    figure="",
)


def own_bases(lrs: np.ndarray, labels: list[str]) -> dict[str, str | None]:
    """Per long phase (by index, as a string), the label of the Hessian in its second half, or None."""
    steps = {paths.point_of_label(label)[1]: label for label in labels}
    return {
        str(k): steps[step] if step is not None else None
        for k, step in enumerate(trajectory_mod.phase_bases(lrs, sorted(steps)))
    }


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, run: Path, hessians: dict[str, Path]) -> Path:
    """The declared entry: the main run's checkpoints inside a phase, but the end point (A10 measures it)."""
    with read_h5(run, ("lr",)) as fh:
        lrs = fh["lr"][:]
    bases = own_bases(lrs, list(hessians))
    end = paths.point_label(cfg.main_run.name, cfg.train.iterations)
    arrays: dict[str, Any] = {}
    for label in sorted({b for b in bases.values() if b is not None and b != end}):
        point = load_point(cfg, run, paths.point_of_label(label)[1])
        with StoredHessian(hessians[label]) as stored:
            arrays[f"{label}/eigenvalue"] = stored.eigenvalues
            basis = torch.as_tensor(stored.eigenvectors(), device=point.theta.device)
        x, y = point.data.train.x, point.data.train.y
        arrays[f"{label}/noise"] = gradient_noise(point.model, point.theta, x, y, basis, cfg.hessian.chunk_size)
    summary = {"bases": bases, "end": end, "measured": sorted({k.split("/")[0] for k in arrays})}
    return write_results(out, arrays, summary, provenance)
