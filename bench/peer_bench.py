"""The peer (issue 40): chemprop v2 trained on the zoo's own folds, recorded beside the zoo's cells and paired with
them fold by fold.

  python bench/run_bench.py peer --datasets compsol,freesolv --repeats 3 --chemprop /work/chemprop-venv/bin/chemprop
  python bench/run_bench.py peer --datasets freesolv --repeats 1 --only-fold 0 --epochs 3 --results /tmp/peer-smoke

chemprop is an optional bench extra, never a dependency of the zoo. Install it into a virtualenv of its own, so the
zoo's environment is untouched, with torch pinned (2.13.0 takes the CPU build; an unpinned torch pulls a multi-GB
CUDA build):

  python -m venv /work/chemprop-venv && /work/chemprop-venv/bin/pip install torch==2.13.0 chemprop

and name its executable with ``--chemprop PATH`` or ``$CHEMPROP`` (default: ``chemprop`` on PATH).

Per dataset, the zoo's folds are exported (``zoo data split --export``: :mod:`zoo_core.data.export`; the dataset's
split, 5 folds, seeds 0..R-1, as the accuracy bench). Each (repeat, fold) is one ``chemprop train`` subprocess with
chemprop's defaults: multicomponent input (one SMILES column per role), the fold as a one-entry ``--splits-file``,
``--pytorch-seed`` and ``--data-seed`` fixed to the zoo's fold seed (repeat * 1000 + fold), ``--num-workers 0``,
one thread. Its ``model_0/test_predictions.csv`` must list the fold's test rows in order (SMILES checked row by
row); it is scored with the zoo's metric code (:func:`zoo_core.train.metrics.compute`). ``--epochs``,
``--patience`` and ``--chemprop-arg`` change chemprop's run: the record says it is then not chemprop's default.
The record (``<results>/<name>-<dataset>.json``) holds the command, chemprop's version and command line, per-fold
metrics, and the paired comparison (:func:`bench.compare.paired_folds`) with every zoo record of the dataset in
bench/results that shares at least two of its folds. Folds resume as the accuracy bench's do.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from bench.compare import paired_folds
from bench.records import RESULTS, save_records
from bench.run_bench import machine, plan_cells, run_cells, scratch

INSTALL = ("python -m venv /work/chemprop-venv && /work/chemprop-venv/bin/pip install torch==2.13.0 chemprop")


def chemprop_version(executable: str) -> str:
    """``chemprop --version``'s version; a missing or broken chemprop stops the bench in one line."""
    try:
        done = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=300)
    except OSError:
        raise SystemExit(f"chemprop not found at {executable!r}: install it in its own virtualenv ({INSTALL}) and "
                         "pass --chemprop PATH or set CHEMPROP") from None
    words = (done.stdout + done.stderr).split()
    if done.returncode != 0 or "chemprop" not in words:
        raise SystemExit(f"{executable} --version failed (exit {done.returncode}): {' '.join(words[-20:])}")
    return words[words.index("chemprop") + 1]


def chemprop_command(options: dict, manifest: dict, export: Path, splits: Path, save_dir: Path,
                     seed) -> list[str]:
    """``chemprop train`` on one fold: chemprop's defaults unless ``options`` set epochs, patience or extra args."""
    cmd = [options["chemprop"], "train", "--data-path", str(export / "data.csv"),
           "--smiles-columns", *manifest["roles"], "--target-columns", *manifest["targets"],
           "--splits-file", str(splits), "--save-dir", str(save_dir), "--num-workers", "0",
           "--pytorch-seed", str(seed), "--data-seed", str(seed)]
    for flag in ("epochs", "patience"):
        if options.get(flag) is not None:
            cmd += [f"--{flag}", str(options[flag])]
    return cmd + list(options.get("args") or [])


def rows_of(export: Path, rows: list[int], manifest: dict) -> tuple[list[tuple], np.ndarray]:
    """(SMILES tuple per role, targets [n, T]) of data.csv's ``rows``, in that order (empty label = NaN)."""
    with open(export / "data.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    picked = [table[i] for i in rows]
    smiles = [tuple(r[role] for role in manifest["roles"]) for r in picked]
    y = [[float(r[t]) if r[t] != "" else np.nan for t in manifest["targets"]] for r in picked]
    return smiles, np.asarray(y, dtype=np.float64)


def score_predictions(predictions: Path, export: Path, rows: list[int], manifest: dict) -> dict:
    """The zoo's regression metrics of chemprop's ``test_predictions.csv`` on exactly the fold's test ``rows``; a
    file whose rows are not those rows, in order, is an error (never a silently shifted score)."""
    from zoo_core.train.metrics import compute

    smiles, y = rows_of(export, rows, manifest)
    with open(predictions, newline="") as handle:
        predicted = list(csv.DictReader(handle))
    got = [tuple(r[role] for role in manifest["roles"]) for r in predicted]
    if got != smiles:
        first = next((i for i, (a, b) in enumerate(zip(got, smiles)) if a != b), min(len(got), len(smiles)))
        raise RuntimeError(f"{predictions}: {len(got)} rows for {len(smiles)} test rows; first difference at "
                           f"test row {first}")
    p = np.asarray([[float(r[t]) for t in manifest["targets"]] for r in predicted], dtype=np.float64)
    return compute("regression", y, p, manifest["targets"])


def epochs_of(metrics_csv: Path) -> tuple[int | None, int | None]:
    """(best epoch, 1-based, by validation loss; epochs run) from chemprop's lightning metrics.csv."""
    if not metrics_csv.is_file():
        return None, None
    with open(metrics_csv, newline="") as handle:
        losses = [float(r["val_loss"]) for r in csv.DictReader(handle) if r.get("val_loss")]
    return (int(np.argmin(losses)) + 1, len(losses)) if losses else (None, None)


def run_fold(job: tuple) -> dict:
    """One fold job ``(dataset, repeat, fold, options JSON, scratch folder)``: chemprop trains, the zoo scores."""
    dataset, repeat, fold, options, folder = job
    options, export = json.loads(options), Path(folder) / f"export-{dataset}"
    manifest = json.loads((export / "manifest.json").read_text())
    fold_rows = json.loads((export / f"splits-r{repeat}.json").read_text())[fold]
    work = Path(folder) / f"{dataset}-r{repeat}-f{fold}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "splits.json").write_text(json.dumps([fold_rows]))
    seed = manifest["seeds"][repeat] * 1000 + fold  # the zoo's fold seed
    cmd = chemprop_command(options, manifest, export, work / "splits.json", work / "out", seed)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    t0 = time.perf_counter()
    with open(work / "chemprop.log", "w") as log:
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"chemprop failed on {dataset} r{repeat} f{fold} (exit {done.returncode}): "
                           + (work / "chemprop.log").read_text()[-2000:])
    best, ran = epochs_of(work / "out" / "model_0" / "trainer_logs" / "version_0" / "metrics.csv")
    test = score_predictions(work / "out" / "model_0" / "test_predictions.csv", export, fold_rows["test"], manifest)
    return {"repeat": repeat, "fold": fold, "seed": seed, "test": test, "best_epoch": best, "epochs_run": ran,
            "seconds": round(seconds, 1), "test_rows": len(fold_rows["test"]), "run_dir": str(work)}


def zoo_pairings(record: dict, results: Path, metric: str = "rmse") -> list[dict]:
    """The paired comparison (peer − zoo, per shared (repeat, fold)) with every zoo record of the same dataset in
    ``results`` that holds per-fold results without arms and shares at least two folds."""
    pairs = []
    for path in sorted(results.glob("*.json")):
        for zoo in json.loads(path.read_text()):
            if zoo.get("kind") == "peer" or zoo.get("dataset") != record["dataset"] or "fold_records" not in zoo \
                    or any("arm" in f or metric not in f.get("test", {}) for f in zoo["fold_records"]):
                continue
            try:
                stats = paired_folds(record, zoo, metric)
            except SystemExit:  # fewer than two shared folds: nothing to pair
                continue
            pairs.append({"zoo_model": zoo["model"], "zoo_record": path.name, "folds": stats["folds"],
                          "mean_peer": stats["mean_a"], "mean_zoo": stats["mean_b"], "mean_diff": stats["mean_diff"],
                          "se_diff": stats["se_diff"], "peer_better": stats["a_better"]})
    return pairs


def peer_record(dataset: str, folds: list[dict], meta: dict) -> dict:
    """The record of one dataset's folds: RMSE mean over folds per repeat, mean ± std over repeats."""
    repeats = sorted({f["repeat"] for f in folds})
    per_repeat = [float(np.mean([f["test"]["rmse"] for f in folds if f["repeat"] == r])) for r in repeats]
    epochs = [f["best_epoch"] for f in folds if f.get("best_epoch") is not None]
    return {"kind": "peer", "model": "chemprop", "dataset": dataset, "metric": "rmse",
            "mean": float(np.mean(per_repeat)), "std": float(np.std(per_repeat)), "per_repeat": per_repeat,
            "folds": 5, "folds_run": len(folds), "repeats": len(repeats),
            "mean_best_epoch": float(np.mean(epochs)) if epochs else None,
            "fold_seconds": round(sum(f["seconds"] for f in folds), 1), **meta, "fold_records": folds,
            "date": time.strftime("%Y-%m-%d"), "machine": machine()}


def command_line(args, dataset: str) -> str:
    """The bench command a record carries (without machine-local paths or the worker count)."""
    only = "".join(f" --only-fold {k}" for k in args.only_fold or [])
    budget = "".join(f" --{flag} {getattr(args, flag)}" for flag in ("epochs", "patience")
                     if getattr(args, flag) is not None)
    extra = "".join(f" --chemprop-arg={a}" for a in args.chemprop_arg or [])
    return f"python bench/run_bench.py peer --datasets {dataset} --repeats {args.repeats}{only}{budget}{extra}"


def peer(args) -> None:
    from zoo_core.data.export import export_folds

    executable = args.chemprop or os.environ.get("CHEMPROP") or "chemprop"
    version = chemprop_version(executable)
    results = Path(args.results) if args.results else RESULTS
    datasets = [d.strip() for d in args.datasets.split(",")]
    default = args.epochs is None and args.patience is None and not args.chemprop_arg
    todo = [d for d in datasets if plan_cells(results / f"{args.name}-{d}.json",
                                              {("chemprop", d): command_line(args, d)}, args.remeasure)[0]]
    out, t0 = scratch(args.name), time.time()
    options = {"chemprop": executable, "version": version, "epochs": args.epochs, "patience": args.patience,
               "args": args.chemprop_arg or []}
    cells, manifests = [], {}
    for dataset in todo:
        manifests[dataset] = export_folds({"dataset": dataset, "split": None, "folds": 5, "repeats": args.repeats,
                                           "seed": 0}, Path(out) / f"export-{dataset}")
        key = json.dumps(dict(options, sha256=manifests[dataset]["sha256"]), sort_keys=True)
        folds = args.only_fold or range(5)
        cells.append([(dataset, r, k, key, out) for r in range(args.repeats) for k in folds])

    def cell_done(index: int, folds: list[dict]) -> None:
        dataset = todo[index]
        example = chemprop_command(options, manifests[dataset], Path("EXPORT"), Path("FOLD/splits.json"),
                                   Path("FOLD/out"), "SEED")
        meta = {"peer_version": version, "default_budget": default, "epochs": args.epochs,
                "patience": args.patience, "chemprop_args": args.chemprop_arg or [],
                "chemprop_command": " ".join(["chemprop", *example[1:]]), "split": manifests[dataset]["split"],
                "export": manifests[dataset],
                "wall_seconds": round(time.time() - t0, 1), "command": command_line(args, dataset),
                **({"note": args.note} if args.note else {})}
        record = peer_record(dataset, folds, meta)
        record["paired"] = zoo_pairings(record, RESULTS)  # the zoo's records
        save_records(f"{args.name}-{dataset}", [record], folder=results)
        report(record)

    partials = [results / f".partial-{args.name}-chemprop-{d}.json" for d in todo]
    run_cells(cells, partials, args.workers, cell_done, job_fn=run_fold)


def report(record: dict) -> None:
    """A finished record and its pairings on stdout."""
    print(f"chemprop {record['peer_version']} on {record['dataset']}: RMSE {record['mean']:.4f} ± {record['std']:.4f} "
          f"({record['folds_run']} folds, {record['fold_seconds']} s of folds)", flush=True)
    for p in record["paired"]:
        print(f"  vs {p['zoo_model']} ({p['zoo_record']}): {p['folds']} shared folds, chemprop − zoo = "
              f"{p['mean_diff']:+.3f} ± {p['se_diff']:.3f} (s.e.), chemprop lower on {p['peer_better']}", flush=True)


def add_parser(sub) -> None:
    p = sub.add_parser("peer", help="chemprop v2 on the zoo's folds, paired with the zoo's records (issue 40)")
    p.add_argument("--datasets", default="compsol,freesolv")
    p.add_argument("--repeats", type=int, default=3, help="repeats of the 5 folds (seeds 0..R-1, as accuracy)")
    p.add_argument("--only-fold", type=int, action="append", help="run only this fold of each repeat (repeatable)")
    p.add_argument("--chemprop", default=None, help="chemprop's executable (default: $CHEMPROP, else chemprop)")
    p.add_argument("--epochs", type=int, default=None, help="chemprop's --epochs (default: chemprop's own)")
    p.add_argument("--patience", type=int, default=None, help="chemprop's --patience (default: chemprop's own)")
    p.add_argument("--chemprop-arg", action="append", metavar="ARG", help="one more chemprop train argument "
                   "(repeatable; --chemprop-arg=--max-lr --chemprop-arg=5e-4)")
    p.add_argument("--workers", type=int, default=1, help="folds trained at once (one thread each)")
    p.add_argument("--name", default="peer", help="records go to <results>/<name>-<dataset>.json")
    p.add_argument("--results", default=None, help="folder of the records (default bench/results; a smoke: a "
                                                   "temporary folder)")
    p.add_argument("--remeasure", action="store_true", help="measure a dataset recorded by the same command again")
    p.add_argument("--note", default="", help="a sentence stored with each record")
