"""Set2Set readout (Vinyals et al. 2016), with the PyG/DGL semantics: output width 2d."""

from __future__ import annotations

import torch
from torch import nn

from zoo_core.nn.csr import CSRPattern, edge_dots, weighted_sum
from zoo_core.nn.grad import records_grad
from zoo_core.nn.segment import segment_softmax, segment_sum


class _NodeQueryScores(torch.autograd.Function):
    """(x · q[ids]).sum(-1) per node with autograd's gradients of that expression, saving q [B, d] instead of
    the gathered q[ids] [N, d] (rebuilt in backward; docs/DECISIONS.md "Memory")."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, q: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, q, ids)
        return (x * q[ids]).sum(-1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, q, ids = ctx.saved_tensors
        grad = grad.unsqueeze(-1).expand_as(x)  # sum's gradient, then mul's (grad * other) for each factor
        grad_x = grad * q[ids] if ctx.needs_input_grad[0] else None
        grad_q = torch.zeros_like(q).index_put_((ids,), grad * x, accumulate=True) if ctx.needs_input_grad[1] else None
        return grad_x, grad_q, None


def _scores(x: torch.Tensor, q: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    if records_grad(x, q):
        return _NodeQueryScores.apply(x, q, ids)
    return (x * q[ids]).sum(-1)


class _Attention:
    """Set2Set's node-query scores and attention-weighted sums over one batch: sparse (CSR) products on the CPU
    (zoo_core.nn.csr), the memory-lean gather formulation elsewhere."""

    def __init__(self, ids: torch.Tensor, n_graphs: int):
        nodes = torch.arange(ids.shape[0], device=ids.device)
        self.ids, self.n_graphs = ids, n_graphs
        self.scores_pattern = CSRPattern.build(nodes, ids, ids.shape[0], n_graphs, sorted_rows=True)[0]
        self.sum_pattern, self.order = CSRPattern.build(ids, nodes, n_graphs, ids.shape[0])

    def scores(self, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """x_i · q[graph of i], [N]."""
        return edge_dots(x, q, self.scores_pattern) if self.scores_pattern.sparse else _scores(x, q, self.ids)

    def readout(self, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Σ_i a_i x_i per graph, [B, d]."""
        if not self.sum_pattern.sparse:
            return segment_sum(a.unsqueeze(-1) * x, self.ids, self.n_graphs)
        return weighted_sum(a if self.order is None else a.index_select(0, self.order), x, self.sum_pattern)


class Set2Set(nn.Module):
    """q_t = LSTM(q*_{t-1}); a_i = softmax_i(x_i·q_t) per graph; r_t = Σ a_i x_i; q*_t = [q_t ; r_t]."""

    def __init__(self, dim: int, steps: int = 2, layers: int = 1):
        super().__init__()
        self.dim, self.steps, self.layers = dim, steps, layers
        # LSTM cells stepped by hand: same maths as nn.LSTM on a length-1 sequence, several times faster on CPU.
        self.cells = nn.ModuleList([nn.LSTMCell(2 * dim if i == 0 else dim, dim) for i in range(layers)])
        self.out_dim = 2 * dim

    def forward(self, x: torch.Tensor, ids: torch.Tensor, n_graphs: int) -> torch.Tensor:
        q_star = x.new_zeros(n_graphs, 2 * self.dim)
        states = [(x.new_zeros(n_graphs, self.dim), x.new_zeros(n_graphs, self.dim)) for _ in self.cells]
        attention = _Attention(ids, n_graphs)
        for _ in range(self.steps):
            q = q_star
            for i, cell in enumerate(self.cells):
                states[i] = cell(q, states[i])
                q = states[i][0]
            a = segment_softmax(attention.scores(x, q), ids, n_graphs)
            r = attention.readout(a, x)
            q_star = torch.cat([q, r], dim=-1)
        return q_star
