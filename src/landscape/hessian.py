r"""Hessians of the full-dataset objective: batched HVPs, dense assembly, eigendecompositions, Lanczos.

Usable on any ``nn.Module`` whose loss is a sum over examples. The objective is DESIGN §3's

.. math:: L(\theta) = \frac{1}{N}\sum_{n=1}^{N}\ell_n(\theta) + \frac{\mathrm{wd}}{2}\lVert\theta\rVert^2,
          \qquad H = \nabla^2 L = \frac{1}{N}\sum_n \nabla^2\ell_n + \mathrm{wd}\, I ,

evaluated over fixed data chunks (no augmentation, no shuffling) and normalised by the
number of examples. A block of ``k`` Hessian-vector products costs one pass over the data:
forward-over-reverse (``jvp`` of ``grad``) vectorised over the ``k`` tangents with ``vmap``.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jvp, vmap
from tqdm import tqdm

from landscape import tiles
from landscape.params import unflatten
from landscape.segments import Segment, fill_from_symmetry, model_segments, segment_columns
from landscape.store import atomic_h5, read_h5


@dataclass
class Objective:
    """The mean cross-entropy over ``(x, y)`` plus ``(wd/2)|theta|^2``, as a function of the flat ``theta``.

    Args:
        model: the network; only its structure is used (parameters come from ``theta``).
        x, y: the examples that define the objective (the whole training set, or one batch).
        weight_decay: ``wd``.
        chunk_size: examples per pass of the vectorised HVP; bounds memory, not the result.
        segmented: assemble dense Hessians from the model's declared segments when it has them
            (:mod:`landscape.segments`: exact, less work per column); False forces full products.
    """

    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    weight_decay: float
    chunk_size: int = 250
    segmented: bool = True

    @functools.cached_property
    def _declared_segments(self) -> list[Segment] | None:
        return model_segments(self.model, self.x[:2])

    def segments(self) -> list[Segment] | None:
        """The model's segments, checked once against the model on two examples; None for full products."""
        return self._declared_segments if self.segmented else None

    @property
    def n(self) -> int:
        """Number of examples N."""
        return len(self.y)

    def _chunks(self) -> list[slice]:
        return [slice(s, min(s + self.chunk_size, self.n)) for s in range(0, self.n, self.chunk_size)]

    def _sum_loss(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = functional_call(self.model, unflatten(self.model, theta), (x,))
        return F.cross_entropy(logits, y, reduction="sum")

    def loss(self, theta: torch.Tensor) -> float:
        """L(theta), accumulated in float64."""
        with torch.no_grad():
            total = sum(self._sum_loss(theta, self.x[c], self.y[c]).double() for c in self._chunks())
        return float(total) / self.n + 0.5 * self.weight_decay * float(theta.double().pow(2).sum())

    def gradient(self, theta: torch.Tensor) -> torch.Tensor:
        """∇L(theta), accumulated in float64."""
        total = torch.zeros(theta.numel(), dtype=torch.float64, device=theta.device)
        for c in self._chunks():
            total += grad(self._sum_loss)(theta, self.x[c], self.y[c]).double()
        return total / self.n + self.weight_decay * theta.double()

    def hvp(self, theta: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        """H(theta) @ v for every row v of ``vectors`` (k, P), in one pass over the data.

        Products are computed in ``theta``'s dtype and accumulated over chunks in float64.
        """
        single = vectors.ndim == 1
        tangents = (vectors[None] if single else vectors).to(theta.dtype)
        total = torch.zeros(tangents.shape, dtype=torch.float64, device=theta.device)
        for c in self._chunks():
            total += self._chunk_hvp(theta, tangents, self.x[c], self.y[c]).double()
        result = total / self.n + self.weight_decay * tangents.double()
        return result[0] if single else result

    def _chunk_hvp(self, theta: torch.Tensor, tangents: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The summed loss of one chunk (x, y): its Hessian at ``theta`` times every row of ``tangents``."""

        def gradient(t: torch.Tensor) -> torch.Tensor:
            return grad(self._sum_loss)(t, x, y)

        def product(v: torch.Tensor) -> torch.Tensor:
            return jvp(gradient, (theta,), (v,))[1]

        return vmap(product)(tangents)


def hessian_block(objective: Objective, theta: torch.Tensor, first: int, count: int) -> np.ndarray:
    """Columns ``first:first+count`` of the Hessian (P x count, float64): H @ E[:, first:first+count].

    For a segmented objective each column holds only its rows from its segment's first parameter on;
    the rows above are NaN here, to be filled from symmetry once every column is in (:func:`complete`).
    """
    P = theta.numel()
    segments = objective.segments()
    if segments is None:
        basis = torch.zeros(count, P, dtype=theta.dtype, device=theta.device)
        basis[torch.arange(count), torch.arange(first, first + count)] = 1.0
        return objective.hvp(theta, basis).T.cpu().numpy()
    block = np.full((P, count), np.nan)
    for index, segment in enumerate(segments):
        low, high = max(first, segment.start), min(first + count, segment.stop)
        if low < high:
            block[segment.start :, low - first : high - first] = (
                segment_columns(
                    segments,
                    index,
                    theta,
                    objective.x,
                    objective.y,
                    objective.weight_decay,
                    objective.chunk_size,
                    range(low, high),
                )
                .cpu()
                .numpy()
            )
    return block


def complete(matrix: np.ndarray, objective: Objective, tile: int | None = None) -> None:
    """Fill the rows a segmented assembly left out from their transposes; fail if any entry is still missing.

    The check reads row tiles, so it never makes a P x P array of its own.
    """
    segments = objective.segments()
    if segments is not None:
        fill_from_symmetry(matrix, segments)
    tile = tile or tiles.tile(matrix.shape[0])
    missing = np.zeros(matrix.shape[1], dtype=bool)
    for row in range(0, matrix.shape[0], tile):
        missing |= np.isnan(matrix[row : row + tile]).any(axis=0)
    if missing.any():
        raise RuntimeError(
            f"Hessian columns {np.flatnonzero(missing)[:10].tolist()} hold entries never computed "
            "(NaN): a column block is missing or a segment's rows were not filled"
        )


def probe_error(
    objective: Objective,
    theta: torch.Tensor,
    matrix: np.ndarray,
    probes: int = 4,
    seed: int = 0,
    tile: int | None = None,
) -> float:
    """How far the assembled matrix is from the operator: max |H_assembled v - Hv| / max |Hv| over random unit v.

    Hv comes from full products (:meth:`Objective.hvp`), independent of how the matrix was assembled, so a
    wrong block, a wrong fill from symmetry or storage rounding all show here. ``matrix`` is read in row
    tiles, so a float32 matrix of any size is never copied whole to float64.
    """
    rng, tile = np.random.default_rng(seed), tile or tiles.tile(matrix.shape[0])
    vectors = rng.standard_normal((probes, theta.numel()))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = objective.hvp(theta, torch.as_tensor(vectors, dtype=theta.dtype, device=theta.device)).cpu().numpy()
    assembled = np.concatenate(
        [matrix[i : i + tile].astype(np.float64) @ vectors.T for i in range(0, matrix.shape[0], tile)]
    ).T
    return float(np.abs(assembled - exact).max() / np.abs(exact).max())


def block_starts(P: int, block_size: int) -> list[int]:
    """First column of every block of ``block_size`` columns."""
    return list(range(0, P, block_size))


def dense_hessian(
    objective: Objective,
    theta: torch.Tensor,
    block_size: int = 32,
    on_block: Callable[[int, np.ndarray], None] | None = None,
    blocks: list[int] | None = None,
    storage: str = "float64",
) -> np.ndarray | None:
    """The P x P Hessian, assembled from batched HVPs with unit vectors, ``block_size`` columns at a time.

    Column block ``j:j+k`` is ``H @ E[:, j:j+k]``. When ``on_block(first_column, block)`` is given,
    each block (P x k, float64) is handed to it (to stream to disk) and nothing is returned;
    ``blocks`` lists the first columns still to do (resume; default all). Otherwise the symmetrised
    matrix is returned, in ``storage`` precision (symmetrised in place: one P x P array in memory).
    """
    P = theta.numel()
    dense = None if on_block else np.empty((P, P), dtype=storage)
    for first in block_starts(P, block_size) if blocks is None else blocks:
        count = min(block_size, P - first)
        block = hessian_block(objective, theta, first, count)
        if on_block:
            on_block(first, block)
        else:
            dense[:, first : first + count] = block
    if dense is not None:
        complete(dense, objective)
        symmetrise_in_place(dense)
    return dense


def symmetrise_in_place(matrix: np.ndarray, tile: int | None = None) -> float:
    r"""Overwrite ``matrix`` with (A + Aᵀ)/2 tile by tile, without a second P x P copy; returns the raw asymmetry.

    Symmetrising removes the round-off asymmetry of column-wise assembly before ``eigh``; tile by tile
    it is bit-for-bit ``0.5 * (A + A.T)`` (halving is exact and addition commutes). The return
    value is :math:`\max_{ij}|A_{ij} - A_{ji}| / \max_{ij}|A_{ij}|`, a check of the HVPs.
    """
    P = matrix.shape[0]
    tile, largest, asymmetry = tile or tiles.tile(P), 0.0, 0.0
    for i in range(0, P, tile):
        for j in range(i, P, tile):
            upper, lower = matrix[i : i + tile, j : j + tile], matrix[j : j + tile, i : i + tile].T
            largest = max(largest, float(np.abs(upper).max()), float(np.abs(lower).max()))
            asymmetry = max(asymmetry, float(np.abs(upper - lower).max()))
            mean = 0.5 * (upper + lower)
            matrix[i : i + tile, j : j + tile] = mean
            matrix[j : j + tile, i : i + tile] = mean.T
    return asymmetry / max(largest, np.finfo(float).tiny)


class StoredHessian:
    """Read access to a Hessian file (DESIGN §4), the one place that knows its schema.

    ``hessian (P, P)``, ``eigenvalues (P)`` ascending, ``eigenvectors (P, P)`` as columns, ``gradient (P)``,
    and the objective's value as attribute ``loss``. Arrays are read when asked for, so a paper-scale file
    (two 39 GB matrices) costs only what is used. Use as a context manager::

        with StoredHessian(path) as stored:
            top = stored.eigenvectors(np.arange(P - 10, P))
    """

    REQUIRED = ("eigenvalues", "eigenvectors", "gradient")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = read_h5(self.path, self.REQUIRED)

    def __enter__(self) -> StoredHessian:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    @property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues in ascending order, (P,)."""
        return self._file["eigenvalues"][:]

    @property
    def gradient(self) -> np.ndarray:
        """The full-objective gradient at the point, (P,)."""
        return self._file["gradient"][:]

    @property
    def loss(self) -> float:
        """The full objective (mean loss plus weight decay) at the point."""
        return float(self._file.attrs["loss"])

    @property
    def attrs(self) -> h5py.AttributeManager:
        """The file's attributes: provenance, ``asymmetry``, ``assembly_seconds``, ``dtype``, ``n_examples``."""
        return self._file.attrs

    @property
    def eigenvector_dataset(self) -> h5py.Dataset:
        """The eigenvectors as an HDF5 dataset, for streaming column blocks without reading the matrix."""
        return self._file["eigenvectors"]

    @staticmethod
    def write_known(
        path: str | Path, eigenvalues: np.ndarray, eigenvectors: np.ndarray, gradient: np.ndarray, loss: float = 0.0
    ) -> Path:
        r"""A Hessian file of a known decomposition :math:`H = V \operatorname{diag}(\lambda) V^\top` (no matrix).

        For tests of an analysis on a problem whose answer is known: every reader of the schema accepts it.
        """
        order = np.argsort(eigenvalues)
        with atomic_h5(path) as fh:
            fh["eigenvalues"], fh["eigenvectors"] = np.asarray(eigenvalues)[order], np.asarray(eigenvectors)[:, order]
            fh["gradient"] = np.asarray(gradient)
            fh.attrs.update(loss=loss, asymmetry=0.0, assembly_seconds=0.0, dtype=str(fh["eigenvectors"].dtype))
        return Path(path)

    def eigenvectors(self, columns: np.ndarray | None = None) -> np.ndarray:
        """All eigenvectors (P, P), or the given columns in the order given (HDF5 reads them sorted, once each)."""
        if columns is None:
            return self._file["eigenvectors"][:]
        columns = np.asarray(columns)
        ascending = np.unique(columns)
        return self._file["eigenvectors"][:, ascending][:, np.searchsorted(ascending, columns)]


# cuSOLVER's float32 eigh (torch 2.11, H200, benchmarks/eigh_gpu.py, 2026-12-01) loses accuracy on small
# matrices: eigenvalue error 2.1e-4 of max |lambda| at n = 512 and 1.2e-4 on tests/test_gpu.py's 365-parameter
# Hessian, against 1.7e-6 at n = 4096, 6.2e-6 at 8192, and 1e-6 for LAPACK on the CPU at n = 365. Below this size
# a GPU decomposes in float64 (at most 2 * 4096^2 * 8 B = 268 MB), which costs well under a second there.
CUDA_FLOAT32_EIGH_FROM = 4096
# Peak device memory of torch.linalg.eigh with eigenvectors, in elements of the matrix's dtype per n^2, measured at
# n = 16384 on the same H200: cuSOLVER 6.04 (2.0 s), MAGMA 2.03 (30 s; accuracy the same, 1.4e-6 residual). At the
# paper's P = 98,524 in float32 that is 234 GB against 79 GB: only MAGMA fits one H200 (141 GB), in ≈1.8 h.
EIGH_PEAK_ELEMENTS = {"cusolver": 6.1, "magma": 2.1}


def cuda_eigh_library(n: int, dtype: torch.dtype, free_bytes: int) -> str:
    """``"cusolver"`` (fast) when its measured peak fits in ``free_bytes`` of the GPU, else ``"magma"``."""
    needed = EIGH_PEAK_ELEMENTS["cusolver"] * n * n * torch.finfo(dtype).bits // 8
    return "cusolver" if needed < free_bytes else "magma"


def eigendecomposition(
    hessian: np.ndarray | torch.Tensor,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    overwrite: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues in ascending order and eigenvectors as columns, by ``eigh`` in ``dtype`` on ``device``.

    On a GPU this is cuSOLVER's ``syevd`` (64-bit API, so P ≈ 10^5 is allowed; the CPU's 32-bit LAPACK
    workspace index overflows above P ≈ 33,000), or MAGMA's when cuSOLVER's workspace would not fit the
    device's free memory (``cuda_eigh_library``). A float32 request for a matrix smaller than
    ``CUDA_FLOAT32_EIGH_FROM`` on a GPU is computed in float64 and rounded to float32 (see that constant).
    On a CPU it is :func:`cpu_eigh`; with ``overwrite`` the symmetric ``hessian`` (a NumPy array in ``dtype``) is
    used as its workspace and its content is lost.
    """
    n = hessian.shape[0]
    device = torch.device(device)
    if device.type != "cuda":
        return cpu_eigh(hessian, dtype, overwrite)
    solve_dtype = dtype
    if device.type == "cuda" and dtype == torch.float32 and n < CUDA_FLOAT32_EIGH_FROM:
        solve_dtype = torch.float64
    matrix = torch.as_tensor(np.asarray(hessian), dtype=solve_dtype, device=device)
    if device.type == "cuda":
        chosen = cuda_eigh_library(n, solve_dtype, torch.cuda.mem_get_info(device)[0])
        previous = torch.backends.cuda.preferred_linalg_library()
        torch.backends.cuda.preferred_linalg_library(chosen)
        try:
            eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
        finally:
            torch.backends.cuda.preferred_linalg_library(previous)
    del matrix
    return eigenvalues.to(dtype).cpu().numpy(), eigenvectors.to(dtype).cpu().numpy()


def cpu_eigh(
    hessian: np.ndarray | torch.Tensor, dtype: torch.dtype = torch.float64, overwrite: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``eigh`` on the CPU by LAPACK's divide and conquer (``syevd``), in place when ``overwrite``.

    torch's ``eigh`` copies the matrix before ``syevd`` takes its 2P² + 6P + 1 elements of workspace: with the
    caller's matrix and the eigenvectors, five P x P arrays (tests/test_memory.py). Called through SciPy on the
    matrix's own buffer, the eigenvectors overwrite it: three in all. (The MRRR driver ``syevr`` would need two,
    but its float32 eigenvectors are 25x less orthogonal: 4e-5 against 1.6e-6 on tests/test_hessian.py's problem;
    the QR driver ``syev`` needs one, 15x slower at P = 2,500.) The eigenvectors come back in column-major order.
    """
    kind = np.float64 if dtype == torch.float64 else np.float32
    matrix = hessian.numpy(force=True) if isinstance(hessian, torch.Tensor) else hessian
    work = np.asarray(matrix, dtype=kind)
    if not overwrite and np.shares_memory(work, matrix):
        work = work.copy()
    # The transpose of a C-ordered symmetric matrix is the same matrix in Fortran order: LAPACK takes it in place.
    eigenvalues, eigenvectors = scipy.linalg.eigh(work.T, overwrite_a=True, driver="evd", check_finite=False)
    return eigenvalues, eigenvectors


def lanczos(
    objective: Objective,
    theta: torch.Tensor,
    k: int,
    which: str = "LA",
    tol: float = 1e-10,
    seed: int = 0,
    start: np.ndarray | None = None,
    krylov: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` extreme eigenpairs by Lanczos (scipy ``eigsh``) on the HVP operator, without forming H.

    Args:
        which: ``"LA"`` largest algebraic (top-k) or ``"SA"`` smallest algebraic (bottom-k).
        start: the starting vector (e.g. the previous iterate's top eigenvector); random from ``seed`` if None.
        krylov: the Krylov subspace's dimension (scipy's ``ncv``, > k); scipy's default max(2k + 1, 20) if None.
            Every restart costs this many products, so a small one pays when few restarts are needed.

    Returns:
        Eigenvalues ascending (k,) and eigenvectors as columns (P, k).
    """
    from scipy.sparse.linalg import LinearOperator, eigsh

    P = theta.numel()

    def matvec(v: np.ndarray) -> np.ndarray:
        vector = torch.as_tensor(np.asarray(v).reshape(-1), dtype=theta.dtype, device=theta.device)
        return objective.hvp(theta, vector).cpu().numpy()

    operator = LinearOperator((P, P), matvec=matvec, dtype=np.float64)
    start = np.random.default_rng(seed).standard_normal(P) if start is None else np.asarray(start, dtype=np.float64)
    eigenvalues, eigenvectors = eigsh(operator, k=k, which=which, tol=tol, v0=start, ncv=krylov)
    order = np.argsort(eigenvalues)
    return eigenvalues[order], eigenvectors[:, order]


def write_in_row_tiles(fh: h5py.File, name: str, matrix: np.ndarray, tile: int | None = None) -> None:
    """Store ``matrix`` as dataset ``name`` row tile by row tile: a column-major array is never copied whole."""
    dataset, tile = fh.create_dataset(name, shape=matrix.shape, dtype=matrix.dtype), tile or tiles.tile(len(matrix))
    for row in range(0, matrix.shape[0], tile):
        dataset[row : row + tile] = matrix[row : row + tile]


def _blocks_done(partial: Path, config_hash: str, P: int, block_size: int, storage: str) -> np.ndarray | None:
    """Which column blocks a partial file from the same configuration holds (None if unusable)."""
    try:
        with h5py.File(partial, "r") as fh:
            done = fh["blocks_done"][:]
            if (
                fh.attrs.get("config_hash") != config_hash
                or fh["hessian"].shape != (P, P)
                or fh["hessian"].dtype != storage
                or len(done) != len(block_starts(P, block_size))
            ):
                return None
            return done
    except (OSError, KeyError) as err:
        warnings.warn(f"{partial}: cannot resume ({err}); assembling the Hessian from column 0", stacklevel=2)
        return None


BlockRunner = Callable[[list[int], Callable[[int, np.ndarray], None]], None]


def write_hessian(
    objective: Objective,
    theta: torch.Tensor,
    target: Path,
    meta: dict[str, Any],
    block_size: int = 32,
    progress: bool = True,
    label: str = "hessian",
    run_blocks: BlockRunner | None = None,
    storage: str = "float64",
) -> Path:
    """Assemble the dense Hessian into ``target`` (HDF5), resumably, with its eigendecomposition.

    Column blocks are streamed into ``<target>.partial``, each marked in ``blocks_done`` when it is
    on disk, so a killed computation resumes with the blocks still missing and gives the identical
    matrix. ``run_blocks(firsts, on_block)`` computes the listed blocks elsewhere (e.g. on a cluster,
    :mod:`landscape.engine`), in any order; by default they run here, in order. When all columns are
    in, a new file is written atomically with the symmetrised ``hessian``, ``eigenvalues``
    (ascending), ``eigenvectors`` (columns), ``gradient``, ``loss``, the relative ``asymmetry`` of
    the raw assembly and ``probe_error``, the assembled matrix against full products on random unit
    vectors (checks of the HVPs, :func:`probe_error`), then the partial is removed. A model that declares
    segments is assembled from segmented columns (:mod:`landscape.segments`), the rest filled from symmetry.

    ``storage`` ("float64" or "float32") is the precision of the matrix on disk and of its
    eigendecomposition, which runs on ``theta``'s device. Blocks are always accumulated in float64;
    float32 storage halves disk and memory, which is what lets P ≈ 10^5 fit on one GPU
    (README, "The paper profile on a GPU"). Host memory peaks at two P x P arrays of ``storage``
    (the matrix, symmetrised in place, and the eigenvectors).
    """
    P = theta.numel()
    starts = block_starts(P, block_size)
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    done = _blocks_done(partial, meta["config_hash"], P, block_size, storage) if partial.exists() else None
    if done is None:
        with h5py.File(partial, "w") as fh:
            fh.create_dataset("hessian", shape=(P, P), dtype=storage, chunks=(P, min(block_size, P)))
            fh.create_dataset("blocks_done", data=np.zeros(len(starts), dtype=bool))
            fh.attrs["config_hash"] = meta["config_hash"]
            fh.attrs["seconds"] = 0.0
        done = np.zeros(len(starts), dtype=bool)
    started = time.perf_counter()
    with h5py.File(partial, "r") as fh:
        seconds_before = float(fh.attrs["seconds"])
    todo = [first for first, finished in zip(starts, done) if not finished]
    columns_done = P - sum(min(block_size, P - f) for f in todo)

    def store_block(first: int, block: np.ndarray) -> None:
        with h5py.File(partial, "r+") as fh:
            fh["hessian"][:, first : first + block.shape[1]] = block
            fh.flush()
            fh["blocks_done"][first // block_size] = True
            fh.attrs["seconds"] = seconds_before + time.perf_counter() - started
            fh.flush()

    with tqdm(total=P, initial=columns_done, desc=label, unit="col", disable=not progress, dynamic_ncols=True) as bar:

        def on_block(first: int, block: np.ndarray) -> None:
            store_block(first, block)
            bar.update(block.shape[1])

        if run_blocks is None:
            dense_hessian(objective, theta, block_size, on_block=on_block, blocks=todo)
        else:
            run_blocks(todo, on_block)
    with h5py.File(partial, "r") as fh:
        if not fh["blocks_done"][:].all():
            raise RuntimeError(f"{partial}: blocks {np.flatnonzero(~fh['blocks_done'][:]).tolist()} were not computed")
        hessian, seconds = fh["hessian"][:], float(fh.attrs["seconds"])
    complete(hessian, objective)
    asymmetry = symmetrise_in_place(hessian)
    error = probe_error(objective, theta, hessian)
    with atomic_h5(target, meta) as fh:
        fh.create_dataset("hessian", data=hessian)  # first: on a CPU the decomposition overwrites the matrix
        eigenvalues, eigenvectors = eigendecomposition(hessian, theta.device, getattr(torch, storage), overwrite=True)
        del hessian
        fh.create_dataset("eigenvalues", data=eigenvalues)
        write_in_row_tiles(fh, "eigenvectors", eigenvectors)
        fh.create_dataset("gradient", data=objective.gradient(theta).cpu().numpy())
        fh.create_dataset("theta", data=theta.double().cpu().numpy())
        fh.attrs["loss"] = objective.loss(theta)
        fh.attrs["asymmetry"] = asymmetry
        fh.attrs["probe_error"] = error
        fh.attrs["segments"] = len(objective.segments() or [])
        fh.attrs["assembly_seconds"] = seconds
        fh.attrs["n_examples"] = objective.n
        fh.attrs["dtype"] = str(theta.dtype).replace("torch.", "")
        fh.attrs["storage"] = storage
    partial.unlink()
    return target
