"""MolInteract throughput (issue 36): molecules/s and peak memory of MolInteract's pretraining step and of its
fine-tuning step, as `zoo pretrain --pretrainer molinteract` / `zoo run --pretrainer molinteract` and
`zoo run --encoder molinteract` train them.

  python bench/run_bench.py molinteract-throughput --configs qm9-budget,qm9-paper,clintox-2d --threads 1 --steps 8

Configurations (``CONFIGS``): ``qm9-budget``, QM9 (targets homo, lumo, alpha) at the budget the QM9 bench states
(bench/qm9_bench.py: d = 128, L = 4); ``qm9-paper``, the same at the paper's size (d = 300, L = 6, the encoder's
defaults); ``clintox-2d``, ClinTox at d = 300, L = 6 as the MoleculeNet bench's pretrained arm trains it
(bench/moleculenet_bench.py): pretraining with both towers on the seeded ETKDG conformers, fine-tuning the 2D
tower alone (``towers=2d``). Each configuration is measured in two phases, each in a fresh process (so its max RSS
is its own, "data loaded" read before the model is built):

* ``pretraining``: the pretrainer's own step (``zoo_core.train.pretrainer._epoch``: the data view's batch with
  every task's examples, forward of both towers and the task heads, backward, Adam) with the pretrainer's defaults
  (profile ``shipped``, lr 5e-5) and `zoo pretrain`'s batch size (48), on the training molecules (QM9: its DFT
  positions; ClinTox: the cached ETKDG conformers);
* ``fine-tuning``: the trainer's own step (``zoo_core.train.trainer.train_epoch``: batching, forward, backward,
  Adam) with the dataset entry's batch size, lr, loss and target scaling (QM9: 128, L1 on standardised targets;
  ClinTox: 64, BCE), as `zoo run --encoder molinteract` trains a fold.

Each runs ``--warmup`` untimed steps, then ``--steps`` steps timed one by one (bench/timing.py, shared with the DDI
throughput bench): molecules/s = timed molecules / their wall seconds, per CPU-s the same over the process's CPU
time (less sensitive to a shared machine); ``epoch_seconds`` = the configuration's training molecules / molecules/s.

QM9 on a subset: its matched DFT positions are cached in ZOO_HOME/datasets/qm9 after a first full read, which
matches all 130,831 geometries (about 6 minutes on one loaded core here) and featurizes them. The bench does not
pay that: a child draws ``--qm9-molecules`` QM9 rows uniformly at random (seed 0; the fixed-random training split
is itself a uniform draw, so the sample has the training molecules' sizes), matches their geometries exactly as
the reader does (zoo_datasets.qm9) and writes them to a temporary file the measurement children read. Its peak
memory is therefore that of the sample's data, not of the full table (the data-loaded figure says how much of the
peak the data is).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from bench.records import save_records
from bench.run_bench import machine, run_child
from bench.timing import kept_records, load_average, load_note

# name -> dataset, d, L, the towers fine-tuned (pretraining always trains both), training molecules of the split
# the configuration stands for (None: the dataset entry's split's, counted by the child)
CONFIGS = {
    "qm9-budget": {"dataset": "qm9", "hidden": 128, "layers": 4, "towers": "both", "train": 50_000},
    "qm9-paper": {"dataset": "qm9", "hidden": 300, "layers": 6, "towers": "both", "train": 110_000},
    "clintox-2d": {"dataset": "clintox", "hidden": 300, "layers": 6, "towers": "2d", "train": None},
}
PHASES = ("pretraining", "fine-tuning")
QM9_TARGETS = ["homo", "lumo", "alpha"]   # bench/qm9_bench.py's --targets
PRETRAIN_TOWERS = "both"                  # as bench/moleculenet_bench.py and bench/qm9_bench.py pretrain
SAMPLE_SEED = 0


def qm9_sample(n: int, path: str) -> dict:
    """Draw ``n`` QM9 rows uniformly (seed :data:`SAMPLE_SEED`), match their DFT geometries as the qm9pack reader
    does, write them to ``path`` (npz) and featurize them once (the measurement children read the feature cache).
    Rows whose geometry does not fit their SMILES are left out, as the reader makes them bad rows."""
    import numpy as np

    from zoo_core.data.datasets import dataset_entry, locate
    from zoo_core.data.molecules import MolDataset
    from zoo_datasets import qm9

    entry = dataset_entry("qm9")
    rows = list(qm9._rows(qm9._files(entry, Path(locate(entry))), [qm9.TARGETS[t][0] for t in QM9_TARGETS], None))
    picked = np.sort(np.random.default_rng(SAMPLE_SEED).choice(len(rows), n, replace=False))
    smiles, y, lines, blocks, bad = [], [], [], [], 0
    for r in picked.tolist():
        _, _, index, smi, elements, xyz, values = rows[r]
        try:
            canonical, pos = qm9._match(smi, elements, xyz, index)
            target = [float(v) * qm9.TARGETS[t][1] for v, t in zip(values, QM9_TARGETS)]
        except Exception:  # noqa: BLE001 - the reader's bad rows (geometry or target): not in the sample
            bad += 1
            continue
        smiles.append(canonical)
        y.append(target)
        lines.append(index)
        blocks.append(pos)
    ptr = np.cumsum([0] + [len(b) for b in blocks])
    np.savez(path, pos=np.concatenate(blocks), ptr=ptr, y=np.asarray(y), lines=np.asarray(lines, dtype=np.int64),
             smiles=np.asarray(json.dumps(smiles)))
    MolDataset.from_table(sample_table(path), "ogb9", True, progress=False)
    return {"molecules": len(smiles), "drawn": n, "left_out": bad, "of": len(rows), "seed": SAMPLE_SEED}


def sample_table(path: str):
    """The QM9 sample written by :func:`qm9_sample`, as the reader's MolTable (targets, QM9 indices, positions)."""
    import numpy as np

    from zoo_core.data.table import MolTable

    with np.load(path, allow_pickle=False) as z:
        smiles, pos, ptr = json.loads(str(z["smiles"])), z["pos"], z["ptr"]
        y, lines = z["y"], z["lines"]
    positions = {}
    for i, s in enumerate(smiles):
        positions.setdefault(s, pos[ptr[i]:ptr[i + 1]])
    return MolTable(f"qm9 sample ({len(smiles)} molecules)", ("molecule",), smiles, y, lines,
                    targets=tuple(QM9_TARGETS), positions=positions)


class _Rows:
    """A pretraining data view restricted to ``rows`` of ``data`` (what the pretrainer's epoch loop iterates)."""

    def __init__(self, data, rows):
        self.data, self.rows = data, rows

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self, rows, epoch: int):
        import numpy as np

        return self.data.batch(self.rows[np.asarray(rows, dtype=np.int64)], epoch)


def _run_config(job: dict, towers: str) -> dict:
    from zoo_core.train.config import resolve_config

    cli = {"encoder": "molinteract", "dataset": job["dataset"], "seed": 0, "repeats": 1, "threads": job["threads"],
           "encoder_params": {"hidden": job["hidden"], "layers": job["layers"], "towers": towers}}
    if job["dataset"] == "qm9":
        cli["targets"] = QM9_TARGETS
    return resolve_config(cli)


def _table(job: dict, cfg: dict, entry):
    """The QM9 sample, or the dataset's table as `zoo run` reads it."""
    from zoo_core.train.config import load_dataset_table

    return sample_table(job["sample"]) if job.get("sample") else load_dataset_table(cfg, entry)


def _train_rows(job: dict, cfg: dict, data):
    """The training rows of featurized ``data``: every row of the QM9 sample, else the first fold's of the
    dataset's split with seed 0 (what `zoo run` trains, and `zoo pretrain --dataset D` pretrains on)."""
    import numpy as np

    from zoo_core.data.splits import make_splits

    if job.get("sample"):
        return np.arange(len(data))
    return make_splits(cfg["split"], len(data), 0, data.table.a, data.table.b, n_folds=int(cfg["folds"]))[0][0]


def measure(job: dict) -> dict:
    """One (configuration, phase) measurement, in this (fresh) process; ``job``: a configuration of
    :data:`CONFIGS` with ``phase``, ``threads``, ``warmup``, ``steps`` and ``sample`` (the QM9 sample's file)."""
    import torch

    torch.set_num_threads(job["threads"])
    from zoo_core.train.config import dataset_entry_of
    from zoo_core.train.run import run_spec

    towers = PRETRAIN_TOWERS if job["phase"] == "pretraining" else job["towers"]
    cfg = _run_config(job, towers)
    entry = dataset_entry_of(cfg)
    table = _table(job, cfg, entry)
    spec = run_spec(cfg, entry, table)
    out = (_pretraining if job["phase"] == "pretraining" else _fine_tuning)(job, cfg, entry, table, spec)
    out["settings"].update(encoder_params=spec["encoder_params"], featurizer=spec["featurizer"]["name"],
                           explicit_h=bool(cfg["explicit_h"]))
    return dict(out, towers=towers)


def _pretraining(job: dict, cfg: dict, entry, table, spec: dict) -> dict:
    import numpy as np
    import torch

    from bench.timing import check_rows, molecule_stats, timed_steps
    from zoo_core.data.molecules import MolDataset
    from zoo_core.data.pair_sets import examples_of_rows
    from zoo_core.models import build_model
    from zoo_core.registry import get_registry
    from zoo_core.train.memory import peak_rss_gb
    from zoo_core.train.optim import Adam
    from zoo_core.train.pretrainer import _epoch, _State
    from zoo_core.train.pretraining import _pretrainer_class, backbone_spec, default_lr

    pre_entry = get_registry().entry("pretrainers", "molinteract")
    cls = _pretrainer_class(pre_entry)
    pre, spec = cls(dict(pre_entry.params)), backbone_spec(spec, cls)
    bs, lr = int(cfg["pretrain_batch_size"]), float(cfg["pretrain_lr"] or default_lr(entry, "molinteract"))
    featurized = MolDataset.from_table(table, spec["featurizer"]["name"], bool(cfg["explicit_h"]), progress=False)
    train_rows = _train_rows(job, cfg, featurized)
    examples = examples_of_rows(featurized.table, train_rows)   # as `zoo pretrain --dataset D` picks them
    del featurized
    given = {"positions": table.positions} if table.positions is not None else {}
    data = pre.prepare(spec, examples, 0, None, True, False, **given)
    data_rss_gb = peak_rss_gb()
    torch.manual_seed(0)
    model = build_model(spec)
    aux = pre.aux_modules(model)
    opt = Adam(pre.optimised_parameters(model, aux), lr=lr)
    state = _State(pre, model, aux, opt, None, None, {})
    order = np.random.default_rng(0).permutation(len(data))
    check_rows(job["warmup"], job["steps"], bs, len(order), "training molecules")

    def step(first: int, count: int) -> None:
        _epoch(state, _Rows(data, order[first * bs:(first + count) * bs]), first, 0, bs, "cpu", (0, None, 0.0),
               float("inf"), None)

    wall, cpu = timed_steps(step, job["warmup"], job["steps"])
    return {"batch_size": bs, "lr": lr, "step_seconds": wall, "step_cpu_seconds": cpu,
            "peak_rss_gb": peak_rss_gb(), "data_rss_gb": data_rss_gb, "molecules": molecule_stats(data.data.store),
            "train_rows": len(data),
            "settings": {"pretrainer": "molinteract", "pretrain_params": pre.params, "tasks": list(pre.tasks),
                         "geometry": data.geometry, "loss": "the tasks' losses, summed",
                         "parameters": sum(p.numel() for p in model.parameters()),
                         "head_parameters": sum(p.numel() for p in aux.parameters())}}


def _fine_tuning(job: dict, cfg: dict, entry, table, spec: dict) -> dict:
    import numpy as np
    import torch

    from bench.timing import check_rows, molecule_stats, timed_steps, trainer_step
    from zoo_core.models import build_model
    from zoo_core.train.memory import peak_rss_gb
    from zoo_core.train.optim import Adam
    from zoo_core.train.run import load_dataset, train_config
    from zoo_core.train.trainer import targets_scaler_and_loss

    ds = load_dataset(table, spec, bool(cfg["explicit_h"]), progress=False)
    tc, data_rss_gb, train_rows = train_config(cfg), peak_rss_gb(), _train_rows(job, cfg, ds)
    torch.manual_seed(0)
    model = build_model(spec)
    opt = Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    _, scale, loss_fn = targets_scaler_and_loss(model, ds, train_rows, tc, entry["task"], "cpu")
    order, bs = np.random.default_rng(0).permutation(train_rows), tc.batch_size
    check_rows(job["warmup"], job["steps"], bs, len(order), "training molecules")
    wall, cpu = timed_steps(trainer_step(model, opt, ds, order, bs, loss_fn, scale), job["warmup"], job["steps"])
    return {"batch_size": bs, "lr": tc.lr, "step_seconds": wall, "step_cpu_seconds": cpu,
            "peak_rss_gb": peak_rss_gb(), "data_rss_gb": data_rss_gb, "molecules": molecule_stats(ds.store),
            "train_rows": len(train_rows),
            "settings": {"task": entry["task"], "loss": tc.loss if entry["task"] == "regression" else "bce",
                         "scale_targets": scale is not None, "lr_schedule": tc.lr_schedule,
                         "targets": list(table.targets), "parameters": sum(p.numel() for p in model.parameters())}}


def command_of(args) -> str:
    return (f"python bench/run_bench.py molinteract-throughput --configs {args.configs} --phases {args.phases} "
            f"--threads {args.threads} --warmup {args.warmup} --steps {args.steps} "
            f"--qm9-molecules {args.qm9_molecules}")


def throughput_record(config: str, phase: str, child: dict, args, load: dict[str, list[float]],
                      sample: dict | None) -> dict:
    """One (configuration, phase) record from its child's measurement, the QM9 sample it used (or None) and the
    load averages at the command's start and end."""
    conf = CONFIGS[config]
    timed = child["batch_size"] * len(child["step_seconds"])
    per_s, per_cpu_s = timed / sum(child["step_seconds"]), timed / sum(child["step_cpu_seconds"])
    train = conf["train"] or child["train_rows"]
    note = load_note(load, command_of(args))
    if sample:
        note += (f"; QM9: a uniform sample of {sample['molecules']:,} of its {sample['of']:,} molecules (seed "
                 f"{sample['seed']}), not the full table: the zoo's QM9 positions cache was cold and filling it "
                 "(matching every DFT geometry, featurizing every molecule) costs more than this bench's budget; "
                 "peak memory is the sample's")
    return {"kind": "molinteract-throughput", "config": config, "phase": phase, "dataset": conf["dataset"],
            "encoder": "molinteract", "hidden": conf["hidden"], "layers": conf["layers"], "towers": child["towers"],
            "threads": args.threads, "warmup_steps": args.warmup, "steps": len(child["step_seconds"]),
            "batch_size": child["batch_size"], "lr": child["lr"], "molecules_per_s": per_s,
            "molecules_per_cpu_s": per_cpu_s, "step_seconds": child["step_seconds"],
            "step_cpu_seconds": child["step_cpu_seconds"], "train_molecules": train,
            "epoch_seconds": train / per_s, "epoch_cpu_seconds": train / per_cpu_s,
            "peak_rss_gb": child["peak_rss_gb"], "data_rss_gb": child["data_rss_gb"], "settings": child["settings"],
            "molecules": child["molecules"], "sample": sample, "load_average": load,
            "note": note + (f"; {args.note}" if args.note else ""), "command": command_of(args),
            "date": time.strftime("%Y-%m-%d"), "machine": machine()}


def _names(value: str, known, what: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what} {', '.join(unknown)}; known: {', '.join(known)}")
    return names


def molinteract_throughput(args) -> None:
    configs = _names(args.configs, CONFIGS, "configuration(s)")
    phases = _names(args.phases, PHASES, "phase(s)")
    print(f"command: {command_of(args)}", flush=True)
    scratch = tempfile.mkdtemp(prefix="zoo-bench-molinteract-")
    start, sample, path, children = load_average(), None, None, {}
    try:
        if any(CONFIGS[c]["dataset"] == "qm9" for c in configs):
            path = str(Path(scratch) / "qm9-sample.npz")
            sample = run_child("import json\nfrom bench.molinteract_throughput import qm9_sample\n"
                               f"print(json.dumps(qm9_sample({args.qm9_molecules}, {path!r})))")
            print(f"QM9 sample: {sample['molecules']} molecules ({sample['left_out']} left out)", flush=True)
        for config in configs:
            for phase in phases:
                job = dict(CONFIGS[config], phase=phase, threads=args.threads, warmup=args.warmup, steps=args.steps,
                           sample=path if CONFIGS[config]["dataset"] == "qm9" else None)
                children[(config, phase)] = run_child("import json\nfrom bench.molinteract_throughput import measure"
                                                      f"\nprint(json.dumps(measure({job!r})))")
                c = children[(config, phase)]
                print(f"{config} {phase}: {c['batch_size'] * len(c['step_seconds']) / sum(c['step_seconds']):.1f} "
                      f"molecules/s, peak {c['peak_rss_gb']:.2f} GB", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    load = {"start": start, "end": load_average()}
    records = [throughput_record(config, phase, child, args, load,
                                 sample if CONFIGS[config]["dataset"] == "qm9" else None)
               for (config, phase), child in children.items()]
    kept = kept_records(args.name, set(children), lambda r: (r["config"], r["phase"]))
    save_records(args.name, kept + records)
    print(f"load average {load['start']} at start, {load['end']} at end; rerun on a quiet machine: "
          f"{command_of(args)}", flush=True)


def add_parser(sub) -> None:
    t = sub.add_parser("molinteract-throughput", help="MolInteract pretraining and fine-tuning molecules/s and peak "
                                                      "memory on QM9 and ClinTox (issue 36)")
    t.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, of: {', '.join(CONFIGS)}")
    t.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of: {', '.join(PHASES)}")
    t.add_argument("--threads", type=int, default=1, help="torch threads (1: as a bench worker trains)")
    t.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    t.add_argument("--steps", type=int, default=8, help="timed steps of the phase's batch size")
    t.add_argument("--qm9-molecules", type=int, default=1500,
                   help="QM9 molecules drawn for the measurement (module doc); (warmup + steps) x 128 at most are "
                        "trained on")
    t.add_argument("--name", default="molinteract-throughput")
    t.add_argument("--note", default="", help="a sentence appended to each record's note")
