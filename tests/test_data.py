"""Datasets: deterministic disjoint splits, saved batch orders, CIFAR-10 from a folder, clear errors."""

from __future__ import annotations

import dataclasses
import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

from landscape.config import DataConfig
from landscape.data import FASHION_DEFAULT_ROOT, DatasetDamaged, DatasetMissing, batch_order, load_dataset

DIGITS = DataConfig(name="digits", n_train=300, n_val=100, n_test=100, image_size=8, split_seed=3)


def test_splits_are_deterministic_and_disjoint():
    a, b = load_dataset(DIGITS), load_dataset(DIGITS)
    for split in ("train", "val", "test"):
        assert np.array_equal(getattr(a, split).index, getattr(b, split).index)
        assert np.array_equal(getattr(a, split).x.numpy(), getattr(b, split).x.numpy())
    indices = [set(s.index.tolist()) for s in (a.train, a.val, a.test)]
    assert all(not (i & j) for i, j in [(indices[0], indices[1]), (indices[0], indices[2]), (indices[1], indices[2])])
    other = load_dataset(dataclasses.replace(DIGITS, split_seed=4))
    assert not np.array_equal(a.train.index, other.train.index)


def test_normalised_by_the_training_split():
    data = load_dataset(DIGITS)
    assert data.input_shape == (1, 8, 8)
    assert abs(float(data.train.x.mean())) < 1e-5
    assert abs(float(data.train.x.std()) - 1.0) < 1e-2


def test_batch_order_without_replacement_covers_each_epoch_once():
    order = batch_order(100, 10, 25, seed=1)
    assert order.shape == (25, 10) and order.dtype == np.int32
    for epoch in range(2):
        assert sorted(order[epoch * 10 : (epoch + 1) * 10].ravel().tolist()) == list(range(100))
    assert np.array_equal(order, batch_order(100, 10, 25, seed=1))
    assert not np.array_equal(order, batch_order(100, 10, 25, seed=2))


def test_batch_order_with_replacement_is_uniform():
    order = batch_order(10, 50, 400, seed=0, replacement=True)
    counts = np.bincount(order.ravel(), minlength=10)
    # 20,000 draws over 10 values: each count is 2,000 +- 42 (1 sd); 6 sd is a safe bound.
    assert np.all(np.abs(counts - 2000) < 6 * 42)


def _write_cifar(folder: Path, per_batch: int) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        payload = {
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, per_batch).tolist(),
        }
        with open(folder / name, "wb") as fh:
            pickle.dump(payload, fh)


def test_cifar10_reads_a_cifar_format_folder(tmp_path):
    _write_cifar(tmp_path / "cifar-10-batches-py", per_batch=20)
    cfg = DataConfig(
        name="cifar10", root=str(tmp_path), n_train=80, n_val=10, n_test=10, image_size=16, val_source="test"
    )
    # Verified against CIFAR-10's published checksums, the sample is refused, naming the file and the repair.
    with pytest.raises(DatasetDamaged, match=r"data_batch_1: its content .* is not CIFAR-10's data_batch_1.*verify"):
        load_dataset(cfg)
    cfg = dataclasses.replace(cfg, verify=False)
    data = load_dataset(cfg)
    assert data.input_shape == (3, 16, 16)
    assert (len(data.train), len(data.val), len(data.test)) == (80, 10, 10)
    assert data.classes[0] == "airplane"


def test_a_damaged_cifar_batch_is_named_not_a_traceback(tmp_path):
    _write_cifar(tmp_path / "cifar-10-batches-py", per_batch=20)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x80\x04garbage")
    cfg = DataConfig(name="cifar10", root=str(tmp_path), n_train=80, n_val=10, n_test=10, image_size=16, verify=False)
    with pytest.raises(DatasetDamaged, match=r"data_batch_3: not a CIFAR-10 python batch"):
        load_dataset(cfg)


def test_missing_cifar_says_how_to_get_it(tmp_path):
    cfg = DataConfig(name="cifar10", root=str(tmp_path), n_train=10, n_val=1, n_test=1, image_size=32)
    with pytest.raises(DatasetMissing, match="download = true"):
        load_dataset(cfg)


def test_missing_fashion_says_how_to_get_it(tmp_path):
    cfg = DataConfig(name="fashion_mnist", root=str(tmp_path), n_train=10, n_val=1, n_test=1, image_size=7)
    with pytest.raises(DatasetMissing, match="apt-get install dataset-fashion-mnist"):
        load_dataset(cfg)


@pytest.mark.skipif(not FASHION_DEFAULT_ROOT.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_the_debian_package():
    cfg = DataConfig(name="fashion_mnist", n_train=200, n_val=50, n_test=50, image_size=7)
    data = load_dataset(cfg)
    assert data.input_shape == (1, 7, 7)
    assert set(data.train.y.tolist()) <= set(range(10))


@pytest.mark.skipif(not FASHION_DEFAULT_ROOT.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[: len(b) // 2], "cannot be read .*truncated or damaged"),
        (lambda b: gzip.compress(gzip.decompress(b)[:-1] + b"\x01"), "is not Fashion-MNIST's"),
    ],
)
def test_a_damaged_fashion_file_is_named_with_the_command_that_restores_it(tmp_path, damage, message):
    for source in FASHION_DEFAULT_ROOT.glob("*.gz"):
        (tmp_path / source.name).write_bytes(source.read_bytes())
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(damage(labels.read_bytes()))
    cfg = DataConfig(name="fashion_mnist", root=str(tmp_path), n_train=10, n_val=1, n_test=1, image_size=7)
    with pytest.raises(DatasetDamaged, match=message) as err:
        load_dataset(cfg)
    assert str(labels) in str(err.value) and "apt-get install --reinstall dataset-fashion-mnist" in str(err.value)
