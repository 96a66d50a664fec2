"""The ResNet family: parameter budgets of the profiles, and per-example normalisation."""

from __future__ import annotations

import pytest
import torch

from landscape import config
from landscape.config import ModelConfig
from landscape.models import ResNet, build_model, count_parameters

SHAPES = {"smoke": (1, 8, 8), "cpu": (1, 7, 7), "gpu": (1, 28, 28), "paper": (3, 32, 32)}
BOUNDS = {"smoke": (300, 1500), "cpu": (1000, 5000), "gpu": (20_000, 30_000), "paper": (90_000, 110_000)}


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu", "paper"])
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


def test_activations_share_the_architecture_and_config_knows_them_all():
    from landscape.config import ACTIVATIONS as CONFIG_ACTIVATIONS
    from landscape.models import ACTIVATIONS

    assert tuple(ACTIVATIONS) == CONFIG_ACTIVATIONS
    torch.manual_seed(0)
    x = torch.randn(4, 1, 8, 8)
    outputs = {}
    for name in ACTIVATIONS:
        cfg = ModelConfig(target_params=400, activation=name)
        model = build_model(cfg, (1, 8, 8), 10)
        assert count_parameters(model) == count_parameters(build_model(ModelConfig(target_params=400), (1, 8, 8), 10))
        outputs[name] = model(x)
    assert not torch.allclose(outputs["relu"], outputs["gelu"])


def test_a_smooth_activation_has_no_kinks_where_relu_has_them():
    """Second differences of the loss along a direction: constant down to round-off for GELU, jumping for ReLU."""
    from landscape.params import flatten, objective_at

    torch.manual_seed(0)
    x, y = torch.randn(32, 1, 8, 8, dtype=torch.float64), torch.randint(0, 10, (32,))
    spread = {}
    for name in ("relu", "gelu"):
        model = build_model(ModelConfig(target_params=400, norm="none", activation=name), (1, 8, 8), 10).double()
        theta = flatten(model)
        direction = torch.randn_like(theta)
        direction /= direction.norm()

        def loss(t: float, model=model, theta=theta, direction=direction) -> float:
            return float(objective_at(model, theta + t * direction, x, y, 0.0))

        curvatures = [(loss(h) - 2 * loss(0.0) + loss(-h)) / h**2 for h in (1e-4, 3e-4, 1e-3, 3e-3)]
        spread[name] = max(abs(c / curvatures[0] - 1) for c in curvatures)
    # GELU's curvature changes by O(h²) relative over these steps (measured 2e-5); ReLU units switching on and
    # off inside the step move it by far more (here it even changes sign).
    assert spread["gelu"] < 0.01 < spread["relu"], spread
