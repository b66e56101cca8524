"""Gather MPNN and late_fusion: conformance kit, and the edge-type-grouped conv equals the per-edge NNConv."""

import numpy as np
import pytest
import torch

from zoo_core.models import model_spec
from zoo_core.nn.edge_conv import EdgeConditionedConv, EdgeTypePlan
from zoo_core.testing import check_all, make_dataset, overfit_tiny_set


@pytest.mark.parametrize("explicit_h", [False, True])
def test_late_fusion_mpnn_conformance(explicit_h):
    check_all(model_spec("mpnn", task="regression", explicit_h=explicit_h))


def _naive_nnconv(conv, h, src, dst, e):
    """PyG NNConv by the book: a d x d matrix per edge."""
    theta = conv.edge_net(e).view(-1, conv.in_dim, conv.out_dim)
    messages = torch.bmm(h[src].unsqueeze(1), theta).squeeze(1)
    out = conv.root(h) if conv.root is not None else h.clone()
    out = out.index_add(0, dst, messages)
    return out + conv.bias


@pytest.mark.parametrize("root_weight", [True, False])
def test_grouped_conv_equals_per_edge_conv(root_weight):
    torch.manual_seed(0)
    spec = model_spec("mpnn", task="regression", explicit_h=True)
    data = make_dataset(spec)
    g = data.batch(np.arange(len(data))).g_a
    src, dst = g.edges()
    conv = EdgeConditionedConv(spec["featurizer"]["atom_dim"], spec["featurizer"]["atom_dim"],
                               spec["featurizer"]["bond_dim"], root_weight=root_weight).double()
    h = torch.randn(g.num_nodes(), conv.in_dim, dtype=torch.float64)
    e = g.edata["e"].double()
    for plan in (EdgeTypePlan.build(src, dst, e), EdgeTypePlan.build(src, dst, e, g.edata["etype"])):
        assert torch.allclose(conv(h, plan), _naive_nnconv(conv, h, src, dst, e), atol=1e-10)


def test_molecules_without_bonds_get_root_and_bias_only():
    conv = EdgeConditionedConv(4, 4, 3)
    h = torch.randn(2, 4)
    empty = torch.zeros(0, dtype=torch.long)
    out = conv(h, EdgeTypePlan.build(empty, empty, torch.zeros(0, 3)))
    assert torch.allclose(out, conv.root(h) + conv.bias)


def test_encoder_output_adds_raw_input_skip():
    spec = model_spec("mpnn", task="regression")
    data = make_dataset(spec)
    from zoo_core.models import build_model

    model = build_model(spec)
    g = data.batch(np.arange(2)).g_a
    with torch.no_grad():
        for p in model.enc_a.lin_msg.parameters():
            p.zero_()
        h = model.enc_a(g)
    assert torch.allclose(h, g.ndata["x"])  # with W_msg = 0 the encoder returns exactly its input


def test_tiny_set_is_overfit():
    start, end = overfit_tiny_set(model_spec("mpnn", task="regression"), lr=3e-3)
    assert end < 1e-2 < start
