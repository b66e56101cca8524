"""Segment (per-graph) operations on a batch of graphs, in plain torch (device-agnostic).

Rows are gathered with ``index_select`` rather than ``x[ids]``: the same values, but on CPU advanced indexing is
several times slower and its backward (an accumulating ``index_put_``) slower than ``index_add_``."""

from __future__ import annotations

import torch

from zoo_core.nn.grad import records_grad


def segment_ids(counts: torch.Tensor) -> torch.Tensor:
    """[sum(counts)] tensor giving each node the index of its graph."""
    return torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)


class _IndexAdd(torch.autograd.Function):
    """``base.index_add(0, index, source)`` with torch's own gradients (base: grad; source:
    ``grad.index_select(0, index)``), but saving only ``index`` for backward: torch's index_add also saves
    ``source`` (for its shape), which kept an extra copy of every message and readout input alive until
    backward (~20 MB per CIGIN batch of 256 CompSol pairs; docs/DECISIONS.md "Memory")."""

    @staticmethod
    def forward(ctx, base: torch.Tensor, index: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(index)
        return base.index_add(0, index, source)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (index,) = ctx.saved_tensors
        grad_source = grad.index_select(0, index) if ctx.needs_input_grad[2] else None
        return (grad if ctx.needs_input_grad[0] else None), None, grad_source


def index_add_rows(base: torch.Tensor, index: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """``base.index_add(0, index, source)`` (same values and gradients; backward memory O(len(index)))."""
    if records_grad(base, source):
        return _IndexAdd.apply(base, index, source)
    return base.index_add(0, index, source)


def segment_sum(x: torch.Tensor, ids: torch.Tensor, n: int) -> torch.Tensor:
    """Sum rows of ``x`` into ``n`` segments."""
    return index_add_rows(x.new_zeros((n,) + tuple(x.shape[1:])), ids, x)


def segment_mean(x: torch.Tensor, ids: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Mean of rows of ``x`` per segment."""
    shape = (-1,) + (1,) * (x.dim() - 1)
    return segment_sum(x, ids, len(counts)) / counts.clamp(min=1).to(x.dtype).view(shape)


def segment_max(x: torch.Tensor, ids: torch.Tensor, n: int) -> torch.Tensor:
    """Max of rows of ``x`` per segment (segments must be non-empty)."""
    index = ids.view((-1,) + (1,) * (x.dim() - 1)).expand_as(x)
    out = x.new_full((n,) + tuple(x.shape[1:]), float("-inf"))
    return out.scatter_reduce(0, index, x, reduce="amax", include_self=True)


def segment_softmax(scores: torch.Tensor, ids: torch.Tensor, n: int) -> torch.Tensor:
    """Softmax of ``scores`` ([N] or [N, k]) within each segment."""
    shift = segment_max(scores.detach(), ids, n).index_select(0, ids)
    e = torch.exp(scores - shift)
    return e / segment_sum(e, ids, n).index_select(0, ids).clamp(min=1e-16)


def segment_std(x: torch.Tensor, ids: torch.Tensor, counts: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Standard deviation of rows of ``x`` per segment (torch_scatter ``scatter_std`` semantics).

    With ``unbiased`` the sum of squares is divided by ``max(n - 1, 1)``, so a segment of one row (a one-atom
    molecule) has std exactly 0, never NaN. Not differentiable at std = 0 (use it on detached values).
    """
    mean = segment_mean(x, ids, counts)
    sq = segment_sum((x - mean.index_select(0, ids)) ** 2, ids, len(counts))
    denom = (counts - 1 if unbiased else counts).clamp(min=1).to(x.dtype)
    return (sq / denom.view((-1,) + (1,) * (x.dim() - 1))).sqrt()
