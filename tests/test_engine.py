"""The Dask engine against the local path: the same Hessian bit for bit, and no finished block lost to a kill."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from landscape import config, engine
from landscape.checkpoint import load_point
from landscape.hessian import block_starts, write_hessian
from landscape.train import train_run

distributed = pytest.importorskip("distributed")

BLOCK = 32


@pytest.fixture(scope="module")
def point_spec(tmp_path_factory, request):
    """A smoke-model run of 40 iterations, trained once; its end point is the Hessian's."""
    import tomllib

    from conftest import REPO, dump_toml

    doc = tomllib.loads((REPO / "configs" / "smoke.toml").read_text())
    doc["train"].update(iterations=40, checkpoints=[0, 40], eval_every=20, flush_every=20)
    doc["hessian"]["batch_steps"] = []
    doc["profile"]["threads"] = 1  # two single-threaded workers on a 2-core machine
    doc["runs"] = {"main": {**doc["runs"]["main"], "replicas": 0}}
    folder = tmp_path_factory.mktemp("engine")
    profile = folder / "engine.toml"
    profile.write_text(dump_toml(doc))
    run_file = folder / "main.h5"
    train_run(config.load(profile), "main", run_file, progress=False)
    return engine.PointSpec(str(profile), str(run_file), 40)


@pytest.fixture(scope="module")
def local(point_spec, tmp_path_factory):
    """The Hessian computed in this process, once: the reference every distributed run must equal bit for bit."""
    target = tmp_path_factory.mktemp("local") / "local.h5"
    _local(point_spec, target)
    return target


@pytest.fixture(scope="module")
def client():
    with engine.connect("", workers=2) as dask_client:
        yield dask_client


def _local(spec: engine.PointSpec, target):
    cfg = config.load(spec.config_path)
    point = load_point(cfg, Path(spec.run_file), spec.step)
    write_hessian(
        point.objective(cfg.hessian.chunk_size), point.theta, target, {"config_hash": "h"}, BLOCK, progress=False
    )


def _distributed(spec, client, target, on_block=None):
    cfg = config.load(spec.config_path)
    point = load_point(cfg, Path(spec.run_file), spec.step)
    runner = engine.block_runner(client, spec, point.theta.numel(), BLOCK)
    if on_block is not None:
        inner = runner

        def runner(firsts, store):
            inner(firsts, lambda first, block: (store(first, block), on_block(first)))

    write_hessian(
        point.objective(cfg.hessian.chunk_size),
        point.theta,
        target,
        {"config_hash": "h"},
        BLOCK,
        progress=False,
        run_blocks=runner,
    )


def _same(a, b):
    with h5py.File(a) as x, h5py.File(b) as y:
        for key in ("hessian", "eigenvalues", "eigenvectors", "gradient"):
            assert np.array_equal(x[key][:], y[key][:]), key


def test_the_engine_gives_the_local_hessian_bit_for_bit(point_spec, client, local, tmp_path):
    _distributed(point_spec, client, tmp_path / "dask.h5")
    _same(local, tmp_path / "dask.h5")


def test_a_killed_worker_loses_no_finished_block(point_spec, client, local, tmp_path):
    arrived: list[int] = []
    pids = list(client.run(os.getpid).values())

    def kill_one_worker(first: int) -> None:
        arrived.append(first)
        if len(arrived) == 2:
            os.kill(pids[0], signal.SIGKILL)  # mid-run: the other blocks are queued or running

    _distributed(point_spec, client, tmp_path / "dask.h5", on_block=kill_one_worker)
    with h5py.File(local) as fh:
        P = fh["hessian"].shape[0]
    assert sorted(arrived) == block_starts(P, BLOCK)  # every block exactly once: none lost, none redone
    _same(local, tmp_path / "dask.h5")


def test_an_interrupted_task_reruns_only_the_missing_blocks(point_spec, client, local, tmp_path):
    target, arrived = tmp_path / "dask.h5", []

    def interrupt(first: int) -> None:
        arrived.append(first)
        if len(arrived) == 3:
            raise KeyboardInterrupt  # the driver dies after three blocks are on disk

    with pytest.raises(KeyboardInterrupt):
        _distributed(point_spec, client, target, on_block=interrupt)
    with h5py.File(target.with_name(target.name + ".partial")) as fh:
        assert fh["blocks_done"][:].sum() == 3
    rerun: list[int] = []
    _distributed(point_spec, client, target, on_block=rerun.append)
    with h5py.File(local) as fh:
        P = fh["hessian"].shape[0]
    assert sorted(rerun + arrived) == block_starts(P, BLOCK)  # the rerun computed exactly the missing blocks
    _same(local, target)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie waiting for its parent has finished
        return stat.read().split()[2] != "Z"


def test_closing_the_client_stops_its_local_workers():
    """A Hessian task closes its client; the local cluster's worker processes must go with it, not idle on."""
    with engine.connect("", workers=2) as dask_client:
        pids = list(dask_client.run(os.getpid).values())
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids), "the local cluster's workers outlived the client"
