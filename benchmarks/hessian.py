"""Benchmark: dense Hessian of a profile's model over its training set, five ways, side by side.

    python benchmarks/hessian.py                   # cpu profile, all columns (a few minutes each method)
    python benchmarks/hessian.py --columns 256     # time the first 256 columns and extrapolate
    python benchmarks/hessian.py --profile smoke

Methods (all at the profile's initialisation, on the same data, same threads):
  (a) naive      one double-backward HVP per column, recomputing the graph each time
  (b) func       torch.func.hessian of the flat-parameter loss, summed over data chunks
  (c) curvlinops HessianLinearOperator @ identity blocks (if curvlinops-for-pytorch is installed)
  (d) landscape  Objective.hvp: vmap'd forward-over-reverse, k columns per pass (full products),
                 in float64, and in float32 accumulated in float64 (the cpu profile's setting)
  (e) segmented  the project's assembly since issue 16 (landscape.segments): each column's rows from its
                 segment on, by products of the network's tail only; the rows above from symmetry. It
                 always assembles all P columns (early columns cost more than late ones), like (b).
Prints wall time per column, extrapolated time for the full Hessian, the ratio to the fastest
reference (a–c) and to full products (d) at the same precision, and the largest difference from the
float64 landscape result relative to its max.
Not part of the test suite.

Measured on this project's 2-core CPU (2026-11-29, `--columns 128`, cpu profile: P = 2,095, N = 1,500):

    method         ms/col  full (s)  vs fastest a-c  max |diff| / max|H|
    landscape64     103.2     216.1            0.43              0.0e+00
    landscape32      27.2      57.0            0.11              3.4e-07
    naive           240.9     504.7            1.00              5.3e-16
    func            410.3     859.5            1.70              7.7e-16
    curvlinops   failed: forward AD of aten::native_group_norm_backward is not implemented (GroupNorm)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from landscape import config
from landscape.data import load_dataset
from landscape.hessian import Objective, dense_hessian
from landscape.models import build_model
from landscape.params import flatten, objective_at, unflatten


def naive(model, x, y, wd, theta, columns, chunk):
    """(a) one HVP per column by double backward, the graph rebuilt every time."""
    out = np.empty((theta.numel(), len(columns)))
    for i, j in enumerate(columns):
        t = theta.clone().requires_grad_(True)
        total = torch.zeros(theta.numel(), dtype=torch.float64)
        for s in range(0, len(y), chunk):
            loss = F.cross_entropy(
                torch.func.functional_call(model, unflatten(model, t), (x[s : s + chunk],)),
                y[s : s + chunk],
                reduction="sum",
            )
            (g,) = torch.autograd.grad(loss, t, create_graph=True)
            (hv,) = torch.autograd.grad(g[j], t)
            total += hv.double()
        out[:, i] = (total / len(y)).numpy()
        out[j, i] += wd
    return out


def func_hessian(model, x, y, wd, theta, columns, chunk):
    """(b) torch.func.hessian over data chunks (all P columns at once; columns are then selected)."""
    total = torch.zeros(theta.numel(), theta.numel(), dtype=torch.float64)
    for s in range(0, len(y), chunk):
        xs, ys = x[s : s + chunk], y[s : s + chunk]
        total += torch.func.hessian(lambda t: objective_at(model, t, xs, ys, 0.0) * len(ys))(theta).double()
    full = (total / len(y)).numpy() + wd * np.eye(theta.numel())
    return full[:, columns]


def curvlinops_hessian(model, x, y, wd, theta, columns, chunk):
    """(c) curvlinops' HessianLinearOperator applied to identity columns."""
    from curvlinops import HessianLinearOperator

    with torch.no_grad():
        for p, view in zip(model.parameters(), unflatten(model, theta).values()):
            p.copy_(view)
    data = [(x[s : s + chunk], y[s : s + chunk]) for s in range(0, len(y), chunk)]
    operator = HessianLinearOperator(
        model, torch.nn.CrossEntropyLoss(), list(model.parameters()), data, check_deterministic=False
    )
    basis = torch.zeros(theta.numel(), len(columns), dtype=theta.dtype)
    basis[columns, torch.arange(len(columns))] = 1.0
    return (operator @ basis).double().numpy() + wd * basis.double().numpy()


def landscape_hessian(model, x, y, wd, theta, columns, chunk, block):
    """(d) the project's batched HVPs."""
    objective = Objective(model, x, y, wd, chunk)
    out = np.empty((theta.numel(), len(columns)))
    for first in range(0, len(columns), block):
        index = columns[first : first + block]
        basis = torch.zeros(len(index), theta.numel(), dtype=theta.dtype)
        basis[torch.arange(len(index)), torch.as_tensor(index)] = 1.0
        out[:, first : first + len(index)] = objective.hvp(theta, basis).T.numpy()
    return out


def segmented_hessian(model, x, y, wd, theta, columns, chunk, block):
    """(e) the segmented assembly: all P columns, then the requested ones."""
    return dense_hessian(Objective(model, x, y, wd, chunk), theta, block)[:, columns]


def timed(method: Callable, *args) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    result = method(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu", choices=config.available())
    parser.add_argument("--columns", type=int, default=0, help="columns to time (0 = all)")
    parser.add_argument("--methods", default="landscape64,landscape32,segmented64,segmented32,naive,curvlinops,func")
    args = parser.parse_args()
    cfg = config.load_profile(args.profile)
    torch.set_num_threads(cfg.profile.threads)
    data = load_dataset(cfg.data)
    wd, chunk, block = cfg.train.weight_decay, cfg.hessian.chunk_size, cfg.hessian.block_size
    P = None
    rows = []
    reference = None
    for name in args.methods.split(","):
        dtype = torch.float32 if name.endswith("32") else torch.float64
        model = build_model(cfg.model, data.input_shape, len(data.classes)).to(dtype)
        theta = flatten(model)
        x, y = data.train.x.to(dtype), data.train.y
        P = theta.numel()
        columns = list(range(P if args.columns == 0 else min(args.columns, P)))
        if name == "curvlinops":
            try:
                import curvlinops  # noqa: F401
            except ImportError:
                print("(c) curvlinops not installed: pip install curvlinops-for-pytorch to include it")
                continue
        method = {
            "naive": lambda: naive(model, x, y, wd, theta, columns, chunk),
            "func": lambda: func_hessian(model, x, y, wd, theta, columns, 16),
            "curvlinops": lambda: curvlinops_hessian(model, x, y, wd, theta, columns, chunk),
            "landscape64": lambda: landscape_hessian(model, x, y, wd, theta, columns, chunk, block),
            "landscape32": lambda: landscape_hessian(model, x, y, wd, theta, columns, chunk, block),
            "segmented64": lambda: segmented_hessian(model, x, y, wd, theta, columns, chunk, block),
            "segmented32": lambda: segmented_hessian(model, x, y, wd, theta, columns, chunk, block),
        }[name]
        try:
            result, seconds = timed(method)
        except (NotImplementedError, RuntimeError) as err:
            print(f"{name:12s} failed: {type(err).__name__}: {str(err).splitlines()[0]}", flush=True)
            continue
        per_column = seconds / (P if name == "func" or name.startswith("segmented") else len(columns))  # all P built
        if name == "landscape64":
            reference = result
        rows.append((name, per_column, result))
        print(f"{name:12s} {per_column * 1e3:8.1f} ms/column   full Hessian {per_column * P:8.1f} s", flush=True)
    fastest_reference = min((r[1] for r in rows if r[0] in ("naive", "func", "curvlinops")), default=float("nan"))
    full_products = {r[0][-2:]: r[1] for r in rows if r[0].startswith("landscape")}
    print(
        f"\n{args.profile}: P = {P}, N = {len(data.train)}, {cfg.profile.threads} threads, chunk {chunk}, block {block}"
    )
    print(
        f"{'method':12s} {'ms/col':>8s} {'full (s)':>9s} {'vs fastest a-c':>15s} {'vs (d) same dtype':>18s}"
        f" {'max |diff| / max|H|':>20s}"
    )
    for name, per_column, result in rows:
        diff = np.abs(result - reference).max() / np.abs(reference).max() if reference is not None else float("nan")
        versus = per_column / full_products.get(name[-2:], float("nan"))
        print(
            f"{name:12s} {per_column * 1e3:8.1f} {per_column * P:9.1f} {per_column / fastest_reference:15.2f}"
            f" {versus:18.2f} {diff:20.1e}"
        )


if __name__ == "__main__":
    main()
