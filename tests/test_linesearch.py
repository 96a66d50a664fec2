"""Line losses against a direct evaluation of the objective, vectorised or not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.linesearch import LineLoss, fit_polynomial, step_scale, symmetric_grid
from landscape.models import ResNet
from landscape.params import flatten, objective_at


@pytest.mark.parametrize("points_per_pass", [1, 4])
def test_line_loss_equals_the_objective_at_each_point(points_per_pass):
    torch.manual_seed(0)
    model = ResNet(1, 3, 2, 2, 1).double()
    x, y = torch.randn(21, 1, 6, 6, dtype=torch.float64), torch.randint(0, 3, (21,))
    theta = flatten(model)
    direction = torch.randn_like(theta)
    ts = symmetric_grid(0.5, 9)
    line = LineLoss(model, x, y, 0.01, chunk_size=8, points_per_pass=points_per_pass)
    expected = [objective_at(model, theta + t * direction, x, y, 0.01).item() for t in ts]
    # float64, same operations up to summation order: agreement to ~1e-15 relative.
    np.testing.assert_allclose(line.along(theta, direction, ts), expected, rtol=1e-12)


def test_grid_scale_and_polynomial_fit():
    assert step_scale(2.0, 0.25, cap=10.0) == pytest.approx(0.5)
    assert step_scale(1e-12, 0.25, cap=3.0) == 3.0
    grid = symmetric_grid(1.0, 11)
    assert len(grid) == 11 and grid[5] == 0 and np.array_equal(grid, -grid[::-1])
    np.testing.assert_allclose(fit_polynomial(grid * 1e-4, 2 + 3 * (grid * 1e-4) ** 2, 2), [2, 0, 3], atol=1e-6)
