"""The CPU hot paths of issue 38 part 4 give the values and gradients of the expressions they replace: the fused
GRU update bit for bit, the sparse (CSR) sums and the size-grouped interaction within float64 rounding."""

from __future__ import annotations

import math

import pytest
import torch

from zoo_core.nn.csr import CSRPattern, edge_dots, weighted_sum
from zoo_core.nn.gru import gru_relu
from zoo_core.nn.interaction import pair_interaction
from zoo_core.nn.mlp import l2_normalize
from zoo_core.nn.segment import segment_ids, segment_sum


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gru_relu_equals_relu_of_grucell_bit_for_bit(dtype):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    cell = torch.nn.GRUCell(6, 6).to(dtype)
    x = torch.randn(40, 6, generator=gen, dtype=dtype, requires_grad=True)
    h = torch.randn(40, 6, generator=gen, dtype=dtype, requires_grad=True)
    weight = torch.randn(40, 6, generator=gen, dtype=dtype)
    inputs = [x, h, *cell.parameters()]
    ref = torch.relu(cell(x, h))
    ours = gru_relu(cell, x, h)
    assert torch.equal(ours, ref)
    for got, want in zip(torch.autograd.grad((ours * weight).sum(), inputs),
                         torch.autograd.grad((ref * weight).sum(), inputs)):
        assert torch.equal(got, want)
    with torch.no_grad():
        assert torch.equal(gru_relu(cell, x, h), ref)


def _pairs(gen, n_rows=6, n_cols=9, n_pairs=25):
    rows = torch.randint(0, n_rows - 1, (n_pairs,), generator=gen)   # the last row has no pair
    cols = torch.randint(0, n_cols, (n_pairs,), generator=gen)
    return rows, cols, n_rows, n_cols


def test_csr_sums_and_dots_equal_the_gather_formulation():
    gen = torch.Generator().manual_seed(1)
    rows, cols, n_rows, n_cols = _pairs(gen)
    pattern, order = CSRPattern.build(rows, cols, n_rows, n_cols)
    assert pattern.sparse and torch.equal(pattern.rows, rows[order])
    w = torch.randn(len(rows), generator=gen, dtype=torch.float64, requires_grad=True)
    x = torch.randn(n_cols, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    a = torch.randn(n_rows, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    w_sorted = w[order]
    ours = weighted_sum(w_sorted, x, pattern)
    ref = segment_sum(x[cols] * w.unsqueeze(-1), rows, n_rows)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    assert torch.equal(ours[-1], torch.zeros(4, dtype=torch.float64))
    g_ours = torch.autograd.grad(ours.square().sum(), (w, x))
    g_ref = torch.autograd.grad(ref.square().sum(), (w, x))
    for got, want in zip(g_ours, g_ref):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    dots = edge_dots(a, x, pattern)
    torch.testing.assert_close(dots, (a[pattern.rows] * x[pattern.cols]).sum(-1), rtol=1e-12, atol=1e-12)
    w_leaf = w_sorted.detach().requires_grad_()
    assert torch.autograd.gradcheck(lambda w_, x_: weighted_sum(w_, x_, pattern), (w_leaf, x))
    assert torch.autograd.gradcheck(lambda a_, x_: edge_dots(a_, x_, pattern), (a, x))


def test_csr_without_pairs_and_off_the_sparse_path():
    empty = torch.zeros(0, dtype=torch.long)
    pattern, _ = CSRPattern.build(empty, empty, 3, 2)
    x = torch.randn(2, 4, requires_grad=True)
    out = weighted_sum(torch.zeros(0, requires_grad=True), x, pattern)
    assert torch.equal(out, torch.zeros(3, 4))
    out.sum().backward()
    assert torch.equal(x.grad, torch.zeros(2, 4))
    rows, cols = torch.tensor([1, 0, 1]), torch.tensor([0, 1, 1])
    plain = CSRPattern.unsorted(rows, cols, 2, 2)
    w = torch.tensor([1.0, 2.0, 3.0])
    assert not plain.sparse and torch.equal(weighted_sum(w, x.detach(), plain),
                                           segment_sum(x.detach()[cols] * w[:, None], rows, 2))


def _dense_reference(h_a, counts_a, h_b, counts_b):
    """The originals' [ΣN1 × ΣN2] batch matrix times its block mask (cosine kind)."""
    ids_a, ids_b = segment_ids(counts_a), segment_ids(counts_b)
    mask = (ids_a[:, None] == ids_b[None, :]).to(h_a.dtype)
    h_a, h_b = l2_normalize(h_a), l2_normalize(h_b)
    i = (h_a @ h_b.t()) * mask
    return torch.cat([h_a, i @ h_b], 1), torch.cat([h_b, i.t() @ h_a], 1), i


@pytest.mark.parametrize("groups", [2, 3, 40])
def test_size_groups_equal_one_block_and_the_dense_reference(groups):
    gen = torch.Generator().manual_seed(2)
    counts_a = torch.randint(1, 9, (40,), generator=gen)
    counts_b = torch.randint(1, 13, (40,), generator=gen)
    h_a = torch.randn(int(counts_a.sum()), 5, generator=gen, dtype=torch.float64, requires_grad=True)
    h_b = torch.randn(int(counts_b.sum()), 5, generator=gen, dtype=torch.float64, requires_grad=True)
    grouped = pair_interaction(h_a, counts_a, h_b, counts_b, groups=groups)
    single = pair_interaction(h_a, counts_a, h_b, counts_b, groups=1)
    ref_a, ref_b, ref_i = _dense_reference(h_a, counts_a, h_b, counts_b)
    assert len(grouped.group_maps) == min(groups, 40)
    assert sum(m.numel() for m in grouped.group_maps) < single.imap.numel()
    for got in (grouped, single):
        torch.testing.assert_close(got.h_a, ref_a, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(got.h_b, ref_b, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(got.penalty(), torch.norm(ref_i), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grouped.imap, single.imap, rtol=1e-12, atol=1e-12)
    ids_a, ids_b = segment_ids(counts_a), segment_ids(counts_b)
    for b, m in enumerate(grouped.maps()):
        torch.testing.assert_close(m, ref_i[ids_a == b][:, ids_b == b], rtol=1e-12, atol=1e-12)
    for got, want in zip(grouped.atom_importance(), (ref_i.abs().sum(1), ref_i.abs().sum(0))):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    w_a, w_b = torch.randn_like(ref_a), torch.randn_like(ref_b)
    g_ours = torch.autograd.grad((grouped.h_a * w_a).sum() + (grouped.h_b * w_b).sum(), (h_a, h_b))
    g_ref = torch.autograd.grad((ref_a * w_a).sum() + (ref_b * w_b).sum(), (h_a, h_b))
    for got, want in zip(g_ours, g_ref):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_tanh_kind_penalty_over_groups():
    gen = torch.Generator().manual_seed(3)
    counts_a, counts_b = torch.tensor([3, 1, 7, 2, 5, 4]), torch.tensor([4, 6, 1, 1, 2, 9])
    h_a = torch.randn(int(counts_a.sum()), 4, generator=gen, dtype=torch.float64)
    h_b = torch.randn(int(counts_b.sum()), 4, generator=gen, dtype=torch.float64)
    grouped = pair_interaction(h_a, counts_a, h_b, counts_b, kind="tanh", scaled=True, groups=3)
    single = pair_interaction(h_a, counts_a, h_b, counts_b, kind="tanh", scaled=True, groups=1)
    torch.testing.assert_close(grouped.penalty(), single.penalty(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grouped.scores, single.scores, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grouped.h_a, single.h_a, rtol=1e-12, atol=1e-12)
    assert math.isclose(float(grouped.imap.abs().max()), float(single.imap.abs().max()), rel_tol=1e-12)
