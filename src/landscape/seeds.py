"""Summaries of an experiment repeated over seeds: mean and sample standard deviation."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def spread(values: Iterable[float]) -> dict[str, float]:
    """``{"mean": x̄, "sd": s}`` with the sample s.d. :math:`s^2 = \\sum_i (x_i - \\bar x)^2 / (n - 1)`; s = 0 for one value."""
    x = np.asarray(list(values), dtype=np.float64)
    return {"mean": float(x.mean()), "sd": float(x.std(ddof=1)) if len(x) > 1 else 0.0}
