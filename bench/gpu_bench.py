"""The GPU record of issue 38: CIGIN training pairs/s on CompSol and 3DMRL pretraining pairs/s on one device.

    python bench/gpu_bench.py                       # cuda: writes bench/results/gpu-<device>.json
    python bench/gpu_bench.py --device cpu --rows 512 --pairs 96 --epochs 2 --no-save   # a quick check anywhere

Batches are TensorGraphs moved to the device (zoo_core.data.graph), the trainer's own epoch loop
(zoo_core.train.trainer.train_epoch) and the pretraining loop (3DMRL, ``device=``) run unchanged. Each figure is the
fastest of ``--epochs`` epochs after a warm-up epoch (the first pays CUDA's start-up and kernel selection).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    from bench.run_bench import machine

    return machine()


def _synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def cigin_pairs_per_s(device: str, epochs: int, rows: int | None) -> dict:
    import numpy as np
    import torch

    from zoo_core.data.datasets import load_table
    from zoo_core.data.pairs import PairDataset
    from zoo_core.models import build_model, model_spec
    from zoo_core.train.optim import Adam
    from zoo_core.train.trainer import task_loss_fn, train_epoch

    spec = model_spec("cigin", None, task="regression", explicit_h=True)
    data = PairDataset.from_table(load_table("compsol"), spec["featurizer"]["name"], True, progress=False)
    torch.manual_seed(0)
    model = build_model(spec).to(device)
    opt, loss_fn, rng = Adam(model.parameters(), 1e-3), task_loss_fn("regression"), np.random.default_rng(0)
    picked = np.arange(min(rows or len(data), len(data)))
    times = []
    for _ in range(epochs + 1):
        t0 = time.perf_counter()
        train_epoch(model, opt, data, picked, 256, loss_fn, rng, device)
        _synchronize(device)
        times.append(time.perf_counter() - t0)
    best = min(times[1:])
    return {"pairs": len(picked), "seconds_per_epoch": best, "pairs_per_s": len(picked) / best, "epochs": times}


def pretraining_pairs_per_s(device: str, epochs: int, limit: int) -> dict:
    import numpy as np

    from zoo_core.data.datasets import load_table
    from zoo_core.models import model_spec
    from zoo_core.plugins import get_catalog
    from zoo_core.registry import get_registry

    table = load_table("compsol")
    pairs = list(dict.fromkeys(zip(table.a, table.b)))
    pairs = [pairs[i] for i in np.sort(np.random.default_rng(0).permutation(len(pairs))[:limit])]
    spec = model_spec("cigin", None, task="regression", explicit_h=True)
    cls = get_catalog().get("pretrainers", "3dmrl").load()
    params = get_registry().entry("pretrainers", "3dmrl").params
    _, history = cls.pretrain(spec, pairs, epochs=epochs + 1, batch_size=48, lr=1e-4, seed=0, params=params,
                              progress=False, device=device)
    best = min(h["seconds"] for h in history[1:])
    return {"pairs": len(pairs), "seconds_per_epoch": best, "pairs_per_s": len(pairs) / best,
            "epochs": [h["seconds"] for h in history]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=3, help="measured epochs (after one warm-up epoch)")
    parser.add_argument("--rows", type=int, default=None, help="CIGIN: train on the first N pairs (default: all)")
    parser.add_argument("--pairs", type=int, default=1000, help="3DMRL: random CompSol pairs per epoch")
    parser.add_argument("--no-save", action="store_true", help="print the records only")
    args = parser.parse_args()
    from zoo_core.device import resolve_device

    device = resolve_device(args.device)
    name = device_name(device)
    cmd = "python bench/gpu_bench.py " + " ".join(sys.argv[1:])
    base = {"dataset": "compsol", "machine": name, "device": device, "command": cmd, "date": time.strftime("%Y-%m-%d")}
    cigin = cigin_pairs_per_s(device, args.epochs, args.rows)
    print(f"cigin on {device}: {cigin}", flush=True)
    pre = pretraining_pairs_per_s(device, args.epochs, args.pairs)
    print(f"3dmrl on {device}: {pre}", flush=True)
    records = [
        {"model": "cigin", "figure": f"training pairs/s on {device}", "value": cigin["pairs_per_s"], "unit": "pairs/s",
         "settings": "explicit H, batch 256, T=3, fastest epoch after a warm-up", "detail": cigin, **base},
        {"model": "cigin", "figure": f"3DMRL pretraining pairs/s on {device}", "value": pre["pairs_per_s"],
         "unit": "pairs/s", "settings": f"3DMRL, batch 48, explicit H, {pre['pairs']} random pairs per epoch, "
                                        f"fastest epoch after a warm-up", "detail": pre, **base}]
    if args.no_save:
        print(json.dumps(records, indent=1))
        return
    from bench.records import save_records

    print(save_records(f"gpu-{device.replace(':', '')}", records))


if __name__ == "__main__":
    main()
