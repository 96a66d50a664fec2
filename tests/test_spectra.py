"""Spectrum measurements and the A3/A4/H2 analyses on synthetic spectra with known answers."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from landscape.analyses import batch_spectrum, overlap, spectrum
from landscape.spectra import (
    eigenvalue_resolution,
    outlier_count,
    random_basis,
    random_row_max,
    row_max_overlap,
    stability_ratio,
    subspace_overlap,
)
from landscape.store import read_summary


@pytest.mark.parametrize("k", [1, 3, 10])
def test_outlier_count_finds_planted_outliers(k):
    rng = np.random.default_rng(k)
    bulk = rng.exponential(0.01, 500) * rng.choice([-1, 1], 500, p=[0.2, 0.8])
    outliers = np.geomspace(50, 5, k)
    count, separation = outlier_count(np.concatenate([bulk, outliers]), search=30)
    assert count == k and separation > 10


def test_a_spectrum_without_a_gap_has_no_outliers():
    smooth = np.geomspace(10.0, 0.01, 500)  # neighbouring ratios 1.014: no gap anywhere
    assert outlier_count(smooth, search=30) == (0, pytest.approx(10.0 / smooth[1]))
    just_below = np.concatenate([smooth[1:], [smooth[1] * 1.99]])  # the largest gap is a factor 1.99 < 2
    assert outlier_count(just_below, search=30)[0] == 0
    assert outlier_count(np.concatenate([smooth[1:], [smooth[1] * 2.01]]), search=30)[0] == 1


def test_stability_ratio_is_one_at_the_heavy_ball_limit():
    assert stability_ratio(lambda_max=2 * 1.9 / 0.1, lr=0.1, momentum=0.9) == pytest.approx(1.0)


def test_overlaps_of_equal_and_random_bases():
    basis = random_basis(200, seed=0)
    assert np.abs(basis.T @ basis - np.eye(200)).max() < 1e-10
    assert np.allclose(row_max_overlap(basis, basis), 1.0)
    assert subspace_overlap(basis, basis, 10) == pytest.approx(1.0)
    other = random_basis(200, seed=1)
    # Random bases: the top-10 subspaces overlap by k/P = 0.05 on average (sd ~0.015 here).
    assert subspace_overlap(basis, other, 10) < 0.15
    assert row_max_overlap(basis, other).mean() < 0.35


def _hessian_file(path, eigenvalues, eigenvectors):
    with h5py.File(path, "w") as fh:
        fh["eigenvalues"], fh["eigenvectors"], fh["gradient"] = eigenvalues, eigenvectors, np.zeros(len(eigenvalues))
        fh.attrs.update(loss=0.5, asymmetry=1e-16, assembly_seconds=1.0, dtype="float64")
    return path


def test_spectrum_and_overlap_analyses_on_a_known_spectrum(tmp_path):
    P, rng = 120, np.random.default_rng(0)
    values = np.sort(np.concatenate([rng.normal(0, 0.01, P - 7), [1e-3] * 4, [5.0, 10.0, 20.0]]))
    basis = random_basis(P, seed=3)
    points = {f"main@{s}": _hessian_file(tmp_path / f"h{s}.h5", values * (1 + s / 10), basis) for s in (0, 5, 10)}
    spectrum.analyse(
        points,
        {p: 0.1 for p in points},
        0.9,
        3,
        list(points),
        tmp_path / "spectrum.h5",
        {"task": "t"},
        weight_decay=1e-3,
    )
    summary = read_summary(tmp_path / "spectrum.h5")
    first = summary["points"]["main@0"]  # unscaled: four planted eigenvalues equal wd
    assert first["n_at_wd"] == 4 + np.sum(np.abs(values[values != 1e-3] - 1e-3) <= 1e-5)
    assert first["n_below_2wd"] == np.sum((values > 0) & (values <= 2e-3))
    assert first["n_positive"] == np.sum(values > 0)
    assert summary["final_outliers"] == 3 and summary["outliers_match_classes"]
    assert summary["points"]["main@10"]["lambda_max"] == pytest.approx(40.0)
    assert summary["points"]["main@10"]["stability_ratio"] == pytest.approx(40 * 0.1 / 3.8)
    assert summary["lambda_max_growth"] == pytest.approx(2.0)
    overlap.analyse(points, 3, tmp_path / "overlap.h5", {"task": "t"})
    result = read_summary(tmp_path / "overlap.h5")
    assert result["pairs"]["main@5->main@10"]["top"] == pytest.approx(1.0)
    assert result["pairs"]["main@5->main@10"]["top_subspace"] == pytest.approx(1.0)
    # Eigenvalues scaled, eigenvectors fixed: every band keeps its subspace, so the top is not "more stable" by 2x.
    assert result["stability_control"] in ("bulk", "bottom") and not result["top_more_stable"]


def test_overlaps_read_block_by_block_from_a_file_equal_those_of_the_whole_matrices(tmp_path):
    a, b = random_basis(150, seed=7), random_basis(150, seed=8)
    values = np.linspace(-1, 5, 150)
    with h5py.File(tmp_path / "b.h5", "w") as fh:
        fh["v"] = b
    with h5py.File(tmp_path / "b.h5", "r") as fh:
        assert np.allclose(row_max_overlap(a, fh["v"]), np.abs(a.T @ b).max(axis=1), rtol=1e-13, atol=0)
        streamed = overlap.davis_kahan(values, a, values * 1.1, fh["v"], slice(140, 150))
    direct = b @ ((values * 1.1)[:, None] * (b.T @ a[:, 140:])) - a[:, 140:] * values[140:]
    assert streamed["perturbation"] == pytest.approx(np.linalg.norm(direct), rel=1e-12)


def test_the_random_baseline_of_row_maxima_matches_two_random_bases():
    # Each row of AᵀB is uniform on the sphere when B is Haar-random: P x 256 draws give the mean row maximum of
    # two random P x P bases without forming them (the `paper` profile's P x P float64 pair would be 155 GB).
    P = 400
    both = row_max_overlap(random_basis(P, seed=1), random_basis(P, seed=2)).mean()
    assert random_row_max(P, seed=1) == pytest.approx(both, rel=0.03)
    assert random_row_max(4 * P, seed=1) < 0.8 * random_row_max(P, seed=1)  # ~ sqrt(2 ln P / P) falls with P


def test_davis_kahan_bounds_a_planted_rotation_and_measures_it_exactly():
    """H_b = H_a + ε E with a random symmetric E: the top-3 subspace rotates, by no more than the sin Θ bound; an
    exact rotation inside a degenerate band (no gap) leaves the band's subspace in place."""
    rng = np.random.default_rng(4)
    P = 40
    basis = random_basis(P, seed=5)
    values = np.sort(np.concatenate([rng.uniform(0, 1, P - 3), [4.0, 6.0, 9.0]]))
    H_a = basis @ np.diag(values) @ basis.T
    E = rng.standard_normal((P, P))
    H_b = H_a + 0.05 * (E + E.T)
    values_b, basis_b = np.linalg.eigh(H_b)
    top = overlap.davis_kahan(values, basis, values_b, basis_b, slice(P - 3, P))
    A, B = basis[:, -3:], basis_b[:, -3:]
    assert top["rotation"] == pytest.approx(
        np.linalg.norm(np.sqrt(np.clip(1 - np.linalg.svd(A.T @ B)[1] ** 2, 0, None)))
    )
    assert 0 < top["rotation"] <= top["bound"] and 0 < top["ratio"] <= 1
    assert top["perturbation"] == pytest.approx(np.linalg.norm((H_b - H_a) @ A))
    degenerate = np.concatenate([np.linspace(0, 1, P - 4), [2.0, 2.0, 2.0, 5.0]])
    spin = np.eye(P)
    spin[P - 4 : P - 1, P - 4 : P - 1] = random_basis(3, seed=6)  # rotate within the three equal eigenvalues
    same = overlap.davis_kahan(degenerate, basis, degenerate, basis @ spin, slice(P - 4, P - 1))
    assert same["subspace_overlap"] == pytest.approx(1.0) and same["rotation"] == pytest.approx(0.0, abs=1e-6)
    assert row_max_overlap(basis[:, P - 4 : P - 1], (basis @ spin)[:, P - 4 : P - 1]).mean() < 0.99


def test_the_stability_control_is_the_band_its_gap_pins_down_best():
    """A band with no gap (any rotation allowed) is never the control; among the rest the smallest bound wins."""
    bands = {
        "top": {"bound": 50.0},
        "bulk": {"bound": None},
        "bottom": {"bound": 3.0},
    }
    assert overlap.stability_control(bands) == "bottom"
    assert overlap.stability_control({**bands, "bottom": {"bound": 1e6}}) == "bottom"
    assert overlap.stability_control({**bands, "bulk": {"bound": 2.0}}) == "bulk"


def test_batch_spectrum_summary_checks_the_trace(tmp_path):
    full = np.array([-0.1, 0.5, 1.0, 4.0])
    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "batch.h5", "w") as fh:
        fh["sizes"] = [2, 8]
        fh["full_eigenvalues"] = full
        fh["eigenvalues"] = np.sort(full + rng.normal(0, 0.05, (2, 30, 4)), axis=-1)
        fh["top_overlap"] = np.full((2, 30), 0.9)
    batch_spectrum.analyse(tmp_path / "batch.h5", 2, tmp_path / "summary.h5", {"task": "t"}, top=3)
    summary = read_summary(tmp_path / "summary.h5")
    assert summary["trace_unbiased"]
    assert summary["per_size"]["2"]["lambda_max_ratio"] == pytest.approx(1.0, abs=0.05)


def test_eigenbands_set_the_weight_decay_directions_apart():
    from landscape.spectra import eigenbands

    wd = 1e-3
    eigenvalues = np.sort(
        np.concatenate([[-0.5, -0.01], [wd] * 5, [1.5e-3, 2e-3], np.geomspace(0.01, 1, 20), [5, 7, 9]])
    )
    bands = eigenbands(eigenvalues, classes=3, weight_decay=wd)
    assert np.all((eigenvalues[bands["weight_decay"]] >= 0) & (eigenvalues[bands["weight_decay"]] <= 2 * wd))
    assert len(bands["weight_decay"]) == 7 and eigenvalues[bands["top"]].tolist() == [5, 7, 9]
    assert sorted(np.concatenate(list(bands.values())).tolist()) == list(range(len(eigenvalues)))  # a partition
    assert len(bands["bottom"]) == (len(eigenvalues) - 7 - 3) // 4 and -0.5 in eigenvalues[bands["bottom"]]
    assert len(eigenbands(eigenvalues, 3)["weight_decay"]) == 0  # no weight decay, no such band


def test_eigenvalue_resolution_bounds_what_float32_storage_moves():
    """Rounding a Hessian to float32 moves no eigenvalue by more than the resolution, and not by 30x less."""
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((300, 300)))
    eigenvalues = np.concatenate([np.arange(1, 151) ** -1.5 * 10.0, -rng.uniform(0, 1e-6, 150)])
    hessian = (basis * eigenvalues) @ basis.T
    stored = hessian.astype(np.float32).astype(np.float64)
    moved = np.abs(np.linalg.eigvalsh(stored) - np.sort(eigenvalues)).max()
    resolution = eigenvalue_resolution(eigenvalues, 0.0, "float32")
    assert moved <= resolution < 30 * moved
    assert eigenvalue_resolution(eigenvalues, 1e-3, "float64") == pytest.approx(1e-3 * 10.0, rel=1e-9)
