"""I2Mole (METHODS §9.3): conformance, f(a, b) = f(b, a), the top-x % mask, the mixing rule, the codebook, the
invariance loss, the ablation flags and the explanation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo_core.models import build_model, model_spec
from zoo_core.nn.interaction import Padding
from zoo_core.testing import (PAIRS, check_all, check_batch_equals_single, check_forward, make_dataset,
                              train_steps)
from zoo_core.train.trainer import model_loss, task_loss_fn
from zoo_i2mole.codebook import Codebook
from zoo_i2mole.cross_attention import CrossAttention
from zoo_i2mole.invariance import invariance_loss
from zoo_i2mole.top_fraction import top_fraction_count

SWAPPED = [(b, a) for a, b in PAIRS]


def spec(task="classification", **params):
    return model_spec("i2mole", task=task, pair_params=params)


def model_and_batch(s, pairs=PAIRS, seed=0):
    torch.manual_seed(seed)
    data = make_dataset(s, pairs)
    if s["task"] == "classification":
        data.y = (data.y > 0).astype(np.float32) if isinstance(data.y, np.ndarray) else (data.y > 0).float()
    return build_model(s), data.batch(np.arange(len(data)))


def test_conformance():
    check_all(model_spec("i2mole", task="regression", explicit_h=True))


@pytest.mark.parametrize("params", [{"vq": False}, {"cross": False}, {"gib": False}, {"noise": "gaussian"},
                                    {"renormalize": True, "mix": [0.8, 0.2]}, {"kl_form": "graph"}])
def test_ablations_and_flags_pass_the_batch_checks(params):
    s = model_spec("i2mole", task="regression", pair_params=params)
    check_forward(s)
    check_batch_equals_single(s)


@pytest.mark.parametrize("params", [{}, {"vq": False}, {"noise": "gaussian"}, {"cross_layers": 2}])
def test_symmetric_by_construction(params):
    s = spec(**params)
    model, batch = model_and_batch(s)
    swapped = make_dataset(s, SWAPPED).batch(np.arange(len(PAIRS)))
    model.eval()
    with torch.no_grad():
        a, b = model(batch).pred, model(swapped).pred
    assert torch.allclose(a, b, atol=1e-5), f"f(a,b) - f(b,a) = {(a - b).abs().max():.2e}"


def _random_pairs(sizes, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    counts_a = torch.tensor([n for n, _ in sizes])
    counts_b = torch.tensor([m for _, m in sizes])
    return (torch.randn(int(counts_a.sum()), d, generator=g), Padding.from_counts(counts_a),
            torch.randn(int(counts_b.sum()), d, generator=g), Padding.from_counts(counts_b))


def _alpha(layer, ha, hb):
    """The layer's post-softmax attention of ha's atoms over hb's, written out by hand."""
    w_self, w_partner = layer.score.weight.view(2, -1)
    r = torch.nn.functional.leaky_relu((layer.proj(ha) @ w_self + layer.score.bias)[:, None]
                                       + (layer.proj(hb) @ w_partner)[None, :], 0.2)
    return torch.softmax(r, dim=1)


def _is_top_k(alpha: torch.Tensor, keep: torch.Tensor, k: int) -> bool:
    """k entries kept, and no dropped α above a kept one (beyond float ties)."""
    kept, dropped = alpha[keep], alpha[~keep]
    return int(keep.sum()) == k and (dropped.numel() == 0 or bool(dropped.max() <= kept.min() * (1 + 1e-5)))


def test_top_fraction_keeps_the_expected_number_of_cross_edges_per_pair():
    """k = max(1, ⌈0.1 n_a n_b⌉) per pair and direction, the k largest post-softmax α."""
    torch.manual_seed(0)
    sizes = [(1, 1), (3, 4), (6, 9), (12, 5), (20, 17)]
    h_a, pad_a, h_b, pad_b = _random_pairs(sizes)
    layer = CrossAttention(8, top_fraction=0.1)
    a_to_b, b_to_a = layer(h_a, pad_a, h_b, pad_b)
    expected = [top_fraction_count(n, m, 0.1) for n, m in sizes]
    assert expected == [1, 2, 6, 6, 34]
    for direction, (x, px, y, py) in ((a_to_b, (h_a, pad_a, h_b, pad_b)), (b_to_a, (h_b, pad_b, h_a, pad_a))):
        assert direction.keep.flatten(1).sum(1).tolist() == expected
        for b, k in enumerate(expected):
            n, m = int(px.counts[b]), int(py.counts[b])
            with torch.no_grad():
                alpha = _alpha(layer, x[px.ids == b], y[py.ids == b])
            assert _is_top_k(alpha, direction.keep[b, :n, :m], k)
            assert not direction.keep[b, n:].any() and not direction.keep[b, :, m:].any()  # nothing in the padding


def test_ties_in_attention_are_broken_by_the_raw_score():
    """Static attention: rows with all-positive scores share one softmax; the k kept edges go to the larger r."""
    layer = CrossAttention(2, top_fraction=0.25)
    with torch.no_grad():
        layer.proj.weight.copy_(torch.eye(2))
        layer.score.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 1.0]]))  # r_ij = LeakyReLU(h_i[0] + h_j[1])
        layer.score.bias.zero_()
    h_a = torch.tensor([[1.0, 0.0], [2.0, 0.0]])          # both rows positive: identical α rows
    h_b = torch.tensor([[0.0, 1.0], [0.0, 3.0]])
    out = layer(h_a, Padding.from_counts(torch.tensor([2])), h_b, Padding.from_counts(torch.tensor([2])))[0]
    assert out.keep[0].tolist() == [[False, False], [False, True]]  # α ties at column 1; atom 1 has the larger r


def test_mask_ranks_the_post_softmax_attention_and_mixes_as_the_paper():
    torch.manual_seed(1)
    sizes = [(5, 7), (4, 3)]
    h_a, pad_a, h_b, pad_b = _random_pairs(sizes, seed=1)
    layer = CrossAttention(8, top_fraction=0.2)
    out = layer(h_a, pad_a, h_b, pad_b)[0]
    starts_a, starts_b = [0, 5], [0, 7]
    for b, (n, m) in enumerate(sizes):
        ha, hb = h_a[starts_a[b]:starts_a[b] + n], h_b[starts_b[b]:starts_b[b] + m]
        alpha = _alpha(layer, ha, hb)
        keep = out.keep[b, :n, :m]
        assert _is_top_k(alpha, keep, math.ceil(0.2 * n * m))  # post-softmax α ranked, not the raw scores r
        kept = alpha * keep
        mixed = (1 - kept.sum(1, keepdim=True)) * ha + kept @ hb
        assert torch.allclose(out.h[starts_a[b]:starts_a[b] + n], mixed, atol=1e-5)
        assert torch.allclose(out.alpha[b, :n, :m], kept, atol=1e-6)


def test_renormalize_and_snapshot_mix():
    h_a, pad_a, h_b, pad_b = _random_pairs([(5, 7)], seed=2)
    torch.manual_seed(0)
    layer = CrossAttention(8, top_fraction=0.2, renormalize=True, mix=[0.8, 0.2])
    out = layer(h_a, pad_a, h_b, pad_b)[0]
    rows = out.alpha[0].sum(1)
    assert torch.allclose(rows[out.keep[0].any(1)], torch.ones(int(out.keep[0].any(1).sum())))
    assert torch.allclose(out.h, 0.8 * h_a + 0.2 * out.alpha[0] @ h_b, atol=1e-6)


def test_mask_gradient_flows_through_kept_attention_only():
    h_a, pad_a, h_b, pad_b = _random_pairs([(4, 6)], seed=3)
    h_b.requires_grad_(True)
    out = CrossAttention(8, top_fraction=0.1)(h_a, pad_a, h_b, pad_b)[0]
    out.h.sum().backward()
    kept_partners = out.keep[0].any(0)
    assert (h_b.grad[~kept_partners].abs().sum(1) > 0).all()  # through the softmax of kept edges
    assert h_b.grad.abs().sum() > 0


def test_codebook_straight_through_and_loss():
    torch.manual_seed(0)
    book = Codebook(4, 3, commitment=0.25, restart=False, update="loss")
    s = torch.randn(6, 3, requires_grad=True)
    out = book(s)
    code = book.codes[out.index]
    assert torch.allclose(out.q, code)
    expected = ((code - s) ** 2).mean() * 1.25
    assert torch.allclose(out.loss, expected)
    out.q.sum().backward()
    assert torch.allclose(s.grad, torch.ones_like(s))  # straight-through


def test_codebook_ema_update_moves_assigned_codes_toward_their_readouts():
    torch.manual_seed(0)
    book = Codebook(4, 3, restart=False)
    assert not book.codes.requires_grad  # the default: codes learnt by moving averages, not by γ L_vq
    before = book.codes.detach().clone()
    s = torch.randn(6, 3)
    index = book(s).index
    for m in range(4):
        rows = index == m
        want = before[m] if not rows.any() else 0.8 * before[m] + 0.2 * s[rows].mean(0)
        assert torch.allclose(book.codes[m], want, atol=1e-6)
    book.eval()
    frozen = book.codes.detach().clone()
    book(torch.randn(6, 3))
    assert torch.equal(book.codes, frozen)


def test_invariance_loss_is_mean_plus_variance():
    assert float(invariance_loss(torch.tensor([1.0, 3.0]))) == pytest.approx(2.0 + 1.0)


def test_at_least_two_codes_in_use_after_a_few_training_steps():
    s = spec()
    model, batch = model_and_batch(s)
    train_steps(model, batch, task_loss_fn("classification"), torch.optim.Adam(model.parameters(), lr=1e-3), 5)
    with torch.no_grad():
        used = model(batch).explain["environment"].unique().numel()
    assert used >= 2, f"{used} code in use"


@pytest.mark.parametrize("params,keys", [({}, {"inv", "mi", "vq"}), ({"vq": False}, {"mi"}),
                                         ({"gib": False}, {"inv", "vq"}), ({"cross": False}, {"inv", "mi", "vq"})])
def test_ablation_flags_change_the_loss_terms(params, keys):
    s = spec(**params)
    model, batch = model_and_batch(s)
    model.train()
    loss_fn = task_loss_fn("classification")
    loss, out = model_loss(model, batch, loss_fn)
    assert set(out.aux_losses) == keys
    assert torch.allclose(loss, loss_fn(out.pred, batch.y) + sum(out.aux_losses.values()))
    if params.get("cross") is False:
        assert not out.explain["kept_edges"].any() and not model.cross_layers
    if params.get("gib") is False:
        assert not any("rationale" in n for n, p in model.named_parameters() if p.grad is not None)


def test_loss_weights_scale_their_terms():
    terms = []
    for beta, gamma in ((1e-4, 1e-4), (3e-4, 2e-4)):
        model, batch = model_and_batch(spec(beta=beta, gamma=gamma))
        model.train()
        torch.manual_seed(5)
        aux = model_loss(model, batch, task_loss_fn("classification"))[1].aux_losses
        terms.append({k: v.detach() for k, v in aux.items()})
    assert float(terms[1]["mi"] / terms[0]["mi"]) == pytest.approx(3.0, rel=1e-4)
    assert float(terms[1]["vq"] / terms[0]["vq"]) == pytest.approx(2.0, rel=1e-4)


def test_nan_labels_are_masked():
    model, batch = model_and_batch(spec())
    batch.y[0] = float("nan")
    model.train()
    loss, _ = model_loss(model, batch, task_loss_fn("classification"))
    assert torch.isfinite(loss)


def test_explain_shows_rationale_and_kept_edges():
    from zoo_core.explain import explain_pair

    s = spec()
    torch.manual_seed(0)
    model = build_model(s)
    result = explain_pair(model, s, "CC(=O)Oc1ccccc1C(=O)O", "CN1CCC[C@H]1c1cccnc1")
    n_a, n_b = len(result["atoms_a"]), len(result["atoms_b"])
    assert result["importance_a"] == "rationale keep probability p_i"
    assert all(0 < p < 1 for p in result["atom_importance_a"] + result["atom_importance_b"])
    kept, k = result["kept_edges"], top_fraction_count(n_a, n_b, 0.1)
    assert k <= len(kept) <= 2 * k  # the union of the two directions' k edges
    imap = np.asarray(result["interaction_map"])
    assert all(imap[i, j] > 0 for i, j in kept) and (imap > 0).sum() == len(kept)


def test_bad_parameters_are_refused():
    for params in ({"noise": "uniform"}, {"kl_form": "pooled"}, {"top_fraction": 0.0}, {"mix": [1.0]}):
        with pytest.raises(Exception):
            build_model(spec(**params))
