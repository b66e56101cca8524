"""Batching cost: TensorGraph gather (now) vs the DGL gather (old code, verbatim) for CompSol batches of 256 pairs,
and one CIGIN training step for scale. Interleaved, median over batches.

    ZOO_DATA_DIR=/path/to/data python bench/batching_cost.py
"""
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zoo_core.data.store import _ranges
from zoo_core.dglcompat import dgl
from zoo_core.models import model_spec
from zoo_core.train.config import dataset_entry_of, load_dataset_table
from zoo_core.train.run import load_dataset
from zoo_core.testing import build
from zoo_core.train.optim import Adam
from zoo_core.train.trainer import model_loss, task_loss_fn

torch.set_num_threads(2)


def old_gather(self, ids):  # zoo_core/data/store.py MolStore.gather before issue 38 (commit f836411)
    n = self.node_ptr[ids + 1] - self.node_ptr[ids]
    e = self.edge_ptr[ids + 1] - self.edge_ptr[ids]
    node_idx = _ranges(self.node_ptr[ids], n)
    edge_idx = _ranges(self.edge_ptr[ids], e)
    offsets = torch.repeat_interleave(torch.cumsum(n, 0) - n, e)
    ei = self.edge_index[:, edge_idx] + offsets
    g = dgl.graph((ei[0], ei[1]), num_nodes=int(n.sum()))
    g.ndata["x"] = self.x[node_idx]
    g.ndata["atomic_num"] = self.atomic_num[node_idx]
    g.edata["e"] = self.edge_attr[edge_idx]
    g.edata["etype"] = self.edge_types()[edge_idx]
    g.set_batch_num_nodes(n)
    g.set_batch_num_edges(e)
    return g


entry = dataset_entry_of({"dataset": "compsol", "columns": None})
spec = model_spec("cigin", None, task=entry["task"], explicit_h=bool(entry["explicit_h"]))
data = load_dataset(load_dataset_table({"dataset": "compsol"}, entry), spec, bool(entry["explicit_h"]), progress=False)
store = data.store
print("compsol pairs", len(data), "explicit_h", entry["explicit_h"])
rng = np.random.default_rng(0)
perm = torch.as_tensor(rng.permutation(len(data)))
batches = [perm[i:i + 256] for i in range(0, len(data) - 255, 256)]
new_t, old_t = [], []
for _ in range(3):
    for rows in batches:
        a, b = data.ids_a[rows], data.ids_b[rows]
        t0 = time.perf_counter(); store.gather(a); store.gather(b); t1 = time.perf_counter()
        old_gather(store, a); old_gather(store, b); t2 = time.perf_counter()
        new_t.append(t1 - t0); old_t.append(t2 - t1)
med_new, med_old = statistics.median(new_t), statistics.median(old_t)
print(f"batches: {len(new_t)} (256 pairs each, both sides)")
print(f"TensorGraph gather: median {med_new * 1e3:.3f} ms per batch")
print(f"DGL gather (old):   median {med_old * 1e3:.3f} ms per batch  ratio old/new {med_old / med_new:.2f}x")
model = build(spec)
opt, loss_fn = Adam(model.parameters(), lr=1e-3), task_loss_fn("regression")
model.train()
steps = []
for rows in batches[:20]:
    batch = data.batch(rows)
    t0 = time.perf_counter()
    opt.zero_grad(); loss, _ = model_loss(model, batch, loss_fn); loss.backward(); opt.step()
    steps.append(time.perf_counter() - t0)
step = statistics.median(steps[2:])
print(f"CIGIN step (forward+backward+Adam, batch built before): median {step * 1e3:.1f} ms; batching share now "
      f"{med_new / (step + med_new) * 100:.2f} %, before {med_old / (step + med_old) * 100:.2f} %")
