"""Curvature against scale (A1): second differences and line-search fits against closed forms on planted kinks."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from landscape.analyses import curvature
from landscape.linesearch import TOLERANCE, noise_floor
from landscape.store import read_summary

LAMBDA, KINK, KINK_AT = 2.0, 0.5, 1e-3  # ½λt² plus a ReLU of slope KINK switching on at t = KINK_AT


class KinkedQuadratic:
    """L(θ + x) = L0 + ½ xᵀHx + KINK · relu(v_kᵀx − KINK_AT): a quadratic with one unit switching on along v_k."""

    def __init__(
        self, theta: torch.Tensor, eigenvalues: np.ndarray, basis: np.ndarray, kinked: int | None, loss0: float = 1.0
    ) -> None:
        self.theta, self.hessian = theta.numpy(), basis @ np.diag(eigenvalues) @ basis.T
        self.kink_direction = None if kinked is None else basis[:, kinked]
        self.loss0 = loss0

    def __call__(self, x: np.ndarray) -> float:
        offset = x - self.theta
        value = self.loss0 + 0.5 * offset @ self.hessian @ offset
        if self.kink_direction is not None:
            value += KINK * max(0.0, self.kink_direction @ offset - KINK_AT)
        return float(value)

    def along(self, theta: torch.Tensor, direction: torch.Tensor, ts: np.ndarray) -> np.ndarray:
        return np.array([self(theta.numpy() + t * direction.numpy()) for t in np.asarray(ts)])


def _closed_form(h: np.ndarray) -> np.ndarray:
    """c(h) along the kinked direction: λ + KINK · relu(h − KINK_AT) / h² (only the +h side crosses the kink)."""
    return LAMBDA + KINK * np.maximum(h - KINK_AT, 0.0) / h**2


def test_second_differences_and_fits_follow_the_closed_form_of_a_kink():
    theta = torch.zeros(1, dtype=torch.float64)
    line = KinkedQuadratic(theta, np.array([LAMBDA]), np.eye(1), kinked=0)
    steps = curvature.SCALES  # |θ| = 1 here, so scales are steps
    floor = noise_floor(1.0, torch.float64)
    measured = curvature.profile(line, theta, np.ones(1), LAMBDA, 1.0, steps, floor)
    # Tolerance: the analysis's own round-off bound per step (4 · 100 eps · |L| / h²); true error is ~100x smaller.
    assert np.all(np.abs(measured["second_difference"] - _closed_form(steps)) <= measured["resolution"])
    for h, fitted in zip(steps, measured["fitted"]):  # the 5-point least-squares fit, recomputed independently
        ts = curvature.FIT_FRACTIONS * h
        reference = 2 * np.polyfit(ts, [line(np.array([t])) for t in ts], 2)[0]
        assert abs(fitted - reference) <= 4 * floor / h**2 + 1e-12 * abs(reference)
    below = steps < KINK_AT
    assert np.allclose(measured["fitted"][below], LAMBDA, rtol=0, atol=measured["resolution"][below].max())
    assert np.all(measured["fitted"][steps > 4 * KINK_AT] > 1.05 * LAMBDA)


def test_quadratic_range_ends_where_the_kink_adds_ten_percent():
    # λ + KINK (h − a)/h² > (1 + tol) λ  ⇔  tol λ h² − KINK h + KINK a < 0: the smaller root is where it starts.
    a, b, c = TOLERANCE * LAMBDA, -KINK, KINK * KINK_AT
    crossing = (-b - np.sqrt(b * b - 4 * a * c)) / (2 * a)
    ratio = _closed_form(curvature.SCALES) / LAMBDA
    got = curvature.quadratic_range(curvature.SCALES, ratio, np.ones_like(ratio, dtype=bool))
    assert got == curvature.SCALES[curvature.SCALES <= crossing].max()
    unresolved_small = curvature.SCALES < 1e-4
    assert curvature.quadratic_range(curvature.SCALES, ratio, ~unresolved_small) == got
    assert curvature.quadratic_range(curvature.SCALES, np.full_like(ratio, 2.0), np.ones_like(ratio, dtype=bool)) == 0.0


def test_sgd_spread_is_the_standard_deviation_over_the_second_half_of_the_last_phase():
    rng = np.random.default_rng(0)
    lrs = np.array([0.1] * 40 + [0.01] * 60)  # last phase: steps 40..99, iterates 41..100; second half 71..100
    basis = np.linalg.qr(rng.standard_normal((5, 5)))[0]
    coordinates = rng.standard_normal((101, 5)) * np.array([1.0, 0.1, 0.01, 1e-3, 1e-4])
    params = coordinates @ basis.T + 3.0
    spread, window = curvature.sgd_spread(params, lrs, basis)
    assert (window.start, window.stop) == (71, 101)
    np.testing.assert_allclose(spread, coordinates[71:].std(axis=0), rtol=1e-9)


def _planted_study(tmp_path, kinked: int | None):
    """Hessian, A1 directions and a run whose last phase spreads 3e-3 along every eigenvector, around θ (|θ| = 1)."""
    P, rng = 6, np.random.default_rng(1)
    basis = np.linalg.qr(rng.standard_normal((P, P)))[0]
    eigenvalues = np.array([0.02, 0.05, 0.1, 0.5, 1.0, LAMBDA])
    theta = torch.as_tensor(basis[:, 0], dtype=torch.float64)
    with h5py.File(tmp_path / "hessian.h5", "w") as fh:
        fh["eigenvalues"], fh["eigenvectors"], fh["gradient"] = (
            eigenvalues,
            basis,
            np.zeros(P),
        )  # a Hessian file's schema
    with h5py.File(tmp_path / "linesearch.h5", "w") as fh:
        fh["main@9/index"] = np.array([5, 4, 2, 1])
        fh["main@9/band"] = np.array([b"top", b"top", b"bulk", b"bulk"])
    lrs = np.full(200, 0.01)
    signs = np.where(np.arange(201) % 2 == 0, 1.0, -1.0)[:, None] * 3e-3  # exactly ±3e-3: s.d. 3e-3 per direction
    with h5py.File(tmp_path / "run.h5", "w") as fh:
        fh["params"], fh["lr"] = theta.numpy()[None, :] + signs * basis.sum(axis=1)[None, :], lrs
    line = KinkedQuadratic(theta, eigenvalues, basis, kinked)
    curvature.analyse(
        line,
        theta,
        tmp_path / "hessian.h5",
        tmp_path / "linesearch.h5",
        "main@9",
        tmp_path / "run.h5",
        tmp_path / "curvature.h5",
        {"config_hash": "h"},
    )
    return read_summary(tmp_path / "curvature.h5")


def test_a_quadratic_is_quadratic_at_every_scale(tmp_path):
    summary = _planted_study(tmp_path, kinked=None)
    for band in ("top", "bulk"):
        b = summary["bands"][band]
        assert b["quadratic_at_sgd_scale"] and b["median_ratio_at_sgd"] == pytest.approx(1.0, abs=1e-6)
        assert b["median_sgd_scale"] == pytest.approx(3e-3, rel=1e-9)
        assert b["median_quadratic_range"] == curvature.SCALES[-1]


def test_a_kink_along_the_top_shows_at_sgds_scale_and_only_in_its_band(tmp_path):
    summary = _planted_study(tmp_path, kinked=5)
    top, bulk = summary["bands"]["top"], summary["bands"]["bulk"]
    expected = _closed_form(np.array([3e-3]))[0] / LAMBDA  # 1 + 0.5·2e-3/9e-6 / 2 ≈ 56.6 along the kinked direction
    assert top["max_ratio_at_sgd"] == pytest.approx(expected, rel=1e-6)
    assert top["median_ratio_at_sgd"] == pytest.approx((expected + 1) / 2, rel=1e-6)
    assert not top["quadratic_at_sgd_scale"]
    assert bulk["quadratic_at_sgd_scale"] and bulk["max_ratio_at_sgd"] == pytest.approx(1.0, abs=1e-6)


def test_a_contrast_run_is_measured_along_its_own_directions(tmp_path):
    """A kinked main run beside a smooth contrast (the same planted quadratic without the kink), stored apart."""
    summary = _planted_study(tmp_path, kinked=5)
    with h5py.File(tmp_path / "hessian.h5") as fh:
        eigenvalues, basis = fh["eigenvalues"][:], fh["eigenvectors"][:]
    theta = torch.as_tensor(basis[:, 0], dtype=torch.float64)
    smooth = KinkedQuadratic(theta, eigenvalues, basis, kinked=None)
    curvature.analyse(
        KinkedQuadratic(theta, eigenvalues, basis, kinked=5),
        theta,
        tmp_path / "hessian.h5",
        tmp_path / "linesearch.h5",
        "main@9",
        tmp_path / "run.h5",
        tmp_path / "both.h5",
        {"config_hash": "h"},
        contrasts={"smooth@9": (smooth, theta, tmp_path / "hessian.h5", tmp_path / "run.h5")},
    )
    both = read_summary(tmp_path / "both.h5")
    assert both["bands"] == summary["bands"]  # the main run's numbers do not change with a contrast beside them
    contrast = both["contrasts"]["smooth@9"]
    assert all(b["quadratic_at_sgd_scale"] for b in contrast["bands"].values() if b["median_ratio_at_sgd"] is not None)
    with h5py.File(tmp_path / "both.h5") as fh:
        assert len(fh["contrast/smooth@9/index"]) == 4 and "contrast/smooth@9/second_difference" in fh


@pytest.mark.parametrize(("kinked", "top_closer"), [(5, False), (2, True), (None, False)])
def test_equal_step_comparison_finds_the_band_with_the_kink(tmp_path, kinked, top_closer):
    """A kink along a top (index 5) or a bulk (index 2) direction makes that band the less quadratic one at equal
    steps; with no kink every step is a tie and the top is not closer."""
    summary = _planted_study(tmp_path, kinked=kinked)["equal_step"]
    assert summary["first_closer"] is top_closer
    assert (summary["steps"] > 0) is (kinked is not None)
