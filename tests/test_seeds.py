"""The over-seeds summary against numpy's definitions."""

import numpy as np
import pytest

from landscape.seeds import spread


def test_spread_is_mean_and_sample_sd():
    assert spread([1.0, 2.0, 4.0]) == {
        "mean": 7 / 3,
        "sd": float(np.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)),
    }
    assert spread(np.array([3.5])) == {"mean": 3.5, "sd": 0.0}


def test_interval_is_the_student_t_interval_and_covers_at_its_level():
    from landscape.seeds import interval

    got = interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / np.sqrt(3)  # t_{2, 0.975} (tables), s = 1
    assert got["n"] == 3 and got["low"] == pytest.approx(2 - half) and got["high"] == pytest.approx(2 + half)
    assert interval([5.0]) == {"mean": 5.0, "sd": 0.0, "n": 1, "level": 0.95, "low": 5.0, "high": 5.0}
    rng = np.random.default_rng(0)  # Monte Carlo: 4,000 intervals of 3 normal draws cover the mean 95% of the time
    covered = [(lambda i: i["low"] <= 0 <= i["high"])(interval(rng.standard_normal(3))) for _ in range(4000)]
    assert abs(np.mean(covered) - 0.95) < 0.015  # 3.4 binomial s.d. of 4,000 draws at 0.95


def test_the_decision_rule_is_a_paired_t_interval_that_excludes_zero():
    from landscape.seeds import compare

    assert compare([0.50, 0.51, 0.49], 0.60)["lower"]  # far below a fixed reference
    assert not compare([0.50, 0.70, 0.30], 0.55)["lower"]  # the interval covers the reference
    paired = compare([1.01, 2.01, 3.01], [1.0, 2.0, 3.0])  # a constant paired shift, invisible to unpaired spreads
    assert paired["higher"] and paired["difference"] == pytest.approx(0.01)
    assert compare([0.1], 0.5) == {
        "difference": -0.4,
        "low": -0.4,
        "high": -0.4,
        "n": 1,
        "level": 0.95,
        "lower": False,
        "higher": False,
    }  # one seed decides nothing


def test_a_family_of_corrected_comparisons_keeps_the_chance_of_any_false_difference_at_five_percent():
    """Monte Carlo: 6 arms with no true difference, 3 seeds each; with the corrected level the chance that any of
    them is called different stays below 5 %, without it it is about 1 - 0.95^6 = 26 %."""
    from landscape.seeds import compare, corrected

    assert corrected(1) == pytest.approx(0.95) and corrected(4) == pytest.approx(0.9875)
    rng = np.random.default_rng(1)
    trials = 2000
    draws = rng.standard_normal((trials, 6, 3))

    def any_differs(level: float) -> float:
        decided = [[compare(arm, 0.0, level) for arm in trial] for trial in draws]
        return np.mean([any(d["lower"] or d["higher"] for d in trial) for trial in decided])

    assert any_differs(corrected(6)) <= 0.05 + 0.015  # 3 binomial s.d. of 2,000 trials at 0.05
    assert any_differs(0.95) > 0.2
