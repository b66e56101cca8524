"""zoo-cigin: conformance, the shared per-pair interaction block, no leakage across pairs, overfitting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo_core.errors import ZooError
from zoo_core.models import build_model, model_spec
from zoo_core.nn.interaction import Padding, interaction_maps, pair_interaction
from zoo_core.nn.mlp import l2_normalize
from zoo_core.nn.segment import segment_ids
from zoo_core.plugins import get_catalog
from zoo_core.testing import PAIRS, build, check_all, check_no_leakage_across_pairs, make_dataset, overfit_tiny_set

PAIR_SET = [("CCO", "O"), ("c1ccccc1O", "CCCCO"), ("CC(=O)[O-]", "CS(C)=O"), ("N#Cc1ccc(O)cc1", "C1CCOC1")]


def _has(kind: str, name: str) -> bool:
    return name in get_catalog().implementations[kind]


# -- conformance kit ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["cigin", "cigin-original"])
def test_conformance(name):
    check_all(model_spec(name))


def test_conformance_explicit_h():
    check_all(model_spec("cigin", explicit_h=True))


@pytest.mark.skipif(not _has("encoders", "attentivefp"), reason="zoo-attentivefp is not installed")
def test_conformance_over_attentivefp():
    spec = model_spec("attentivefp", pair_model="cigin")
    assert spec["encoder"] == "attentivefp" and spec["pair_model"] == "cigin"
    check_all(spec)


def test_variants_and_widths():
    spec = model_spec("cigin-original")
    assert spec["encoder"] == "mpnn-cigin" and spec["featurizer"]["name"] == "cigin42"
    assert spec["encoder_params"] == {"steps": 6, "root_weight": False}
    model = build(spec)
    assert model.kind == "tanh" and model.map_penalty == pytest.approx(1e-4)
    assert model.head[0].in_features == 8 * 42 and model.projector.out_features == 64
    default = build(model_spec("cigin"))
    assert default.kind == "cosine" and default.map_penalty == 0.0
    assert default.head[0].in_features == 8 * 56
    with pytest.raises(ZooError, match="unknown CIGIN variant .nope."):
        build_model({**model_spec("cigin"), "pair_params": {"variant": "nope"}})


def test_outputs_and_penalty():
    for name, has_penalty in (("cigin", False), ("cigin-original", True)):
        spec = model_spec(name)
        model, data = build(spec), make_dataset(spec, PAIR_SET)
        batch = data.batch(np.arange(len(data)))
        out = model(batch)
        n1, n2 = batch.g_a.num_nodes(), batch.g_b.num_nodes()
        d = model.enc_a.out_dim
        assert out.h_a.shape == (n1, 2 * d) and out.h_b.shape == (n2, 2 * d)
        assert out.pair_emb.shape == (len(data), 8 * d)
        assert ("map_penalty" in out.aux_losses) == has_penalty
        ex = out.explain
        maps = interaction_maps(ex["interaction_map"], ex["counts_a"], ex["counts_b"])
        assert [tuple(m.shape) for m in maps] == list(zip(batch.g_a.batch_num_nodes().tolist(),
                                                          batch.g_b.batch_num_nodes().tolist()))
        assert ex["atom_importance_a"].shape == (n1,) and ex["atom_importance_b"].shape == (n2,)
        assert torch.allclose(ex["atom_importance_a"][:maps[0].shape[0]], maps[0].abs().sum(1))
        assert float(ex["interaction_map"].abs().max()) <= 1.0 + 1e-6   # cosine and tanh are both within [-1, 1]


# -- the interaction block against a dense-mask reference ----------------------------------------------------

def _dense_reference(h_a, counts_a, h_b, counts_b, kind, scaled):
    """The originals' formulation: one [ΣN1 x ΣN2] batch matrix times the block mask M = L1ᵀ L2."""
    ids_a, ids_b = segment_ids(counts_a), segment_ids(counts_b)
    mask = (ids_a[:, None] == ids_b[None, :]).to(h_a.dtype)
    if kind == "cosine":
        h_a, h_b = l2_normalize(h_a), l2_normalize(h_b)
    s = h_a @ h_b.t()
    if scaled:
        s = s / math.sqrt(h_a.shape[1])
    i = (s if kind == "cosine" else torch.tanh(s)) * mask
    return (torch.cat([h_a, i @ h_b], 1), torch.cat([h_b, i.t() @ h_a], 1), i, torch.norm(s * mask))


@pytest.mark.parametrize("kind,scaled", [("cosine", False), ("tanh", False), ("tanh", True)])
def test_interaction_equals_dense_mask_reference(kind, scaled):
    gen = torch.Generator().manual_seed(0)
    counts_a = torch.tensor([3, 1, 7, 2, 5])
    counts_b = torch.tensor([4, 6, 1, 1, 2])
    d = 8
    h_a = torch.randn(int(counts_a.sum()), d, generator=gen, dtype=torch.float64, requires_grad=True)
    h_b = torch.randn(int(counts_b.sum()), d, generator=gen, dtype=torch.float64, requires_grad=True)
    res = pair_interaction(h_a, counts_a, h_b, counts_b, kind=kind, scaled=scaled)
    ref_a, ref_b, ref_i, ref_pen = _dense_reference(h_a, counts_a, h_b, counts_b, kind, scaled)
    # memory: padded [B, n1max, n2max], never the [ΣN1, ΣN2] batch matrix
    assert res.imap.shape == (5, 7, 6) and res.scores.shape == (5, 7, 6)
    assert torch.allclose(res.h_a, ref_a) and torch.allclose(res.h_b, ref_b)
    assert torch.allclose(res.penalty(), ref_pen)
    ids_a, ids_b = segment_ids(counts_a), segment_ids(counts_b)
    for b, m in enumerate(res.maps()):
        assert torch.allclose(m, ref_i[ids_a == b][:, ids_b == b])
    outside = ~(res.pad_a.mask()[:, :, None] & res.pad_b.mask()[:, None, :])
    assert (res.imap[outside] == 0).all()
    imp_a, imp_b = res.atom_importance()
    assert torch.allclose(imp_a, ref_i.abs().sum(1)) and torch.allclose(imp_b, ref_i.abs().sum(0))
    # gradients equal too
    w_a, w_b = torch.randn_like(ref_a), torch.randn_like(ref_b)
    g_ours = torch.autograd.grad((res.h_a * w_a).sum() + (res.h_b * w_b).sum(), (h_a, h_b))
    g_ref = torch.autograd.grad((ref_a * w_a).sum() + (ref_b * w_b).sum(), (h_a, h_b))
    assert all(torch.allclose(x, y) for x, y in zip(g_ours, g_ref))


def test_padding_round_trip():
    counts = torch.tensor([2, 5, 1])
    x = torch.arange(16.0).view(8, 2)
    pad = Padding.from_counts(counts)
    padded = pad.pad(x)
    assert padded.shape == (3, 5, 2) and torch.equal(pad.unpad(padded), x)
    assert torch.equal(padded[0, 2:], torch.zeros(3, 2)) and torch.equal(padded[2, 0], x[7])


# -- no leakage across pairs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["cigin", "cigin-original"])
def test_no_leakage_across_pairs(name):
    check_no_leakage_across_pairs(model_spec(name))


# -- a tiny set is overfit -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["cigin", "cigin-original"])
def test_overfits_tiny_set(name):
    start, end = overfit_tiny_set(model_spec(name), PAIRS)
    assert end < 0.01 and end < 0.05 * start, (start, end)
