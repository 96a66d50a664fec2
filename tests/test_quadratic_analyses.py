"""A1, A2, A7, A8, A9 on functions with known answers: an exact quadratic, and known non-quadratic ones.

Each analysis must report a perfect quadratic (zero deviation and asymmetry, independence holding)
on the quadratic, and must detect the deviation on the others, so that it can fail.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np
import pytest
import torch

from landscape.analyses import batch_noise, fine_structure, linesearch, profile_fits, random_dirs
from landscape.config import LandscapeConfig
from landscape.linesearch import check_quadratic, symmetric_grid
from landscape.store import read_h5, read_summary

P = 40
SETTINGS = LandscapeConfig(
    directions=12,
    points=21,
    loss_increase=0.5,
    batch_sizes=(8, 32),
    batches=24,
    random_directions=3,
    fine_points=201,
    fine_decades=3,
    fine_directions=3,
    seed=0,
)


@dataclass
class Synthetic:
    """L(x) = L0 + gᵀu + ½ uᵀAu + quartic Σu⁴ + kink Σ|u - 0.013| with u = x - centre (float64)."""

    centre: torch.Tensor
    hessian: np.ndarray
    gradient: np.ndarray
    loss0: float = 1.0
    quartic: float = 0.0
    kink: float = 0.0

    def value(self, x: np.ndarray) -> np.ndarray:
        u = x - self.centre.double().numpy()
        kinks = self.kink * (np.abs(u - 0.013).sum(axis=-1) - np.abs(-0.013) * u.shape[-1])
        return (
            self.loss0
            + u @ self.gradient
            + 0.5 * np.einsum("...i,ij,...j->...", u, self.hessian, u)
            + self.quartic * (u**4).sum(axis=-1)
            + kinks
        )

    def along(self, theta: torch.Tensor, direction: torch.Tensor, ts: np.ndarray) -> np.ndarray:
        start, d = theta.double().numpy(), direction.double().numpy()
        values = self.value(start[None, :] + np.asarray(ts)[:, None] * d[None, :])
        if theta.dtype == torch.float32:  # emulate float32 evaluation: round to float32 resolution
            values = values.astype(np.float32).astype(np.float64)
        return values


def _spectrum(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = np.concatenate([-np.geomspace(0.01, 0.001, 4), np.geomspace(1e-4, 0.5, P - 14), np.geomspace(2, 20, 10)])
    basis, _ = np.linalg.qr(rng.standard_normal((P, P)))
    return np.sort(values), basis


def _setup(tmp_path, **kwargs):
    values, basis = _spectrum()
    hessian = basis @ np.diag(values) @ basis.T
    gradient = np.random.default_rng(1).standard_normal(P) * 1e-3
    theta = torch.from_numpy(np.random.default_rng(2).standard_normal(P))
    function = Synthetic(theta.clone(), hessian, gradient, **kwargs)
    path = tmp_path / "hessian.h5"
    with h5py.File(path, "w") as fh:
        fh["eigenvalues"], fh["eigenvectors"], fh["gradient"], fh["hessian"] = values, basis, gradient, hessian
        fh.attrs["loss"] = function.loss0
    return function, theta, path


def test_check_quadratic_on_exact_and_cubic_profiles():
    ts = symmetric_grid(2.0, 41)
    exact = check_quadratic(ts, 1 + 0.3 * ts + 1.5 * ts**2, 1.0, 0.3, 3.0)
    assert exact.max_deviation < 1e-12 and exact.asymmetry < 1e-12 and exact.valid_fraction == 1.0
    assert exact.fitted_curvature == pytest.approx(3.0)
    cubic = check_quadratic(ts, 1 + 0.3 * ts + 1.5 * ts**2 + 0.5 * ts**3, 1.0, 0.3, 3.0)
    assert cubic.asymmetry > 0.1 and cubic.valid_fraction < 1.0


@pytest.mark.parametrize("quartic", [0.0, 5.0])
def test_linesearch_reports_quadratic_only_for_a_quadratic(tmp_path, quartic):
    function, theta, path = _setup(tmp_path, quartic=quartic)
    linesearch.analyse({"end": (function, theta, path)}, SETTINGS, tmp_path / "ls.h5", {"task": "test"})
    final = read_summary(tmp_path / "ls.h5")["final"]
    if quartic == 0.0:
        for band in final.values():
            assert band["median_deviation"] < 1e-8 and band["median_asymmetry"] < 1e-8
            assert band["quadratic_share"] == 1.0 and band["median_curvature_ratio"] == pytest.approx(1.0, rel=1e-6)
    else:
        assert max(band["median_deviation"] for band in final.values()) > 0.1
        assert min(band["quadratic_share"] for band in final.values()) < 1.0


@pytest.mark.parametrize("quartic", [0.0, 5.0])
def test_random_directions_independence(tmp_path, quartic):
    function, theta, path = _setup(tmp_path, quartic=quartic)
    random_dirs.analyse(function, theta, path, 10, SETTINGS, tmp_path / "rd.h5", {"task": "test"})
    summary = read_summary(tmp_path / "rd.h5")
    holds = [kind["holds_everywhere"] for kind in summary["kinds"].values()]
    assert all(holds) if quartic == 0.0 else not all(holds)
    if quartic == 0.0:
        assert summary["isotropic_holds"]
        assert all(kind["median_deviation"] < 1e-8 for kind in summary["kinds"].values())


def test_batch_noise_recovers_the_planted_stochasticity(tmp_path):
    """Batch gradients along v_i scattered by sd sqrt(λ_i): minima scatter by λ^-1/2, variance slope -1."""
    function, theta, path = _setup(tmp_path)
    linesearch.analyse({"end": (function, theta, path)}, SETTINGS, tmp_path / "ls.h5", {"task": "test"})
    values, basis = _spectrum()
    noise_scale = np.sqrt(np.abs(values)) * 1e-2

    def batch_line(indices: np.ndarray) -> Synthetic:
        rng = np.random.default_rng(int(indices.sum()) + len(indices))
        noisy = function.gradient + basis @ (noise_scale * rng.standard_normal(P) * np.sqrt(32 / len(indices)))
        return Synthetic(function.centre, function.hessian, noisy)

    batch_noise.analyse(
        batch_line, 1000, theta, path, tmp_path / "ls.h5", "end", SETTINGS, tmp_path / "bn.h5", {"task": "t"}
    )
    summary = read_summary(tmp_path / "bn.h5")
    assert summary["spread_falls_with_eigenvalue"]
    # 24 batches per size: the log-variance slope is estimated to about +-0.15; the planted value is -1, and the
    # bootstrap interval over directions must cover it.
    assert summary["variance_slope_largest_batch"] == pytest.approx(-1.0, abs=0.3)
    largest = summary["per_size"][str(SETTINGS.batch_sizes[-1])]
    assert largest["variance_slope_low"] < -1.0 < largest["variance_slope_high"]
    with read_h5(tmp_path / "bn.h5", ("curvatures", "eigenvalue")) as fh:
        positive = fh["eigenvalue"][:] > 0
        ratio = fh["curvatures"][:][positive] / fh["eigenvalue"][:][positive, None, None]
        assert np.allclose(ratio, 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("form", "values"),
    [
        ("quadratic", lambda t: 0.2 + 0.1 * t + 0.8 * t**2),
        ("quartic", lambda t: 0.2 + 0.1 * t + 0.8 * t**2 + 0.3 * t**4),
        ("logcosh", lambda t: 0.2 + 0.1 * t + 1.6 * 0.3**2 * np.log(np.cosh(t / 0.3))),
    ],
)
def test_profile_fits_choose_the_generating_form(form, values):
    ts = symmetric_grid(2.0, 41)
    noise = np.random.default_rng(0).normal(0, 1e-6, len(ts))
    assert profile_fits.choose(profile_fits.fit_forms(ts, values(ts) + noise)) == form


@pytest.mark.parametrize("kink", [0.0, 1e-3])
def test_fine_structure_sees_kinks_but_not_a_smooth_quadratic(tmp_path, kink):
    function, theta, path = _setup(tmp_path, kink=kink)
    lines = {"float64": (function, theta), "float32": (function, theta.float())}
    fine_structure.analyse(lines, path, SETTINGS, tmp_path / "fs.h5", {"task": "test"})
    summary = read_summary(tmp_path / "fs.h5")
    assert summary["structure_above_roundoff"] == (kink > 0)
    if kink == 0:
        for direction in summary["directions"].values():
            assert direction["float64"]["second_difference_exponent"] == pytest.approx(2.0, abs=0.05)
