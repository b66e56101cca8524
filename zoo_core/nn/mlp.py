"""MLP and initialisation helpers shared by every plugin."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class MLP(nn.Sequential):
    """Linear layers with an activation between them (none after the last, unless ``final_activation``)."""

    def __init__(self, dims: Sequence[int], activation: type[nn.Module] = nn.ReLU, final_activation: bool = False,
                 dropout: float = 0.0):
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2 or final_activation:
                layers.append(activation())
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every Linear in ``module`` (the 3DMRL/CGIB convention)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Row-wise L2 normalisation."""
    return x / x.norm(dim=-1, keepdim=True).clamp(min=eps)
