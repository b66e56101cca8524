"""zoo-3dmrl: SchNet invariances, force-head equivariance, VIE geometry, pretraining loop (conformers: tests/test_conformers.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo_core.chem.conformers import embed
from zoo_core.chem.featurizers import prepare_mol
from zoo_core.models import model_spec
from zoo_core.nn.schnet import SchNet, masked_mean, radius_graph
from zoo_core.plugins import get_catalog
from zoo_core.testing import PAIRS

from zoo_3dmrl.pretrainer import PretrainData, ThreeDMRL

pretrain = ThreeDMRL.pretrain
from zoo_3dmrl.vie import item_rng, make_vie

SMALL = {"n_interactions": 2}


def _rotation(seed: int, dtype=torch.float64) -> torch.Tensor:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return torch.tensor(q, dtype=dtype)


def test_registered():
    assert get_catalog().get("pretrainers", "3dmrl").load() is ThreeDMRL


# -- SchNet ----------------------------------------------------------------------------------------------------

def test_radius_graph_matches_brute_force():
    pos = torch.tensor(np.random.default_rng(0).normal(scale=2.0, size=(9, 3)))
    counts = torch.tensor([4, 5])
    ei = radius_graph(pos, counts, 3.0)
    seg = torch.repeat_interleave(torch.arange(2), counts)
    d = torch.cdist(pos, pos)
    want = {(j, i) for i in range(9) for j in range(9)
            if i != j and seg[i] == seg[j] and d[i, j] < 3.0}
    assert set(map(tuple, ei.t().tolist())) == want
    capped = radius_graph(pos, counts, 3.0, max_neighbors=2)
    assert torch.bincount(capped[1], minlength=9).max() <= 2
    for j, i in capped.t().tolist():  # the kept neighbours are the nearest ones
        others = [d[i, k] for (k, t) in want if t == i]
        assert sum(float(o) < float(d[i, j]) for o in others) < 2


def test_schnet_invariant_to_rotation_translation_permutation():
    torch.manual_seed(0)
    net = SchNet(num_atom_types=5).double().eval()
    counts = torch.tensor([6, 8])
    rng = np.random.default_rng(1)
    pos = torch.tensor(rng.normal(scale=1.8, size=(14, 3)))
    z = torch.tensor(rng.integers(0, 5, size=14))
    mask = torch.tensor(rng.random(14) < 0.6)
    mask[0] = mask[6] = True
    h = net(z, pos, counts)
    # a different rotation and translation per segment, and atoms renumbered inside each segment
    new_pos = pos.clone()
    new_pos[:6] = pos[:6] @ _rotation(2).T + torch.tensor([1.0, -3.0, 2.0], dtype=torch.float64)
    new_pos[6:] = pos[6:] @ _rotation(3).T + torch.tensor([-5.0, 0.5, 7.0], dtype=torch.float64)
    perm = torch.cat([torch.from_numpy(rng.permutation(6)), 6 + torch.from_numpy(rng.permutation(8))])
    h2 = net(z[perm], new_pos[perm], counts)
    assert torch.allclose(h[perm], h2, atol=1e-10)
    r1, r2 = masked_mean(h, counts, mask), masked_mean(h2, counts, mask[perm])
    assert r1.shape == (2, 64) and torch.allclose(r1, r2, atol=1e-10)


# -- VIE -------------------------------------------------------------------------------------------------------

def _vie_inputs(solute: str, solvent: str, explicit_h: bool):
    _, solute_pos, _ = embed(solute, explicit_h, seed=0)
    _, solvent_pos, _ = embed(solvent, explicit_h, seed=0)
    _, mol_a = prepare_mol(solute, explicit_h)
    _, mol_b = prepare_mol(solvent, explicit_h)
    ring = np.array([a.IsInRing() for a in mol_a.GetAtoms()])
    bonds = np.array([[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] for b in mol_b.GetBonds()], dtype=np.int64)
    bonds = bonds.reshape(-1, 2).T
    edges = np.concatenate([bonds, bonds[::-1]], axis=1)
    return solute_pos, ring, solvent_pos, edges


@pytest.mark.parametrize("explicit_h", [True, False])
def test_vie_geometry_targets_and_reproducibility(explicit_h):
    solute_pos, ring, solvent_pos, edges = _vie_inputs("OCCc1ccccc1", "CCO", explicit_h)
    v = make_vie(solute_pos, ring, solvent_pos, edges, item_rng(0, 3, 7))
    non_ring = np.flatnonzero(~ring)
    assert set(v.targets) <= set(non_ring) and len(set(v.targets)) == len(v.targets)
    assert len(v.targets) == min(5, len(non_ring))
    if not explicit_h:  # 3 non-ring heavy atoms (O, C, C): all of them, none from the ring
        assert sorted(v.targets) == sorted(non_ring)
    nv = solvent_pos.shape[0]
    r_solv = np.linalg.norm(solvent_pos - solvent_pos.mean(0), axis=1).max()
    assert v.r_solv == pytest.approx(r_solv)
    solute = v.pos[:v.n_solute]
    assert np.allclose(solute.mean(0), 0.0, atol=1e-9)
    for c, t in enumerate(v.targets):
        copy = v.pos[v.n_solute + c * nv: v.n_solute + (c + 1) * nv]
        assert np.linalg.norm(copy.mean(0) - solute[t]) == pytest.approx(r_solv, abs=1e-9)
        # a rigid copy: same internal distances as the solvent conformer
        assert np.allclose(np.linalg.norm(copy[:, None] - copy[None], axis=-1),
                           np.linalg.norm(solvent_pos[:, None] - solvent_pos[None], axis=-1), atol=1e-9)
        f = v.force[c * nv:(c + 1) * nv]
        assert np.allclose(f, (copy - solute[t]) / np.linalg.norm(copy - solute[t], axis=1, keepdims=True))
    assert np.all(v.copy_target == np.repeat(v.targets, nv))
    assert np.all(v.copy_atom == np.tile(np.arange(nv), len(v.targets)))
    assert v.edge_index.shape == (2, edges.shape[1] * len(v.targets))
    assert v.is_solvent.sum() == nv * len(v.targets) and not v.is_solvent[:v.n_solute].any()
    again = make_vie(solute_pos, ring, solvent_pos, edges, item_rng(0, 3, 7))
    assert np.array_equal(v.pos, again.pos) and np.array_equal(v.targets, again.targets)
    other = make_vie(solute_pos, ring, solvent_pos, edges, item_rng(0, 4, 7))
    assert not np.allclose(v.pos[v.n_solute:], other.pos[v.n_solute:])


def test_vie_single_atom_solvent_gets_min_radius():
    solute_pos, ring, _, _ = _vie_inputs("CCO", "O", False)
    v = make_vie(solute_pos, ring, np.zeros((1, 3)), np.zeros((2, 0), dtype=np.int64), item_rng(0, 0, 0))
    assert v.r_solv == 1.0 and np.isfinite(v.force).all()
    assert np.allclose(np.linalg.norm(v.force, axis=1), 1.0)


# -- pretrainer ------------------------------------------------------------------------------------------------

def test_force_head_is_equivariant():
    torch.manual_seed(0)
    spec = model_spec("cigin")
    from zoo_core.models import build_model

    model = build_model(spec).eval()
    data = PretrainData(spec, PAIRS[:4], workers=1, use_cache=False, progress=False)
    aux = ThreeDMRL(SMALL).aux_modules(model).double().eval()
    batch, vie = data.batch(np.arange(4), epoch=0)
    vie = vie.to(dtype=torch.float64)
    with torch.no_grad():
        out = model(batch)
        h_a, h_b = out.h_a.double(), out.h_b.double()
        f = aux.predict_forces(h_a, h_b, vie)
        assert f.shape == vie.force.shape and f.abs().max() > 0
        system = torch.repeat_interleave(torch.arange(4), vie.counts)
        rots = torch.stack([_rotation(10 + i) for i in range(4)])
        shifts = torch.tensor(np.random.default_rng(0).normal(scale=5.0, size=(4, 3)))
        moved = torch.einsum("nij,nj->ni", rots[system], vie.pos) + shifts[system]
        vie.pos = moved
        f2 = aux.predict_forces(h_a, h_b, vie)
    want = torch.einsum("nij,nj->ni", rots[system[vie.copy_index]], f)
    assert (f2 - want).abs().max() < 1e-4


@pytest.mark.parametrize("name", ["cigin", "mpnn", "cgib"])
def test_pretraining_steps_lower_the_loss(name):
    torch.manual_seed(0)
    spec = model_spec(name)
    from zoo_core.models import build_model

    model = build_model(spec)
    data = PretrainData(spec, PAIRS, workers=1, use_cache=False, progress=False)
    pre = ThreeDMRL(SMALL)
    aux = pre.aux_modules(model)
    opt = torch.optim.Adam(pre.optimised_parameters(model, aux), lr=1e-3)
    batch = data.batch(np.arange(len(data)), epoch=0)
    model.train()
    with torch.no_grad():
        first, _ = pre.loss(model, aux, batch)
    for _ in range(15):
        opt.zero_grad()
        loss, parts = pre.loss(model, aux, batch)
        loss.backward()
        opt.step()
    with torch.no_grad():
        last, parts = pre.loss(model, aux, batch)
    assert np.isfinite(parts["force"]) and float(last) < float(first)


def test_roles_keep_the_solute_first_by_default():
    """MI convention (METHODS §7.1): molecule A (solute/chromophore) is the 3D solute even when it is smaller, so
    pretraining sees the pair the way the downstream model does; the solvent copies are of molecule B."""
    spec = model_spec("cigin")
    data = PretrainData(spec, [("O", "CCCCCCCCO"), ("CCCCCCCCO", "O")], workers=1, use_cache=False, progress=False)
    water, octanol = data.store.smiles.index("O"), data.store.smiles.index("CCCCCCCCO")
    assert data.role_order == "given" and data.swapped == 0
    assert data.data.ids_a.tolist() == [water, octanol] and data.data.ids_b.tolist() == [octanol, water]
    vie = data.vie(0, epoch=0)  # heavy atoms: water (1 atom) is the solute, octanol (9 atoms) copies surround it
    assert vie.n_solute == 1 and vie.copy_atom.max() == 8


def test_roles_larger_molecule_first_is_the_ddi_option():
    spec = model_spec("cigin")
    data = PretrainData(spec, [("O", "CCCCCCCCO"), ("CCCCCCCCO", "O")], workers=1, use_cache=False, progress=False,
                        role_order="larger")
    big = data.store.smiles.index("CCCCCCCCO")
    assert data.data.ids_a.tolist() == [big, big] and data.swapped == 1
    with pytest.raises(ValueError, match="role_order"):
        PretrainData(spec, PAIRS[:1], workers=1, use_cache=False, progress=False, role_order="smaller")


def test_legacy_frozen_force_head_is_not_updated():
    spec = model_spec("cigin")
    from zoo_core.models import build_model

    model = build_model(spec)
    pre = ThreeDMRL({"legacy_frozen_force_head": True, **SMALL})
    aux = pre.aux_modules(model)
    ids = {id(p) for p in pre.optimised_parameters(model, aux)}
    assert not any(id(p) in ids for p in aux.force_head.parameters())
    assert all(id(p) in ids for p in aux.schnet.parameters())


def test_pretrain_saves_only_the_backbone(tmp_path):
    from safetensors import safe_open

    from zoo_core.testing import make_dataset
    from zoo_core.weights import load_model, read_metadata

    spec = model_spec("cigin")
    path = tmp_path / "pre.safetensors"
    model, history = pretrain(spec, PAIRS, epochs=2, batch_size=4, lr=1e-3, seed=0, out=str(path),
                              params=SMALL, workers=1, progress=False)
    assert len(history) == 2 and all(np.isfinite(r["loss"]) for r in history)
    assert history[0]["pairs"] == len(PAIRS)
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
    assert keys == set(model.state_dict())
    assert not any("schnet" in k or "force_head" in k for k in keys)
    loaded, spec2, meta = load_model(path)
    assert spec2 == spec and meta["pretrainer"] == "3dmrl"
    data = make_dataset(spec)
    batch = data.batch(np.arange(len(data)))
    with torch.no_grad():
        assert torch.allclose(model(batch).pred, loaded(batch).pred, atol=1e-6)
    assert read_metadata(path)[1]["epochs"] == 2 and read_metadata(path)[1]["role_order"] == "given"


class _Stop(Exception):
    pass


def test_interrupted_pretraining_resumes_to_the_same_weights(tmp_path):
    """A run stopped after epoch 1 and continued from its checkpoint ends with the uninterrupted run's weights,
    history included; a checkpoint of other settings is refused."""
    from zoo_core.errors import ZooError
    from zoo_core.train.checkpoint import checkpoint_meta

    spec = model_spec("cigin")
    kw = dict(epochs=3, batch_size=4, lr=1e-3, seed=0, params=SMALL, workers=1, progress=False)
    whole, hist_whole = pretrain(spec, PAIRS, **kw)

    def stop_after_first(record):
        if record["epoch"] == 1:
            raise _Stop

    ckpt = tmp_path / "run.checkpoint.safetensors"
    with pytest.raises(_Stop):
        pretrain(spec, PAIRS, checkpoint=str(ckpt), log=stop_after_first, **kw)
    assert checkpoint_meta(ckpt)["epoch"] == 1
    epochs_run = []
    resumed, hist = pretrain(spec, PAIRS, checkpoint=str(ckpt), log=lambda r: epochs_run.append(r["epoch"]), **kw)
    assert epochs_run == [2, 3] and [r["epoch"] for r in hist] == [1, 2, 3]
    assert [r["loss"] for r in hist] == pytest.approx([r["loss"] for r in hist_whole], rel=1e-6)
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name
    with pytest.raises(ZooError, match="another run"):
        pretrain(spec, PAIRS, checkpoint=str(ckpt), **{**kw, "lr": 2e-3})


def test_pretraining_stopped_within_an_epoch_resumes_there(tmp_path, monkeypatch):
    """Saved after every batch (``checkpoint_seconds=0``) and stopped in the second batch of epoch 2, the run's
    checkpoint holds epoch 1 + 4 pairs of epoch 2; continued from it, the run trains only the rest of epoch 2 and
    epoch 3 and ends with the uninterrupted run's weights and losses. A run of 1 epoch refuses that checkpoint
    (it has begun epoch 2)."""
    from zoo_core.train.checkpoint import checkpoint_meta

    spec = model_spec("cigin")
    kw = dict(epochs=3, batch_size=4, lr=1e-3, seed=0, params=SMALL, workers=1, progress=False)
    whole, hist_whole = pretrain(spec, PAIRS, **kw)
    real_loss, calls = ThreeDMRL.loss, []

    def loss_until_fourth_batch(self, *args):
        calls.append(1)
        if len(calls) == 4:  # 7 pairs in batches of 4: the 4th batch is the second of epoch 2
            raise _Stop
        return real_loss(self, *args)

    ckpt = tmp_path / "run.checkpoint.safetensors"
    monkeypatch.setattr(ThreeDMRL, "loss", loss_until_fourth_batch)
    with pytest.raises(_Stop):
        pretrain(spec, PAIRS, checkpoint=str(ckpt), checkpoint_seconds=0.0, **kw)
    meta = checkpoint_meta(ckpt)
    assert (meta["epoch"], meta["epoch_rows"], len(meta["history"])) == (1, 4, 1)
    monkeypatch.setattr(ThreeDMRL, "loss", real_loss)
    with pytest.raises(ValueError, match="epoch 1 \\+ 4 pairs of epoch 2, past the 1 epochs"):
        pretrain(spec, PAIRS, checkpoint=str(ckpt), **{**kw, "epochs": 1})
    counted, epochs_run = [], []

    def counting_batch(self, rows, epoch):
        counted.append((epoch, len(rows)))
        return real_batch(self, rows, epoch)

    real_batch = PretrainData.batch
    monkeypatch.setattr(PretrainData, "batch", counting_batch)
    resumed, hist = pretrain(spec, PAIRS, checkpoint=str(ckpt), log=lambda r: epochs_run.append(r["epoch"]), **kw)
    assert counted == [(1, 3), (2, 4), (2, 3)] and epochs_run == [2, 3]  # the rest of epoch 2, then epoch 3
    assert [(r["epoch"], r["pairs"]) for r in hist] == [(1, 7), (2, 7), (3, 7)]
    assert [r["loss"] for r in hist] == [r["loss"] for r in hist_whole]
    assert [r["force"] for r in hist] == [r["force"] for r in hist_whole]
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert "epoch_rows" not in checkpoint_meta(ckpt)  # the last save is at an epoch's end
