"""The ResNet family: parameter budgets of the profiles, and per-example normalisation."""

from __future__ import annotations

import pytest
import torch

from landscape import config
from landscape.config import ModelConfig
from landscape.models import ResNet, build_model, count_parameters

SHAPES = {"smoke": (1, 8, 8), "cpu": (1, 7, 7), "paper": (3, 32, 32)}
BOUNDS = {"smoke": (300, 1500), "cpu": (1000, 5000), "paper": (90_000, 110_000)}


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_profile_parameter_counts(profile):
    cfg = config.load_profile(profile)
    model = build_model(cfg.model, SHAPES[profile], 10)
    count = count_parameters(model)
    print(f"{profile}: width {model.width}, {count} parameters")
    low, high = BOUNDS[profile]
    assert low <= count <= high
    assert model(torch.zeros(2, *SHAPES[profile])).shape == (2, 10)


def test_same_seed_same_initialisation():
    cfg = ModelConfig(target_params=800)
    a, b = build_model(cfg, (1, 8, 8), 10), build_model(cfg, (1, 8, 8), 10)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("norm", ["group", "none"])
def test_each_example_is_normalised_alone(norm):
    """An example's output does not depend on the rest of its batch, so the loss is a sum over examples."""
    torch.manual_seed(0)
    model = ResNet(1, 10, 3, 2, 1, norm=norm)
    x = torch.randn(6, 1, 8, 8)
    together = model(x)
    alone = torch.cat([model(x[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)
