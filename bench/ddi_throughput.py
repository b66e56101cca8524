"""DDI training throughput (issue 35): training pairs/s and peak memory of pair models on a DDI dataset, as
`zoo run --encoder MODEL --dataset DATASET` trains them.

  python bench/run_bench.py ddi-throughput --models cgib,i2mole --dataset chchminer --threads 1 --steps 8

Each model runs in a fresh process (so its max RSS is its own) that builds the run as `zoo run` would: the
dataset entry's batch size and lr, its ``model_featurizer`` (chemprop133) and ``symmetric`` pair model, and the
first repeat (seed 0) of the ``--split`` folds with their negatives. It trains the trainer's own step
(``zoo_core.train.trainer.train_epoch``: batching, forward, backward, Adam) over the training rows in a seeded
order: ``--warmup`` steps, then ``--steps`` steps timed one by one; training pairs/s = timed pairs / their wall
seconds, and per CPU-second the same over the process's CPU time in them (less sensitive to a shared machine).
It then times one forward pass over ``--eval-batches`` validation batches (what each epoch's validation costs),
so ``epoch_seconds`` = training rows / train pairs/s + validation rows / eval pairs/s (``epoch_cpu_seconds``
the same from CPU time). The feature cache is filled by a child of its own first. The machine's load average at
start and end goes into the record's note, with the command to rerun on a quiet machine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

from bench.records import save_records
from bench.run_bench import machine, run_child
from bench.timing import kept_records, load_average, load_note

SETUP = r'''
import json, time
import numpy as np, torch
torch.set_num_threads({threads})
from zoo_core.train.memory import peak_rss_gb
from zoo_core.train.run import _ddi_rows, _featurized, resolve_config, train_config
cfg = resolve_config({{"encoder": {model!r}, "dataset": {dataset!r}, "split": {split!r}, "seed": 0, "repeats": 1,
                      "threads": {threads}}})
entry, _, spec, ds = _featurized(cfg, quiet=True)
ds, ddi = _ddi_rows(cfg, entry, ds, quiet=True)
'''

WARM = SETUP + 'print(json.dumps({{"pairs": len(ds)}}))\n'

MEASURE = SETUP + r'''
from zoo_core.models import build_model
from zoo_core.nn.base import Encoder
from zoo_core.train.optim import Adam
from zoo_core.train.trainer import predict, targets_scaler_and_loss
from bench.timing import check_rows, molecule_stats, timed, timed_steps, trainer_step
train_rows, valid_rows, _ = ddi.folds[0][0]
tc, data_rss_gb = train_config(cfg), peak_rss_gb()
torch.manual_seed(0); model = build_model(spec)
opt = Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
_, scale, loss_fn = targets_scaler_and_loss(model, ds, train_rows, tc, entry["task"], "cpu")
order, bs = np.random.default_rng(0).permutation(train_rows), tc.batch_size
check_rows({warmup}, {steps}, bs, len(order))
step_seconds, step_cpu_seconds = timed_steps(trainer_step(model, opt, ds, order, bs, loss_fn, scale), {warmup},
                                             {steps})
eval_rows = valid_rows[:{eval_batches} * tc.eval_batch_size]
eval_seconds, eval_cpu_seconds = timed(predict, model, ds.batches(eval_rows, tc.eval_batch_size))
print(json.dumps({{
    "batch_size": bs, "eval_batch_size": tc.eval_batch_size, "lr": tc.lr, "step_seconds": step_seconds,
    "step_cpu_seconds": step_cpu_seconds,
    "eval_pairs": len(eval_rows), "eval_seconds": eval_seconds, "eval_cpu_seconds": eval_cpu_seconds,
    "train_rows": len(train_rows),
    "valid_rows": len(valid_rows), "peak_rss_gb": peak_rss_gb(), "data_rss_gb": data_rss_gb,
    "settings": {{"encoder": spec["encoder"], "encoder_params": spec["encoder_params"],
                  "pair_params": spec["pair_params"], "featurizer": spec["featurizer"]["name"],
                  "atom_dim": spec["featurizer"]["atom_dim"], "bond_dim": spec["featurizer"]["bond_dim"],
                  "node_width": next(m.out_dim for m in model.modules() if isinstance(m, Encoder)),
                  "parameters": sum(p.numel() for p in model.parameters())}},
    "molecules": molecule_stats(ds.store)}}))
'''


def command_of(args) -> str:
    return (f"python bench/run_bench.py ddi-throughput --models {args.models} --dataset {args.dataset} "
            f"--split {args.split} --threads {args.threads} --warmup {args.warmup} --steps {args.steps} "
            f"--eval-batches {args.eval_batches}")


def throughput_record(model: str, child: dict, args, load: dict[str, list[float]]) -> dict:
    """One model's record from its child's measurement and the load averages at the command's start and end."""
    timed = child["batch_size"] * len(child["step_seconds"])
    pairs_per_s = timed / sum(child["step_seconds"])
    pairs_per_cpu_s = timed / sum(child["step_cpu_seconds"])
    eval_pairs_per_s = child["eval_pairs"] / child["eval_seconds"]
    eval_pairs_per_cpu_s = child["eval_pairs"] / child["eval_cpu_seconds"]
    note = load_note(load, command_of(args))
    return {"kind": "ddi-throughput", "model": model, "dataset": args.dataset, "split": args.split,
            "threads": args.threads, "warmup_steps": args.warmup, "steps": len(child["step_seconds"]),
            "batch_size": child["batch_size"], "lr": child["lr"], "pairs_per_s": pairs_per_s,
            "pairs_per_cpu_s": pairs_per_cpu_s, "step_seconds": child["step_seconds"],
            "step_cpu_seconds": child["step_cpu_seconds"], "eval_pairs_per_s": eval_pairs_per_s,
            "eval_pairs_per_cpu_s": eval_pairs_per_cpu_s,
            "epoch_seconds": child["train_rows"] / pairs_per_s + child["valid_rows"] / eval_pairs_per_s,
            "epoch_cpu_seconds": child["train_rows"] / pairs_per_cpu_s + child["valid_rows"] / eval_pairs_per_cpu_s,
            "train_rows": child["train_rows"], "valid_rows": child["valid_rows"],
            "peak_rss_gb": child["peak_rss_gb"], "data_rss_gb": child["data_rss_gb"],
            "settings": child["settings"], "molecules": child["molecules"], "load_average": load,
            "note": note + (f"; {args.note}" if args.note else ""), "command": command_of(args),
            "date": time.strftime("%Y-%m-%d"), "machine": machine()}


def ddi_throughput(args) -> None:
    models = [m.strip() for m in args.models.split(",")]
    print(f"command: {command_of(args)}", flush=True)
    home = tempfile.mkdtemp(prefix="zoo-bench-home-")
    os.environ["ZOO_HOME"] = home   # a feature cache of its own, filled by the WARM child
    start = load_average()
    fmt = dict(dataset=args.dataset, split=args.split, threads=args.threads, warmup=args.warmup, steps=args.steps,
               eval_batches=args.eval_batches)
    run_child(WARM.format(model=models[0], **fmt))
    children = {model: run_child(MEASURE.format(model=model, **fmt)) for model in models}
    load = {"start": start, "end": load_average()}
    records = [throughput_record(model, child, args, load) for model, child in children.items()]
    for r in records:
        print(f"{r['model']}: {r['pairs_per_s']:.1f} training pairs/s, {r['eval_pairs_per_s']:.0f} eval pairs/s, "
              f"~{r['epoch_seconds']:.0f} s per epoch, peak {r['peak_rss_gb']:.2f} GB", flush=True)
    kept = kept_records(args.name, {(m, args.dataset) for m in models}, lambda r: (r["model"], r["dataset"]))
    save_records(args.name, kept + records)
    shutil.rmtree(home, ignore_errors=True)
    print(f"load average {load['start']} at start, {load['end']} at end; rerun on a quiet machine: "
          f"{command_of(args)}", flush=True)


def add_parser(sub) -> None:
    t = sub.add_parser("ddi-throughput", help="training pairs/s and peak memory of pair models on a DDI dataset "
                                              "(issue 35)")
    t.add_argument("--models", default="cgib,i2mole")
    t.add_argument("--dataset", default="chchminer")
    t.add_argument("--split", default="transductive", help="the folds whose training rows are timed (seed 0)")
    t.add_argument("--threads", type=int, default=1, help="torch threads (1: as a DDI bench worker trains)")
    t.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    t.add_argument("--steps", type=int, default=8, help="timed steps of the entry's batch size")
    t.add_argument("--eval-batches", type=int, default=2, help="validation batches timed in one forward pass")
    t.add_argument("--name", default="ddi-throughput")
    t.add_argument("--note", default="", help="a sentence appended to each record's note")
