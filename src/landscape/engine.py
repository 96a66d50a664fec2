"""Hessian column blocks on a Dask cluster: local worker processes, or SLURM/PBS jobs through dask-jobqueue.

doit stays the graph; within one ``hessian:<run>@<step>`` task the column blocks — independent
batches of Hessian-vector products — are submitted to Dask workers, and each finished block is
written to the task's partial file as soon as it arrives (:func:`landscape.hessian.write_hessian`).
A worker that dies takes only its running block with it: Dask resubmits that block elsewhere, and a
rerun of a killed task computes only the blocks the partial file lacks. Each worker loads the
point from the same profile, run file and step and uses the profile's thread count, so a block is
the same floating-point computation wherever it runs and the matrix is bit-for-bit the local one.

Select it in the profile: ``profile.engine = "dask"``, with ``profile.scheduler`` the address of a
running scheduler (e.g. one a ``dask_jobqueue.SLURMCluster`` started), or empty for a local cluster
of ``profile.workers`` processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landscape import config, hessian

_POINTS: dict[tuple[str, str, int], Any] = {}


@dataclass(frozen=True)
class PointSpec:
    """What a worker needs to rebuild the objective and the point: the profile file, the run file and the step."""

    config_path: str
    run_file: str
    step: int


def _objective(spec: PointSpec) -> tuple[Any, Any]:
    """The objective and θ of ``spec``, built once per worker process (data, model and θ stay in its memory)."""
    from landscape.checkpoint import load_point

    key = (spec.config_path, spec.run_file, spec.step)
    if key not in _POINTS:
        cfg = config.load(spec.config_path)
        point = load_point(cfg, Path(spec.run_file), spec.step)
        _POINTS[key] = (point.objective(cfg.hessian.chunk_size), point.theta)
    return _POINTS[key]


def column_block(spec: PointSpec, first: int, count: int) -> tuple[int, np.ndarray]:
    """Hessian columns ``first:first+count`` of the point of ``spec`` (run on a worker)."""
    objective, theta = _objective(spec)
    return first, hessian.hessian_block(objective, theta, first, count)


def connect(scheduler: str, workers: int) -> Any:
    """A Dask client: to ``scheduler`` if given, else to a new local cluster of ``workers`` processes."""
    from distributed import Client

    if scheduler:
        return Client(scheduler)
    # One task per worker process at a time; torch inside it uses the profile's ``threads`` (load_point sets them).
    # The client starts the cluster itself so that closing it stops the workers: a client handed a LocalCluster
    # leaves its worker processes running until the Python process exits (one idle cluster per Hessian task).
    return Client(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)


def block_runner(
    client: Any, spec: PointSpec, P: int, block_size: int
) -> Callable[[list[int], Callable[[int, np.ndarray], None]], None]:
    """A ``run_blocks`` for :func:`landscape.hessian.write_hessian` that computes the blocks on ``client``'s workers."""
    from distributed import as_completed

    def run(firsts: list[int], on_block: Callable[[int, np.ndarray], None]) -> None:
        futures = [
            client.submit(column_block, spec, first, min(block_size, P - first), pure=False, retries=5)
            for first in firsts
        ]
        try:
            for future in as_completed(futures):
                first, block = future.result()
                on_block(first, block)
                future.release()
        except BaseException:
            client.cancel(futures)  # an interrupted task leaves no work running on the cluster
            raise

    return run
