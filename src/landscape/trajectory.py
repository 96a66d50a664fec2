"""A trajectory in an eigenbasis: streamed projections, settling times, stationary statistics, FDR.

The coordinates of iterate t along eigenvector v_i are c_i(t) = v_iᵀ(θ_t − θ*). Projections are
streamed over blocks of directions and chunks of iterates, so memory is bounded by
``rows x P + P x block + (T+1) x block`` floats whatever the run's length and width.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import h5py
import numpy as np


def projected_blocks(
    params: h5py.Dataset,
    origin: np.ndarray,
    basis: Callable[[slice], np.ndarray],
    n_directions: int,
    block: int = 512,
    rows: int = 1024,
) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(directions, coordinates)`` with coordinates (T+1, len(directions)) = (θ_t − origin) @ V[:, directions].

    Args:
        params: the run's iterates (T+1, P), read ``rows`` at a time.
        basis: returns the basis columns of a slice of directions (read lazily, e.g. from HDF5).
    """
    T1 = params.shape[0]
    for start in range(0, n_directions, block):
        directions = slice(start, min(start + block, n_directions))
        columns = basis(directions).astype(np.float64)
        coordinates = np.empty((T1, columns.shape[1]))
        for first in range(0, T1, rows):
            chunk = params[first : first + rows].astype(np.float64) - origin[None, :]
            coordinates[first : first + len(chunk)] = chunk @ columns
        yield directions, coordinates


def running_mean(series: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` steps along axis 0 (shorter at the start)."""
    cumulative = np.cumsum(np.concatenate([np.zeros((1, *series.shape[1:])), series]), axis=0)
    ends = np.arange(1, len(series) + 1)
    starts = np.maximum(ends - window, 0)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts).reshape(-1, *([1] * (series.ndim - 1)))


def settle_iterations(coordinates: np.ndarray, stationary: slice, window: int, width: float = 3.0) -> np.ndarray:
    """Per column, the iteration from which the running mean stays in the stationary band; -1 if it never settles.

    The band is mean ± ``width`` standard deviations of the coordinate over the ``stationary``
    iterations (the end of the run); the running mean is over the last ``window`` iterations.
    A direction settles at the first iteration after which its running mean stays inside the band
    until the ``stationary`` window begins. First entry alone would date a direction that starts near
    its end value, is driven away while the rate is high and comes back, as settled at iteration 0.
    Averaging over ``window`` steps makes a stationary direction's excursions beyond the band rare; one
    whose correlation time is not short against the window is dated by its last excursion, and is
    usually caught by the drift test below anyway.

    The band is measured at the end of the run, so every running mean reaches it there: staying inside
    from some iteration on would hold for every direction by construction. A direction therefore counts
    as settled only if it is inside from the start of the ``stationary`` window on (no later), and the
    window itself shows no drift: the means of its two halves differ by less than one of its standard
    deviations (a linear drift across the window differs by 1.7). A stationary direction whose
    correlation time is 1/20 of the window fails the drift test about one time in ten: such slow
    directions are not resolved as settled by a run of this length, which is what -1 reports.
    """
    reference = coordinates[stationary]
    mean, spread = reference.mean(axis=0), reference.std(axis=0)
    start = stationary.indices(len(coordinates))[0]
    smooth = running_mean(coordinates[: start + 1], window)
    outside = np.abs(smooth - mean) > width * spread
    # One past the last iteration outside the band before the window (0 if never outside, start + 1 if outside at
    # the window's start: not settled).
    settle = np.where(outside.any(axis=0), start + 1 - np.argmax(outside[::-1], axis=0), 0)
    first_half, second_half = np.array_split(reference, 2)
    drifting = np.abs(first_half.mean(axis=0) - second_half.mean(axis=0)) > spread
    return np.where((settle <= start) & ~drifting, settle, -1)


def momentum_buffers(coordinates: np.ndarray, lrs: np.ndarray) -> np.ndarray:
    """The momentum buffer along each direction, v_{t+1} = (θ_t − θ_{t+1}) / η_t, shape (T, directions)."""
    return -np.diff(coordinates, axis=0) / lrs[:, None]


def fluctuation_dissipation(
    positions: np.ndarray, batch_gradients: np.ndarray, buffers: np.ndarray, lr: float, momentum: float
) -> np.ndarray:
    """⟨x g_B⟩ / ((1+β) η / 2 · ⟨v²⟩) per direction; 1 at stationarity of heavy-ball SGD (Yaida 2018).

    With v_{t+1} = β v_t + g_t and θ_{t+1} = θ_t − η v_{t+1}, stationarity of ⟨x²⟩ and ⟨x v⟩ gives
    ⟨x_t g_t⟩ = (1+β) η ⟨v²⟩ / 2 for any fixed origin of x. ``positions``, ``batch_gradients`` and
    ``buffers`` are aligned step by step: x_t, g_t (at x_t) and v_{t+1}.
    """
    return (positions * batch_gradients).mean(axis=0) / ((1 + momentum) * lr / 2 * (buffers**2).mean(axis=0))


def phases(lrs: np.ndarray) -> list[slice]:
    """Maximal runs of constant learning rate, as slices of steps."""
    changes = np.flatnonzero(np.diff(lrs) != 0) + 1
    bounds = [0, *changes.tolist(), len(lrs)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


def settle_window(lrs: np.ndarray) -> tuple[slice, int]:
    """The stationary window of :func:`settle_iterations` (the second half of the last phase) and its running window.

    One definition for the measured trajectory (A5) and the simulated noisy quadratic it is compared with (B1).
    The running mean is over 1/200 of the run, at least 10 steps.
    """
    return stationary_half(phases(lrs)[-1]), max(10, len(lrs) // 200)


def long_phases(lrs: np.ndarray, minimum: int = 20) -> list[slice]:
    """The constant-rate phases of at least ``minimum`` steps: long enough to measure a variance in."""
    return [p for p in phases(lrs) if p.stop - p.start >= minimum]


def stationary_half(phase: slice) -> slice:
    """The iterates of a phase's second half, where its stationary variance is measured (iterate t is after t steps)."""
    return slice(phase.start + (phase.stop - phase.start) // 2 + 1, phase.stop + 1)


def phase_bases(lrs: np.ndarray, checkpoints: list[int]) -> list[int | None]:
    """Per long phase, the latest checkpoint among the iterates of its second half (None if there is none).

    That checkpoint's Hessian is the phase's own basis: the landscape where the phase's variance is measured,
    rather than the end point's.
    """
    out: list[int | None] = []
    for phase in long_phases(lrs):
        half = stationary_half(phase)
        inside = [c for c in checkpoints if half.start <= c < half.stop]
        out.append(max(inside) if inside else None)
    return out
