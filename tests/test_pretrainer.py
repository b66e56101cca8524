"""The pretrainer interface (zoo_core.train.pretrainer, issue 34): a tiny molecule pretrainer defined here runs
through the core's loop end to end (history, weight file, checkpoint and resume, cache and reuse); the cache key
keeps pair keys and leaves target scaling out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from zoo_core.models import model_spec
from zoo_core.train.pretrainer import Pretrainer

class _Stop(Exception):
    pass


SMILES = ["CCO", "c1ccccc1", "CCCCCCCCO", "CC(=O)O", "N#Cc1ccc(O)cc1", "ClCCl", "C1CCOC1", "CCN(CC)CC", "O"]


class _MoleculeView:
    """Molecules featurized for the spec; ``batch(rows, epoch)`` -> (graph, noisy heavy-atom counts), the noise
    drawn from (seed, epoch, row) only."""

    def __init__(self, spec, smiles, seed, noise, use_cache, progress, stop_at=None):
        from zoo_core.data.store import build_store

        feat = spec["featurizer"]
        self.store, ids, _ = build_store(smiles, feat["name"], feat["explicit_h"], use_cache, progress)
        self.ids = torch.tensor([ids[s] for s in smiles])
        heavy = self.store.atomic_num > 1
        counts = torch.tensor([int(heavy[int(a):int(b)].sum()) for a, b in
                               zip(self.store.node_ptr[:-1], self.store.node_ptr[1:])], dtype=torch.float32)
        self.counts, self.seed, self.noise = counts, seed, noise
        self.stop_at, self.served = stop_at, 0

    def __len__(self):
        return len(self.ids)

    def batch(self, rows, epoch):
        self.served += 1
        if self.served == self.stop_at:  # a run interrupted here (tests of resume)
            raise _Stop
        ids = self.ids[torch.as_tensor(rows)]
        noise = [np.random.default_rng([self.seed, epoch, int(r)]).normal(scale=self.noise) for r in rows]
        return self.store.gather(ids), self.counts[ids] / 10 + torch.tensor(noise, dtype=torch.float32)


class AtomCount(Pretrainer):
    """Predict a molecule's (noisy) heavy-atom count from the mean of the backbone's molecule-A node embeddings."""

    name = "atomcount"
    target = "molecule"
    defaults = {"noise": 0.05}
    parts = ("loss", "mse")
    stop_at = None  # the batch at which the data view raises _Stop

    def prepare(self, spec, examples, seed, workers=None, use_cache=True, progress=True):
        return _MoleculeView(spec, examples, seed, self.params["noise"], use_cache, progress, self.stop_at)

    def aux_modules(self, model):
        return nn.Linear(model.enc_a.out_dim, 1)

    def loss(self, model, aux, batch):
        from zoo_core.nn.segment import segment_ids, segment_mean

        g, y = batch
        counts = g.batch_num_nodes()
        h = segment_mean(model.enc_a(g), segment_ids(counts), counts)
        mse = ((aux(h).squeeze(-1) - y) ** 2).mean()
        return mse, {"loss": float(mse.detach()), "mse": float(mse.detach())}


KW = dict(epochs=4, batch_size=4, lr=3e-3, seed=0, progress=False, use_cache=False)


def test_a_molecule_pretrainer_trains_and_saves_its_backbone(tmp_path):
    from safetensors import safe_open

    from zoo_core.weights import read_metadata

    spec = model_spec("cigin")
    out = tmp_path / "b.safetensors"
    model, history = AtomCount.pretrain(spec, SMILES, out=str(out), meta={"note": "x"}, **KW)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4] and all(r["molecules"] == len(SMILES) for r in history)
    assert history[-1]["loss"] < history[0]["loss"] and history[0]["mse"] == history[0]["loss"]
    with safe_open(str(out), framework="pt") as f:
        assert set(f.keys()) == set(model.state_dict())  # the backbone only, no auxiliary head
    meta = read_metadata(out)[1]
    assert (meta["pretrainer"], meta["pretrain_molecules"], meta["epochs"], meta["note"]) == \
        ("atomcount", len(SMILES), 4, "x")
    assert meta["pretrain_params"] == {"noise": 0.05} and meta["kind"] == "pretrained-backbone"
    with pytest.raises(ValueError, match="unknown atomcount parameters: tau"):
        AtomCount({"tau": 0.2})


def test_stopped_within_an_epoch_the_core_loop_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    spec = model_spec("cigin")
    from zoo_core.train.checkpoint import checkpoint_meta

    whole, hist_whole = AtomCount.pretrain(spec, SMILES, **KW)
    ckpt = tmp_path / "run.checkpoint.safetensors"
    monkeypatch.setattr(AtomCount, "stop_at", 5)  # 9 molecules in batches of 4: the second batch of epoch 2
    with pytest.raises(_Stop):
        AtomCount.pretrain(spec, SMILES, checkpoint=str(ckpt), checkpoint_seconds=0.0, **KW)
    monkeypatch.setattr(AtomCount, "stop_at", None)

    assert (checkpoint_meta(ckpt)["epoch"], checkpoint_meta(ckpt)["epoch_rows"]) == (1, 4)
    resumed, hist = AtomCount.pretrain(spec, SMILES, checkpoint=str(ckpt), **KW)
    assert [r["loss"] for r in hist] == [r["loss"] for r in hist_whole]
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.fixture
def registered(monkeypatch, tmp_path):
    """AtomCount registered as pretrainer ``atomcount`` (registry entry and implementation), fresh ZOO_HOME."""
    from zoo_core.plugins import Registration, get_catalog
    from zoo_core.registry import Entry, get_registry

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    entry = Entry("pretrainers", "atomcount", {"impl": "atomcount", "target": "molecule", "params": {"noise": 0.1}},
                  Path(__file__))
    monkeypatch.setitem(get_registry().sections["pretrainers"], "atomcount", entry)
    monkeypatch.setitem(get_catalog().implementations["pretrainers"], "atomcount",
                        Registration("atomcount", "pretrainers", AtomCount, "tests"))


def test_molecule_pretraining_is_cached_reused_and_loads_beside_a_target_scaler(registered, capsys):
    from zoo_core.models import build_model
    from zoo_core.train.pretraining import load_backbone, pretrained_backbone

    spec = model_spec("cigin")
    path, reused = pretrained_backbone("atomcount", spec, SMILES, 2, 4, 1e-3, 0)
    assert not reused and path.exists()
    assert f"with atomcount on {len(SMILES)} molecules, 2 epochs" in capsys.readouterr().err
    scaled = {**spec, "scale_targets": True}  # fine-tuning's target scaling: same backbone
    again, reused = pretrained_backbone("atomcount", scaled, SMILES, 2, 4, 1e-3, 0)
    assert reused and again == path
    model = build_model(spec)
    model.target_scaler = nn.Module()
    model.target_scaler.register_buffer("mean", torch.full((1,), 7.0))
    meta = load_backbone(model, path, spec)
    assert meta["pretrain_molecules"] == len(SMILES) and float(model.target_scaler.mean) == 7.0
    model.extra = nn.Linear(2, 2)
    with pytest.raises(Exception, match="do not fit cigin"):
        load_backbone(model, path, spec)


def test_cache_key_keeps_pair_keys_and_leaves_target_scaling_out():
    from zoo_core.train.pretraining import _key

    spec = model_spec("cigin")
    pairs = [("CCO", "O"), ("c1ccccc1", "CCO")]
    key = _key(spec, "3dmrl", {"tau": 0.2}, pairs, 5, 48, 1e-4, 0, "train-split")
    # the key as it was computed before molecule sets and target scaling existed
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps([spec, "3dmrl", {"tau": 0.2}, 5, 48, 1e-4, 0, "train-split"],
                                       sort_keys=True).encode())
    for a, b in pairs:
        digest.update(f"{a}\t{b}\n".encode())
    assert key == digest.hexdigest()[:24]
    for extra in ({"scale_targets": True}, {"scale_targets": False}, {"target_scaler": {"mean": [1.0]}}):
        assert _key({**spec, **extra}, "3dmrl", {"tau": 0.2}, pairs, 5, 48, 1e-4, 0, "train-split") == key
    assert _key({**spec, "n_tasks": 2}, "3dmrl", {"tau": 0.2}, pairs, 5, 48, 1e-4, 0, "train-split") != key
    molecules = _key(spec, "m", {}, ["CCO", "O"], 5, 48, 1e-4, 0)
    assert molecules != _key(spec, "m", {}, ["O", "CCO"], 5, 48, 1e-4, 0)
