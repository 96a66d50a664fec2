"""B1's shuffling control against planted variances whose answers are known in closed form."""

import numpy as np
import pytest

from landscape.analyses import shuffle_control
from landscape.store import read_summary, write_results

P = 6
IID = np.geomspace(1e-3, 1e-1, P)  # the i.i.d. prediction per direction
FACTOR = np.linspace(0.1, 0.6, P)  # the correction's shuffled / i.i.d. factor


def test_a_correction_that_is_right_and_one_that_overshoots():
    control = np.ones((3, P))  # i.i.d. batches: the theory holds exactly
    right = shuffle_control.compare_phase(control, IID * FACTOR, IID, IID * FACTOR)
    assert right["directions"] == P and right["correction_overshoot"] == pytest.approx(1.0)
    assert right["phase_shuffled_ratio"] == pytest.approx(1.0)
    # Shuffling changes nothing in truth: the phase varies as the control, and the correction overshoots by 1/FACTOR.
    none = shuffle_control.compare_phase(control, IID, IID, IID * FACTOR)
    assert none["correction_overshoot"] == pytest.approx(1 / np.median(FACTOR))
    assert right["correction_within"] and not right["correction_off"]
    assert none["correction_off"] and not none["correction_within"]
    # Seeds that disagree widely leave the verdict open either way.
    scattered = shuffle_control.compare_phase(
        np.array([[0.2] * P, [1.0] * P, [5.0] * P]), IID * FACTOR, IID, IID * FACTOR
    )
    assert not scattered["correction_within"] and not scattered["correction_off"]
    # A theory 4x too high under both samplers leaves the measured factor right: the control separates the two errors.
    both = shuffle_control.compare_phase(control / 4, IID * FACTOR / 4, IID, IID * FACTOR)
    assert both["control_iid_ratio"]["mean"] == pytest.approx(0.25) and both["correction_overshoot"] == pytest.approx(1)


def test_only_directions_every_seed_and_the_phase_resolve_are_compared():
    control = np.ones((2, P))
    control[1, 0] = np.nan  # seed 1 did not relax direction 0
    measured = IID * FACTOR
    measured[-1] = np.nan  # the phase did not relax the last direction
    result = shuffle_control.compare_phase(control, measured, IID, IID * FACTOR)
    assert result["directions"] == P - 2 and result["common"].tolist() == [False, True, True, True, True, False]
    assert shuffle_control.compare_phase(np.full((2, P), np.nan), measured, IID, IID * FACTOR) == {"directions": 0}


def test_the_analysis_pairs_each_control_with_the_phase_at_its_rate(tmp_path):
    phases = {
        "phase_lr": np.array([0.1, 0.001]),
        "eigenvalue": np.geomspace(0.01, 5, P),
    }
    for k in range(2):
        phases |= {
            f"measured_variance/{k}": IID * FACTOR * (k + 1),
            f"predicted_variance/{k}": IID,
            f"predicted_variance_shuffled/{k}": IID * FACTOR,
            f"relaxed/{k}": np.ones(P, bool),
        }
    write_results(tmp_path / "theory.h5", phases, {}, {"task": "t"})
    controls = {
        f"{arm}/iid_ratio_by_direction/{seed}": np.ones(P) for arm in ("sgd", "sgd_at_cap") for seed in range(2)
    }
    write_results(
        tmp_path / "bayes.h5",
        controls,
        {"final_lr": 0.001, "max_rate": 0.1, "seeds": 2, "iterations": 9},
        {"task": "t"},
    )
    shuffle_control.analyse(tmp_path / "theory.h5", tmp_path / "bayes.h5", tmp_path / "out.h5", {"task": "t"})
    summary = read_summary(tmp_path / "out.h5")["controls"]
    assert summary["sgd"]["phase"] == 1 and summary["sgd_at_cap"]["phase"] == 0
    assert summary["sgd_at_cap"]["correction_overshoot"] == pytest.approx(1.0)
    assert summary["sgd"]["correction_overshoot"] == pytest.approx(2.0)  # the phase varies twice the correction
