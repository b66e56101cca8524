"""I2Mole's cross attention in size groups with the top-k mask (zoo_core.nn.buckets, top_fraction.py) against the
implementation it replaced (one padded block per batch, full sorts; kept below as the reference): the same masks,
outputs and gradients (float64), for the layer and for the whole model with the noise and codebook draws fixed."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import zoo_core.nn.buckets as buckets
from zoo_core.models import build_model, model_spec
from zoo_core.nn.interaction import Padding
from zoo_core.testing import float64_batch, make_dataset
from zoo_core.train.trainer import model_loss, task_loss_fn
from zoo_i2mole.cross_attention import CrossAttention, CrossDirection, size_groups
from zoo_i2mole.top_fraction import TIE_TOLERANCE, top_fraction_count, top_fraction_mask


# -- the replaced implementation (commit 3f931a0), the reference --------------------------------------------------
def reference_mask(alpha, scores, valid, fraction):
    """The k largest α per pair by two full sorts: ties in α broken by r, edges indistinguishable from the k-th
    all kept."""
    with torch.no_grad():
        a = alpha.detach().masked_fill(~valid, -1.0).flatten(1)
        r = scores.detach().masked_fill(~valid, float("-inf")).flatten(1)
        n_valid = valid.flatten(1).sum(1)
        k = torch.clamp(torch.ceil(n_valid.to(a.dtype) * fraction), min=1).long()
        k = torch.minimum(k, n_valid.clamp(min=1)).unsqueeze(1)
        kth = a.sort(dim=1, descending=True).values.gather(1, k - 1)
        sure = a > kth * (1.0 + TIE_TOLERANCE)
        tied = (a >= kth * (1.0 - TIE_TOLERANCE)) & ~sure
        key = torch.where(sure, float("inf"), torch.where(tied, r, float("-inf")))
        kth_key = key.sort(dim=1, descending=True).values.gather(1, k - 1)
        return (key >= kth_key - TIE_TOLERANCE * (kth_key.abs() + 1e-6)) & valid.flatten(1)


def _reference_direction(layer, x, mask_x, y, mask_y, w_self, w_partner, pad_x):
    r = F.leaky_relu(w_self.unsqueeze(2) + w_partner.unsqueeze(1), layer.negative_slope)
    valid = mask_x.unsqueeze(2) & mask_y.unsqueeze(1)
    alpha = torch.softmax(r.masked_fill(~mask_y.unsqueeze(1), torch.finfo(r.dtype).min), dim=2) * valid
    keep = reference_mask(alpha, r, valid, layer.top_fraction).view_as(valid)
    kept = alpha * keep
    total = kept.sum(2, keepdim=True)
    if layer.renormalize:
        kept = kept / total.clamp(min=1e-12)
        total = (total > 0).to(kept.dtype)
    agg = torch.bmm(kept, y)
    h = layer.mix[0] * x + layer.mix[1] * agg if layer.mix else (1.0 - total) * x + agg
    relation = kept.sum(2) / keep.sum(2).clamp(min=1).to(kept.dtype)
    return pad_x.unpad(h), kept, keep, pad_x.unpad(relation)


def reference_forward(layer, h_a, pad_a, h_b, pad_b, groups=None):
    """The replaced CrossAttention.forward: one padded block for the batch."""
    xa, xb = pad_a.pad(h_a), pad_b.pad(h_b)
    ma, mb = pad_a.mask(), pad_b.mask()
    w_self, w_partner = layer.score.weight.view(2, -1)
    pa, pb = layer.proj(xa), layer.proj(xb)
    sa, sb = pa @ w_self + layer.score.bias, pb @ w_self + layer.score.bias
    ta, tb = pa @ w_partner, pb @ w_partner
    one = size_groups(pad_a, pad_b, groups=1)
    results = (_reference_direction(layer, xa, ma, xb, mb, sa, tb, pad_a),
               _reference_direction(layer, xb, mb, xa, ma, sb, ta, pad_b))
    return tuple(CrossDirection(h, relation, [kept], [keep], one) for h, kept, keep, relation in results)


# -- the mask -------------------------------------------------------------------------------------------------------
def _mask_inputs(sizes, ties: bool, seed: int):
    """Padded α [P, n, m] (softmax rows), raw scores r and the valid mask of pairs of the given sizes; ``ties``:
    α and r from a handful of values, rows repeated (static attention's shared rows, symmetric atoms)."""
    g = torch.Generator().manual_seed(seed)
    n, m = max(a for a, _ in sizes), max(b for _, b in sizes)
    valid = torch.zeros(len(sizes), n, m, dtype=torch.bool)
    for p, (a, b) in enumerate(sizes):
        valid[p, :a, :b] = True
    if ties:
        r = torch.randint(0, 3, (len(sizes), 1, m), generator=g).double().expand(-1, n, -1).clone()
        r += torch.randint(0, 2, (len(sizes), n, 1), generator=g).double() * 0.5
        r[:, ::3] *= 1.0 + 1e-7                                       # within the tolerance of a tie
    else:
        r = torch.randn(len(sizes), n, m, generator=g, dtype=torch.float64)
    alpha = torch.softmax(r.masked_fill(~valid, float("-inf")), dim=2).nan_to_num(0.0) * valid
    if ties:
        r = r + torch.randint(0, 2, r.shape, generator=g).double()   # r ranks what α leaves tied
    return alpha, r, valid


SIZES = [(1, 1), (3, 4), (6, 9), (12, 5), (20, 17), (2, 30), (29, 28)]


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("fraction", [0.1, 0.25, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_topk_mask_equals_the_sorting_mask(ties, fraction, seed):
    alpha, r, valid = _mask_inputs(SIZES, ties, seed)
    for dtype in (torch.float64, torch.float32):
        a, s = alpha.to(dtype), r.to(dtype)
        assert torch.equal(top_fraction_mask(a, s, valid, fraction), reference_mask(a, s, valid, fraction))


def test_topk_mask_keeps_k_per_pair_without_ties():
    alpha, r, valid = _mask_inputs(SIZES, ties=False, seed=3)
    kept = top_fraction_mask(alpha, r, valid, 0.1)
    assert kept.sum(1).tolist() == [top_fraction_count(a, b, 0.1) for a, b in SIZES]
    assert not (kept & ~valid.flatten(1)).any()


def test_topk_mask_keeps_every_edge_tied_with_the_kth():
    alpha = torch.full((1, 2, 5), 0.2, dtype=torch.float64)            # two atoms with one shared softmax row
    r = torch.tensor([[[1.0, 1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0, 0.0]]], dtype=torch.float64)
    valid = torch.ones_like(alpha, dtype=torch.bool)
    kept = top_fraction_mask(alpha, r, valid, 0.2).view(2, 5)            # k = 2, six edges share α and r
    assert kept.tolist() == [[True, True, True, False, False]] * 2


# -- the layer and the model ----------------------------------------------------------------------------------------
def _pairs(sizes, d, seed, ties=False):
    g = torch.Generator().manual_seed(seed)
    counts_a, counts_b = torch.tensor([n for n, _ in sizes]), torch.tensor([m for _, m in sizes])
    h_a = torch.randn(int(counts_a.sum()), d, generator=g, dtype=torch.float64)
    h_b = torch.randn(int(counts_b.sum()), d, generator=g, dtype=torch.float64)
    if ties:  # symmetry-equivalent atoms: repeated feature rows
        h_a, h_b = h_a.round(), h_b[torch.arange(len(h_b)) // 3 * 3]
    return h_a.requires_grad_(), Padding.from_counts(counts_a), h_b.requires_grad_(), Padding.from_counts(counts_b)


def _run(layer, forward, h_a, pad_a, h_b, pad_b):
    """Both directions' outputs and the gradients of a fixed function of them w.r.t. inputs and weights."""
    out = forward(layer, h_a, pad_a, h_b, pad_b)
    g = torch.Generator().manual_seed(7)
    loss = sum((d.h * torch.randn(d.h.shape, generator=g, dtype=d.h.dtype)).sum() + (d.relation ** 2).sum()
               for d in out)
    grads = torch.autograd.grad(loss, [h_a, h_b, *layer.parameters()])
    return [(d.h, d.relation, d.alpha, d.keep) for d in out], grads


RAGGED = [(int(n), int(m)) for n, m in np.random.default_rng(0).integers(1, 40, size=(70, 2))] + [(155, 20), (9, 208)]


@pytest.mark.parametrize("params", [{}, {"top_fraction": 0.3}, {"renormalize": True, "mix": [0.8, 0.2]}])
@pytest.mark.parametrize("ties", [False, True])
def test_grouped_layer_equals_one_padded_block(params, ties):
    torch.manual_seed(0)
    layer = CrossAttention(6, **params).double()
    h_a, pad_a, h_b, pad_b = _pairs(RAGGED, 6, seed=1, ties=ties)
    assert len(size_groups(pad_a, pad_b).sizes) == 3
    new, new_grads = _run(layer, CrossAttention.forward, h_a, pad_a, h_b, pad_b)
    old, old_grads = _run(layer, reference_forward, h_a, pad_a, h_b, pad_b)
    for got, want in zip(new, old):
        for x, y in zip(got, want):
            assert x.shape == y.shape and torch.allclose(x, y, rtol=1e-12, atol=1e-12)
        assert torch.equal(got[3], want[3])
    for x, y in zip(new_grads, old_grads):
        assert torch.allclose(x, y, rtol=1e-10, atol=1e-12)


def _double_batch(spec, seed=0):
    torch.manual_seed(seed)
    molecules = ["CCO", "O", "c1ccccc1", "CCCCCCCCO", "CC(=O)Oc1ccccc1C(=O)O", "CN1CCC[C@H]1c1cccnc1", "ClCCl",
                 "C[C@H](N)C(=O)O", "N#Cc1ccc(O)cc1", "CC(C)Cc1ccc(C(C)C(=O)O)cc1"]
    pairs = [(molecules[i % 10], molecules[(3 * i + 1) % 10]) for i in range(12)]
    batch = float64_batch(make_dataset(spec, pairs).batch(np.arange(len(pairs))))
    batch.y = (batch.y > batch.y.median()).double()
    return build_model(spec).double(), batch


@pytest.mark.parametrize("params", [{}, {"noise": "gaussian", "cross_layers": 2}])
def test_grouped_model_equals_one_padded_block(params, monkeypatch):
    """Training-mode loss terms, predictions, explanation and every gradient, with the gate's noise, the codebook's
    restarts and its moving averages the same on both sides (same seed, copies of one model)."""
    monkeypatch.setattr(buckets, "PAIRS_PER_GROUP", 3)
    spec = model_spec("i2mole", task="classification", pair_params=params)
    new_model, batch = _double_batch(spec)
    old_model = copy.deepcopy(new_model)
    results = []
    for model, patch in ((new_model, False), (old_model, True)):
        with monkeypatch.context() as m:
            if patch:
                m.setattr(CrossAttention, "forward", reference_forward)
            model.train()
            torch.manual_seed(3)
            loss, out = model_loss(model, batch, task_loss_fn("classification"))
            loss.backward()
        results.append((loss, out, {n: p.grad for n, p in model.named_parameters() if p.grad is not None}))
    (new_loss, new_out, new_grads), (old_loss, old_out, old_grads) = results
    assert torch.allclose(new_loss, old_loss, rtol=1e-12)
    assert torch.allclose(new_out.pred, old_out.pred, rtol=1e-12, atol=1e-12)
    for key in old_out.aux_losses:
        assert torch.allclose(new_out.aux_losses[key], old_out.aux_losses[key], rtol=1e-12, atol=1e-15)
    assert torch.equal(new_out.explain["kept_edges"], old_out.explain["kept_edges"])
    assert torch.allclose(new_out.explain["interaction_map"], old_out.explain["interaction_map"], atol=1e-12)
    assert new_grads.keys() == old_grads.keys()
    for name, grad in old_grads.items():
        assert torch.allclose(new_grads[name], grad, rtol=1e-9, atol=1e-12), name

