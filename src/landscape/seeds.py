"""Summaries of an experiment repeated over seeds: mean, sample standard deviation, t-intervals, decision rule."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

# The confidence level of every interval and of the decision rule, unless a caller corrects it for a family.
LEVEL = 0.95


def corrected(family: int, level: float = LEVEL) -> float:
    r"""The level of each interval in a family of ``family`` comparisons (Bonferroni): :math:`1-(1-\mathrm{level})/m`.

    The study corrects wherever a claim rests on the best of several arms or on any member of a family; a single,
    pre-declared comparison keeps ``level``. Claims that require two intervals to agree (an intersection) need none.
    """
    return 1 - (1 - level) / max(family, 1)


def spread(values: Iterable[float]) -> dict[str, float]:
    r"""``{"mean": x̄, "sd": s}`` with the sample s.d. :math:`s^2 = \sum_i (x_i - \bar x)^2 / (n - 1)`.

    s = 0 for one value.
    """
    x = np.asarray(list(values), dtype=np.float64)
    return {"mean": float(x.mean()), "sd": float(x.std(ddof=1)) if len(x) > 1 else 0.0}


def t_quantile(n: int, level: float = LEVEL) -> float:
    r"""The two-sided Student-t quantile :math:`t_{n-1,(1+\mathrm{level})/2}` for a spread from ``n`` values."""
    from scipy import stats

    return float(stats.t.ppf((1 + level) / 2, n - 1))


def interval(values: Iterable[float], level: float = LEVEL) -> dict[str, float]:
    r"""Mean, sample s.d., n and the two-sided Student-t interval of the mean at ``level``.

    .. math:: \bar x \pm t_{n-1,(1+\mathrm{level})/2}\, s/\sqrt n ;

    with one value the interval is that value (no spread can be measured, and the paper says so).
    """
    x = np.asarray(list(values), dtype=np.float64)
    out = {**spread(x), "n": int(len(x)), "level": level}
    half = t_quantile(len(x), level) * out["sd"] / float(np.sqrt(len(x))) if len(x) > 1 else 0.0
    return {**out, "low": out["mean"] - half, "high": out["mean"] + half}


def compare(values: Iterable[float], reference: float | Iterable[float], level: float = LEVEL) -> dict[str, Any]:
    """The study's one decision rule: does an arm differ from its reference beyond the spread across seeds?

    With ``reference`` a number (the end point), the differences d_s = x_s − reference; with one value
    per seed (a control that saw the same seed's batches), the paired differences d_s = x_s − r_s. The
    arm is ``lower`` when the whole Student-t interval of the mean difference at ``level`` lies below
    zero, ``higher`` when it lies above, and neither otherwise (always neither with one seed).
    """
    x = np.asarray(list(values), dtype=np.float64)
    r = np.asarray(reference if np.isscalar(reference) else list(reference), dtype=np.float64)
    difference = interval(x - r, level)
    resolved = difference["n"] > 1
    return {
        "difference": difference["mean"],
        "low": difference["low"],
        "high": difference["high"],
        "n": difference["n"],
        "level": level,
        "lower": bool(resolved and difference["high"] < 0),
        "higher": bool(resolved and difference["low"] > 0),
    }
