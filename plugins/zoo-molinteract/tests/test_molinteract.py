"""MolInteract encoder, its towers alone and the OGB featurizer (small widths: the checks are about structure)."""

import math

import numpy as np
import pytest
import torch

from zoo_core.models import build_model, model_spec
from zoo_core.testing import check_all, conformance_spec, make_dataset

SMALL = {"hidden": 16, "layers": 2}


@pytest.mark.parametrize("towers", ["2d", "both"])
def test_conformance_molecule_model(towers):
    check_all(conformance_spec("molecule", "molinteract", encoder_params={**SMALL, "towers": towers}))


def test_conformance_under_cigin():
    """MolInteract as a pair model's per-molecule encoder (an extension: the papers have no pair model)."""
    check_all(model_spec("molinteract", "cigin", encoder_params=SMALL))


def test_towers_alone_build_and_predict():
    for name in ("gin", "schnet"):
        spec = conformance_spec("molecule", name, encoder_params=SMALL)
        data = make_dataset(spec)
        torch.manual_seed(0)
        pred = build_model(spec).eval()(data.batch(np.arange(len(data)))).pred
        assert pred.shape == (len(data), 1) and torch.isfinite(pred).all()


def test_two_d_mode_needs_no_positions():
    from zoo_core.train.run import requires_3d

    assert not requires_3d(model_spec("gin", roles=1))
    assert not requires_3d(model_spec("molinteract", roles=1, encoder_params={"towers": "2d"}))
    assert requires_3d(model_spec("molinteract", roles=1)) and requires_3d(model_spec("schnet", roles=1))


def _rotation(seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return (q * torch.sign(torch.linalg.det(q))).float()  # a proper rotation


@pytest.mark.parametrize("towers", ["3d", "both"])
def test_rotation_translation_invariance(towers):
    """The 3D tower sees distances only: a rotated and translated molecule gives the same node states."""
    spec = conformance_spec("molecule", "molinteract", encoder_params={**SMALL, "towers": towers})
    data = make_dataset(spec, molecules=["CC(=O)Nc1ccc(O)cc1", "OCC(N)C(=O)O"])
    torch.manual_seed(0)
    enc = build_model(spec).eval().encoder
    g = data.store.gather(torch.arange(len(data.store)))
    with torch.no_grad():
        before = enc(g)
        g.ndata["pos"] = g.ndata["pos"] @ _rotation(1).T + torch.tensor([3.0, -7.5, 12.0])
        after = enc(g)
    assert torch.allclose(before, after, atol=1e-4), (before - after).abs().max()
    g.ndata["pos"] = g.ndata["pos"] * 1.3  # a different geometry must change the output (the test can fail)
    with torch.no_grad():
        assert not torch.allclose(before, enc(g), atol=1e-3)


def test_residual_skips_the_interaction():
    """aˡ = Norm(Dropout(Conv(ĥˡ⁻¹))) + aˡ⁻¹ with ĥ the interaction MLP's output: zeroing the interaction MLPs
    leaves the pre-interaction stream (so the output still depends on the input)."""
    spec = conformance_spec("molecule", "molinteract", encoder_params=SMALL)
    enc = build_model(spec).encoder
    assert len(enc.interactions) == 2 and enc.out_dim == enc.graph_dim == 32
    assert enc.interactions[0] is not enc.interactions[1]


def test_ogb_features():
    from zoo_core.chem.resolve import get_featurizer

    feat = get_featurizer("ogb9")
    g = feat.featurize("C[NH3+]", explicit_h=False)
    # C: Z=6 -> 5, unspecified chirality, degree 4 (with H), charge 0 -> index 5, 3 H, no radical, SP3, no ring
    assert g.x[0].tolist() == [5, 0, 4, 5, 3, 0, 2, 0, 0]
    assert g.x[1].tolist() == [6, 0, 4, 6, 3, 0, 2, 0, 0]   # N+: charge +1 -> index 6
    assert g.edge_attr.tolist() == [[0, 0, 0], [0, 0, 0]]
    h = feat.featurize("C[NH3+]", explicit_h=True)
    assert h.x.shape == (8, 9) and np.array_equal(h.x[:2], g.x)      # heavy atoms keep their H counts
    assert h.x[2].tolist()[:1] == [0] and h.x[2, 6] == 5             # H: Z=1 -> 0, hybridisation misc
    arom = feat.featurize("c1ccccc1", explicit_h=False)
    assert arom.x[0, 7] == 1 and arom.x[0, 8] == 1 and arom.edge_attr[0].tolist() == [3, 0, 1]


def test_paper_defaults():
    from zoo_core.registry import get_registry

    params = get_registry().entry("encoders", "molinteract").params
    assert (params["hidden"], params["layers"], params["dropout"], params["cutoff"]) == (300, 6, 0.0, 10.0)
    assert math.isclose(params["n_gaussians"], 50) and params["filters"] == 128 and params["max_neighbors"] == 32


def test_zoo_run_under_cigin_on_pairs(tmp_path, monkeypatch):
    """`zoo run --encoder molinteract --pair-model cigin` on a pair CSV: ETKDG positions from the core reach the
    3D tower through the run (a 12-pair solute,solvent,target file; small widths, one fold, one epoch)."""
    import json

    from typer.testing import CliRunner
    from zoo_cli.main import app

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    rows = [("CCO", "O", -5.0), ("c1ccccc1", "O", -0.9), ("CC(=O)O", "O", -6.7), ("CCN", "O", -4.5),
            ("CCCl", "O", -0.6), ("OCCO", "O", -9.3), ("CC#N", "O", -3.9), ("CCCC", "O", 2.1),
            ("CS(C)=O", "O", -9.0), ("Oc1ccccc1", "O", -6.6), ("CC(C)=O", "O", -3.8), ("C1CCOC1", "O", -3.5)]
    csv = tmp_path / "pairs.csv"
    csv.write_text("solute,solvent,dg\n" + "".join(f"{a},{b},{y}\n" for a, b, y in rows))
    r = CliRunner().invoke(app, ["run", "--encoder", "molinteract", "--pair-model", "cigin", "--dataset", str(csv),
                                 "--columns", "solute,solvent,dg", "--epochs", "1", "--only-fold", "0", "--repeats",
                                 "1", "--encoder-param", "hidden=16", "--encoder-param", "layers=1", "--explicit-h",
                                 "--output", str(tmp_path / "runs"), "--json", "-q"])
    assert r.exit_code == 0, r.output[-2000:]
    out = json.loads(r.stdout[r.stdout.index("{"):])
    assert out["encoder"] == "molinteract" and out["model"] == "cigin"
