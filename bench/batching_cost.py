"""Batching cost: TensorGraph gather (now) vs the DGL batch (MolStore.gather_dgl: the same index arithmetic, then the
DGL graph built as before issue 38) for CompSol batches of 256 pairs,
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

from zoo_core.models import model_spec
from zoo_core.train.config import dataset_entry_of, load_dataset_table
from zoo_core.train.run import load_dataset
from zoo_core.testing import build
from zoo_core.train.optim import Adam
from zoo_core.train.trainer import model_loss, task_loss_fn

torch.set_num_threads(2)


entry = dataset_entry_of({"dataset": "compsol", "columns": None})
spec = model_spec("cigin", None, task=entry["task"], explicit_h=bool(entry["explicit_h"]))
data = load_dataset(load_dataset_table({"dataset": "compsol"}, entry), spec, bool(entry["explicit_h"]), progress=False)
store = data.store
print("compsol pairs", len(data), "explicit_h", entry["explicit_h"])
rng = np.random.default_rng(0)
perm = torch.as_tensor(rng.permutation(len(data)))
batches = [perm[i:i + 256] for i in range(0, len(data) - 255, 256)]
new_t, old_t = [], []
for repeat in range(5):
    for i, rows in enumerate(batches):
        a, b = data.ids_a[rows], data.ids_b[rows]
        for kind in ((0, 1) if (i + repeat) % 2 else (1, 0)):  # alternate which goes first (warm caches)
            t0 = time.perf_counter()
            if kind == 0:
                store.gather(a), store.gather(b)
            else:
                store.gather_dgl(a), store.gather_dgl(b)
            (new_t if kind == 0 else old_t).append(time.perf_counter() - t0)
med_new, med_old = statistics.median(new_t), statistics.median(old_t)
print(f"timed batches: {len(new_t)} per kind ({len(batches)} batches of 256 pairs x 5, both sides)")
print(f"TensorGraph gather: median {med_new * 1e3:.3f} ms per batch")
print(f"DGL gather:         median {med_old * 1e3:.3f} ms per batch  ratio DGL/TensorGraph {med_old / med_new:.2f}x")
print(f"fastest: TensorGraph {min(new_t) * 1e3:.3f} ms, DGL {min(old_t) * 1e3:.3f} ms")
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
