"""Edge-conditioned convolution (NNConv, Gilmer et al. 2017 eq. for M_t) without a d x d matrix per edge.

out_i = W_root h_i + Σ_{j→i} Θ(e_ji)^T h_j + b,  Θ(e) = reshape(Lin(d_e→d_in·d_out)(ReLU(Lin(d_e→d_e)(e)))).

Bond-feature vectors take few distinct values, so Θ is evaluated once per *distinct* edge-feature row of the
batch (typically 10-30 of them), and messages are computed per edge type with one matmul each: memory is
O(E·d + U·d²) instead of the original's O(E·d²). Since Σ_j h_jᵀ Θ_u = (Σ_j h_j)ᵀ Θ_u, the sources are first
summed per (destination, type) group (:class:`EdgeGroups`; with explicit hydrogens a carbon receives up to four
C–H messages of one type: 4,593 groups for 7,734 edges on a CompSol batch side) and each group's sum is
multiplied once. Results equal the per-edge formulation up to the order of those sums.
For backward only the group sums, Θ and the indices are kept (``_TypedMessages``,
:func:`zoo_core.nn.segment.index_add_rows`; docs/DECISIONS.md "Memory").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from zoo_core.nn.csr import CSRPattern, weighted_sum
from zoo_core.nn.grad import records_grad
from zoo_core.nn.segment import index_add_rows


@dataclass
class EdgeGroups:
    """The edges of one batch grouped by (type, destination): the messages' sums and where they go."""

    pattern: CSRPattern     # rows: groups (by type, then destination); cols: the edges' sources
    dst: torch.Tensor       # [G] each group's destination
    counts: list[int]       # groups per type, in type order


@dataclass
class EdgeTypePlan:
    """Edges grouped by distinct feature row; computed once per batch and reused at every step."""

    types: torch.Tensor     # [U, d_e] distinct edge-feature rows
    src: torch.Tensor       # [E] sources, sorted by type
    dst: torch.Tensor       # [E] destinations, sorted by type
    counts: list[int]       # edges per type, in order
    _groups: EdgeGroups | None = None

    def groups(self, n_nodes: int) -> EdgeGroups:
        """The (type, destination) groups of a graph of ``n_nodes`` nodes (built on first use)."""
        if self._groups is None:
            edge_type = torch.repeat_interleave(torch.arange(len(self.counts), device=self.src.device),
                                                torch.tensor(self.counts, device=self.src.device))
            keys, group = torch.unique(edge_type * n_nodes + self.dst, return_inverse=True)
            pattern = CSRPattern.build(group, self.src, keys.shape[0], n_nodes)[0]
            counts = torch.bincount(keys // n_nodes, minlength=len(self.counts)).tolist()
            self._groups = EdgeGroups(pattern, keys % n_nodes, counts)
        return self._groups

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
    """messages = cat_u(h[src_u] @ Θ_u) (rows sorted by type u, ``counts`` per type; ``src=None``: h's own rows)
    with autograd's gradients of that expression, saving h instead of the gathered h[src]: backward gathers it
    again."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, thetas: torch.Tensor, src: torch.Tensor | None,
                counts: list[int]) -> torch.Tensor:
        ctx.save_for_backward(h, thetas, src)
        ctx.counts = counts
        return _per_type_mm(h if src is None else h.index_select(0, src), thetas, counts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        h, thetas, src = ctx.saved_tensors
        grads = torch.split(grad, ctx.counts)
        grad_h = grad_thetas = None
        if ctx.needs_input_grad[1]:  # mm's gradient for mat2: mat1ᵀ · grad
            gathered = torch.split(h if src is None else h.index_select(0, src), ctx.counts)
            grad_thetas = torch.empty_like(thetas)
            for u, (chunk, g) in enumerate(zip(gathered, grads)):
                torch.mm(chunk.t(), g, out=grad_thetas[u])
        if ctx.needs_input_grad[0]:  # mm's gradient for mat1: grad · mat2ᵀ, then indexing's scatter-add
            grad_h = _per_type_mm(grad, thetas.transpose(1, 2), ctx.counts)
            if src is not None:
                grad_h = torch.zeros_like(h).index_add_(0, src, grad_h)
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
            groups = plan.groups(h.shape[0])
            sums = weighted_sum(h.new_ones(len(plan.src)), h, groups.pattern)   # Σ h_j per (type, destination)
            if records_grad(sums, thetas):
                messages = _TypedMessages.apply(sums, thetas, None, groups.counts)
            else:
                messages = _per_type_mm(sums, thetas, groups.counts)
            out = index_add_rows(out, groups.dst, messages)  # saves only dst for backward
        if self.bias is not None:
            out = out + self.bias
        return out
