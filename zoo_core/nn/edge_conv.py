"""Edge-conditioned convolution (NNConv, Gilmer et al. 2017 eq. for M_t) without a d x d matrix per edge.

out_i = W_root h_i + Σ_{j→i} Θ(e_ji)^T h_j + b,  Θ(e) = reshape(Lin(d_e→d_in·d_out)(ReLU(Lin(d_e→d_e)(e)))).

Bond-feature vectors take few distinct values, so Θ is evaluated once per *distinct* edge-feature row of the
batch (typically 10-30 of them), and messages are computed per edge type with one matmul each: memory is
O(E·d + U·d²) instead of the original's O(E·d²). Results equal the per-edge formulation exactly.
For backward only h, Θ and the edge indices are kept: the gathered [E, d] h[src] and the messages are rebuilt
(``_TypedMessages``, :func:`zoo_core.nn.segment.index_add_rows`), with the gradients autograd computes for
the same expression, bit for bit (docs/DECISIONS.md "Memory").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from zoo_core.nn.grad import records_grad
from zoo_core.nn.segment import index_add_rows


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


def _messages(h: torch.Tensor, thetas: torch.Tensor, src: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """[E, d_out] messages h[src] @ Θ_type, one matmul per edge type (edges sorted by type, ``counts`` per type)."""
    return torch.cat([chunk @ thetas[u] for u, chunk in enumerate(torch.split(h.index_select(0, src), counts))])


def _per_type_mm(rows: torch.Tensor, mats, counts: list[int]) -> torch.Tensor:
    """cat_u(rows_u @ mats[u]) over the row blocks of ``counts``, each product written in place (no concatenation;
    the same values as :func:`_messages`'s ``cat``)."""
    out = rows.new_empty(rows.shape[0], mats[0].shape[1])
    for mat, block, part in zip(mats, torch.split(rows, counts), torch.split(out, counts)):
        torch.mm(block, mat, out=part)
    return out


class _TypedMessages(torch.autograd.Function):
    """messages = cat_u(h[src_u] @ Θ_u) (edges sorted by type u, ``counts`` per type) with autograd's gradients
    of that expression, saving h instead of the gathered h[src] (E ≈ 2N rows): backward gathers it again."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, thetas: torch.Tensor, src: torch.Tensor, counts: list[int]) -> torch.Tensor:
        ctx.save_for_backward(h, thetas, src)
        ctx.counts = counts
        return _per_type_mm(h.index_select(0, src), thetas, counts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        h, thetas, src = ctx.saved_tensors
        grads = torch.split(grad, ctx.counts)
        grad_h = grad_thetas = None
        if ctx.needs_input_grad[1]:  # mm's gradient for mat2: mat1ᵀ · grad
            gathered = torch.split(h.index_select(0, src), ctx.counts)
            grad_thetas = torch.empty_like(thetas)
            for u, (chunk, g) in enumerate(zip(gathered, grads)):
                torch.mm(chunk.t(), g, out=grad_thetas[u])
        if ctx.needs_input_grad[0]:  # mm's gradient for mat1: grad · mat2ᵀ, then indexing's scatter-add
            grad_src = _per_type_mm(grad, thetas.transpose(1, 2), ctx.counts)
            grad_h = torch.zeros_like(h).index_add_(0, src, grad_src)
        return grad_h, grad_thetas, None, None


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
            if records_grad(h, thetas):
                messages = _TypedMessages.apply(h, thetas, plan.src, plan.counts)
            else:
                messages = _per_type_mm(h.index_select(0, plan.src), thetas, plan.counts)
            out = index_add_rows(out, plan.dst, messages)  # saves only dst for backward
        if self.bias is not None:
            out = out + self.bias
        return out
