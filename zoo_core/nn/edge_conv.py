"""Edge-conditioned convolution (NNConv, Gilmer et al. 2017 eq. for M_t) without a d x d matrix per edge.

out_i = W_root h_i + Σ_{j→i} Θ(e_ji)^T h_j + b,  Θ(e) = reshape(Lin(d_e→d_in·d_out)(ReLU(Lin(d_e→d_e)(e)))).

Bond-feature vectors take few distinct values, so Θ is evaluated once per *distinct* edge-feature row of the
batch (typically 10-30 of them), and messages are computed per edge type with one matmul each: memory is
O(E·d + U·d²) instead of the original's O(E·d²). Results equal the per-edge formulation exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class EdgeTypePlan:
    """Edges grouped by distinct feature row; computed once per batch and reused at every step."""

    types: torch.Tensor     # [U, d_e] distinct edge-feature rows
    src: torch.Tensor       # [E] sources, sorted by type
    dst: torch.Tensor       # [E] destinations, sorted by type
    counts: list[int]       # edges per type, in order

    @classmethod
    def build(cls, src: torch.Tensor, dst: torch.Tensor, edge_attr: torch.Tensor,
              edge_type: torch.Tensor | None = None) -> "EdgeTypePlan":
        """``edge_type`` (precomputed ids of distinct feature rows, see MolStore) avoids a row-wise unique."""
        if edge_attr.shape[0] == 0:
            return cls(edge_attr[:0], src, dst, [])
        if edge_type is not None:
            ids, inverse = torch.unique(edge_type, return_inverse=True)
            first = torch.full((len(ids),), edge_attr.shape[0], dtype=torch.long, device=edge_attr.device)
            first = first.scatter_reduce(0, inverse, torch.arange(edge_attr.shape[0], device=edge_attr.device),
                                         reduce="amin")
            types = edge_attr[first]
        else:
            types, inverse = torch.unique(edge_attr, dim=0, return_inverse=True)
        order = torch.argsort(inverse, stable=True)
        counts = torch.bincount(inverse, minlength=types.shape[0]).tolist()
        return cls(types, src[order], dst[order], counts)


class EdgeConditionedConv(nn.Module):
    """PyG ``NNConv(aggr='add', root_weight=True)``; ``root_weight=False`` gives DGL's identity residual (CIGIN)."""

    def __init__(self, in_dim: int, out_dim: int, edge_dim: int, edge_hidden: int | None = None,
                 root_weight: bool = True, bias: bool = True):
        super().__init__()
        if not root_weight and in_dim != out_dim:
            raise ValueError("the identity residual (root_weight=False) needs in_dim == out_dim")
        edge_hidden = edge_hidden or edge_dim
        self.in_dim, self.out_dim = in_dim, out_dim
        self.edge_net = nn.Sequential(nn.Linear(edge_dim, edge_hidden), nn.ReLU(), nn.Linear(edge_hidden, in_dim * out_dim))
        self.root = nn.Linear(in_dim, out_dim, bias=False) if root_weight else None
        self.bias = nn.Parameter(torch.zeros(out_dim)) if bias else None

    def forward(self, h: torch.Tensor, plan: EdgeTypePlan) -> torch.Tensor:
        out = self.root(h) if self.root is not None else h.clone()
        if plan.counts:
            thetas = self.edge_net(plan.types).view(-1, self.in_dim, self.out_dim)
            h_src = h[plan.src]
            messages = torch.cat([chunk @ thetas[u] for u, chunk in enumerate(torch.split(h_src, plan.counts))])
            out = out.index_add(0, plan.dst, messages)
        if self.bias is not None:
            out = out + self.bias
        return out
