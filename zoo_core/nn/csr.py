"""Edge-weighted neighbour sums and per-edge dot products as sparse (CSR) products on the CPU.

For index pairs (row_e, col_e) sorted by row, :func:`weighted_sum` is ``out[r] = Σ_{e: row_e = r} w_e · x[col_e]``
(a GAT aggregation, Veličković et al. 2018 eq. 4, with rows = destinations and cols = sources; a Set2Set readout,
Vinyals et al. 2016, with rows = graphs and cols = nodes) and :func:`edge_dots` is ``s_e = ⟨a[row_e], b[col_e]⟩``
(Set2Set's node-query scores). On the CPU both run as one sparse-dense product (``torch.sparse`` CSR matmul and
``sampled_addmm``) forward and backward, so the [E, d] gathered rows and weighted messages of the gather /
multiply / scatter-add formulation are never built. Elsewhere they run that formulation. The values equal it up
to the order of each row's sum (float rounding).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

from zoo_core.nn.grad import records_grad
from zoo_core.nn.segment import segment_sum


def _is_arange(index: torch.Tensor, n: int) -> bool:
    return index.shape[0] == n and bool(torch.equal(index, torch.arange(n, device=index.device)))


def _counts_to_crow(rows: torch.Tensor, n_rows: int) -> torch.Tensor:
    crow = torch.zeros(n_rows + 1, dtype=torch.long, device=rows.device)
    torch.cumsum(torch.bincount(rows, minlength=n_rows), 0, out=crow[1:])
    return crow


@dataclass
class CSRPattern:
    """Index pairs (rows, cols) sorted by row, with their CSR rows and the transposed pattern; build once per
    graph batch, use for every layer."""

    rows: torch.Tensor          # [E] sorted
    cols: torch.Tensor          # [E]
    shape: tuple[int, int]      # (n_rows, n_cols)
    crow: torch.Tensor | None   # [n_rows + 1] (CPU only)
    t_order: torch.Tensor | None  # [E] the pairs in column order (the transpose's CSR order)
    t_crow: torch.Tensor | None
    row_per_pair: bool = False    # rows == arange(E): each output row of a product has one term
    col_per_pair: bool = False    # cols == arange(E): likewise for the transpose

    @classmethod
    def build(cls, rows: torch.Tensor, cols: torch.Tensor, n_rows: int, n_cols: int,
              sorted_rows: bool = False) -> tuple["CSRPattern", torch.Tensor | None]:
        """The pattern of ``(rows, cols)`` and the permutation that sorted them by row (None when none was needed:
        ``sorted_rows``, or off the CPU); per-pair tensors must be taken in that order."""
        if rows.device.type != "cpu":
            return cls.unsorted(rows, cols, n_rows, n_cols), None
        order = None if sorted_rows else torch.argsort(rows, stable=True)
        if order is not None:
            rows, cols = rows.index_select(0, order), cols.index_select(0, order)
        t_order = torch.argsort(cols, stable=True)
        return cls(rows, cols, (n_rows, n_cols), _counts_to_crow(rows, n_rows), t_order,
                   _counts_to_crow(cols, n_cols), _is_arange(rows, n_rows), _is_arange(cols, n_cols)), order

    @classmethod
    def unsorted(cls, rows: torch.Tensor, cols: torch.Tensor, n_rows: int, n_cols: int) -> "CSRPattern":
        """Pairs in any order, summed by gather / multiply / scatter-add (the formulation off the CPU)."""
        return cls(rows, cols, (n_rows, n_cols), None, None, None)

    @property
    def sparse(self) -> bool:
        return self.crow is not None

    def matrix(self, values: torch.Tensor) -> torch.Tensor:
        """The [n_rows, n_cols] CSR matrix with ``values`` at the pairs."""
        return torch.sparse_csr_tensor(self.crow, self.cols, values, self.shape, check_invariants=False)

    def product(self, values: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``matrix(values) @ y``; a row-wise scaled gather when every row holds one pair (torch's sparse product
        zero-fills and copies a tall output, twice the work)."""
        if self.row_per_pair:
            return y.index_select(0, self.cols) * values.unsqueeze(-1)
        return self.matrix(values) @ y

    def transposed_product(self, values: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``matrix(values).T @ y`` (``values`` in the pairs' row order)."""
        if self.col_per_pair:
            return y.index_select(0, self.rows) * values.unsqueeze(-1)
        transposed = torch.sparse_csr_tensor(self.t_crow, self.rows.index_select(0, self.t_order),
                                             values.index_select(0, self.t_order), self.shape[::-1],
                                             check_invariants=False)
        return transposed @ y

    def dots(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``⟨a[row_e], b[col_e]⟩`` for every pair (sampled dense-dense product)."""
        pattern = self.matrix(a.new_zeros(self.rows.shape[0]))
        return torch.sparse.sampled_addmm(pattern, a, b.t(), beta=0.0).values()


with warnings.catch_warnings():  # torch warns once per process that CSR support is in beta; said here, not in a run
    warnings.simplefilter("ignore")
    torch.sparse_csr_tensor(torch.zeros(2, dtype=torch.long), torch.zeros(0, dtype=torch.long), torch.zeros(0), (1, 1))


class _WeightedSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, x, pattern):
        ctx.save_for_backward(w, x)
        ctx.pattern = pattern
        return pattern.product(w, x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        w, x = ctx.saved_tensors
        p = ctx.pattern
        grad_w = p.dots(grad, x) if ctx.needs_input_grad[0] else None
        grad_x = p.transposed_product(w, grad) if ctx.needs_input_grad[1] else None
        return grad_w, grad_x, None


class _EdgeDots(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, pattern):
        ctx.save_for_backward(a, b)
        ctx.pattern = pattern
        return pattern.dots(a, b)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        p = ctx.pattern
        grad_a = p.product(grad, b) if ctx.needs_input_grad[0] else None
        grad_b = p.transposed_product(grad, a) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b, None


def weighted_sum(w: torch.Tensor, x: torch.Tensor, pattern: CSRPattern) -> torch.Tensor:
    """``out[r] = Σ_{e: row_e = r} w_e · x[col_e]``: [n_rows, d] from [E] weights and [n_cols, d] rows."""
    if not pattern.sparse or x.dim() != 2:
        return segment_sum(x.index_select(0, pattern.cols) * w.unsqueeze(-1), pattern.rows, pattern.shape[0])
    if records_grad(w, x):
        return _WeightedSum.apply(w, x, pattern)
    return pattern.product(w, x)


def edge_dots(a: torch.Tensor, b: torch.Tensor, pattern: CSRPattern) -> torch.Tensor:
    """``s_e = ⟨a[row_e], b[col_e]⟩``: [E] from [n_rows, d] and [n_cols, d]."""
    if not pattern.sparse:
        return (a.index_select(0, pattern.rows) * b.index_select(0, pattern.cols)).sum(-1)
    if records_grad(a, b):
        return _EdgeDots.apply(a, b, pattern)
    return pattern.dots(a, b)
