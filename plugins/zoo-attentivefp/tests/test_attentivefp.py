"""AttentiveFP plugin: conformance kit, hand-checked attention, a naive reference implementation, tiny-set overfit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zoo_core.models import build_model, model_spec
from zoo_core.testing import check_all, make_dataset
from zoo_attentivefp.attentivefp import AttentiveFP, GATConv, GATEConv


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny graphs: intra-op threading only adds overhead (and stalls badly on a shared 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def spec():
    return model_spec("attentivefp")


@pytest.mark.parametrize("explicit_h", [False, True])
def test_conformance(explicit_h):
    check_all(model_spec("attentivefp", explicit_h=explicit_h))


def test_spec_builds_late_fusion_over_attentivefp(spec):
    model = build_model(spec)
    assert spec["pair_model"] == "late_fusion" and isinstance(model.enc_a, AttentiveFP)
    assert model.own_readout and model.pair_dim == 2 * 56
    assert [m.out_features for m in model.head if isinstance(m, torch.nn.Linear)] == [256, 128, 1]


# ---------------------------------------------------------------------------------------------- hand-checked cases

def test_gatconv_by_hand():
    """3 nodes, edges 0→2 and 1→2 and 0→1; node 0 has no incoming edge (out = bias, as in PyG)."""
    torch.manual_seed(0)
    conv = GATConv(4, 3)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(3, 4)
    src, dst = torch.tensor([0, 1, 0]), torch.tensor([2, 2, 1])
    out = conv(x, src, dst)
    w, a_s, a_d = conv.lin_src.weight, conv.att_src.view(-1), conv.att_dst.view(-1)
    wx = x @ w.t()
    s = [F.leaky_relu(a_s @ wx[j] + a_d @ wx[2], 0.01) for j in (0, 1)]
    alpha0 = torch.sigmoid(s[0] - s[1])                       # two-way softmax
    assert torch.allclose(out[2], alpha0 * wx[0] + (1 - alpha0) * wx[1] + conv.bias, atol=1e-6)
    assert torch.allclose(out[1], wx[0] + conv.bias, atol=1e-6)   # single neighbour: alpha = 1
    assert torch.allclose(out[0], conv.bias)


def test_gateconv_by_hand():
    torch.manual_seed(1)
    conv = GATEConv(4, 5, edge_dim=2)
    with torch.no_grad():
        conv.bias.normal_()
    x, e = torch.randn(3, 4), torch.randn(2, 2)
    src, dst = torch.tensor([0, 1]), torch.tensor([2, 2])
    out = conv(x, e, src, dst)
    u = [F.leaky_relu(conv.lin1(torch.cat([x[j], e[k]])), 0.01) for k, j in enumerate((0, 1))]
    s = [F.leaky_relu(conv.att_l.view(-1) @ u[k] + conv.att_r.view(-1) @ x[2], 0.01) for k in range(2)]
    alpha0 = torch.sigmoid(s[0] - s[1])
    want = conv.lin2(alpha0 * u[0] + (1 - alpha0) * u[1]) + conv.bias
    assert torch.allclose(out[2], want, atol=1e-6)
    assert torch.allclose(out[:2], conv.bias.expand(2, -1))


# ------------------------------------------------------------------------------- naive per-node reference model

def _naive_gat(conv, x_src, x_dst, src, dst):
    """PyG GATConv(heads=1, add_self_loops=False), one destination at a time, message through W on each edge."""
    w, a_s, a_d = conv.lin_src.weight, conv.att_src.view(-1), conv.att_dst.view(-1)
    rows = []
    for i in range(x_dst.shape[0]):
        inc = [k for k in range(len(src)) if int(dst[k]) == i]
        if not inc:
            rows.append(conv.bias)
            continue
        s = torch.stack([F.leaky_relu(a_s @ (w @ x_src[src[k]]) + a_d @ (w @ x_dst[i]), 0.01) for k in inc])
        alpha = torch.softmax(s, 0)
        rows.append(sum(alpha[t] * (w @ x_src[src[k]]) for t, k in enumerate(inc)) + conv.bias)
    return torch.stack(rows)


def _naive_gate(conv, x, e, src, dst):
    rows = []
    for i in range(x.shape[0]):
        inc = [k for k in range(len(src)) if int(dst[k]) == i]
        if not inc:
            rows.append(conv.bias)
            continue
        u = [F.leaky_relu(conv.lin1(torch.cat([x[src[k]], e[k]])), 0.01) for k in inc]
        s = torch.stack([F.leaky_relu(conv.att_l.view(-1) @ u[t] + conv.att_r.view(-1) @ x[i], 0.01)
                         for t in range(len(inc))])
        alpha = torch.softmax(s, 0)
        rows.append(sum(alpha[t] * conv.lin2(u[t]) for t in range(len(inc))) + conv.bias)
    return torch.stack(rows)


def _naive_attentivefp(enc, g):
    """The PyG AttentiveFP forward written out molecule by molecule and node by node."""
    src, dst = g.edges()
    x = F.leaky_relu(enc.lin1(g.ndata["x"]), 0.01)
    x = torch.relu(enc.atom_grus[0](F.elu(_naive_gate(enc.atom_convs[0], x, g.edata["e"], src, dst)), x))
    for conv, gru in zip(enc.atom_convs[1:], enc.atom_grus[1:]):
        x = torch.relu(gru(F.elu(_naive_gat(conv, x, x, src, dst)), x))
    mols, start = [], 0
    for n in g.batch_num_nodes().tolist():
        xm = x[start:start + n]
        start += n
        out = torch.relu(xm.sum(0, keepdim=True))
        for _ in range(enc.readout_steps):
            h = F.elu(_naive_gat(enc.mol_conv, xm, out, torch.arange(n), torch.zeros(n, dtype=torch.long)))
            out = torch.relu(enc.mol_gru(h, out))
        mols.append(enc.lin2(out))
    return x, torch.cat(mols)


def test_matches_naive_reference(spec):
    data = make_dataset(spec)
    g = data.batch(np.arange(len(data))).g_b           # includes water, a bond-free molecule
    torch.manual_seed(2)
    enc = AttentiveFP(spec["featurizer"]["atom_dim"], spec["featurizer"]["bond_dim"], hidden=16, layers=3,
                      readout_steps=2).double()
    with torch.no_grad():                              # non-zero biases so the no-neighbour path is exercised
        for m in enc.modules():
            if isinstance(m, (GATConv, GATEConv)):
                m.bias.normal_()
    g.ndata["x"], g.edata["e"] = g.ndata["x"].double(), g.edata["e"].double()
    enc.eval()
    with torch.no_grad():
        h = enc(g)
        mol = enc.readout(g, h)
        h_ref, mol_ref = _naive_attentivefp(enc, g)
    assert h.shape == (g.num_nodes(), 16) and mol.shape == (len(data), 16)
    assert torch.allclose(h, h_ref, atol=1e-10) and torch.allclose(mol, mol_ref, atol=1e-10)


def test_sparse_sums_equal_the_gather_formulation(spec, monkeypatch):
    """On the CPU the attention sums are CSR products over edges sorted by destination: values and gradients
    equal the gather / scatter-add formulation in the graph's own edge order (float64)."""
    import zoo_attentivefp.attentivefp as module
    from zoo_core.nn.csr import CSRPattern

    data = make_dataset(spec)
    g = data.batch(np.arange(len(data))).g_a
    g.ndata["x"], g.edata["e"] = g.ndata["x"].double(), g.edata["e"].double()
    torch.manual_seed(3)
    enc = AttentiveFP(spec["featurizer"]["atom_dim"], spec["featurizer"]["bond_dim"], hidden=16).double()

    def outputs_and_grads():
        h = enc(g)
        mol = enc.readout(g, h)
        grads = torch.autograd.grad(h.square().sum() + mol.square().sum(), list(enc.parameters()))
        return [h.detach(), mol.detach(), *grads]

    sparse = outputs_and_grads()
    monkeypatch.setattr(module.CSRPattern, "build", classmethod(
        lambda cls, rows, cols, n_rows, n_cols, sorted_rows=False: (CSRPattern.unsorted(rows, cols, n_rows, n_cols),
                                                                     None)))
    for got, want in zip(sparse, outputs_and_grads()):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_bondless_molecule_and_dropout():
    spec = model_spec("attentivefp", encoder_params={"dropout": 0.2})
    data = make_dataset(spec, pairs=[("[Na+]", "O"), ("O", "[Na+]")])
    torch.manual_seed(0)
    model = build_model(spec)
    model.train()
    out = model(data.batch(np.arange(2)))
    out.pred.sum().backward()
    assert torch.isfinite(out.pred).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_pyg_state_dict_alias_is_accepted():
    conv = GATConv(4, 4)
    state = {**conv.state_dict(), "lin_dst.weight": conv.lin_src.weight.clone()}
    conv.load_state_dict(state)                        # strict: the PyG alias key is dropped, nothing missing


# -------------------------------------------------------------------------------------------------- tiny overfit

def test_overfits_tiny_set(spec):
    data = make_dataset(spec)
    batch = data.batch(np.arange(len(data)))
    torch.manual_seed(0)
    model = build_model(spec)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(100):
        opt.zero_grad()
        loss = F.mse_loss(model(batch).pred, batch.y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    last = loss.item()
    assert last < 1e-3 < first, f"MSE {first:.3f} -> {last:.4f}"
