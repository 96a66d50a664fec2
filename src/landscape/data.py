"""Datasets behind one interface, deterministic splits, and saved batch orders.

Three datasets, one :class:`Dataset` of normalised tensors:

- ``digits``: scikit-learn's 1,797 handwritten digits (8x8, ships with scikit-learn);
- ``fashion_mnist``: the real Fashion-MNIST from Debian's ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist``), a folder you name, or torchvision's download;
- ``cifar10``: the python-pickle batches (``cifar-10-batches-py``) from a folder you
  supply, or torchvision's download into it when ``data.download = true``.

Splits are drawn from ``data.split_seed`` and batch orders from ``train.batch_seed``;
both are saved with every run so that any run can be replayed exactly.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from landscape.config import DataConfig

FASHION_DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
CIFAR_DEFAULT_ROOT = Path("data/cifar10")
FASHION_CLASSES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot")
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CLASSES = {"digits": tuple(str(i) for i in range(10)), "fashion_mnist": FASHION_CLASSES, "cifar10": CIFAR_CLASSES}


class DatasetMissing(FileNotFoundError):
    """The dataset's files are not where the profile says; the message says how to get them."""


class DatasetDamaged(DatasetMissing):
    """A dataset file is there but truncated, unreadable or altered; the message names it and how to restore it."""


# MD5 of each Fashion-MNIST file's decompressed IDX content, read from Debian's dataset-fashion-mnist
# (2026-11-30); the same content whether the file is stored gzipped (Debian, torchvision's download) or not.
FASHION_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
# torchvision's list for cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html).
CIFAR_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
CIFAR_REPAIR = (
    "download cifar-10-python.tar.gz again (https://www.cs.toronto.edu/~kriz/cifar.html) and unpack it, or delete "
    "the folder and set data.download = true in the profile; for a CIFAR-format folder of your own set "
    "data.verify = false"
)
FASHION_REPAIR = (
    "restore it with `apt-get install --reinstall dataset-fashion-mnist` (the default folder), or delete "
    "it and set data.download = true in the profile"
)


@dataclass(frozen=True)
class Split:
    """Images ``x`` (n, C, H, W) float32, normalised; labels ``y`` (n,) int64; ``index`` into the source pool."""

    x: torch.Tensor
    y: torch.Tensor
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test splits of one dataset."""

    name: str
    classes: tuple[str, ...]
    train: Split
    val: Split
    test: Split

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return tuple(self.train.x.shape[1:])  # type: ignore[return-value]

    def to(self, device: torch.device | str) -> Dataset:
        """The same splits on ``device``."""
        move = lambda s: Split(s.x.to(device), s.y.to(device), s.index)  # noqa: E731
        return Dataset(self.name, self.classes, move(self.train), move(self.val), move(self.test))


# --- raw pools: (train_x, train_y, test_x, test_y), x as float32 (n, C, H, W) in [0, 1] -------------


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    return x, digits.target.astype(np.int64), x[:0], digits.target[:0].astype(np.int64)


def _read_idx(path: Path, header: int, md5: str | None) -> np.ndarray:
    """The bytes after an IDX file's header, after checking the whole content against its known MD5 (if given)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            content = fh.read()
    except (EOFError, OSError, zlib.error) as err:
        raise DatasetDamaged(
            f"{path}: cannot be read ({type(err).__name__}: {err}); the file is truncated or damaged: {FASHION_REPAIR}"
        ) from None
    if md5 is not None:
        _check_md5(path, content, md5, "Fashion-MNIST's", FASHION_REPAIR)
    return np.frombuffer(content[header:], dtype=np.uint8)


def _check_md5(path: Path, content: bytes, expected: str, dataset: str, repair: str) -> None:
    """Raise DatasetDamaged, naming the file and ``repair``, unless ``content`` has the published MD5 ``expected``."""
    found = hashlib.md5(content).hexdigest()
    if found != expected:
        raise DatasetDamaged(
            f"{path}: its content ({len(content):,} bytes, MD5 {found}) is not {dataset} "
            f"(MD5 {expected}); the file is damaged or another dataset: {repair}"
        )


def _find(root: Path, stem: str) -> Path | None:
    for candidate in (root / f"{stem}.gz", root / stem, root / "FashionMNIST" / "raw" / stem):
        if candidate.is_file():
            return candidate
    return None


def _fashion_mnist(cfg: DataConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    root = Path(cfg.root) if cfg.root else FASHION_DEFAULT_ROOT
    stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    if any(_find(root, s) is None for s in stems) and cfg.download:
        import torchvision

        torchvision.datasets.FashionMNIST(str(root), train=True, download=True)
        torchvision.datasets.FashionMNIST(str(root), train=False, download=True)
    paths = [_find(root, s) for s in stems]
    if any(p is None for p in paths):
        missing = [s for s, p in zip(stems, paths) if p is None]
        raise DatasetMissing(
            f"Fashion-MNIST not found in {root} (missing {', '.join(missing)}[.gz]). Get it with "
            f"`apt-get install dataset-fashion-mnist` (Debian, installs {FASHION_DEFAULT_ROOT}), or put the four "
            "IDX files in a folder and set data.root to it, or set data.download = true in the profile."
        )
    train_x, train_y, test_x, test_y = (
        _read_idx(p, 16 if "images" in s else 8, FASHION_MD5[s] if cfg.verify else None)  # type: ignore[arg-type]
        for s, p in zip(stems, paths)
    )
    as_images = lambda a: a.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0  # noqa: E731
    return as_images(train_x), train_y.astype(np.int64), as_images(test_x), test_y.astype(np.int64)


def _read_cifar_batches(folder: Path, names: list[str], verify: bool) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of CIFAR-10's python batches, each file checked against its published MD5 if ``verify``."""
    xs, ys = [], []
    for name in names:
        path = folder / name
        content = path.read_bytes()
        if verify:
            _check_md5(path, content, CIFAR_MD5[name], f"CIFAR-10's {name}", CIFAR_REPAIR)
        try:
            batch = pickle.loads(content, encoding="bytes")
            data, labels = np.asarray(batch[b"data"], dtype=np.uint8), np.asarray(batch[b"labels"], dtype=np.int64)
        except Exception as err:  # unpickling fails in many ways on foreign bytes; each means: not a batch
            raise DatasetDamaged(
                f"{path}: not a CIFAR-10 python batch ({type(err).__name__}); {CIFAR_REPAIR}"
            ) from None
        if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data) or labels.min() < 0 or labels.max() > 9:
            raise DatasetDamaged(
                f"{path}: not a CIFAR-10 batch (data {data.shape}, {len(labels)} labels in 0..9 expected); "
                f"{CIFAR_REPAIR}"
            )
        xs.append(data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
        ys.append(labels)
    return np.concatenate(xs), np.concatenate(ys)


def _cifar10(cfg: DataConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    root = Path(cfg.root) if cfg.root else CIFAR_DEFAULT_ROOT
    folder = root / "cifar-10-batches-py"
    train_names, test_names = [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"]
    if not folder.is_dir() and cfg.download:
        import torchvision

        torchvision.datasets.CIFAR10(str(root), train=True, download=True)
    missing = [n for n in train_names + test_names if not (folder / n).is_file()]
    if missing:
        raise DatasetMissing(
            f"CIFAR-10 not found: {folder} lacks {', '.join(missing)}. Download the python version "
            "(cifar-10-python.tar.gz, https://www.cs.toronto.edu/~kriz/cifar.html) and unpack it in "
            f"{root}, or set data.root to the folder holding cifar-10-batches-py, or set data.download = true "
            "in the profile to let torchvision fetch it."
        )
    return (
        *_read_cifar_batches(folder, train_names, cfg.verify),
        *_read_cifar_batches(folder, test_names, cfg.verify),
    )


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    """Area-average down to ``size`` x ``size`` (exact block means when the size divides)."""
    if x.shape[-1] == size:
        return x
    if size > x.shape[-1]:
        raise ValueError(
            f"data.image_size = {size} is larger than the images ({x.shape[-1]}); only downsampling is supported"
        )
    return F.interpolate(torch.from_numpy(x), size=(size, size), mode="area").numpy()


def _split_pools(
    cfg: DataConfig, n_train_pool: int, n_test_pool: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, bool]:
    """Indices of train / val / test, and whether val and test come from the test pool."""
    rng = np.random.default_rng(cfg.split_seed)
    train_perm = rng.permutation(n_train_pool)
    test_perm = rng.permutation(n_test_pool)
    if n_test_pool == 0:  # one pool: train, then val, then test
        a, b = cfg.n_train, cfg.n_train + cfg.n_val
        return train_perm[:a], train_perm[a:b], train_perm[b : b + cfg.n_test], False, False
    if cfg.val_source == "train":
        a = cfg.n_train
        return train_perm[:a], train_perm[a : a + cfg.n_val], test_perm[: cfg.n_test], False, True
    return train_perm[: cfg.n_train], test_perm[: cfg.n_val], test_perm[cfg.n_val : cfg.n_val + cfg.n_test], True, True


def load_dataset(cfg: DataConfig) -> Dataset:
    """Load the profile's dataset, split it deterministically and normalise it by the training split."""
    loaders = {
        "digits": lambda: _digits(),
        "fashion_mnist": lambda: _fashion_mnist(cfg),
        "cifar10": lambda: _cifar10(cfg),
    }
    train_x, train_y, test_x, test_y = loaders[cfg.name]()
    need = cfg.n_train + cfg.n_val + cfg.n_test
    if len(train_x) + len(test_x) < need:
        raise ValueError(
            f"{cfg.name}: the files hold {len(train_x) + len(test_x)} examples, the profile asks for {need}"
        )
    train_idx, val_idx, test_idx, val_from_test, test_from_test = _split_pools(cfg, len(train_x), len(test_x))

    def pick(from_test: bool, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (test_x[idx], test_y[idx]) if from_test else (train_x[idx], train_y[idx])

    parts = {
        "train": pick(False, train_idx),
        "val": pick(val_from_test, val_idx),
        "test": pick(test_from_test, test_idx),
    }
    resized = {k: (_resize(x, cfg.image_size), y) for k, (x, y) in parts.items()}
    mean = resized["train"][0].mean(axis=(0, 2, 3), keepdims=True)
    std = resized["train"][0].std(axis=(0, 2, 3), keepdims=True) + 1e-8
    index = {"train": train_idx, "val": val_idx, "test": test_idx}
    splits = {
        k: Split(
            torch.from_numpy(((x - mean) / std).astype(np.float32)), torch.from_numpy(y.astype(np.int64)), index[k]
        )
        for k, (x, y) in resized.items()
    }
    return Dataset(cfg.name, CLASSES[cfg.name], splits["train"], splits["val"], splits["test"])


def batch_order(n_examples: int, batch_size: int, iterations: int, seed: int, replacement: bool = False) -> np.ndarray:
    """Indices of every batch of a run, shape (iterations, batch_size), int32.

    Without replacement (the common practice, used by the main runs) each epoch is a fresh
    permutation cut into ``n_examples // batch_size`` batches (the remainder is dropped).
    With replacement (the i.i.d. setting of the Bayesian experiments) every index is drawn
    uniformly and independently.
    """
    rng = np.random.default_rng(seed)
    if replacement:
        return rng.integers(0, n_examples, size=(iterations, batch_size), dtype=np.int64).astype(np.int32)
    per_epoch = n_examples // batch_size
    epochs = -(-iterations // per_epoch)
    batches = [
        rng.permutation(n_examples)[: per_epoch * batch_size].reshape(per_epoch, batch_size) for _ in range(epochs)
    ]
    return np.concatenate(batches)[:iterations].astype(np.int32)
