"""Device-ready batches (issue 38 part 1): ``MolStore.gather`` builds a plain-tensor TensorGraph without DGL, every
registered model gives the same predictions and gradients from it as from a DGL batch, batches and weights move
between devices, and ``--device auto|cpu|cuda`` resolves in one place. The CUDA tests run where torch sees a GPU."""

import copy
import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from zoo_core.data.graph import TensorGraph
from zoo_core.data.pairs import PairBatch
from zoo_core.device import device_of, resolve_device
from zoo_core.errors import UsageError
from zoo_core.testing import build, conformance_cases, conformance_spec, make_dataset
from zoo_core.train.trainer import model_loss, task_loss_fn

CASES = conformance_cases()
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the GPU check of issue 38)")


def dgl_reference(store, ids: torch.Tensor):
    """The batch of molecules ``ids`` built by DGL itself: one DGL graph per molecule, then ``dgl.batch``."""
    from zoo_core.dglcompat import dgl

    graphs = []
    for m in ids.tolist():
        n0, n1 = int(store.node_ptr[m]), int(store.node_ptr[m + 1])
        e0, e1 = int(store.edge_ptr[m]), int(store.edge_ptr[m + 1])
        ei = store.edge_index[:, e0:e1]
        g = dgl.graph((ei[0], ei[1]), num_nodes=n1 - n0)
        g.ndata["x"], g.ndata["atomic_num"] = store.x[n0:n1], store.atomic_num[n0:n1]
        if store.pos is not None:
            g.ndata["pos"] = store.pos[n0:n1]
        g.edata["e"], g.edata["etype"] = store.edge_attr[e0:e1], store.edge_types()[e0:e1]
        graphs.append(g)
    return dgl.batch(graphs)


def dgl_batch(data, rows):
    """``data.batch(rows)`` with DGL graphs in place of the TensorGraphs."""
    batch, store = data.batch(rows), data.store
    if isinstance(batch, PairBatch):
        return dataclasses.replace(batch, g_a=dgl_reference(store, data.ids_a[rows]),
                                   g_b=dgl_reference(store, data.ids_b[rows]))
    return dataclasses.replace(batch, g=dgl_reference(store, data.ids[rows]))


def graphs_of(batch) -> list:
    return [batch.g_a, batch.g_b] if isinstance(batch, PairBatch) else [batch.g]


def as_double(batch):
    """The batch's float tensors in float64 (graphs changed in place: TensorGraph and DGL graph alike)."""
    for g in graphs_of(batch):
        for data in (g.ndata, g.edata):
            for key in list(data.keys()):
                if data[key].is_floating_point():
                    data[key] = data[key].double()
    return dataclasses.replace(batch, y=batch.y.double())


def assert_same_graph(tg: TensorGraph, dg) -> None:
    for mine, theirs in zip(tg.edges(), dg.edges()):
        assert torch.equal(mine, theirs)
    assert torch.equal(tg.batch_num_nodes(), dg.batch_num_nodes())
    assert torch.equal(tg.batch_num_edges(), dg.batch_num_edges())
    assert (tg.num_nodes(), tg.num_edges()) == (dg.num_nodes(), dg.num_edges())
    assert set(tg.ndata) == set(dg.ndata.keys()) and set(tg.edata) == set(dg.edata.keys())
    for key in tg.ndata:
        assert torch.equal(tg.ndata[key], dg.ndata[key]), key
    for key in tg.edata:
        assert torch.equal(tg.edata[key], dg.edata[key]), key


def outputs(model, batch, train: bool = True, seed: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(eval-mode predictions, parameter gradients of one training loss with torch seeded ``seed``; in eval mode,
    without random draws, when not ``train``)."""
    model.eval()
    with torch.no_grad():
        pred = model(batch).pred
    model.train(train)
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # the same gates, noise and dropout masks on both batches
    loss, _ = model_loss(model, batch, task_loss_fn("regression"))
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return pred, grads


def assert_close_outputs(a, b, rtol: float, atol: float) -> None:
    (pred_a, grads_a), (pred_b, grads_b) = a, b
    torch.testing.assert_close(pred_a, pred_b, rtol=rtol, atol=atol)
    assert grads_a.keys() == grads_b.keys() and grads_a, "no gradients, or different parameters reached"
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=rtol, atol=atol, msg=name)


# ---------------------------------------------------------------------------------------------------------------
# The batch


def test_gather_equals_dgl_batch_without_calling_dgl(monkeypatch):
    spec = conformance_spec("cigin", "mpnn", explicit_h=False)
    data = make_dataset(spec)  # includes bond-free molecules (water, sodium, HCl without H)
    ids = data.ids_b[torch.tensor([1, 0, 2, 3, 6, 2])]  # repeats and any order
    reference = dgl_reference(data.store, ids)
    from zoo_core.dglcompat import dgl

    monkeypatch.setattr(dgl, "graph", lambda *a, **k: pytest.fail("gather called dgl.graph"))
    g = data.store.gather(ids)
    monkeypatch.undo()
    assert isinstance(g, TensorGraph) and g.device == torch.device("cpu")
    assert g.batch_num_edges().tolist().count(0) >= 2
    assert_same_graph(g, reference)
    assert_same_graph(g, data.store.gather_dgl(ids))   # the DGL path for plugins that want DGL's API


def test_gather_carries_positions():
    spec = conformance_spec("cigin", "mpnn", explicit_h=True)
    data = make_dataset(spec)
    store = data.store
    store.pos = torch.randn(store.x.shape[0], 3, dtype=torch.float64)
    ids = torch.tensor([2, 0, 1])
    assert_same_graph(store.gather(ids), dgl_reference(store, ids))


def test_to_round_trip_and_empty_batch():
    spec = conformance_spec("cigin", "mpnn", explicit_h=True)
    data = make_dataset(spec)
    batch = data.batch(np.arange(3))
    moved = batch.to("cpu").to(torch.device("cpu"))
    for before, after in zip(graphs_of(batch), graphs_of(moved)):
        assert after is not before and after.device == torch.device("cpu")
        assert_same_graph(after, before.to_dgl())
    assert torch.equal(moved.y, batch.y) and torch.equal(moved.index, batch.index)
    empty = data.store.gather(torch.zeros(0, dtype=torch.long))
    assert (empty.num_nodes(), empty.num_edges(), empty.batch_num_nodes().tolist()) == (0, 0, [])
    assert "graphs=0" in repr(empty)


@pytest.mark.parametrize("pair_model,encoder", CASES, ids=[f"{p}-{e}" for p, e in CASES])
def test_predictions_and_gradients_equal_the_dgl_batch(pair_model, encoder):
    """Every registered model reads a TensorGraph exactly as it read a DGL graph (float64, tight tolerance)."""
    spec = conformance_spec(pair_model, encoder, task="regression", explicit_h=True)
    data = make_dataset(spec)
    rows = np.random.default_rng(0).permutation(len(data))
    model = build(spec).double()
    twin = copy.deepcopy(model)
    mine = outputs(model, as_double(data.batch(rows)))
    theirs = outputs(twin, as_double(dgl_batch(data, rows)))
    assert mine[0].dtype == torch.float64
    assert_close_outputs(mine, theirs, rtol=1e-12, atol=1e-12)


def test_training_step_imports_no_dgl(tmp_path):
    """Batching and a training step never touch DGL (it is imported only for a plugin that asks for it)."""
    code = ("import sys, numpy as np\n"
            "from zoo_core.testing import build, conformance_spec, make_dataset\n"
            "from zoo_core.train.trainer import model_loss, task_loss_fn\n"
            "spec = conformance_spec('cigin', 'mpnn', explicit_h=True)\n"
            "model, data = build(spec), make_dataset(spec)\n"
            "model_loss(model, data.batch(np.arange(len(data))), task_loss_fn('regression'))[0].backward()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'dgl'))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, ZOO_HOME=str(tmp_path)))
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "[]"


# ---------------------------------------------------------------------------------------------------------------
# The device


def test_resolve_device(monkeypatch):
    if not torch.cuda.is_available():
        assert resolve_device("auto") == resolve_device(None) == "cpu"   # this machine, unpatched
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and resolve_device(" CPU ") == "cpu"
    with pytest.raises(UsageError, match="no CUDA GPU"):
        resolve_device("cuda")
    for wrong in ("gpu", "cuda:x", "cpu:0", "mps"):
        with pytest.raises(UsageError, match="auto, cpu, cuda or cuda:N"):
            resolve_device(wrong)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == "cuda" and resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(UsageError, match="sees 2 GPU"):
        resolve_device("cuda:2")


def test_device_of_and_weights_load_onto_a_device(tmp_path):
    from zoo_core.weights import load_model, save_model

    spec = conformance_spec("cigin", "mpnn", explicit_h=True)
    model = build(spec)
    assert device_of(model) == torch.device("cpu") and device_of(torch.nn.Module()) == torch.device("cpu")
    path = save_model(tmp_path / "m.safetensors", model, spec)
    loaded, _, _ = load_model(path, device="cpu")
    assert device_of(loaded) == torch.device("cpu")
    for (name, p), (_, q) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(p, q), name


def test_checkpoint_generators_restore_without_the_saved_gpus():
    """A checkpoint written on a GPU machine (cuda_rng.N states) resumes on a CPU-only one: the CPU state is set,
    the GPU states are skipped where this process has no such GPU."""
    from zoo_core.train.checkpoint import restore_rng, rng_tensors

    saved = rng_tensors()
    assert (set(saved) == {"torch_rng"}) == (not torch.cuda.is_initialized())
    first = torch.rand(3)
    fake_gpus = {f"cuda_rng.{i}": saved["torch_rng"] for i in range(max(torch.cuda.device_count(), 0) + 1)}
    restore_rng({**saved, **fake_gpus})
    assert torch.equal(torch.rand(3), first)


def test_native_kernels_stay_on_the_cpu():
    """--compile's native C kernels take CPU float32 only; tensors elsewhere take the torch path."""
    from zoo_core.nn import native_aggregate

    cpu = torch.zeros(4, 3)
    assert native_aggregate.supports(cpu, cpu)
    meta = torch.zeros(4, 3, device="meta")  # any non-CPU device
    assert not native_aggregate.supports(meta, cpu) and not native_aggregate.supports(cpu, meta)
    assert not native_aggregate.supports(cpu.double(), cpu.double())


# ---------------------------------------------------------------------------------------------------------------
# On a GPU (skipped without one)


@CUDA
def test_cigin_trains_one_step_on_cuda():
    from zoo_core.train.optim import Adam

    spec = conformance_spec("cigin", "mpnn", task="regression", explicit_h=True)
    data = make_dataset(spec)
    model = build(spec).to("cuda")
    batch = data.batch(np.arange(len(data))).to("cuda")
    assert all(g.device.type == "cuda" for g in graphs_of(batch))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = Adam(model.parameters(), lr=1e-3)
    model.train()
    loss, _ = model_loss(model, batch, task_loss_fn("regression"))
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and loss.device.type == "cuda"
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters())


@CUDA
@pytest.mark.parametrize("pair_model,encoder", CASES, ids=[f"{p}-{e}" for p, e in CASES])
def test_cuda_equals_cpu(pair_model, encoder):
    """Every registered model on the GPU gives the CPU's predictions and gradients (float64; eval mode, as CUDA's
    random streams differ from the CPU's)."""
    spec = conformance_spec(pair_model, encoder, task="regression", explicit_h=True)
    data = make_dataset(spec)
    rows = np.arange(len(data))
    model = build(spec).double()
    on_cpu = outputs(copy.deepcopy(model), as_double(data.batch(rows)), train=False)
    pred, grads = outputs(model.to("cuda"), as_double(data.batch(rows)).to("cuda"), train=False)
    on_gpu = (pred.cpu(), {n: g.cpu() for n, g in grads.items()})
    assert_close_outputs(on_gpu, on_cpu, rtol=1e-7, atol=1e-9)
