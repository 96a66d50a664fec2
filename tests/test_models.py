"""The ResNet family: parameter budgets of the profiles, and per-example normalisation."""

from __future__ import annotations

import numpy as np
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


def test_the_scale_invariant_groups_are_exact_symmetries_with_curvature_wd():
    """Scaling one group's weights leaves the data loss unchanged (to rounding, float64), and the dense
    torch.func Hessian of the objective has u_gᵀ H u_g = wd along every group; scaling rows that straddle two groups
    (the control) does change the loss. A model without normalisation has no such group.

    Exact with GroupNorm's ε set to 0; PyTorch's ε = 1e-5, added to each group's variance, breaks the symmetry by
    ~ε/variance, which the last assertion bounds (measured here: a relative change of 4e-7 for a scale of 1.7)."""
    from landscape.hessian import Objective, dense_hessian
    from landscape.models import ResNet
    from landscape.params import flatten
    from landscape.symmetries import scale_invariant_groups

    torch.manual_seed(0)
    model = ResNet(1, 3, 4, 2, 1, norm="group", groups=2).double()
    with_epsilon = ResNet(1, 3, 4, 2, 1, norm="group", groups=2).double()
    with_epsilon.load_state_dict(model.state_dict())
    for module in model.modules():
        if isinstance(module, torch.nn.GroupNorm):
            module.eps = 0.0
    x, y = torch.randn(12, 1, 6, 6, dtype=torch.float64), torch.randint(0, 3, (12,))
    theta, wd = flatten(model), 0.01
    objective = Objective(model, x, y, weight_decay=0.0)
    groups = scale_invariant_groups(model)
    # The stem, two convs in each of the two blocks and the second block's projection: six convs, two groups each.
    assert len(groups) == 12
    for indices in groups.values():
        scaled = theta.clone()
        scaled[indices] *= 1.7
        assert objective.loss(scaled) == pytest.approx(objective.loss(theta), rel=1e-12)
    straddling = np.concatenate([groups["stem.0[0]"][-3:], groups["stem.0[1]"][:3]])
    scaled = theta.clone()
    scaled[straddling] *= 1.7
    assert abs(objective.loss(scaled) - objective.loss(theta)) > 1e-6
    hessian = dense_hessian(Objective(model, x, y, weight_decay=wd), theta)
    for indices in groups.values():
        u = np.zeros(len(theta))
        u[indices] = theta[indices].numpy()
        u /= np.linalg.norm(u)
        # The data part vanishes exactly along u_g; what is left is rounding of a float64 Hessian (entries ~1).
        assert u @ hessian @ u == pytest.approx(wd, abs=1e-10)
    assert scale_invariant_groups(ResNet(1, 3, 4, 2, 1, norm="none")) == {}
    nearly = Objective(with_epsilon, x, y, weight_decay=0.0)
    scaled = theta.clone()
    scaled[groups["stem.0[0]"]] *= 1.7
    assert nearly.loss(scaled) == pytest.approx(nearly.loss(theta), rel=1e-5)
