"""Featurization cache: each unique molecule featurized once; a warm run reads the cache and never calls RDKit."""

import os
import subprocess
import sys

import torch

from zoo_core.data.store import build_store, cache_dir

SMILES = ["CCO", "OCC", "O", "c1ccccc1", "[Na+]", "not_a_smiles", "CCO"]


def test_unique_molecules_featurized_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    store, ids, failures = build_store(SMILES, "mrl56", explicit_h=False, progress=False)
    assert store.stats["featurized"] == 5 and store.stats["from_cache"] == 0   # 6 unique inputs, 1 fails
    assert ids["CCO"] == ids["OCC"]                                               # same canonical molecule
    assert len(store) == 4 and set(failures) == {"not_a_smiles"}
    chunks = list(cache_dir(store.stats["spec"]).glob("chunk-*.safetensors"))
    assert len(chunks) == 1
    warm, ids2, failures2 = build_store(SMILES, "mrl56", explicit_h=False, progress=False)
    assert warm.stats["featurized"] == 0 and warm.stats["from_cache"] == 6
    assert ids2 == ids and failures2 == failures
    assert torch.equal(warm.x, store.x) and torch.equal(warm.edge_index, store.edge_index)
    other, _, _ = build_store(["CCO"], "mrl56", explicit_h=True, progress=False)   # H mode is part of the key
    assert other.stats["featurized"] == 1 and other.x.shape[0] == 9


def test_gather_builds_batched_graph_with_offsets(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    store, ids, _ = build_store(["CCO", "O", "c1ccccc1"], "mrl56", explicit_h=False, progress=False)
    g = store.gather(torch.tensor([ids["c1ccccc1"], ids["O"], ids["CCO"]]))
    assert g.batch_num_nodes().tolist() == [6, 1, 3]
    assert g.batch_num_edges().tolist() == [12, 0, 4]
    src, dst = g.edges()
    assert src[12:].min() >= 7 and dst[:12].max() < 6          # ethanol's edges point at nodes 7..9
    assert g.ndata["x"].shape == (10, 56) and g.edata["e"].shape == (16, 10)


def test_gather_with_unique_shares_repeated_molecules(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    store, ids, _ = build_store(["CCO", "O", "c1ccccc1"], "mrl56", explicit_h=False, progress=False)
    e, w, b = ids["CCO"], ids["O"], ids["c1ccccc1"]
    g = store.gather_with_unique(torch.tensor([b, e, b, w, e]))
    assert g.unique is not None and g.unique.batch_num_nodes().tolist() == [3, 1, 6]   # distinct ids, sorted
    assert g.graph_source.tolist() == [2, 0, 2, 1, 0]
    assert torch.equal(g.unique.ndata["x"].index_select(0, g.node_source), g.ndata["x"])
    moved = g.to("cpu")
    assert torch.equal(moved.node_source, g.node_source) and moved.unique.num_nodes() == 10
    assert store.gather_with_unique(torch.tensor([b, e, w])).unique is None              # nothing repeats
    assert store.gather_with_unique(torch.tensor([b, e, w, w])).unique is None           # 1 of 11 atoms: < 10 %
    assert store.gather_with_unique(torch.tensor([b, e, e])).unique is not None          # 3 of 12 atoms


def test_encoders_run_once_per_molecule_unless_copies_differ():
    from torch import nn

    from zoo_core.data.graph import TensorGraph
    from zoo_core.nn.base import Encoder, unique_view

    g = TensorGraph(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), torch.tensor([1, 1]),
                    torch.tensor([0, 0]))
    g.with_unique(TensorGraph(g.src, g.dst, torch.tensor([1]), torch.tensor([0])), torch.tensor([0, 0]),
                  torch.tensor([0, 0]))

    class Plain(Encoder):
        def __init__(self, dropout=0.0, norm=False):
            super().__init__()
            self.dropout, self.norm = dropout, nn.BatchNorm1d(4) if norm else nn.Identity()

    assert unique_view(Plain().train(), g) is g.unique
    assert unique_view(Plain(dropout=0.1).train(), g) is None        # each copy its own dropout mask
    assert unique_view(Plain(dropout=0.1).eval(), g) is g.unique
    assert unique_view(Plain(norm=True).train(), g) is None          # batch statistics see every copy
    assert unique_view(nn.Linear(2, 2), g) is None                   # not an Encoder: no promise made


def test_warm_run_never_featurizes(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    build_store(["CCO", "c1ccccc1", "xx"], "mrl56", False, progress=False)
    from zoo_core.chem import featurizers

    def refuse(*args, **kwargs):
        raise AssertionError("featurize called on a warm cache")

    monkeypatch.setattr(featurizers.Featurizer, "featurize", refuse)
    store, ids, failures = build_store(["CCO", "c1ccccc1", "xx"], "mrl56", False, progress=False)
    assert store.stats["featurized"] == 0 and set(failures) == {"xx"} and len(store) == 2


def test_dgl_is_loaded_through_the_compat_loader():
    from zoo_core.dglcompat import dgl

    g = dgl.graph((torch.tensor([0]), torch.tensor([1])), num_nodes=2)
    assert g.num_edges() == 1
    import pathlib

    import zoo_core

    offenders = [str(p) for p in pathlib.Path(zoo_core.__file__).parent.parent.rglob("*.py")
                 if ".venv" not in p.parts and p.name != "dglcompat.py"
                 and any(line.strip().startswith(("import dgl", "from dgl")) for line in p.read_text().splitlines())]
    assert offenders == []


WARM_TRAIN_STEP = r"""
import sys
import torch
from zoo_core.data.pairs import PairBatch
from zoo_core.data.store import build_store
from zoo_core.models import build_model, model_spec
from zoo_core.train.trainer import model_loss, task_loss_fn
spec = model_spec("cigin", None, explicit_h=True)
store, ids, _ = build_store(["CCO", "O", "c1ccccc1"], spec["featurizer"]["name"], True, progress=False)
assert store.stats["featurized"] == 0, store.stats
a, b = torch.tensor([ids["CCO"], ids["c1ccccc1"]]), torch.tensor([ids["O"], ids["O"]])
batch = PairBatch(store.gather(a), store.gather(b), torch.zeros(2, 1), torch.arange(2))
loss, _ = model_loss(build_model(spec), batch, task_loss_fn("regression"))
loss.backward()
print(sorted(m for m in sys.modules if m.split(".")[0] in ("rdkit", "matplotlib")))
"""


def test_warm_cache_training_does_not_import_rdkit(tmp_path, monkeypatch):
    """RDKit is only needed to featurize (importing it costs ~30 MB of peak memory, docs/DECISIONS.md "Memory"):
    with a warm cache, resolving a model spec, reading the store and a training step leave it unimported."""
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    build_store(["CCO", "O", "c1ccccc1"], "mrl56", True, progress=False)   # warm the cache (RDKit loaded here)
    r = subprocess.run([sys.executable, "-c", WARM_TRAIN_STEP], capture_output=True, text=True,
                       env=dict(os.environ, ZOO_HOME=str(tmp_path)))
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_dgl_import_on_a_fresh_home_is_silent_and_writes_nothing(tmp_path):
    """DGL's first import without a backend setting prints to stdout and writes ~/.dgl/config.json."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DGLBACKEND", "DGLDEFAULTDIR")}
    env["HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", "from zoo_core.dglcompat import dgl; print(dgl.__version__)"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith("2."), out.stdout
    assert not (tmp_path / ".dgl").exists()
