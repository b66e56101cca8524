"""zoo-cgib: conformance, bottleneck pieces (gate, KL, std, InfoNCE), training loss, leakage, overfitting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo_core.models import build_model, model_spec
from zoo_core.nn.contrastive import info_nce
from zoo_core.nn.gate import ConcreteGate, relaxed_bernoulli_gate
from zoo_core.nn.segment import segment_ids, segment_std
from zoo_core.testing import PAIRS, build, check_all, check_no_leakage_across_pairs, make_dataset, overfit_tiny_set
from zoo_core.nn.bottleneck import gaussian_kl, graph_kl, inject_noise, legacy_kl

PAIR_SET = [("CCO", "O"), ("c1ccccc1O", "CCCCO"), ("CC(=O)[O-]", "CS(C)=O"), ("N#Cc1ccc(O)cc1", "C1CCOC1")]
MSE = torch.nn.functional.mse_loss


@pytest.mark.parametrize("name", ["cgib", "cgib_cont"])
def test_conformance(name):
    check_all(model_spec(name))


def test_legacy_conformance():
    check_all(model_spec("cgib", pair_params={"legacy": True}))


# -- shared blocks -------------------------------------------------------------------------------------------

def test_gate_responds_to_its_logits():
    torch.manual_seed(0)
    logits = torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0]).repeat(4000, 1)
    lam = relaxed_bernoulli_gate(logits)
    means = lam.mean(0)
    assert ((lam > 0) & (lam < 1)).all()
    assert (means[1:] > means[:-1]).all(), means
    assert abs(float(means[2]) - 0.5) < 0.02          # symmetric logistic noise: E[λ | p = 0] = 1/2
    assert float(means[4]) > 0.85 and float(means[0]) < 0.15
    gate = ConcreteGate().eval()
    assert torch.allclose(gate(torch.zeros(3)), torch.full((3,), 0.5))


def test_segment_std_is_unbiased_and_zero_for_one_atom():
    x = torch.randn(6, 4, dtype=torch.float64)
    counts = torch.tensor([1, 3, 2])
    std = segment_std(x, segment_ids(counts), counts)
    assert torch.equal(std[0], torch.zeros(4, dtype=torch.float64))
    assert torch.allclose(std[1], x[1:4].std(0, unbiased=True)) and torch.allclose(std[2], x[4:].std(0))


def test_paper_kl_is_nonnegative_on_random_inputs():
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        counts = torch.randint(1, 6, (5,), generator=gen)
        ids = segment_ids(counts)
        n, d = int(counts.sum()), 7
        mu = torch.randn(n, d, generator=gen)
        sd = torch.rand(n, d, generator=gen) * 2
        lam = torch.rand(n, 1, generator=gen)
        h = torch.randn(n, d, generator=gen)
        kl = gaussian_kl(lam * (h - mu), (1 - lam) * sd, sd, ids, len(counts))
        assert torch.isfinite(kl) and kl >= 0
        # arbitrary (not bottleneck-shaped) Gaussians too
        kl2 = gaussian_kl(torch.randn(n, d, generator=gen), torch.rand(n, d, generator=gen), sd, ids, len(counts))
        assert kl2 >= 0
    # equal distributions: KL = 0
    assert gaussian_kl(mu * 0, sd, sd, ids, len(counts)).abs() < 1e-5


def test_graph_kl_is_the_kl_of_the_sum_pooled_subgraph():
    """The paper's bound equals KL(N(Σλh + Σ(1−λ)μ, Aσ²) ‖ N(nμ, nσ²)) per dimension, computed independently."""
    gen = torch.Generator().manual_seed(0)
    counts = torch.tensor([3, 5, 1])
    ids = segment_ids(counts)
    n, d = int(counts.sum()), 4
    h = torch.randn(n, d, generator=gen, dtype=torch.float64)
    lam = torch.rand(n, 1, generator=gen, dtype=torch.float64)
    mu = torch.stack([h[ids == b].mean(0) for b in range(3)])
    sd = segment_std(h, ids, counts)
    got = graph_kl(lam, lam * (h - mu[ids]), sd[ids], ids, counts, eps=1e-12)
    ref = []
    for b, m in enumerate(counts.tolist()):
        rows, s = ids == b, sd[b].clamp(min=1e-12)
        mean = (lam[rows] * h[rows] + (1 - lam[rows]) * mu[b]).sum(0)
        var = ((1 - lam[rows]) ** 2).sum() * s ** 2
        p_ = torch.distributions.Normal(mean, var.sqrt())
        q_ = torch.distributions.Normal(m * mu[b], (m * s ** 2).sqrt())
        ref.append(torch.distributions.kl_divergence(p_, q_).mean())
    torch.testing.assert_close(got, torch.stack(ref).mean(), rtol=1e-6, atol=1e-9)


def test_graph_kl_is_nonnegative_and_prices_the_kept_fraction():
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        counts = torch.randint(1, 8, (6,), generator=gen)
        ids = segment_ids(counts)
        h = torch.randn(int(counts.sum()), 5, generator=gen)
        lam = torch.rand(len(h), 1, generator=gen)
        sd = segment_std(h, ids, counts)[ids]
        mu = h.new_zeros(len(counts), 5).index_add(0, ids, h)[ids] / counts[ids].view(-1, 1)
        assert graph_kl(lam, lam * (h - mu), sd, ids, counts) >= 0
    # one graph of 10 atoms: every atom noise -> 0; keeping k atoms (λ = 1) costs ½(-log(1 - k/10) - k/10) per
    # dimension when the kept atoms leave the mean unchanged (B = 0); the per-atom KL charges each of them ~16 nats
    ids, counts = torch.zeros(10, dtype=torch.long), torch.tensor([10])
    zero, sd = torch.zeros(10, 3), torch.ones(10, 3)
    assert float(graph_kl(torch.zeros(10, 1), zero, sd, ids, counts)) < 1e-6
    lam = torch.tensor([1.0] * 5 + [0.0] * 5).view(-1, 1)
    torch.testing.assert_close(graph_kl(lam, zero, sd, ids, counts), torch.tensor(0.5 * (-np.log(0.5) - 0.5)),
                               rtol=1e-5, atol=0.0, check_dtype=False)
    assert float(gaussian_kl(zero, (1 - lam) * sd, sd, ids, 1)) > 30.0


def test_bottleneck_on_one_atom_molecules_is_finite():
    torch.manual_seed(0)
    counts = torch.tensor([1, 4, 1])
    ids = segment_ids(counts)
    h = torch.randn(6, 8, requires_grad=True)
    logits = torch.randn(6, requires_grad=True)
    for legacy, form in ((False, "graph"), (False, "node"), (True, "graph")):
        out = inject_noise(h, logits, ids, counts, legacy=legacy, kl_form=form)
        assert torch.isfinite(out.z).all() and torch.isfinite(out.kl)
        assert torch.allclose(out.z[0], h[0]) and torch.allclose(out.z[5], h[5])  # σ_G = 0: no noise, z = h
        grads = torch.autograd.grad(out.kl + out.z.sum(), (h, logits))
        assert all(torch.isfinite(g).all() for g in grads)
    # a single one-atom molecule contributes exactly 0 to the per-atom KL
    one = inject_noise(h[:1], logits[:1], ids[:1], counts[:1], kl_form="node")
    assert float(one.kl.detach()) == 0.0
    assert torch.isfinite(legacy_kl(h * 0, h, h * 0, ids, 3))


def test_info_nce_excludes_the_positive():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 6, generator=gen), torch.randn(5, 6, generator=gen)
    for tau in (1.0, 0.2):
        cos = torch.nn.functional.cosine_similarity(a[:, None], b[None], dim=-1)
        s = torch.exp(cos / tau)
        pos = s.diagonal()
        ref = -torch.log(pos / (s.sum(1) - pos)).mean()
        assert torch.allclose(info_nce(a, b, tau), ref, atol=1e-5)
        std = -torch.log(pos / s.sum(1)).mean()
        assert torch.allclose(info_nce(a, b, tau, exclude_positive=False), std, atol=1e-5)
    assert float(info_nce(a[:1], b[:1])) == 0.0


# -- the model -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,params", [("cgib", {}), ("cgib_cont", {}), ("cgib", {"legacy": True}),
                                         ("cgib", {"kl_form": "node"}), ("cgib_cont", {"separate_passes": True})])
def test_training_loss_terms(name, params):
    spec = model_spec(name, pair_params=params)
    torch.manual_seed(0)
    model = build_model(spec).train()
    data = make_dataset(spec, PAIR_SET)
    batch = data.batch(np.arange(len(data)))
    loss, out = model.training_loss(batch, MSE)
    assert set(out.aux_losses) == {"task_ib", "kl", "cond"}
    assert torch.allclose(loss, MSE(out.pred, batch.y) + sum(out.aux_losses.values()))
    assert out.aux_losses["kl"] >= 0 or params.get("legacy")
    n1 = batch.g_a.num_nodes()
    ex = out.explain
    assert ex["atom_importance_a"].shape == (n1,) and ex["gate"].shape == (n1,)
    assert ((ex["atom_importance_a"] > 0) & (ex["atom_importance_a"] < 1)).all()
    loss.backward()
    assert model.compressor[0].weight.grad.abs().sum() > 0          # the gate is trained
    assert model.enc_a.lin0.weight.grad.abs().sum() > 0
    if name == "cgib":
        assert model.solvent_predictor.weight.grad.abs().sum() > 0
    else:
        assert not hasattr(model, "solvent_predictor") and model.tau == 1.0


def test_training_with_a_single_one_atom_solute():
    spec = model_spec("cgib")
    model = build(spec).train()
    data = make_dataset(spec, [("[Na+]", "O")])
    loss, _ = model.training_loss(data.batch(np.arange(1)), MSE)
    assert torch.isfinite(loss)


def test_inference_uses_the_full_path_and_explains_with_the_gate():
    spec = model_spec("cgib")
    model = build(spec)
    data = make_dataset(spec, PAIR_SET)
    batch = data.batch(np.arange(len(data)))
    with torch.no_grad():
        p1, p2 = model(batch), model(batch)
    assert torch.equal(p1.pred, p2.pred)                             # deterministic: no gate sample
    imp = p1.explain["atom_importance_a"]
    with torch.no_grad():
        ref = torch.sigmoid(model.keep_logits(p1.h_a))
    assert torch.allclose(imp, ref) and "map_importance_a" in p1.explain


@pytest.mark.parametrize("name", ["cgib", "cgib_cont"])
def test_no_leakage_across_pairs(name):
    check_no_leakage_across_pairs(model_spec(name))


@pytest.mark.parametrize("name", ["cgib", "cgib_cont"])
def test_overfits_tiny_set(name):
    start, end = overfit_tiny_set(model_spec(name), PAIRS)
    # β·KL and β·L_cond compete with the fit on 7 pairs: ~3e-4 to 0.025 over seeds, from ~0.45
    assert end < 0.05 and end < 0.15 * start, (start, end)


@pytest.mark.parametrize("legacy", [False, True])
def test_kl_sd_floor_bounds_the_gradient_of_a_near_constant_dimension(legacy):
    """A dimension that is almost constant over a molecule (σ_G ~ 1e-6) gives the unfloored KL a gradient
    ∝ 1/σ_G; ``sd_floor`` keeps it O(1/floor) and leaves the KL unchanged where σ_G is above the floor."""
    g = torch.Generator().manual_seed(0)
    h = torch.randn(6, 4, generator=g, dtype=torch.float64)
    h[:, 0] = 0.3 + 1e-6 * torch.randn(6, generator=g, dtype=torch.float64)
    ids, counts = torch.zeros(6, dtype=torch.long), torch.tensor([6])
    logits = torch.full((6,), 2.0, dtype=torch.float64)
    grads = {}
    for floor in (0.0, 1e-2):
        x = h.clone().requires_grad_(True)
        torch.manual_seed(1)
        out = inject_noise(x, logits, ids, counts, legacy=legacy, sd_floor=floor)
        out.kl.backward()
        grads[floor] = x.grad[:, 0].abs().max().item()
    assert grads[0.0] > 1e4 and grads[1e-2] < 1e3
    x = h[:, 1:].clone()
    torch.manual_seed(1)
    plain = inject_noise(x, logits, ids, counts, legacy=legacy).kl
    torch.manual_seed(1)
    floored = inject_noise(x, logits, ids, counts, legacy=legacy, sd_floor=1e-2).kl
    torch.testing.assert_close(plain, floored)


def test_explain_warns_when_the_gate_keeps_no_atom(tmp_path):
    from zoo_core.explain import draw_explanation, explain_pair, gate_keeps_no_atom

    spec = model_spec("cgib")
    model = build(spec)
    for bias, warned in ((-12.0, True), (12.0, False)):
        with torch.no_grad():
            model.compressor[-1].bias.fill_(bias)   # σ(p) ≈ 0 (collapsed gate) or ≈ 1 for every atom
        result = explain_pair(model, spec, "CCO", "c1ccccc1")
        assert result["importance_a"] == "gate keep probability sigmoid(p)"
        assert bool(result["warnings"]) == warned and (not warned or "keeps no atom" in result["warnings"][0])
        assert gate_keeps_no_atom(result) == warned
        assert draw_explanation(result, tmp_path / f"{bias}.png").stat().st_size > 0


def test_explain_colours_by_the_map_on_request():
    """--colour-by map: a CGIB's solute colours are the interaction map's row sums (as CIGIN's), not its gate."""
    from zoo_core.errors import ZooError
    from zoo_core.explain import explain_pair

    spec = model_spec("cgib")
    model = build(spec)
    with torch.no_grad():
        model.compressor[-1].bias.fill_(-12.0)   # a collapsed gate
    gate = explain_pair(model, spec, "CCO", "c1ccccc1")
    by_map = explain_pair(model, spec, "CCO", "c1ccccc1", colour_by="map")
    assert by_map["importance_a"] == "row sums of |I|" and not by_map["warnings"]
    rows = torch.tensor(by_map["interaction_map"]).abs().sum(dim=1)
    torch.testing.assert_close(torch.tensor(by_map["atom_importance_a"]), rows)
    assert max(gate["atom_importance_a"]) < 0.5 < max(by_map["atom_importance_a"])
    assert by_map["interaction_map"] == gate["interaction_map"] and by_map["prediction"] == gate["prediction"]
    with pytest.raises(ZooError, match="colour_by"):
        explain_pair(model, spec, "CCO", "c1ccccc1", colour_by="gate-ish")


def test_zoo_explain_on_a_cgib_run_warns_and_colours_by_the_map_on_request(tmp_path):
    """`zoo explain --run`: the collapsed-gate warning names --colour-by map, which then colours A by the map."""
    import json

    from typer.testing import CliRunner

    from zoo_cli.main import app
    from zoo_core.weights import save_model

    spec = model_spec("cgib")
    model = build(spec)
    with torch.no_grad():
        model.compressor[-1].bias.fill_(-12.0)
    save_model(tmp_path / "run" / "model.safetensors", model, spec)
    runner = CliRunner()
    base = ["explain", "--run", str(tmp_path / "run"), "--solute", "CCO", "--solvent", "c1ccccc1", "--json"]
    r = runner.invoke(app, base)
    assert r.exit_code == 0, r.output
    assert "keeps no atom" in r.stderr and "--colour-by map" in r.stderr
    r = runner.invoke(app, base + ["--colour-by", "map", "--output", str(tmp_path / "map.png")])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["importance_a"] == "row sums of |I|" and not r.stderr
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = runner.invoke(app, base + ["--colour-by", "nonsense"])
    assert r.exit_code == 1 and "colour_by" in r.stderr
