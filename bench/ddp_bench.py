"""3DMRL pretraining pairs/s on 1 and 2 data-parallel ranks of one torch thread each, in the same bench run
(issue 38 acceptance: 2 ranks >= 1.6x 1 rank).

    python bench/ddp_bench.py [--pairs combisolv-product] [--n-pairs 1536] [--batch-size 48] [--rounds 3]

Each round runs one pretraining epoch on 1 rank, then on 2 (gloo on localhost, spawned processes, the same seeded
batches: each rank takes a contiguous share of every batch, cut to balance the VIE atoms); pairs/s = pairs / the
epoch's loop seconds (the record's ``seconds``: conformers and featurization come from the cache filled before the
first round). Prints one JSON record (medians over rounds and their ratio); ``--out FILE.json`` writes the three
bench records (1 rank, 2 ranks, the ratio) that ``python bench/run_bench.py render`` puts in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/ddp_bench.py`: the repository root makes the package `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _pretrain(rank: int, world: int, port: int, args: dict, out: str) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    _, history = _run(args)
    if rank == 0:
        Path(out).write_text(json.dumps(history))
    if world > 1:
        dist.destroy_process_group()


def _run(args: dict):
    from zoo_core.data.pair_sets import resolve
    from zoo_core.models import model_spec
    from zoo_core.plugins import get_catalog

    pairs = resolve(args["pairs"]).pairs[:args["n_pairs"]]
    cls = get_catalog().get("pretrainers", "3dmrl").load()
    return cls.pretrain(model_spec("cigin", explicit_h=True), pairs, epochs=1, batch_size=args["batch_size"],
                        lr=1e-4, seed=0, workers=1, progress=False)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pairs_per_s(world: int, args: dict) -> float:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "history.json")
        mp.spawn(_pretrain, args=(world, _port(), args, out), nprocs=world, join=True)
        record = json.loads(Path(out).read_text())[0]
    return record["pairs"] / record["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="combisolv-product")
    parser.add_argument("--n-pairs", type=int, default=1536)
    parser.add_argument("--batch-size", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    ns = parser.parse_args()
    args = {"pairs": ns.pairs, "n_pairs": ns.n_pairs, "batch_size": ns.batch_size}
    _run(dict(args, n_pairs=min(ns.n_pairs, 2 * ns.batch_size)))   # warm-up (imports); the data is cached below
    from zoo_core.data.pair_sets import resolve
    from zoo_3dmrl.pretrainer import PretrainData
    from zoo_core.models import model_spec

    PretrainData(model_spec("cigin", explicit_h=True), resolve(ns.pairs).pairs[:ns.n_pairs], workers=1)  # fill caches
    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(ns.rounds):   # interleaved: 1 rank, 2 ranks, 1 rank, ...
        for world in rates:
            rates[world].append(pairs_per_s(world, args))
    median = {world: statistics.median(r) for world, r in rates.items()}
    record = {"bench": "3dmrl-pretraining-ddp", **args, "threads_per_rank": 1, "rounds": ns.rounds,
              "pairs_per_s": {str(w): [round(x, 1) for x in r] for w, r in rates.items()},
              "median_pairs_per_s": {str(w): round(m, 1) for w, m in median.items()},
              "ratio_2_over_1": round(median[2] / median[1], 3)}
    print(json.dumps(record, indent=2))
    if ns.out:
        from bench.records import save_records

        save_records(ns.out.stem, bench_records(ns, rates, median), folder=ns.out.parent)


def bench_records(ns: argparse.Namespace, rates: dict[int, list[float]], median: dict[int, float]) -> list[dict]:
    """The records of one bench run: pairs/s on 1 rank, on 2 ranks (medians over rounds) and their ratio."""
    from bench.run_bench import machine

    common = {"model": "cigin", "dataset": f"{ns.pairs} ({ns.n_pairs:,} pairs)",
              "command": (f"python bench/ddp_bench.py --pairs {ns.pairs} --n-pairs {ns.n_pairs} --batch-size "
                          f"{ns.batch_size} --rounds {ns.rounds} --out {ns.out}"),
              "machine": machine(), "date": time.strftime("%Y-%m-%d"),
              "note": (f"3DMRL pretraining, one epoch per arm, the arms interleaved ({ns.rounds} rounds, median); "
                       f"issue 38 asks >= 1.6x")}
    rounds = {w: [round(x, 1) for x in r] for w, r in rates.items()}
    return [{**common, "figure": "3DMRL pretraining pairs/s, 1 rank", "value": round(median[1], 1),
             "unit": "pairs/s", "settings": f"1 thread, batch {ns.batch_size}; rounds {rounds[1]}"},
            {**common, "figure": "3DMRL pretraining pairs/s, 2 gloo ranks", "value": round(median[2], 1),
             "unit": "pairs/s", "settings": f"1 thread per rank, batch {ns.batch_size}; rounds {rounds[2]}"},
            {**common, "figure": "3DMRL pretraining, 2 ranks / 1 rank", "value": round(median[2] / median[1], 3),
             "unit": "ratio", "settings": "same bench run, medians"}]


if __name__ == "__main__":
    main()
