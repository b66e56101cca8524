"""MolInteract's predictive pretraining (METHODS §8.2): block states, task labels, the loss, training molecules
only, and the backbone in a fine-tuning run (small widths, ETKDG conformers of a few molecules)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from zoo_core.models import build_model, model_spec
from zoo_molinteract import pretrain_labels as L

SMALL = {"hidden": 16, "layers": 2}
MOLECULES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "OCC(N)C(=O)O", "CCN(CC)CC", "C1CCOC1", "CC#N", "ClCCl"]
runner = CliRunner()


def _spec(towers="both", n_tasks=1, explicit_h=True):
    return model_spec("molinteract", roles=1, explicit_h=explicit_h, n_tasks=n_tasks,
                      encoder_params={**SMALL, "towers": towers})


def _data(profile="shipped", towers="both", positions=None):
    from zoo_molinteract.pretrainer import MolInteractPretraining

    pre = MolInteractPretraining({"profile": profile})
    data = pre.prepare(_spec(towers), MOLECULES, seed=0, workers=1, progress=False, positions=positions)
    return pre, data


@pytest.mark.parametrize("towers", ["both", "2d", "3d"])
def test_block_states_shapes_and_consistency(towers):
    """One state per block per running tower, [N, d]; the last ones give the encoder's output; depth stops early."""
    _, data = _data(towers=towers)
    torch.manual_seed(0)
    enc = build_model(_spec(towers)).eval().encoder
    g = data.data.batch(np.arange(len(data))).g
    with torch.no_grad():
        states, nodes = enc.block_states(g), enc(g)
        first = enc.block_states(g, depth=1)
    n = g.ndata["x"].shape[0]
    for tower, kept in (("2d", states.states_2d), ("3d", states.states_3d)):
        runs = towers in ("both", tower)
        assert len(kept) == (2 if runs else 0) and all(s.shape == (n, 16) for s in kept)
    assert torch.equal(states.nodes, nodes)
    if towers != "3d":
        assert torch.equal(nodes[:, :16], states.states_2d[-1]) and torch.equal(first.states_2d[0], states.states_2d[0])
    if towers != "2d":
        assert torch.allclose(nodes[:, -16:], enc.head_3d(states.states_3d[-1]))
    assert first.nodes is None and len(first.states_2d + first.states_3d) == (2 if towers == "both" else 1)


def test_dihedral_bins_cover_18_classes_uniformly():
    """A synthetic sweep of torsions over [-180, 180) lands 100 in each 20-degree bin (the original code put every
    torsion >= -9 degrees in its last bin)."""
    phi = np.linspace(-np.pi, np.pi, 1800, endpoint=False) + np.pi / 3600
    pos = np.array([[1.0, 0, 0], [0, 0, 0], [0, 0, 1.5]])
    quads = np.array([[0, 1, 2, 3]])
    x = np.array([L.dihedrals(np.vstack([pos, [[np.cos(a), np.sin(a), 1.5]]]), quads)[0] for a in phi])
    assert np.allclose(x * np.pi, phi, atol=1e-9)
    assert np.bincount(L.dihedral_bins(x, 18), minlength=18).tolist() == [100] * 18
    assert L.dihedral_bins(np.array([-1.0, 1.0]), 18).tolist() == [0, 17]


def test_labels_match_rdkit_and_networkx():
    import networkx as nx
    from rdkit import Chem
    from rdkit.Chem import AllChem, rdMolTransforms as T

    mol = Chem.AddHs(Chem.MolFromSmiles("CC(O)CN"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    conf, pos = mol.GetConformer(), mol.GetConformer().GetPositions()
    bonds = np.array(sorted(tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in mol.GetBonds()))
    quads = L.dihedral_quadruplets(mol.GetNumAtoms(), bonds)
    assert len(quads) and np.allclose(L.dihedrals(pos, quads) * np.pi,
                                      [T.GetDihedralRad(conf, *map(int, q)) for q in quads], atol=1e-6)
    trip = L.angle_triplets(mol.GetNumAtoms(), bonds)
    assert len(trip) == sum(math.comb(a.GetDegree(), 2) for a in mol.GetAtoms())
    assert np.allclose(L.bond_angles(pos, trip) * np.pi, [T.GetAngleRad(conf, *map(int, t)) for t in trip])
    graph = nx.Graph(bonds.tolist())
    central = nx.eigenvector_centrality(graph, max_iter=1000, tol=1e-10)
    assert np.allclose(L.eigenvector_centrality(mol.GetNumAtoms(), bonds), [central[i] for i in range(len(pos))],
                       atol=1e-5)
    hops = L.shortest_paths(mol.GetNumAtoms() + 1, bonds)   # one extra, unbonded atom: unreachable = 63
    assert hops[0, 3] == nx.shortest_path_length(graph, 0, 3) and hops[0, -1] == 63


def test_batch_examples_index_the_batched_graph():
    """Bond-existence positives are bonds of the batched graph, distance labels are those of the batch's positions,
    and the same (seed, epoch, row) draws the same examples."""
    _, data = _data()
    batch = data.batch([2, 5, 1], epoch=3)
    g = batch.mol.g
    src, dst = g.edges()
    bonded = set(zip(src.tolist(), dst.tolist()))
    pairs, label = batch.index["bond_existence"], batch.target["bond_existence"]
    assert all((int(a), int(b)) in bonded for (a, b), y in zip(pairs, label) if y == 1)
    assert not any((int(a), int(b)) in bonded for (a, b), y in zip(pairs, label) if y == 0)
    d = batch.index["distance"]
    assert torch.allclose((g.ndata["pos"][d[:, 0]] - g.ndata["pos"][d[:, 1]]).norm(dim=-1),
                          batch.target["distance"], atol=1e-4)
    assert torch.equal(d, data.batch([2, 5, 1], epoch=3).index["distance"])
    assert not torch.equal(d, data.batch([2, 5, 1], epoch=4).index["distance"])


def test_dataset_positions_are_used():
    """Given geometries (QM9's DFT positions) replace the conformers: labels come from them."""
    _, etkdg = _data()
    store = etkdg.data.store
    given = {s: 2.0 * etkdg.pos[int(store.node_ptr[m]):int(store.node_ptr[m + 1])] for m, s in enumerate(store.smiles)}
    _, scaled = _data(positions=given)
    assert scaled.geometry == "dataset" and etkdg.geometry == "etkdg"
    a, b = etkdg.batch([0, 1, 2], 0), scaled.batch([0, 1, 2], 0)
    assert torch.allclose(b.target["distance"], 2 * a.target["distance"], rtol=1e-5)


def test_every_head_and_the_read_blocks_receive_gradient():
    pre, data = _data("paper")
    torch.manual_seed(0)
    model = build_model(_spec())
    aux = pre.aux_modules(model)
    loss, parts = pre.loss(model, aux, data.batch(np.arange(len(data)), 0))
    loss.backward()
    assert set(parts) == {"loss", "distance", "angle", "dihedral", "bond_existence", "bond_type", "spd", "centrality"}
    for name, head in aux.heads.items():
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters()), name
    enc = model.encoder
    for module in (enc.convs_2d[0], enc.convs_2d[1], enc.convs_3d[1], enc.interactions[1]):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
    assert all(p.grad is None for p in model.head.parameters())   # the task head is not pretrained


def test_pretraining_loss_decreases_and_first_loss_is_pinned():
    from zoo_molinteract.pretrainer import MolInteractPretraining

    _, history = MolInteractPretraining.pretrain(_spec(), MOLECULES, epochs=8, batch_size=4, lr=1e-3, seed=0,
                                                 workers=1, progress=False)
    losses = [h["loss"] for h in history]
    assert losses[-1] < 0.6 * losses[0], losses
    assert history[0]["molecules"] == len(MOLECULES)
    assert losses[0] == pytest.approx(12.2285, rel=1e-3)   # pinned: seed 0, ETKDG seed 0, these 8 molecules


def test_backbone_loads_for_any_number_of_targets(tmp_path):
    """The task head is not pretrained: the backbone (built for one task) loads into a 3-target model, whose
    encoder then holds the pretrained tensors and whose head keeps its initialisation."""
    from safetensors.torch import load_file

    from zoo_core.train.pretraining import load_backbone
    from zoo_molinteract.pretrainer import MolInteractPretraining

    out = tmp_path / "backbone.safetensors"
    MolInteractPretraining.pretrain(_spec(), MOLECULES, epochs=1, batch_size=8, lr=1e-3, seed=0, workers=1,
                                    progress=False, out=str(out))
    torch.manual_seed(5)
    model = build_model(_spec(n_tasks=3))
    head = {k: v.clone() for k, v in model.head.state_dict().items()}
    meta = load_backbone(model, out, _spec(n_tasks=3))
    saved = load_file(str(out))
    assert meta["fresh_head"] and meta["pretrain_tasks"] == ["distance", "angle", "bond_existence", "bond_type"]
    assert all(torch.equal(v, saved[f"encoder.{k}"]) for k, v in model.encoder.state_dict().items())
    assert all(torch.equal(v, head[k]) for k, v in model.head.state_dict().items())


def test_the_2d_tower_of_a_two_tower_backbone_fine_tunes_alone(tmp_path):
    """MoleculeNet's use (METHODS §8.3): a backbone pretrained with both towers loads into `towers=2d` (the 2D
    tower's tensors as pretrained, the 3D tower and the interaction MLPs left out); a 2D tower of other blocks is
    refused, and only a two-tower backbone has parts."""
    from safetensors.torch import load_file

    from zoo_core.errors import ZooError
    from zoo_core.train.pretraining import load_backbone
    from zoo_molinteract.encoder import MolInteract
    from zoo_molinteract.pretrainer import MolInteractPretraining

    out = tmp_path / "backbone.safetensors"
    MolInteractPretraining.pretrain(_spec(), MOLECULES, epochs=1, batch_size=8, lr=1e-3, seed=0, workers=1,
                                    progress=False, out=str(out))
    saved = load_file(str(out))
    model = build_model(_spec("2d", n_tasks=2))
    load_backbone(model, out, _spec("2d", n_tasks=2))
    assert all(torch.equal(v, saved[f"encoder.{k}"]) for k, v in model.encoder.state_dict().items())
    assert any(k.startswith("encoder.convs_3d.") for k in saved) and any(".interactions." in k for k in saved)
    one_block = model_spec("molinteract", roles=1, explicit_h=True, encoder_params={**SMALL, "layers": 1,
                                                                                    "towers": "2d"})
    with pytest.raises(ZooError, match="do not fit"):
        load_backbone(build_model(one_block), out, one_block)
    both = {**SMALL, "towers": "both"}
    assert MolInteract.backbone_part(both, {**SMALL, "towers": "3d"})
    assert not MolInteract.backbone_part({**SMALL, "towers": "2d"}, both)
    assert not MolInteract.backbone_part(both, {**SMALL, "towers": "2d", "hidden": 32})


def _csv(tmp_path: Path, targets: int = 1) -> Path:
    smiles = MOLECULES + ["CCCO", "CCCl", "OCCO", "CS(C)=O", "CC(C)=O", "Oc1ccccc1C", "CCOC(=O)C", "NCCO",
                          "CC(C)O", "C1CCCCC1", "CCC#N", "O=C1CCCC1"]
    header = "smiles," + ",".join(f"y{k}" for k in range(targets))
    rows = [f"{s}," + ",".join(f"{0.1 * i + k:.2f}" for k in range(targets)) for i, s in enumerate(smiles)]
    path = tmp_path / f"mols{targets}.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_zoo_pretrain_sees_training_molecules_only_and_the_backbone_fine_tunes(tmp_path, monkeypatch):
    """`zoo pretrain --pretrainer molinteract` on a molecule dataset pretrains on the training molecules of the
    dataset's split (fold 0 of mi5fold here), none of its validation or test molecules; `zoo run
    --pretrained-weights` then fine-tunes that backbone on two targets."""
    from zoo_core.data.splits import mi5fold
    from zoo_core.train import pretraining
    from zoo_cli.main import app

    seen = []
    real = pretraining.pretrained_backbone
    monkeypatch.setattr(pretraining, "pretrained_backbone", lambda *a, **k: seen.append(a[2]) or real(*a, **k))
    csv = _csv(tmp_path)
    enc = ["--encoder-param", "hidden=16", "--encoder-param", "layers=2"]
    r = runner.invoke(app, ["pretrain", "--pretrainer", "molinteract", "--encoder", "molinteract", "--dataset",
                            str(csv), "--epochs", "2", *enc, "--output", str(tmp_path / "pre"), "--json", "-q"])
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    lines = [row.split(",")[0] for row in csv.read_text().splitlines()[1:]]
    train, valid, test = mi5fold(len(lines), seed=0)[0]
    assert set(seen[0]) == {lines[i] for i in train} and len(seen[0]) == len(train)
    assert not set(seen[0]) & {lines[i] for i in [*valid, *test]}
    assert (record["pair_set"], record["transductive"], record["lr"]) == ("train-split", False, 5e-5)
    two = _csv(tmp_path, targets=2)
    r = runner.invoke(app, ["run", "--encoder", "molinteract", "--dataset", str(two), "--columns", "smiles,y0,y1",
                            "--pretrained-weights", record["weights"], "--epochs", "1", "--only-fold", "0",
                            "--repeats", "1", *enc, "--output", str(tmp_path / "runs"), "--json", "-q"])
    assert r.exit_code == 0, r.output
    pre = json.loads(r.stdout)["pretraining"]
    assert pre["pretrainer"] == "molinteract" and pre["pretrained_weights"] == record["weights"]
    r = runner.invoke(app, ["run", "--encoder", "molinteract", "--dataset", str(two), "--columns", "smiles,y0,y1",
                            "--pretrainer", "molinteract", "--pretrain-epochs", "2", "--epochs", "1", "--only-fold",
                            "0", "--repeats", "1", *enc, "--output", str(tmp_path / "runs"), "--json"])
    assert r.exit_code == 0, r.output   # the backbone is keyed for one task: two targets reuse it
    assert "reusing pretrained backbone" in r.stderr and json.loads(r.stdout)["pretraining"]["reused"] == [True]


def test_zoo_pretrain_refuses_a_pair_set_for_a_molecule_pretrainer(tmp_path):
    from zoo_cli.main import app

    r = runner.invoke(app, ["pretrain", "--pretrainer", "molinteract", "--encoder", "molinteract", "--pairs",
                            "combisolv-product", "--epochs", "1", "--output", str(tmp_path)])
    assert r.exit_code != 0 and "pretrains on molecules" in r.output


def test_zoo_run_with_the_molinteract_pretrainer_pretrains_on_the_fold(tmp_path):
    """`zoo run --pretrainer molinteract` pretrains each fold's backbone on that fold's training molecules."""
    from zoo_cli.main import app

    r = runner.invoke(app, ["run", "--encoder", "molinteract", "--pretrainer", "molinteract", "--dataset",
                            str(_csv(tmp_path)), "--pretrain-epochs", "1", "--epochs", "1", "--only-fold", "0",
                            "--repeats", "1", "--encoder-param", "hidden=16", "--encoder-param", "layers=2",
                            "--output", str(tmp_path / "runs"), "--json"])
    assert r.exit_code == 0, r.output
    assert "with molinteract on 16 molecules (pair set train-split)" in r.stderr
    pre = json.loads(r.stdout)["pretraining"]
    assert (pre["pairs_per_fold"], pre["transductive"], pre["lr"]) == ([16], False, 5e-5)
