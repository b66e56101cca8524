"""GIN with edge features, one layer of MolInteract's 2D tower (METHODS §8.1; OGB's GINConv without batch norm):

    h_i' = MLP((1 + ε) h_i + Σ_{j→i} ReLU(h_j + BondEnc(e_ji))),   MLP = Linear(d, d) → ReLU → Linear(d, d),

with a learnt ε (initially 0) and a bond encoder of its own per layer. Messages run over ``g.edges()`` (both
directions of every bond), summed with ``index_add_``; an atom without bonds gets only its own term.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo_molinteract.embeddings import bond_encoder


class GINEdgeConv(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.bond = bond_encoder(hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.eps = nn.Parameter(torch.zeros(1))

    def forward(self, h: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        msg = torch.relu(h[src] + self.bond(e))
        agg = torch.zeros_like(h).index_add_(0, dst, msg)
        return self.mlp((1.0 + self.eps) * h + agg)
