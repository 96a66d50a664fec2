"""A ResNet family sized by its width to a target parameter count, normalised per example.

Normalisation is GroupNorm (statistics over channels and pixels of one example) or none,
so the loss is an exact sum over examples: the Hessian is well defined and per-example
gradients exist (DESIGN §3). BatchNorm is deliberately not offered.

The activation is ReLU by default; GELU and softplus are smooth alternatives. With ReLU the loss
is only piecewise smooth: units switch on and off at finite distances from any θ, so curvature
measured over a step differs from the Hessian's eigenvalues beyond that distance (A1, curvature
against scale); a smooth activation removes the kinks and leaves the same architecture.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from landscape.config import ModelConfig

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "softplus": nn.Softplus}


def _norm(kind: str, channels: int, max_groups: int) -> nn.Module:
    if kind == "none":
        return nn.Identity()
    groups = max(g for g in range(1, min(max_groups, channels) + 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection (a 1x1 projection when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int, norm: str, groups: int, activation: str = "relu") -> None:
        super().__init__()
        self.activation = ACTIVATIONS[activation]()
        bias = norm == "none"
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=bias)
        self.norm1 = _norm(norm, cout, groups)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=bias)
        self.norm2 = _norm(norm, cout, groups)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=bias), _norm(norm, cout, groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """act(norm(conv(act(norm(conv(x))))) + shortcut(x))."""
        out = self.activation(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return self.activation(out + self.shortcut(x))


class PooledHead(nn.Module):
    """Global average pooling, then the linear head: the ResNet's last segment (it owns no parameter of its own)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits from the spatial mean of the features."""
        return self.linear(x.mean(dim=(2, 3)))


class ResNet(nn.Module):
    """Stem, ``stages`` stages of BasicBlocks (width doubling, stride 2 after the first), pooling, linear head."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        width: int,
        stages: int,
        blocks_per_stage: int,
        norm: str = "group",
        groups: int = 2,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.width = width
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=norm == "none"),
            _norm(norm, width, groups),
            ACTIVATIONS[activation](),
        )
        blocks, cin = [], width
        for stage in range(stages):
            cout = width * 2**stage
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                blocks.append(BasicBlock(cin, cout, stride, norm, groups, activation))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, classes) for images (batch, channels, height, width)."""
        features = self.blocks(self.stem(x))
        return self.head(features.mean(dim=(2, 3)))

    def segments(self) -> list[nn.Module]:
        """The forward pass as a chain — stem, each residual block, pooled head — for segmented Hessians."""
        return [self.stem, *self.blocks, PooledHead(self.head)]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def width_for_budget(cfg: ModelConfig, in_channels: int, num_classes: int) -> int:
    """The stem width whose ResNet's parameter count is closest to ``cfg.target_params``."""

    def size(width: int) -> int:
        return count_parameters(
            ResNet(in_channels, num_classes, width, cfg.stages, cfg.blocks_per_stage, cfg.norm, cfg.groups)
        )

    best, best_gap = 1, math.inf
    for width in range(1, 1025):
        gap = abs(size(width) - cfg.target_params)
        if gap < best_gap:
            best, best_gap = width, gap
        elif size(width) > cfg.target_params:
            break  # the count grows with the width, so the gap only grows from here
    return best


def build_model(cfg: ModelConfig, input_shape: tuple[int, int, int], num_classes: int) -> ResNet:
    """The profile's ResNet, initialised from ``cfg.init_seed`` (same seed, same parameters)."""
    # The caller's generator is left as it was: sizing the width builds (and initialises) trial models too.
    generator_state = torch.random.get_rng_state()
    try:
        width = width_for_budget(cfg, input_shape[0], num_classes)
        torch.manual_seed(cfg.init_seed)
        model = ResNet(
            input_shape[0], num_classes, width, cfg.stages, cfg.blocks_per_stage, cfg.norm, cfg.groups, cfg.activation
        )
    finally:
        torch.random.set_rng_state(generator_state)
    return model
