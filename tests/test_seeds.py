"""The over-seeds summary against numpy's definitions."""

import numpy as np

from landscape.seeds import spread


def test_spread_is_mean_and_sample_sd():
    assert spread([1.0, 2.0, 4.0]) == {"mean": 7 / 3, "sd": float(np.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2))}
    assert spread(np.array([3.5])) == {"mean": 3.5, "sd": 0.0}
