"""H2: Hessians of mini-batch objectives — how the top of the spectrum and the bulk vary with the batch.

For each batch size B and each of K batches drawn without replacement inside the batch, the
dense Hessian of the mini-batch objective (1/B) Σ_{n∈batch} ℓ_n + (wd/2)|θ|² is assembled and
diagonalised. Its trace is an unbiased estimate of the full-dataset trace, which the summary checks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from tqdm import tqdm

from landscape.checkpoint import Point
from landscape.config import Config
from landscape.data import CLASSES
from landscape.hessian import StoredHessian, dense_hessian, eigendecomposition
from landscape.registry import Analysis
from landscape.spectra import subspace_overlap
from landscape.store import read_h5, set_provenance, write_results

ANALYSIS = Analysis(
    question="H2",
    doc="mini-batch Hessian spectra against the full one, by batch size",
    inputs={"spectra": "batch_spectrum:last"},
    config=("data",),
    figure="top eigenvalues of mini-batch Hessians by batch size, against the full Hessian",
)


def batch_indices(n: int, sizes: tuple[int, ...], count: int, seed: int) -> list[np.ndarray]:
    """For each size, ``count`` batches of distinct examples, (count, size) per size."""
    rng = np.random.default_rng(seed)
    return [np.stack([rng.choice(n, size, replace=False) for _ in range(count)]) for size in sizes]


def compute(
    point: Point,
    full_hessian: Path,
    sizes: tuple[int, ...],
    count: int,
    seed: int,
    block: int,
    chunk: int,
    target: Path,
    meta: dict[str, Any],
    progress: bool = True,
    storage: str = "float64",
) -> Path:
    """Spectra of ``count`` mini-batch Hessians per size, resumable batch by batch, into ``target``.

    Each is assembled and decomposed in ``storage`` precision on the point's device, as the full Hessian is.
    """
    classes = len(point.data.classes)
    P = point.theta.numel()
    with StoredHessian(full_hessian) as stored:
        # Only the top subspace is compared: the batch Hessian and its eigenvectors are the two P x P arrays held.
        full_values, full_top = stored.eigenvalues, stored.eigenvectors(np.arange(P - classes, P))
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = True
    if partial.exists():
        with h5py.File(partial, "r") as fh:
            fresh = fh.attrs.get("config_hash") != meta["config_hash"]
    if fresh:
        with h5py.File(partial, "w") as fh:
            set_provenance(fh, meta)
            for i, idx in enumerate(batch_indices(len(point.data.train), sizes, count, seed)):
                fh.create_dataset(f"indices/{sizes[i]}", data=idx)
            fh.create_dataset("eigenvalues", shape=(len(sizes), count, P), dtype="f8")
            fh.create_dataset("top_overlap", shape=(len(sizes), count), dtype="f8")
            fh.create_dataset("done", data=np.zeros((len(sizes), count), dtype=bool))
            fh.create_dataset("sizes", data=np.asarray(sizes))
            fh.create_dataset("full_eigenvalues", data=full_values)
    with h5py.File(partial, "r") as fh:
        done, indices = fh["done"][:], {s: fh[f"indices/{s}"][:] for s in sizes}
    with tqdm(
        total=done.size, initial=int(done.sum()), desc="batch spectra", unit="batch", disable=not progress
    ) as bar:
        for i, size in enumerate(sizes):
            for j in range(count):
                if done[i, j]:
                    continue
                objective = point.objective(chunk, torch.as_tensor(indices[size][j], device=point.theta.device))
                dense = dense_hessian(objective, point.theta, block, storage=storage)
                values, vectors = eigendecomposition(dense, point.theta.device, getattr(torch, storage), overwrite=True)
                del dense
                with h5py.File(partial, "r+") as fh:
                    fh["eigenvalues"][i, j] = values
                    fh["top_overlap"][i, j] = subspace_overlap(vectors, full_top, classes)
                    fh.flush()
                    fh["done"][i, j] = True
                bar.update()
    os.replace(partial, target)
    return target


def analyse(spectra: Path, classes: int, out: Path, provenance: dict[str, Any], top: int = 20) -> Path:
    """Mean and spread over batches, per size: top eigenvalues, λ_max, trace, negatives, top-subspace overlap."""
    with read_h5(spectra, ("eigenvalues", "sizes", "full_eigenvalues", "top_overlap")) as fh:
        eigenvalues, sizes, full = fh["eigenvalues"][:], fh["sizes"][:], fh["full_eigenvalues"][:]
        overlap = fh["top_overlap"][:]
    per_size = {}
    for i, size in enumerate(sizes):
        values = eigenvalues[i]
        per_size[str(int(size))] = {
            "lambda_max_mean": float(values[:, -1].mean()),
            "lambda_max_std": float(values[:, -1].std(ddof=1)),
            "lambda_max_ratio": float(values[:, -1].mean() / full[-1]),
            "trace_mean": float(values.sum(axis=1).mean()),
            "trace_sem": float(values.sum(axis=1).std(ddof=1) / np.sqrt(len(values))),
            "frac_negative_mean": float((values < 0).mean()),
            "top_overlap_mean": float(overlap[i].mean()),
        }
    full_trace = float(full.sum())
    smallest = per_size[str(int(sizes[0]))]
    summary = {
        "sizes": [int(s) for s in sizes],
        "per_size": per_size,
        "full_lambda_max": float(full[-1]),
        "full_trace": full_trace,
        "full_frac_negative": float((full < 0).mean()),
        # The batch trace is unbiased for the full trace: |mean - full| within 3 standard errors.
        "trace_unbiased": all(
            abs(v["trace_mean"] - full_trace) <= 3 * v["trace_sem"] + 1e-12 for v in per_size.values()
        ),
        "smallest_batch_inflates_top": smallest["lambda_max_ratio"] > 1,
        "classes": classes,
    }
    arrays = {
        "sizes": sizes,
        "full_top": full[::-1][:top],
        "top_mean": eigenvalues[:, :, ::-1][:, :, :top].mean(axis=1),
        "top_std": eigenvalues[:, :, ::-1][:, :, :top].std(axis=1, ddof=1),
    }
    return write_results(out, arrays, summary, provenance)


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, spectra: Path) -> Path:
    """The declared entry: the mini-batch spectra at the last batch-spectrum checkpoint."""
    step = cfg.batch_spectrum_steps()[-1]
    return analyse(spectra, len(CLASSES[cfg.data.name]), out, {**provenance, "step": step})
