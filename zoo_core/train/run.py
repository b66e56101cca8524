"""``zoo run``: resolve the configuration, featurize, split, train every fold of every repeat, write the run dir.

Configuration precedence: built-in defaults < dataset registry entry (``train``) < ``--config`` file < CLI flags.
Run directory: ``config.yaml`` (resolved), ``metrics.json``, ``predictions.csv``, ``model.safetensors`` (repeat 0,
fold 0: the best-validation weights, carrying the model spec and featurizer spec), ``bad_rows.csv`` when any,
``folds/r<R>-f<K>.json`` per finished fold and, while a fold trains, its resumable state in ``checkpoints/``.
With a pretrainer (or ``pretrained_weights``), ``metrics.json`` has a ``pretraining`` block (pretrainer, pair set,
transductive flag, budget: epochs, pairs per fold, batch size, learning rate; per fold whether the backbone was
reused and the pretraining-stage seconds) and each fold's weight metadata its own ``pretraining`` record.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any

import yaml

from zoo_core.errors import DataError, ZooError
from zoo_core.train.checkpoint import fingerprint

DEFAULTS: dict[str, Any] = {
    "encoder": None, "pair_model": None, "pretrainer": None, "dataset": "freesolv",
    "featurizer": None, "explicit_h": None, "split": None, "folds": 5, "repeats": 3, "seed": 0,
    "only_folds": None, "epochs": 500, "patience": 50, "plateau_patience": 20, "plateau_factor": 0.1,
    "lr": None, "batch_size": None, "weight_decay": 0.0, "encoder_params": {}, "pair_params": {},
    "device": "cpu", "threads": None, "strict": False, "output": "runs", "run_name": None,
    "held_out": None, "save_all_folds": False, "columns": None, "pretrained_weights": None,
    "pretrain_epochs": 100, "pretrain_batch_size": 48, "pretrain_lr": None, "pretrain_params": {},
    "pairs": "train-split", "pairs_ratio": None, "freeze_backbone_epochs": 0, "pretrain_compile": False,
}


def is_custom_dataset(name: str) -> bool:
    """A dataset given as a path to the user's own CSV instead of a registry name."""
    return name.lower().endswith((".csv", ".tsv", ".txt")) and Path(name).exists()


def custom_entry(path: str, columns: list[str] | None):
    """A registry-like entry for the user's own CSV: regression, mi5fold, heavy atoms unless told otherwise."""
    import csv

    from zoo_core.registry import Entry

    if columns is None:
        with open(path, newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), [])
        if len(header) < 3:
            raise DataError(f"{path}: need at least 3 columns (molecule A, molecule B, target); "
                            f"name them with --columns A,B,Y")
        columns = header[:3]
    if len(columns) != 3:
        raise DataError(f"{path}: --columns needs three names A,B,Y (got {','.join(columns)})")
    data = {"impl": "custom_csv", "task": "regression", "roles": list(columns[:2]), "target": columns[2],
            "metric": "rmse", "split": "mi5fold", "explicit_h": False, "featurizer": None,
            "columns": {"a": columns[0], "b": columns[1], "y": columns[2]}, "train": {"lr": 1e-3, "batch_size": 256}}
    return Entry("datasets", path, data, Path(path))


def _entry_of(cfg: dict):
    from zoo_core.data.datasets import dataset_entry

    if is_custom_dataset(cfg["dataset"]):
        return custom_entry(cfg["dataset"], cfg.get("columns"))
    return dataset_entry(cfg["dataset"])


def _table_of(cfg: dict, entry):
    from zoo_core.data.datasets import load_table
    from zoo_core.data.table import read_pair_csv

    if entry["impl"] == "custom_csv":
        c = entry["columns"]
        return read_pair_csv(cfg["dataset"], c["a"], c["b"], c["y"], roles=tuple(entry["roles"]))
    return load_table(cfg["dataset"])


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML run configuration (``yaml.safe_load``); unknown keys are errors naming the file and key."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise ZooError(f"{path}: cannot read config ({error})") from error
    except yaml.YAMLError as error:
        raise ZooError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ZooError(f"{path}: a run config must be a mapping of keys")
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise ZooError(f"{path}: unknown config key(s) {', '.join(map(repr, unknown))} "
                       f"(known: {', '.join(sorted(DEFAULTS))})")
    return data


def parse_key_values(items: list[str] | None, option: str) -> dict[str, Any]:
    """``["legacy=true", "beta=0.5"]`` -> ``{"legacy": True, "beta": 0.5}`` for a repeatable KEY=VALUE ``option``
    (values read with ``yaml.safe_load``); ZooError naming the option and the item otherwise."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ZooError(f"{option} expects KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def resolve_config(cli: dict[str, Any], config_file: str | Path | None = None) -> dict[str, Any]:
    """Merge defaults, the dataset's registry defaults, the config file and CLI values (None = not given)."""
    cfg = dict(DEFAULTS)
    file_cfg = load_config_file(config_file) if config_file else {}
    given = {k: v for k, v in cli.items() if v is not None}
    dataset = given.get("dataset") or file_cfg.get("dataset") or cfg["dataset"]
    entry = _entry_of({"dataset": dataset, "columns": given.get("columns") or file_cfg.get("columns")})
    train = dict(entry.get("train") or {})
    # The featurizer comes from the model's registry entry unless the config or CLI names one.
    cfg.update({"dataset": dataset, "explicit_h": entry["explicit_h"],
                "split": entry["split"], "lr": train.get("lr", 1e-3), "batch_size": train.get("batch_size", 256)})
    for key in ("epochs", "patience", "plateau_patience"):
        if key in train:
            cfg[key] = train[key]
    cfg.update(file_cfg)
    cfg.update(given)
    if cfg["encoder"] is None:
        raise ZooError("no encoder given: pass --encoder NAME (see `zoo list encoders` and `zoo list pair-models`)")
    freeze = cfg.get("freeze_backbone_epochs") or 0
    if not isinstance(freeze, int) or isinstance(freeze, bool) or not 0 <= freeze < int(cfg["epochs"]):
        raise ZooError(f"freeze_backbone_epochs must be an integer from 0 to epochs - 1 ({int(cfg['epochs']) - 1}), "
                       f"got {freeze!r}")
    return cfg


def resume_config(run_dir: str | Path) -> dict[str, Any]:
    """The resolved configuration stored in ``run_dir/config.yaml``, for continuing that run in place."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ZooError(f"{run_dir}: not a run directory of `zoo run` (no config.yaml); nothing to resume")
    cfg = load_config_file(path)
    return dict(DEFAULTS, **cfg)


def run(cfg: dict[str, Any], quiet: bool = False, resume: str | Path | None = None) -> tuple[Path, dict[str, Any]]:
    """Execute a resolved configuration; returns (run directory, metrics).

    Each finished fold is written to ``folds/r<repeat>-f<fold>.json`` and an unfinished one keeps its training
    state in ``checkpoints/`` (saved about once a minute). ``resume`` = an interrupted run's directory (its
    ``config.yaml`` gives ``cfg``, see :func:`resume_config`): finished folds are read back, an unfinished fold
    continues from its checkpoint, and the results equal those of an uninterrupted run."""
    import torch

    from zoo_core.data.pairs import PairDataset
    from zoo_core.data.splits import make_splits
    from zoo_core.models import build_model, model_spec
    from zoo_core.train.memory import peak_rss_gb
    from zoo_core.train.trainer import TrainConfig, log, summarize, train_fold
    from zoo_core.weights import save_model

    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    entry = _entry_of(cfg)
    task = entry["task"]
    table = _table_of(cfg, entry)
    t0 = time.perf_counter()
    spec = model_spec(cfg["encoder"], cfg["pair_model"], cfg["featurizer"], cfg["encoder_params"], cfg["pair_params"],
                      task=task, explicit_h=bool(cfg["explicit_h"]))
    build_model(spec)  # a bad model parameter fails here, before featurizing and before a run directory exists
    dataset = PairDataset.from_table(table, spec["featurizer"]["name"], bool(cfg["explicit_h"]), progress=not quiet)
    feat_stats = dict(dataset.store.stats, seconds=time.perf_counter() - t0)
    report_bad_rows(dataset.bad, len(dataset), cfg.get("strict", False), quiet)
    cfg = dict(cfg, pair_model=spec["pair_model"], encoder=spec["encoder"], featurizer=spec["featurizer"]["name"])
    if resume is None:
        run_dir = make_run_dir(cfg)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=True))
        write_bad_rows(run_dir / "bad_rows.csv", dataset.bad)
    else:
        run_dir = Path(resume)
    run_key = fingerprint(spec, str(cfg["dataset"]), len(dataset))  # folds are only reused by the same model + data
    tcfg = TrainConfig(epochs=int(cfg["epochs"]), lr=float(cfg["lr"]), batch_size=int(cfg["batch_size"]),
                       weight_decay=float(cfg["weight_decay"]), patience=int(cfg["patience"]),
                       plateau_patience=int(cfg["plateau_patience"]), plateau_factor=float(cfg["plateau_factor"]),
                       freeze_backbone_epochs=int(cfg.get("freeze_backbone_epochs") or 0))
    log(f"zoo run: {spec['pair_model']}({spec['encoder']}) on {cfg['dataset']} ({len(dataset)} pairs, "
        f"{len(dataset.store)} molecules, featurizer {spec['featurizer']['name']}, "
        f"{'explicit H' if cfg['explicit_h'] else 'heavy atoms'}) -> {run_dir}", quiet)
    results = []
    only = set(cfg["only_folds"]) if cfg.get("only_folds") else None
    first_state = None
    pre_folds: list[dict] = []
    shared: dict = {}
    for repeat in range(int(cfg["repeats"])):
        seed = int(cfg["seed"]) + repeat
        folds = make_splits(cfg["split"], len(dataset), seed, dataset.table.a, dataset.table.b,
                            n_folds=int(cfg["folds"]), held_out=cfg.get("held_out"))
        for k, (tr, va, te) in enumerate(folds):
            if only is not None and k not in only:
                continue
            fold_seed = seed * 1000 + k
            done = run_dir / "folds" / f"r{repeat}-f{k}.json"
            if resume is not None and done.is_file():
                result, pre = load_fold(done, run_key)
                results.append(result)
                pre_folds.extend([pre] if pre else [])
                first_state = first_state or (result, None)  # its model.safetensors was written then
                log(f"  repeat {repeat} fold {k}: finished earlier, read from {done}", quiet)
                continue
            torch.manual_seed(fold_seed)
            model = build_model(spec)
            pre = None
            if cfg.get("pretrainer") or cfg.get("pretrained_weights"):
                pre = dict(_pretrain_into(model, cfg, spec, entry, dataset, tr, quiet, shared), repeat=repeat, fold=k)
                pre_folds.append(pre)
            result = train_fold(model, dataset, tr, va, te, tcfg, task, fold_seed, cfg["device"],
                                progress=_epoch_progress(quiet), repeat=repeat, fold=k,
                                checkpoint=run_dir / "checkpoints" / f"r{repeat}-f{k}.safetensors",
                                checkpoint_key=run_key)
            results.append(result)
            main = "rmse" if task == "regression" else "auroc"
            log(f"  repeat {repeat} fold {k}: test {main} {result.test.get(main, float('nan')):.4f} "
                f"(best epoch {result.best_epoch}/{result.epochs_run}, {result.seconds:.1f} s, "
                f"{result.train_pairs_per_s:.0f} train pairs/s)", quiet)
            meta = {"dataset": cfg["dataset"], "repeat": repeat, "fold": k, "seed": seed, "split": cfg["split"],
                    "n_folds": int(cfg["folds"]), "test_metrics": result.test, "valid_metrics": result.valid}
            if pre is not None:
                meta["pretraining"] = pre
            if first_state is None:
                first_state = (result, meta)
                model.load_state_dict(result.state)
                save_model(run_dir / "model.safetensors", model, spec, _provenance(meta))
            if cfg.get("save_all_folds"):
                model.load_state_dict(result.state)
                save_model(run_dir / "folds" / f"r{repeat}-f{k}.safetensors", model, spec, _provenance(meta))
            result.state = {}
            save_fold(done, result, pre, run_key)  # last: a fold counts as finished once its weights are on disk
    if (run_dir / "checkpoints").is_dir() and not any((run_dir / "checkpoints").iterdir()):
        (run_dir / "checkpoints").rmdir()  # every fold finished
    metrics = summarize(results, task)
    metrics.update({"dataset": cfg["dataset"], "pair_model": spec["pair_model"], "encoder": spec["encoder"],
                    "pretrainer": cfg.get("pretrainer"), "task": task, "n_pairs": len(dataset),
                    "bad_rows": len(dataset.bad), "featurization": feat_stats, "epochs_budget": int(cfg["epochs"])})
    if pre_folds:
        metrics["pretraining"] = _pretraining_summary(pre_folds)
    metrics["peak_rss_gb"] = peak_rss_gb()
    if metrics["peak_rss_gb"] is not None:
        log(f"peak memory {metrics['peak_rss_gb']:.3f} GB (process max RSS)", quiet)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_json_default))
    write_predictions(run_dir / "predictions.csv", dataset, results)
    return run_dir, metrics


def save_fold(path: Path, result, pre: dict | None, run_key: str) -> None:
    """A finished fold as JSON (metrics, test rows and predictions, pretraining record, the fingerprint of the model
    spec and data that produced it), written atomically."""
    record = {"run_key": run_key, "repeat": result.repeat, "fold": result.fold, "seed": result.seed,
              "best_epoch": result.best_epoch, "epochs_run": result.epochs_run, "valid": result.valid, "test": result.test,
              "test_rows": result.test_rows.tolist(), "test_pred": result.test_pred.tolist(),
              "seconds": result.seconds, "train_pairs_per_s": result.train_pairs_per_s, "pretraining": pre}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, default=_json_default))
    os.replace(tmp, path)


def load_fold(path: Path, run_key: str):
    """(FoldResult, pretraining record or None) from :func:`save_fold`'s file; ZooError when it was written for
    another model spec or data (e.g. a registry default changed since), so two models never mix in one run."""
    import numpy as np

    from zoo_core.train.trainer import FoldResult

    try:
        r = json.loads(path.read_text())
        if r["run_key"] != run_key:
            raise ZooError(f"{path}: this fold was trained with another model spec or data than the run now builds "
                           f"(a changed registry default or plugin?); start a new run instead of resuming")
        result = FoldResult(repeat=r["repeat"], fold=r["fold"], seed=r["seed"], best_epoch=r["best_epoch"],
                            epochs_run=r["epochs_run"], valid=r["valid"], test=r["test"],
                            test_rows=np.asarray(r["test_rows"], dtype=np.int64),
                            test_pred=np.asarray(r["test_pred"], dtype=np.float64).reshape(len(r["test_rows"]), -1),
                            seconds=r["seconds"], train_pairs_per_s=r["train_pairs_per_s"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ZooError(f"{path}: unreadable fold record ({error}); delete it to train that fold again") from error
    return result, r.get("pretraining")


def _pretrain_into(model, cfg: dict, spec: dict, entry, dataset, train_rows, quiet: bool, shared: dict) -> dict:
    """Load pretrained backbone weights into a fresh model: a given file, or pretrain (or reuse) on the pair set.
    Returns this fold's pretraining record. ``shared`` keeps a resolved non-train-split pair set across folds."""
    from zoo_core.console import warn
    from zoo_core.data.pair_sets import is_train_split, pairs_of_rows, resolve
    from zoo_core.train.pretraining import budget, default_lr, load_backbone, pretrained_backbone

    t0 = time.perf_counter()
    if cfg.get("pretrained_weights"):
        from zoo_core.hub import sha256_file, weights_path

        path = weights_path(str(cfg["pretrained_weights"]), progress=not quiet)
        meta = load_backbone(model, path, spec)
        if "sha256" not in shared:  # the same file for every fold
            shared["sha256"] = sha256_file(path)
        return {"pretrained_weights": str(cfg["pretrained_weights"]), "weights": str(path),
                "sha256": shared["sha256"], **budget(meta),
                "seconds": round(time.perf_counter() - t0, 3)}
    if is_train_split(cfg["pairs"]):
        pset = resolve(cfg["pairs"], ratio=cfg.get("pairs_ratio"), downstream=str(cfg["dataset"]),
                       train_pairs=pairs_of_rows(dataset.table, train_rows))
    else:
        if "pair_set" not in shared:
            shared["pair_set"] = resolve(cfg["pairs"], ratio=cfg.get("pairs_ratio"), downstream=str(cfg["dataset"]))
            if shared["pair_set"].transductive:
                warn(f"warning: pretraining pair set {shared['pair_set'].name!r} is TRANSDUCTIVE: it holds the test "
                     f"molecules of {cfg['dataset']} (without labels); the records say so")
        pset = shared["pair_set"]
    record = pset.record()
    epochs, batch, lr = (int(cfg["pretrain_epochs"]), int(cfg["pretrain_batch_size"]),
                         float(cfg["pretrain_lr"] or default_lr(entry)))
    params = dict(cfg.get("pretrain_params") or {})
    path, reused = pretrained_backbone(cfg["pretrainer"], spec, pset.pairs, epochs, batch, lr, seed=0,
                                       params=params, quiet=quiet, pair_set=record,
                                       compile=bool(cfg.get("pretrain_compile")))
    meta = load_backbone(model, path, spec)
    confs = {} if reused or not meta.get("conformers") else {"conformers": meta["conformers"]}
    return {"pretrainer": cfg["pretrainer"], **record, "epochs": epochs, "batch_size": batch, "lr": lr, "seed": 0,
            "params": params, "reused": reused, "weights": str(path), **confs,
            "backbone_seconds": meta.get("seconds"), "seconds": round(time.perf_counter() - t0, 3)}


def _pretraining_summary(folds: list[dict]) -> dict:
    """The run-level ``pretraining`` block: what every fold shares, plus per-fold pairs, reuse and seconds."""
    first = folds[0]
    per_fold = ("repeat", "fold", "pairs", "reused", "seconds", "weights", "conformers")
    shared = {k: v for k, v in first.items() if k not in per_fold and all(f.get(k) == v for f in folds)}
    return {**shared, "pairs_per_fold": [f.get("pairs", f.get("pretrain_pairs")) for f in folds],
            "reused": [f.get("reused") for f in folds], "seconds": [f["seconds"] for f in folds],
            "folds": folds}


def _json_default(o):
    import numpy as np

    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return str(o)


def _provenance(meta: dict) -> dict:
    import torch

    from zoo_core import __version__

    try:
        from rdkit import rdBase
        rdkit_version = rdBase.rdkitVersion
    except ImportError:  # pragma: no cover
        rdkit_version = None
    return dict(meta, zoo_version=__version__, torch_version=torch.__version__, rdkit_version=rdkit_version,
                created=time.strftime("%Y-%m-%dT%H:%M:%S"))


def _epoch_progress(quiet: bool):
    if quiet or not os.isatty(2):
        return None
    from rich.console import Console

    console = Console(stderr=True)

    def show(epoch: int, val: float, best: float) -> None:
        console.print(f"    epoch {epoch:4d}  valid loss {val:.4f}  best {best:.4f}", end="\r", highlight=False)
    return show


def report_bad_rows(bad: list, n_kept: int, strict: bool, quiet: bool) -> None:
    """Say how many rows were skipped and which (first 20), even with --quiet; raise under ``strict``."""
    if not bad:
        return
    lines = [str(b) for b in bad]
    if strict:
        raise DataError(f"{len(bad)} bad row(s) (strict mode):\n  " + "\n  ".join(lines[:20]))
    from zoo_core.train.trainer import log

    shown = "\n  ".join(lines[:20]) + (f"\n  ... and {len(lines) - 20} more" if len(lines) > 20 else "")
    log(f"zoo: skipped {len(bad)} bad row(s), kept {n_kept}:\n  {shown}")


def write_bad_rows(path: Path, bad: list) -> None:
    """Every skipped row (file, line, field, reason) as CSV, when there is any."""
    if not bad:
        return
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "line", "field", "reason"])
        w.writerows([b.file, b.line, b.field, b.reason] for b in bad)


def make_run_dir(cfg: dict) -> Path:
    name = cfg.get("run_name") or (f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg['pair_model']}-{cfg['encoder']}-"
                                   f"{Path(str(cfg['dataset'])).name}-{os.getpid()}")  # a CSV path contributes its file name
    parent = Path(cfg.get("output") or "runs")
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):  # two runs started in the same second by one process get -2, -3, ...
        path = parent / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            if cfg.get("run_name"):
                raise ZooError(f"{path}: run directory exists; choose another run_name") from None
    raise ZooError(f"{parent}: could not create a new run directory for {name}")


def write_predictions(path: Path, dataset, results) -> None:
    roles = dataset.table.roles
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["repeat", "fold", "line", roles[0], roles[1], "target", "prediction"])
        for r in results:
            for row, pred in zip(r.test_rows, r.test_pred):
                w.writerow([r.repeat, r.fold, int(dataset.table.lines[row]), dataset.table.a[row],
                            dataset.table.b[row], f"{float(dataset.y[row, 0]):.6g}", f"{float(pred[0]):.6g}"])
