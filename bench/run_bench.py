"""Benchmarks. Each subcommand writes machine-readable records to bench/results/<name>.json; `render` writes
BENCHMARKS.md from those files only (numbers are never typed by hand).

  python bench/run_bench.py accuracy --models mpnn,attentivefp --datasets freesolv,compsol --epochs 300
  python bench/run_bench.py throughput
  python bench/run_bench.py pretraining --models cigin --datasets freesolv,compsol,abraham --pretrain-epochs 100
  python bench/run_bench.py pretrain-throughput
  python bench/run_bench.py probe --backbones PATH.safetensors --datasets freesolv,compsol,abraham
  python bench/run_bench.py workers --repeats 3 --epochs 30
  python bench/run_bench.py peer --datasets compsol,freesolv --repeats 3 --chemprop PATH/TO/chemprop
  python bench/run_bench.py ablation --models cigin --datasets freesolv --factors "scale_targets=true;lr_schedule=noam"
  python bench/run_bench.py qm9 --arms molinteract,molinteract-pretrained,schnet,gin --train 50000 --epochs 50
  python bench/run_bench.py speedup --baseline c3140af --models attentivefp,cigin --rounds 5
  python bench/run_bench.py ddi-throughput --models cgib,i2mole --dataset chchminer --threads 1 --steps 8
  python bench/run_bench.py molinteract-throughput --configs qm9-budget,qm9-paper,clintox-2d --threads 1 --steps 8
  python bench/run_bench.py render
  python bench/run_bench.py compare freesolv-cgib.json:cgib freesolv-interaction.json:cigin

(pretraining, pretrain-throughput and probe live in bench/pretrain_bench.py; peer, with chemprop's install, in
bench/peer_bench.py; ablation, one factor at a time on the accuracy bench's folds, in bench/ablation_bench.py.)

Accuracy: the paper protocol (METHODS §2.2: mi5fold, test RMSE at the best-validation epoch, mean over folds per
repeat, mean ± std over repeats with seeds 0..R-1). Folds run as independent worker processes (one torch thread
each; all cells of one command share the pool, so list several models or datasets in one command to keep every
worker busy); results are identical to a sequential run because every fold is seeded by (repeat, fold). A cell keeps its
finished folds in bench/results/.partial-<name>-<model>-<dataset>.json, so rerunning an interrupted command resumes
it instead of starting over; a fold that was running continues from its last checkpoint (`zoo run --resume`; its run
directory is $TMPDIR/zoo-bench-runs-<name>/<job>/), so an interruption costs at most about a minute of each worker's work.
A cell already recorded in bench/results/<name>.json by the same command (same model, dataset and protocol) is kept,
not measured again, so a multi-cell command interrupted after some cells finished resumes with the rest; pass
--remeasure to measure such cells again (their records are replaced; the file's other cells are always kept).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run_bench.py`: the repository root makes the package `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pool import run_pending  # noqa: E402
from bench.records import RESULTS, ROOT, provenance, save_records  # noqa: E402


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, Python {platform.python_version()}"


def scratch(name: str) -> str:
    """The folder of a bench command's run directories; the same for every invocation of ``--name NAME``."""
    path = Path(tempfile.gettempdir()) / f"zoo-bench-runs-{name}"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def run_or_resume(cli: dict, label: str, key: str) -> tuple[Path, dict]:
    """``zoo run`` of the config ``cli`` in ``<output>/<label>-<hash of key>``: a run there (interrupted bench) is
    continued with ``zoo run --resume``, so its finished folds are read back (also a fold that finished after the
    bench's resume file was last written) and an unfinished one continues from its checkpoint; a folder that is
    not a resumable run is replaced by a fresh run."""
    from zoo_core.errors import ZooError
    from zoo_core.train.run import resolve_config, resume_config, run

    name = f"{label}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
    run_dir = Path(cli["output"]) / name
    if (run_dir / "config.yaml").is_file():
        try:
            return run(resume_config(run_dir), quiet=True, resume=run_dir)
        except ZooError as error:  # e.g. a checkpoint written by code whose settings have changed since
            print(f"cannot continue {run_dir} ({error}); running it again from the start", file=sys.stderr,
                  flush=True)
    shutil.rmtree(run_dir, ignore_errors=True)
    return run(resolve_config(dict(cli, run_name=name)), quiet=True)


def _fold_config(job: tuple) -> dict:
    """The `zoo run` overrides of a fold job ``(encoder, pair_model, dataset, repeat, fold, epochs, patience
    [, pair_params_json], out)``: the pair-model parameters are only present when given, so the jobs (and the
    resume keys) of commands without them keep their earlier shape."""
    encoder, pair_model, dataset, repeat, fold, epochs, patience, *params, out = job
    return {"encoder": encoder, "pair_model": pair_model, "dataset": dataset, "seed": repeat, "repeats": 1,
            "folds": 5, "only_folds": [fold], "epochs": epochs, "patience": patience, "output": out, "threads": 1,
            "pair_params": json.loads(params[0]) if params else {}}


def _fold_job(job: tuple, cli: dict | None = None) -> dict:
    """One fold job: ``zoo run`` of ``cli`` (default: the job's own config, :func:`_fold_config`), resumed under the
    job's key (its items without the scratch folder)."""
    import torch

    torch.set_num_threads(1)
    encoder, pair_model, dataset, repeat, fold = job[:5]
    model = encoder + (f"@{pair_model}" if pair_model else "")
    run_dir, metrics = run_or_resume(cli or _fold_config(job), f"{model}-{dataset}-r{repeat}-f{fold}",
                                     json.dumps(list(job[:-1])))
    f = metrics["folds"][0]
    return {"repeat": repeat, "fold": fold, "test": f["test"], "best_epoch": f["best_epoch"],
            "epochs_run": f["epochs_run"], "seconds": f["seconds"], "run_dir": str(run_dir)}


def accuracy(args) -> None:
    """Every (model, dataset) cell's fold jobs go to ONE worker pool, cell after cell, so no worker idles while
    another cell still has folds to run (5 folds on 2 workers would leave one idle for the last fold). A cell's
    record is written as soon as its last fold finishes; its ``wall_seconds`` run from the command's start."""
    models = [m.strip() for m in args.models.split(",")]
    datasets = [d.strip() for d in args.datasets.split(",")]
    pair_params = key_values(args.pair_param)
    variant, options = variant_label(pair_params), pair_param_flags(args.pair_param)
    out = scratch(args.name)

    def command(model: str, dataset: str) -> str:
        return (f"python bench/run_bench.py accuracy --models {model} --datasets {dataset} --epochs {args.epochs} "
                f"--patience {args.patience} --repeats {args.repeats}{options}")

    cells = [(model, dataset) for dataset in datasets for model in models]
    todo, kept = plan_cells(RESULTS / f"{args.name}.json",
                            {(m + variant, d): command(m, d) for m, d in cells}, args.remeasure)
    cells = [(m, d) for m, d in cells if (m + variant, d) in todo]
    records: dict[tuple[str, str], dict] = {}
    t0 = time.time()

    def cell_done(index: int, folds: list[dict]) -> None:
        model, dataset = cells[index]
        rec = accuracy_record(model, dataset, folds, args, command(model, dataset), t0, pair_params, variant)
        records[cells[index]] = rec
        paper = (rec["paper_mean"], rec["paper_std"]) if rec["paper_mean"] is not None else None
        print(f"{model + variant:>14} {dataset:>12}: RMSE {rec['mean']:.4f} ± {rec['std']:.4f}"
              + (f" (paper {paper[0]} ± {paper[1]})" if paper else "") + f"  [{rec['wall_seconds']} s]", flush=True)
        save_records(args.name, kept + [records[c] for c in cells if c in records])

    extra = (json.dumps(pair_params, sort_keys=True),) if pair_params else ()
    jobs = [fold_jobs(model, dataset, args, out, extra) for model, dataset in cells]
    partials = [RESULTS / f".partial-{args.name}-{model}-{dataset}.json" for model, dataset in cells]
    run_cells(jobs, partials, args.workers, cell_done)


def fold_jobs(model: str, dataset: str, args, out: str, extra: tuple = ()) -> list[tuple]:
    """The accuracy bench's fold jobs of one cell: ``(encoder, pair_model, dataset, repeat, fold, epochs, patience,
    *extra, out)`` for repeats 0..R-1 (the seeds) and the 5 folds of each."""
    encoder, _, pair_model = model.partition("@")
    return [(encoder, pair_model or None, dataset, r, k, args.epochs, args.patience, *extra, out)
            for r in range(args.repeats) for k in range(5)]


def accuracy_record(model: str, dataset: str, folds: list[dict], args, command: str, t0: float,
                    pair_params: dict, variant: str = "") -> dict:
    """The record of one cell's folds: test RMSE as the mean over folds per repeat, mean ± std over repeats, the
    paper's figure beside it, and how and where the command ran (``t0``: its start)."""
    import numpy as np

    from bench.targets import PAPER_RMSE

    per_repeat = [float(np.mean([f["test"]["rmse"] for f in folds if f["repeat"] == r])) for r in range(args.repeats)]
    paper = PAPER_RMSE.get(model, {}).get(dataset)
    return {"model": model + variant, "pretrainer": None, "dataset": dataset, "metric": "rmse",
            "mean": float(np.mean(per_repeat)), "std": float(np.std(per_repeat)), "per_repeat": per_repeat,
            "folds": 5, "repeats": args.repeats, "epochs": args.epochs, "patience": args.patience,
            "mean_best_epoch": float(np.mean([f["best_epoch"] for f in folds])),
            "paper_mean": paper[0] if paper else None, "paper_std": paper[1] if paper else None,
            "wall_seconds": round(time.time() - t0, 1),
            "fold_seconds": round(sum(f["seconds"] for f in folds), 1),
            "pair_params": pair_params,
            "command": command,
            "date": time.strftime("%Y-%m-%d"), "machine": machine(), "fold_records": folds,
            **({"note": args.note} if args.note else {})}


def _model_and_dataset(record: dict) -> tuple:
    return record["model"], record["dataset"]


def plan_cells(path: Path, commands: dict[tuple, str], remeasure: bool = False, cell_of=_model_and_dataset
               ) -> tuple[set[tuple], list[dict]]:
    """Which of a command's cells to measure, and which records of its bench file ``path`` to keep.

    ``commands`` maps each cell the command names, ``(record model, dataset)`` (or what ``cell_of`` makes of a
    record: the ablation bench adds its arm), to the command line its record would carry. A cell whose record in
    ``path`` carries that same command is already measured under this protocol: it is kept, not measured again,
    unless ``remeasure``. Returns ``(cells to measure, records to keep)``; the kept records are the file's records of
    every other cell, in their order (a rerun of some cells of a named bench never loses the others)."""
    records = json.loads(path.read_text()) if path.exists() else []
    recorded = {cell_of(r): r.get("command") for r in records}
    todo = {cell for cell, cmd in commands.items() if remeasure or recorded.get(cell) != cmd}
    for model, dataset, *arm in sorted(set(commands) - todo):
        print(f"kept: {model} on {dataset}{''.join(f', arm {a}' for a in arm)}, already recorded in {path.name} by "
              "the same command (--remeasure measures it again)", flush=True)
    return todo, [r for r in records if cell_of(r) not in todo]


class FinishedFolds:
    """The finished fold jobs of one bench cell, kept in a hidden file (never rendered) so that rerunning an
    interrupted command resumes the cell instead of starting over. A job is identified by its arguments without its
    scratch folder; the file is removed when the cell completes."""

    def __init__(self, path: Path, scratch_key):
        self.path, self.scratch_key = path, scratch_key
        self.results = json.loads(path.read_text()) if path.exists() else {}

    def key(self, job) -> str:
        if isinstance(job, dict):
            return json.dumps({k: v for k, v in job.items() if k != self.scratch_key}, sort_keys=True)
        return json.dumps(list(job[:self.scratch_key]))

    def pending(self, jobs: list) -> list:
        todo = [j for j in jobs if self.key(j) not in self.results]
        if len(todo) < len(jobs):
            print(f"resuming: {len(jobs) - len(todo)} of {len(jobs)} folds from {self.path.name}", flush=True)
        return todo

    def add(self, job, result: dict) -> None:
        """Record a finished job; the file is replaced atomically, so a bench killed mid-write keeps the last one."""
        self.results[self.key(job)] = result
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.results, indent=1))
        os.replace(tmp, self.path)

    def missing(self, jobs: list) -> int:
        """How many of ``jobs`` have not finished."""
        return sum(self.key(j) not in self.results for j in jobs)

    def complete(self, jobs: list) -> list:
        out = [self.results[self.key(j)] for j in jobs]
        self.path.unlink(missing_ok=True)
        return out


def variant_label(pair_params: dict) -> str:
    """`` (k=v, ...)``: what a record's model name carries for its pair-model parameters ('' for none)."""
    return " (" + ", ".join(f"{k}={v}" for k, v in pair_params.items()) + ")" if pair_params else ""


def pair_param_flags(items: list[str] | None) -> str:
    """The ``--pair-param`` items as they go back into a record's command."""
    return "".join(f" --pair-param {item}" for item in items or [])


def key_values(items: list[str] | None) -> dict:
    """``--pair-param`` items as a dict (zoo_core's KEY=VALUE parser); a malformed item stops the command."""
    from zoo_core.errors import ZooError
    from zoo_core.train.run import parse_key_values

    try:
        return parse_key_values(items, "--pair-param")
    except ZooError as error:
        raise SystemExit(str(error)) from None


def run_cells(cells: list[list], partials: list[Path], workers: int, cell_done, job_fn=None) -> None:
    """Run the fold jobs of several cells (tuples whose last item is the scratch folder) in one process pool,
    resumably (one :class:`FinishedFolds` file per cell); ``cell_done(index, folds)`` is called once per cell, in the
    order its last fold finishes, with its folds in job order. A failing fold does not stop the others
    (:func:`bench.pool.run_pending`)."""
    finished = [FinishedFolds(path, scratch_key=-1) for path in partials]
    todo = [finished[index].pending(jobs) for index, jobs in enumerate(cells)]
    cell_of = {id(job): index for index, jobs in enumerate(todo) for job in jobs}  # on_result gets the same objects
    left = [len(jobs) for jobs in todo]
    for index in [i for i, n in enumerate(left) if not n]:
        cell_done(index, finished[index].complete(cells[index]))

    def on_result(job: tuple, result: dict) -> None:
        index = cell_of[id(job)]
        finished[index].add(job, result)
        left[index] -= 1
        if not left[index]:
            cell_done(index, finished[index].complete(cells[index]))

    run_pending([job for jobs in todo for job in jobs], job_fn or _fold_job, workers, on_result)


def run_child(code: str) -> dict:
    """Run a measurement in a fresh process (so peak memory is its own) and return its JSON line."""
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(ROOT))
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


FEATURIZE = r'''
import json, os, time, resource
from zoo_core.data.datasets import load_table
from zoo_core.data.pairs import PairDataset
t = load_table("chromophore-absorption")
t0 = time.perf_counter(); ds = PairDataset.from_table(t, "mrl56", False, progress=False); dt = time.perf_counter() - t0
print(json.dumps({"pairs": len(t), "molecules": ds.store.stats["unique_inputs"], "featurized": ds.store.stats["featurized"],
                  "seconds": dt}))
'''

WARM = r'''
import json
from zoo_core.data.datasets import load_table
from zoo_core.data.pairs import PairDataset
from zoo_core.models import model_spec
spec = model_spec("{encoder}", {pair_model!r}, task="regression", explicit_h=True)
ds = PairDataset.from_table(load_table("compsol"), spec["featurizer"]["name"], True, progress=False)
print(json.dumps({{"pairs": len(ds)}}))
'''

TRAIN = r'''
import json, time, numpy as np, torch
from zoo_core.train.memory import peak_rss_gb
torch.set_num_threads({threads})
from zoo_core.data.datasets import load_table
from zoo_core.data.pairs import PairDataset
from zoo_core.models import model_spec, build_model
from zoo_core.train.trainer import task_loss_fn, train_epoch
from zoo_core.train.optim import Adam
t = load_table("compsol")
spec = model_spec("{encoder}", {pair_model!r}, task="regression", explicit_h=True)
ds = PairDataset.from_table(t, spec["featurizer"]["name"], True, progress=False)
torch.manual_seed(0); m = build_model(spec); opt = Adam(m.parameters(), 1e-3); lf = task_loss_fn("regression")
rng = np.random.default_rng(0); rows = np.arange(len(ds))
times = []
for epoch in range({epochs}):  # the trainer's own epoch loop (zoo_core.train.trainer.train_epoch)
    t0 = time.perf_counter()
    train_epoch(m, opt, ds, rows, 256, lf, rng)
    times.append(time.perf_counter() - t0)
best = min(times[1:]) if len(times) > 1 else times[0]
print(json.dumps({{"pairs": len(ds), "seconds_per_epoch": best, "pairs_per_s": len(ds) / best,
                  "peak_rss_gb": peak_rss_gb()}}))
'''


MEMORY_NOTE = ("process max RSS, imports included: `import torch` (2.13 CPU) alone is 0.22 GB and DGL's import (with "
               "the pandas, networkx and scipy.sparse it loads) 0.09 GB; CIGIN's training adds ~0.15 GB. The same "
               "bench run shortly after the machine booted measured 0.535 GB, with `import torch` alone at 0.27 GB "
               "(more of libtorch's file pages resident), so the margin under 0.5 GB depends on the machine's state; "
               "what the zoo reduced and what was tried: docs/DECISIONS.md \"Memory\"")


def throughput(args) -> None:
    from bench.targets import ORIGINAL_CIGIN_COMPSOL

    home = tempfile.mkdtemp(prefix="zoo-bench-home-")
    os.environ["ZOO_HOME"] = home
    date, mach = time.strftime("%Y-%m-%d"), machine()
    cmd = "python bench/run_bench.py throughput"
    records = []
    cold = run_child(FEATURIZE)
    warm = run_child(FEATURIZE)
    records.append({"model": None, "dataset": "chromophore-absorption", "figure": "featurization, cold cache",
                    "value": cold["molecules"] / cold["seconds"], "unit": "molecules/s", "seconds": cold["seconds"],
                    "detail": cold, "command": cmd, "date": date, "machine": mach})
    records.append({"model": None, "dataset": "chromophore-absorption", "figure": "featurization, warm cache",
                    "value": warm["seconds"], "unit": "s (molecules featurized: %d)" % warm["featurized"],
                    "detail": warm, "command": cmd, "date": date, "machine": mach})
    for model, encoder, pair_model in [(m, *(m.split("@") + [None])[:2]) for m in args.models.split(",")]:
        run_child(WARM.format(encoder=encoder, pair_model=pair_model))  # training reads a warm featurization cache
        res = run_child(TRAIN.format(encoder=encoder, pair_model=pair_model, threads=2, epochs=args.epochs))
        name = model if pair_model is None else f"{pair_model}({encoder})"
        for figure, value, unit in (("training pairs/s", res["pairs_per_s"], "pairs/s"),
                                    ("seconds per epoch", res["seconds_per_epoch"], "s"),
                                    ("peak memory", res["peak_rss_gb"], "GB (process max RSS)")):
            records.append({"model": name, "dataset": "compsol", "figure": figure, "value": value, "unit": unit,
                            "settings": "explicit H, batch 256, T=3, 2 threads, warm featurization cache",
                            "original_3dmrl_cigin": {"training pairs/s": ORIGINAL_CIGIN_COMPSOL["pairs_per_s"],
                                                     "seconds per epoch": ORIGINAL_CIGIN_COMPSOL["seconds_per_epoch"],
                                                     "peak memory": ORIGINAL_CIGIN_COMPSOL["peak_memory_gb"]}[figure],
                            "command": cmd, "date": date, "machine": mach,
                            **({"note": MEMORY_NOTE} if figure == "peak memory" and name == "cigin" else {})})
        print(f"{name}: {res}", flush=True)
    save_records(args.name, records)


def render(args) -> None:
    from bench.render import render_markdown

    text = render_markdown(RESULTS, ROOT / "registry.yaml")
    (ROOT / "BENCHMARKS.md").write_text(text)
    print(f"wrote {ROOT / 'BENCHMARKS.md'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("--models", default="mpnn,attentivefp", help="encoder or encoder@pair_model, comma-separated")
    a.add_argument("--datasets", default="freesolv,compsol")
    a.add_argument("--epochs", type=int, default=500)
    a.add_argument("--patience", type=int, default=50)
    a.add_argument("--repeats", type=int, default=3)
    a.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    a.add_argument("--name", default="accuracy")
    a.add_argument("--note", default="", help="a sentence stored with each record and shown in BENCHMARKS.md")
    a.add_argument("--remeasure", action="store_true",
                   help="measure cells already recorded in <name>.json by the same command again (default: keep them)")
    a.add_argument("--pair-param", action="append", metavar="KEY=VALUE",
                   help="a pair-model parameter for every cell (repeatable), e.g. legacy=true for CGIB's original "
                        "noise and KL; the record's model reads 'cgib (legacy=True)'")
    t = sub.add_parser("throughput")
    t.add_argument("--models", default="mpnn,cigin,cgib,cgib_cont")
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--name", default="throughput")
    sub.add_parser("render")
    c = sub.add_parser("compare", help="paired per-fold comparison of two records, or of a pretraining record's arms "
                       "(bench/compare.py)")
    c.add_argument("a", help="FILE[:MODEL[:DATASET[:ARM]]] under bench/results/")
    c.add_argument("b", help="FILE[:MODEL[:DATASET[:ARM]]] under bench/results/")
    from bench import ablation_bench  # ablation: one factor at a time on accuracy's folds (issue 40)
    from bench import compare
    from bench import ddi_bench  # ddi (issue 35)
    from bench import ddi_throughput  # ddi-throughput (issue 35)
    from bench import moleculenet_bench  # moleculenet (issue 34)
    from bench import molinteract_throughput  # molinteract-throughput (issue 36)
    from bench import peer_bench  # peer: chemprop v2 on the zoo's folds (issue 40)
    from bench import pretrain_bench  # pretraining, pretrain-throughput, probe (issue #4)
    from bench import qm9_bench  # qm9: MolInteract, scratch and pretrained, against its towers alone (issue 36)
    from bench import speedup_bench  # speedup (issue 38 part 4)
    from bench import workers_bench  # workers (issue 38)

    pretrain_bench.add_parsers(sub)
    moleculenet_bench.add_parser(sub)
    ddi_bench.add_parser(sub)
    ddi_throughput.add_parser(sub)
    molinteract_throughput.add_parser(sub)
    workers_bench.add_parser(sub)
    peer_bench.add_parser(sub)
    speedup_bench.add_parser(sub)
    qm9_bench.add_parser(sub)
    ablation_bench.add_parser(sub)
    args = p.parse_args()
    provenance()  # read once, before the command runs: every record it writes carries this commit
    {"accuracy": accuracy, "throughput": throughput, "render": render, "compare": compare.compare,
     "moleculenet": moleculenet_bench.moleculenet, "ddi": ddi_bench.ddi,
     "ddi-throughput": ddi_throughput.ddi_throughput,
     "molinteract-throughput": molinteract_throughput.molinteract_throughput,
     "workers": workers_bench.workers, "peer": peer_bench.peer, "ablation": ablation_bench.ablation,
     "speedup": speedup_bench.speedup, "qm9": qm9_bench.qm9, **pretrain_bench.COMMANDS}[args.cmd](args)


if __name__ == "__main__":  # one copy of this module: the package's, which the other bench modules import
    from bench.run_bench import main as package_main

    package_main()
