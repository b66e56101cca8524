"""The memory-saving autograd functions (docs/DECISIONS.md "Memory") give the values and gradients of the plain
torch expressions they replace: checked against autograd of the reference expression and with gradcheck."""

from __future__ import annotations

import torch

from zoo_core.nn.edge_conv import EdgeConditionedConv, EdgeTypePlan, _messages, _TypedMessages
from zoo_core.nn.mlp import linear_on_cat
from zoo_core.nn.segment import index_add_rows, segment_sum
from zoo_core.nn.set2set import Set2Set, _NodeQueryScores


def _grads(fn, *inputs):
    inputs = [t.detach().clone().requires_grad_(t.requires_grad) for t in inputs]
    out = fn(*inputs)
    weight = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    (out * weight).sum().backward()
    return out.detach(), [t.grad for t in inputs if t.requires_grad]


def _typed_graph(gen):
    n, e, types = 9, 20, 4
    src = torch.randint(0, n, (e,), generator=gen)
    dst = torch.randint(0, n, (e,), generator=gen)
    kinds = torch.randint(0, types, (e,), generator=gen)
    edge_attr = torch.eye(types, dtype=torch.float64)[kinds]
    return n, src, dst, edge_attr


def test_typed_messages_match_autograd_of_the_plain_expression():
    gen = torch.Generator().manual_seed(0)
    n, src, dst, edge_attr = _typed_graph(gen)
    plan = EdgeTypePlan.build(src, dst, edge_attr)
    h = torch.randn(n, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    thetas = torch.randn(len(plan.counts), 5, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    ref = _grads(lambda a, b: _messages(a, b, plan.src, plan.counts), h, thetas)
    ours = _grads(lambda a, b: _TypedMessages.apply(a, b, plan.src, plan.counts), h, thetas)
    torch.testing.assert_close(ours[0], ref[0], rtol=0, atol=0)
    for got, want in zip(ours[1], ref[1]):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda a, b: _TypedMessages.apply(a, b, plan.src, plan.counts), (h, thetas))


def test_edge_conv_gradients_equal_the_per_edge_formulation():
    gen = torch.Generator().manual_seed(1)
    n, src, dst, edge_attr = _typed_graph(gen)
    torch.manual_seed(0)
    conv = EdgeConditionedConv(5, 5, edge_attr.shape[1]).double()
    h = torch.randn(n, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    out = conv(h, EdgeTypePlan.build(src, dst, edge_attr))
    out.square().sum().backward()
    ours = [h.grad.clone()] + [p.grad.clone() for p in conv.parameters()]
    h.grad = None
    conv.zero_grad()
    theta = conv.edge_net(edge_attr).view(-1, 5, 5)  # per edge, as PyG NNConv
    ref = conv.root(h).index_add(0, dst, torch.bmm(h[src].unsqueeze(1), theta).squeeze(1)) + conv.bias
    ref.square().sum().backward()
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    for got, want in zip(ours, [h.grad] + [p.grad for p in conv.parameters()]):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_linear_on_cat_matches_linear_of_cat():
    gen = torch.Generator().manual_seed(2)
    lin = torch.nn.Linear(7, 4).double()
    a = torch.randn(6, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(6, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    out = linear_on_cat(lin, a, b)
    out.sum().backward()
    ours = [a.grad.clone(), b.grad.clone(), lin.weight.grad.clone(), lin.bias.grad.clone()]
    a.grad = b.grad = None
    lin.zero_grad()
    ref = lin(torch.cat([a, b], -1))
    ref.sum().backward()
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    for got, want in zip(ours, [a.grad, b.grad, lin.weight.grad, lin.bias.grad]):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x, y: linear_on_cat(lin, x, y), (a, b))


def test_index_add_rows_and_segment_sum_gradients():
    gen = torch.Generator().manual_seed(3)
    base = torch.randn(5, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    source = torch.randn(8, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    index = torch.tensor([0, 4, 4, 1, 0, 2, 2, 2])
    assert torch.autograd.gradcheck(lambda b, s: index_add_rows(b, index, s), (base, source))
    torch.testing.assert_close(index_add_rows(base, index, source), base.index_add(0, index, source))
    assert torch.autograd.gradcheck(lambda s: segment_sum(s, index, 5), (source,))
    # second order (SchNet-style losses may differentiate through it): gradgradcheck
    assert torch.autograd.gradgradcheck(lambda s: segment_sum(s, index, 5) ** 2, (source,))


def test_set2set_scores_and_module_gradients():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(7, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    q = torch.randn(3, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    ids = torch.tensor([0, 0, 1, 1, 1, 2, 2])
    assert torch.autograd.gradcheck(lambda a, b: _NodeQueryScores.apply(a, b, ids), (x, q))
    torch.manual_seed(0)
    s2s = Set2Set(4, steps=3).double()
    assert torch.autograd.gradcheck(lambda a: s2s(a, ids, 3), (x,))
