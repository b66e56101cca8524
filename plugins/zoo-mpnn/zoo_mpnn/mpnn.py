"""The CIGIN-style "gather" MPNN (METHODS §3; Gilmer et al. 2017 with the 3DMRL root weight).

h⁰ = ReLU(W₀ x);  for t = 1..T (shared weights):
    m = ReLU(W_root h + Σ_j Θ(e_ij) h_j + b)      (edge-conditioned conv, zoo_core.nn.edge_conv)
    h = W_msg [m ; h]                               (no activation)
output hᵀ + x  (skip connection with the raw input, so the hidden width equals the input width).
``root_weight=False`` gives the original CIGIN's identity residual (METHODS §5.1/§11).
"""

from __future__ import annotations

import torch
from torch import nn

from zoo_core.nn.base import Encoder
from zoo_core.nn.edge_conv import EdgeConditionedConv, EdgeTypePlan
from zoo_core.nn.mlp import linear_on_cat


class GatherMPNN(Encoder):
    """Gather MPNN encoder; ``out_dim == in_dim``."""

    def __init__(self, in_dim: int, edge_dim: int, steps: int = 3, root_weight: bool = True):
        super().__init__()
        self.out_dim = in_dim
        self.steps = steps
        self.lin0 = nn.Linear(in_dim, in_dim)
        self.conv = EdgeConditionedConv(in_dim, in_dim, edge_dim, root_weight=root_weight)
        self.lin_msg = nn.Linear(2 * in_dim, in_dim)

    def forward(self, g) -> torch.Tensor:
        x = g.ndata["x"]
        src, dst = g.edges()
        plan = EdgeTypePlan.build(src, dst, g.edata["e"], g.edata["etype"] if "etype" in g.edata else None)
        h = torch.relu(self.lin0(x))
        for _ in range(self.steps):
            m = torch.relu(self.conv(h, plan))
            h = linear_on_cat(self.lin_msg, m, h)  # = lin_msg(cat([m, h])), without saving the cat
        return h + x
