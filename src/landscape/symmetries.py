"""The parameter directions a model's loss cannot see: scale symmetries of the weights before a normalisation."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from landscape.models import BasicBlock, ResNet, count_parameters
from landscape.params import unflatten


def scale_invariant_groups(model: nn.Module) -> dict[str, np.ndarray]:
    r"""The weights whose scale the loss cannot see: each GroupNorm group's rows of the bias-free conv before it.

    GroupNorm normalises every group of channels of one example by its own mean and standard deviation, so scaling
    the conv weights that produce one group by c > 0 leaves the output unchanged. The data loss f is then
    homogeneous of degree 0 in those weights :math:`\theta_g`: :math:`\theta_g^\top\nabla_g f = 0`, and
    differentiating again, :math:`\theta_g^\top H^f_{gg}\,\theta_g = 0`. Along :math:`u_g=\theta_g/\|\theta_g\|`
    the objective's curvature is therefore wd, whatever the data: exactly so without GroupNorm's ε (PyTorch adds
    1e-5 to each group's variance, which breaks the symmetry by ~ε/variance).

    Returns, per group (named ``<conv>[<group>]``), the indices of its weights in the flat parameter vector
    (:func:`landscape.params.flatten`'s order). A model without GroupNorm has none.
    """
    # The flat index of every weight, shaped as the parameters: the one map from modules to θ (landscape.params).
    index = unflatten(model, torch.arange(count_parameters(model)))
    modules = dict(model.named_modules())
    pairs = []
    for name, module in modules.items():
        if isinstance(module, BasicBlock):
            pairs += [(f"{name}.conv1", f"{name}.norm1"), (f"{name}.conv2", f"{name}.norm2")]
            if isinstance(module.shortcut, nn.Sequential):
                pairs.append((f"{name}.shortcut.0", f"{name}.shortcut.1"))
        elif isinstance(module, ResNet):
            pairs.append(("stem.0", "stem.1"))
    groups: dict[str, np.ndarray] = {}
    for conv_name, norm_name in pairs:
        conv, norm = modules[conv_name], modules[norm_name]
        if not isinstance(norm, nn.GroupNorm) or conv.bias is not None:
            continue
        channels = norm.num_channels // norm.num_groups
        rows = index[f"{conv_name}.weight"]  # (out channels, in channels, kernel, kernel)
        for g in range(norm.num_groups):
            groups[f"{conv_name}[{g}]"] = rows[g * channels : (g + 1) * channels].reshape(-1).numpy()
    return groups
