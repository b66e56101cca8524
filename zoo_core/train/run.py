"""``zoo run``: resolve the configuration, featurize, split, train every fold of every repeat, write the run dir.

Configuration precedence: built-in defaults < dataset registry entry (``train``) < ``--config`` file < CLI flags.
Run directory: ``config.yaml`` (resolved), ``metrics.json``, ``predictions.csv``, ``model.safetensors`` (repeat 0,
fold 0: the best-validation weights, carrying the model spec and featurizer spec), ``bad_rows.csv`` when any,
``folds/r<R>-f<K>.json`` per finished fold and, while a fold trains, its resumable state in ``checkpoints/``.
A DDI positives set (an entry with ``negatives``) gets each repeat's negatives and folds from its seed
(:mod:`zoo_core.data.ddi`); its ``metrics.json`` adds ``test_type1`` / ``test_type2``, the no-chemistry
``baseline`` (:mod:`zoo_core.train.ddi_report`) and a ``ddi`` block (split, its leak, per-repeat counts).
With a pretrainer (or ``pretrained_weights``), ``metrics.json`` has a ``pretraining`` block (pretrainer, pair set,
transductive flag, budget: epochs, pairs per fold, batch size, learning rate; per fold whether the backbone was
reused and the pretraining-stage seconds) and each fold's weight metadata its own ``pretraining`` record.
``full_data`` (``zoo run --full-data --epochs N``) trains on every row instead: :mod:`zoo_core.train.full_data`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zoo_core.errors import ZooError
from zoo_core.train import distributed
from zoo_core.train.checkpoint import fingerprint
from zoo_core.train.config import (DEFAULTS, dataset_entry_of, load_dataset_table, parse_key_values,  # noqa: F401
                                   resolve_config, resume_config)
from zoo_core.train.preflight import check_enough_rows
from zoo_core.train.run_dir import (json_default, load_fold, make_run_dir, provenance, report_bad_rows, save_fold,
                                    write_bad_rows, write_predictions)


@dataclass
class _Run:
    """What every fold of a run shares: the configuration, the dataset entry, the model spec and the data."""

    cfg: dict[str, Any]
    entry: Any
    spec: dict[str, Any]
    dataset: Any
    run_dir: Path
    run_key: str
    quiet: bool
    resume: Path | None
    shared: dict = field(default_factory=dict)   # a resolved pretraining pair set, a weights file's sha256
    ddi: Any = None   # a DDI positives set: every repeat's rows and folds (zoo_core.data.ddi.DDIRows)
    show_epochs: bool = True   # the per-epoch progress line (off in fold workers, whose lines would interleave)

    @property
    def task(self) -> str:
        return self.entry["task"]


def requires_3d(spec: dict) -> bool:
    """Does the spec's encoder declare ``requires_3d`` (then its batches carry ``g.ndata['pos']``)? An encoder whose
    need depends on its parameters (MolInteract's ``towers=2d``) offers ``requires_3d_for(params) -> bool``."""
    from zoo_core.plugins import get_catalog

    cls = get_catalog().get("encoders", spec["encoder_impl"]).load()
    decide = getattr(cls, "requires_3d_for", None)
    if decide is not None:
        return bool(decide(spec.get("encoder_params") or {}))
    return bool(getattr(cls, "requires_3d", False))


def load_dataset(table, spec: dict, explicit_h: bool, progress: bool = True, positions: dict | None = None):
    """Featurize ``table`` for ``spec``'s featurizer: a MolDataset for a one-role table, else a PairDataset. When
    the encoder requires 3D, every molecule gets positions: ``positions`` (canonical SMILES -> [n, 3], e.g. a
    dataset's DFT geometries matched with :func:`zoo_core.chem.positions.match_positions`; default: the table's own,
    ``MolTable.positions``) or seeded, cached ETKDG conformers (:mod:`zoo_core.chem.conformers`)."""
    if len(table.roles) == 1:
        from zoo_core.data.molecules import MolDataset

        dataset = MolDataset.from_table(table, spec["featurizer"]["name"], explicit_h, progress=progress)
    else:
        from zoo_core.data.pairs import PairDataset

        dataset = PairDataset.from_table(table, spec["featurizer"]["name"], explicit_h, progress=progress)
    if requires_3d(spec):
        from zoo_core.chem.positions import heavy_atom_positions, store_positions

        if positions is None and getattr(table, "positions", None) is not None:
            positions = table.positions if explicit_h else heavy_atom_positions(table.positions, dataset.store)
        pos, _ = store_positions(dataset.store, explicit_h, positions=positions, progress=progress)
        dataset.store.pos = pos.float()
    return dataset


def run_spec(cfg: dict, entry, table) -> dict:
    """The model spec of a run: the encoder/pair model of ``cfg`` over the dataset's roles, tasks and scaling."""
    from zoo_core.models import model_spec

    tasks = list(table.targets)
    return model_spec(cfg["encoder"], cfg["pair_model"], cfg["featurizer"], cfg["encoder_params"], cfg["pair_params"],
                      n_tasks=len(tasks), task=entry["task"], explicit_h=bool(cfg["explicit_h"]),
                      roles=len(entry["roles"]), scale_targets=bool(cfg.get("scale_targets")), tasks=tasks,
                      dataset_featurizer=entry.get("model_featurizer"), symmetric_task=bool(entry.get("symmetric")),
                      dataset_pair_params=entry.get("pair_params"))


def optimisation_settings(cfg: dict) -> dict:
    """The :class:`TrainConfig` fields that a fold and a full-data run both take from a resolved configuration."""
    return {"epochs": int(cfg["epochs"]), "lr": float(cfg["lr"]), "batch_size": int(cfg["batch_size"]),
            "weight_decay": float(cfg["weight_decay"]), "pos_weight": cfg.get("pos_weight"),
            "freeze_backbone_epochs": int(cfg.get("freeze_backbone_epochs") or 0),
            "loss": cfg.get("loss") or "mse", "lr_schedule": cfg.get("lr_schedule") or "plateau",
            "warmup_epochs": int(cfg.get("warmup_epochs", 2))}


def train_config(cfg: dict):
    """The trainer's settings from a resolved run configuration."""
    from zoo_core.train.trainer import TrainConfig

    return TrainConfig(**optimisation_settings(cfg), patience=int(cfg["patience"]),
                       plateau_patience=int(cfg["plateau_patience"]), plateau_factor=float(cfg["plateau_factor"]),
                       select_by=cfg.get("select_by") or "loss")


def _prepare(cfg: dict, quiet: bool, resume) -> _Run:
    """Read and featurize the data, resolve the model, and create (or reopen) the run directory."""
    from zoo_core.train.trainer import log

    t0 = time.perf_counter()
    entry, table, spec, dataset = _featurized(cfg, quiet)
    report_bad_rows(dataset.bad, len(dataset), cfg.get("strict", False), quiet)
    check_enough_rows(cfg, entry, dataset)  # too few usable rows for the folds: refused before a run directory exists
    dataset, ddi = _ddi_rows(cfg, entry, dataset, quiet)
    cfg = dict(cfg, pair_model=spec["pair_model"], encoder=spec["encoder"], featurizer=spec["featurizer"]["name"],
               featurization=dict(dataset.store.stats, seconds=time.perf_counter() - t0))
    if resume is None:
        run_dir = make_run_dir(cfg)
        (run_dir / "config.yaml").write_text(yaml.safe_dump({k: v for k, v in cfg.items() if k != "featurization"},
                                                            sort_keys=True))
        write_bad_rows(run_dir / "bad_rows.csv", dataset.bad)
    else:
        run_dir = Path(resume)
    run_key = fingerprint(spec, str(cfg["dataset"]), len(dataset))  # folds are only reused by the same model + data
    unit = "molecules" if len(entry["roles"]) == 1 else "pairs"
    log(f"zoo run: {spec['pair_model']}({spec['encoder']}) on {cfg['dataset']} ({len(dataset)} {unit}, "
        f"{len(dataset.store)} unique molecules, {len(table.targets)} task(s), featurizer {spec['featurizer']['name']}, "
        f"{'explicit H' if cfg['explicit_h'] else 'heavy atoms'}"
        f"{', targets standardised' if spec.get('scale_targets') else ''}) -> {run_dir}", quiet)
    return _Run(cfg, entry, spec, dataset, run_dir, run_key, quiet, Path(resume) if resume else None, ddi=ddi)


def _featurized(cfg: dict, quiet: bool) -> tuple:
    """(dataset entry, table, model spec, featurized dataset) of a configuration; a bad model parameter fails
    before featurizing."""
    from zoo_core.models import build_model

    entry = dataset_entry_of(cfg)
    table = load_dataset_table(cfg, entry)
    spec = run_spec(cfg, entry, table)
    build_model(spec)  # a bad model parameter fails here, before featurizing and before a run directory exists
    return entry, table, spec, load_dataset(table, spec, bool(cfg["explicit_h"]), progress=not quiet)


def reopen(cfg: dict, run_dir: Path, run_key: str, quiet: bool, resume: Path | None) -> _Run:
    """A run rebuilt in another process (a fold worker) from its resolved configuration: the data read again (from
    the feature cache the parent filled), nothing reported, no run directory made; the run key must match."""
    entry, _, spec, dataset = _featurized(cfg, quiet=True)
    dataset, ddi = _ddi_rows(cfg, entry, dataset, quiet=True)
    if fingerprint(spec, str(cfg["dataset"]), len(dataset)) != run_key:
        raise ZooError(f"{run_dir}: a fold worker built another model spec or data than the run it belongs to")
    return _Run(cfg, entry, spec, dataset, run_dir, run_key, quiet, resume, ddi=ddi, show_epochs=False)


def _ddi_rows(cfg: dict, entry, dataset, quiet: bool):
    """For a DDI positives set (an entry with ``negatives``): (the dataset with every repeat's negatives appended,
    its DDIRows); otherwise (dataset, None). Negatives are drawn among the drugs that featurized."""
    if not entry.get("negatives"):
        return dataset, None
    from zoo_core.data.ddi import ddi_rows
    from zoo_core.train.trainer import log

    seeds = [int(cfg["seed"]) + k for k in range(int(cfg["repeats"]))]
    rows = ddi_rows(dataset.table, cfg["split"], seeds, float(entry["negatives"].get("ratio", 1)))
    log(f"zoo run: DDI {cfg['split']} split: {len(dataset)} positives, {rows.ratio:g} negative(s) per positive "
        f"drawn per repeat" + (f"; leak: {rows.leak}" if rows.leak else ""), quiet)
    return dataset.with_table(rows.table), rows


def run(cfg: dict[str, Any], quiet: bool = False, resume: str | Path | None = None) -> tuple[Path, dict[str, Any]]:
    """Execute a resolved configuration; returns (run directory, metrics).

    Each finished fold is written to ``folds/r<repeat>-f<fold>.json`` and an unfinished one keeps its training
    state in ``checkpoints/`` (saved about once a minute). ``resume`` = an interrupted run's directory (its
    ``config.yaml`` gives ``cfg``, see :func:`zoo_core.train.config.resume_config`): finished folds are read back,
    an unfinished fold continues from its checkpoint, and the results equal those of an uninterrupted run."""
    import torch

    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    if cfg.get("full_data"):  # every row trains for the given epochs, nothing held out
        from zoo_core.train.full_data import run_full_data

        return run_full_data(cfg, quiet, resume)
    r = _prepare_on_ranks(cfg, quiet, resume)
    jobs = fold_jobs(r)
    if int(r.cfg.get("workers") or 1) > 1:   # even for one fold: a worker's one thread gives the same numbers
        from zoo_core.train.parallel import run_folds

        done = run_folds(r, jobs, int(r.cfg["workers"]))
    else:
        done = [_fold(r, *job, first=index == 0) for index, job in enumerate(jobs)]
    results, pre_folds = [result for result, _ in done], [pre for _, pre in done if pre]
    if not distributed.is_main():   # data-parallel: rank 0 writes the run's records
        return r.run_dir, {}
    checkpoints = r.run_dir / "checkpoints"
    if checkpoints.is_dir() and not any(checkpoints.iterdir()):
        checkpoints.rmdir()  # every fold finished
    return r.run_dir, _finish(r, results, pre_folds)


def _prepare_on_ranks(cfg: dict, quiet: bool, resume) -> _Run:
    """:func:`_prepare`; data-parallel (torchrun), on rank 0 only (featurizing into the cache, making the run
    directory), the other ranks reopening its run from the cache as fold workers do (:func:`reopen`)."""
    if distributed.world_size() == 1:
        return _prepare(cfg, quiet, resume)
    if int(cfg.get("workers") or 1) > 1:
        raise ZooError("--workers runs folds on processes of their own; under torchrun (--nproc) the processes "
                       "share each step: use one or the other")
    r = _prepare(cfg, quiet, resume) if distributed.is_main() else None
    run = distributed.from_main(lambda: (r.cfg, r.run_dir, r.run_key, r.quiet, r.resume))
    return r if r is not None else reopen(*run)


def fold_jobs(r: _Run) -> list[tuple]:
    """``(repeat, fold, seed, (train, valid, test rows))`` of every fold the run trains, in training order (repeat
    by repeat; ``only_folds`` when given)."""
    from zoo_core.data.splits import make_splits

    only = set(r.cfg["only_folds"]) if r.cfg.get("only_folds") else None
    jobs = []
    for repeat in range(int(r.cfg["repeats"])):
        seed = int(r.cfg["seed"]) + repeat
        folds = r.ddi.folds[repeat] if r.ddi is not None else make_splits(
            r.cfg["split"], len(r.dataset), seed, r.dataset.table.a, r.dataset.table.b, n_folds=int(r.cfg["folds"]),
            held_out=r.cfg.get("held_out"))
        jobs.extend((repeat, k, seed, rows) for k, rows in enumerate(folds) if only is None or k in only)
    return jobs


def fold_record(r: _Run, repeat: int, k: int) -> Path:
    """Where fold ``k`` of ``repeat`` is recorded once it has finished."""
    return r.run_dir / "folds" / f"r{repeat}-f{k}.json"


def _fold(r: _Run, repeat: int, k: int, seed: int, rows: tuple, first: bool):
    """Train (or read back, when resuming) fold ``k`` of ``repeat``; returns (FoldResult, pretraining record)."""
    import torch

    from zoo_core.models import build_model
    from zoo_core.train.trainer import log, train_fold
    from zoo_core.weights import save_model

    tr, va, te = rows
    fold_seed = seed * 1000 + k
    done = fold_record(r, repeat, k)
    if r.resume is not None and done.is_file():
        log(f"  repeat {repeat} fold {k}: finished earlier, read from {done}", r.quiet)
        return load_fold(done, r.run_key)
    torch.manual_seed(fold_seed)
    model = build_model(r.spec)
    pre = None
    if r.cfg.get("pretrainer") or r.cfg.get("pretrained_weights"):
        pre = dict(_pretrain_into(model, r.cfg, r.spec, r.entry, r.dataset, tr, r.quiet, r.shared),
                   repeat=repeat, fold=k)
    result = train_fold(model, r.dataset, tr, va, te, train_config(r.cfg), r.task, fold_seed, r.cfg["device"],
                        progress=_epoch_progress(r.quiet or not r.show_epochs, r.cfg.get("select_by") or "loss"),
                        repeat=repeat, fold=k,
                        checkpoint=r.run_dir / "checkpoints" / f"r{repeat}-f{k}.safetensors", checkpoint_key=r.run_key)
    main = r.entry.get("metric") or ("rmse" if r.task == "regression" else "auroc")
    log(f"  repeat {repeat} fold {k}: test {main} {result.test.get(main, float('nan')):.4f} "
        f"(best epoch {result.best_epoch}/{result.epochs_run}, {result.seconds:.1f} s, "
        f"{result.train_pairs_per_s:.0f} train rows/s)"
        + (f"; skipped tasks with one class: {', '.join(result.test['skipped_tasks'])}"
           if result.test.get("skipped_tasks") else ""), r.quiet)
    if r.ddi is not None:
        _report_ddi(r, rows, result)
    model.load_state_dict(result.state)
    result.state = {}
    if not distributed.is_main():   # data-parallel: every rank trained the fold, rank 0 writes it
        return result, pre
    weights = ([r.run_dir / "model.safetensors"] if first else []) + \
        ([r.run_dir / "folds" / f"r{repeat}-f{k}.safetensors"] if r.cfg.get("save_all_folds") else [])
    if weights:
        meta = provenance(_fold_metadata(r, model, result, pre, repeat, k, seed, tr))
        for path in weights:
            save_model(path, model, r.spec, meta)
    save_fold(done, result, pre, r.run_key)  # last: a fold counts as finished once its weights are on disk
    return result, pre


def _fold_metadata(r: _Run, model, result, pre: dict | None, repeat: int, k: int, seed: int, train_rows) -> dict:
    """What a fold's weight file records: where it comes from, its metrics, the fitted target scaler, the
    pretraining record and the training domain that `zoo predict` warns outside of."""
    from zoo_core.chem.domain import training_domain

    meta = {"dataset": r.cfg["dataset"], "repeat": repeat, "fold": k, "seed": seed, "split": r.cfg["split"],
            "n_folds": int(r.cfg["folds"]), "test_metrics": result.test, "valid_metrics": result.valid,
            "select_by": r.cfg.get("select_by") or "loss", "columns": r.cfg.get("columns"),
            "training_domain": training_domain(r.dataset.table, train_rows)}
    return dict(meta, **scaler_and_pretraining(model, pre))


def scaler_and_pretraining(model, pre: dict | None) -> dict:
    """What a weight file records of its model besides the run: the fitted target scaler and the pretraining
    record, each when there is one."""
    from zoo_core.nn.scaler import scaler_of

    scaler = scaler_of(model)
    return {**({"target_scaler": scaler.as_dict()} if scaler is not None else {}),
            **({"pretraining": pre} if pre is not None else {})}


def _report_ddi(r: _Run, rows: tuple, result) -> None:
    """A DDI fold's Type 1 / Type 2 test metrics and no-chemistry baseline, into ``result.subsets`` and the log."""
    from zoo_core.train.ddi_report import describe, fold_report
    from zoo_core.train.trainer import log

    result.subsets = fold_report(r.dataset, rows, result.test_rows, result.test_pred)
    log(f"    {describe(result.subsets)}", r.quiet)


def _finish(r: _Run, results: list, pre_folds: list[dict]) -> dict:
    """Summarise the folds into ``metrics.json`` and write ``predictions.csv``; returns the metrics."""
    from zoo_core.train.memory import peak_rss_gb
    from zoo_core.train.trainer import log, summarize

    metrics = summarize(results, r.task, list(r.dataset.tasks))
    metrics.update({"dataset": r.cfg["dataset"], "pair_model": r.spec["pair_model"], "encoder": r.spec["encoder"],
                    "pretrainer": r.cfg.get("pretrainer"), "task": r.task, "tasks": list(r.dataset.tasks),
                    "metric": r.entry.get("metric"), "select_by": r.cfg.get("select_by") or "loss",
                    "scale_targets": bool(r.spec.get("scale_targets")), "split": r.cfg["split"],
                    "n_pairs": len(r.dataset), "bad_rows": len(r.dataset.bad),
                    "featurization": r.cfg["featurization"], "epochs_budget": int(r.cfg["epochs"])})
    if pre_folds:
        metrics["pretraining"] = _pretraining_summary(pre_folds)
    if r.ddi is not None:
        from zoo_core.train.ddi_report import summarize_reports

        metrics.update(summarize_reports(results), ddi={"split": r.ddi.protocol, "leak": r.ddi.leak,
                                                        "negatives_per_positive": r.ddi.ratio,
                                                        "repeats": r.ddi.records})
    if "workers" in r.shared:  # zoo run --workers: the processes and their start-up (zoo_core.train.parallel)
        metrics["workers"] = r.shared["workers"]
    metrics["peak_rss_gb"] = peak_rss_gb()
    if metrics["peak_rss_gb"] is not None:
        log(f"peak memory {metrics['peak_rss_gb']:.3f} GB (process max RSS)", r.quiet)
    (r.run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=json_default))
    write_predictions(r.run_dir / "predictions.csv", r.dataset, results, r.task)
    return metrics


def _pretrain_into(model, cfg: dict, spec: dict, entry, dataset, train_rows, quiet: bool, shared: dict) -> dict:
    """Load pretrained backbone weights into a fresh model: a given file, or pretrain (or reuse) on the pair set.
    Returns this fold's pretraining record. ``shared`` keeps a resolved non-train-split pair set across folds."""
    from zoo_core.console import warn
    from zoo_core.data.pair_sets import examples_of_rows, is_train_split, resolve
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
                       train_pairs=examples_of_rows(dataset.table, train_rows))
    else:
        if "pair_set" not in shared:
            shared["pair_set"] = resolve(cfg["pairs"], ratio=cfg.get("pairs_ratio"), downstream=str(cfg["dataset"]))
            if shared["pair_set"].transductive:
                warn(f"warning: pretraining pair set {shared['pair_set'].name!r} is TRANSDUCTIVE: it holds the test "
                     f"molecules of {cfg['dataset']} (without labels); the records say so")
        pset = shared["pair_set"]
    record = pset.record()
    epochs, batch, lr = (int(cfg["pretrain_epochs"]), int(cfg["pretrain_batch_size"]),
                         float(cfg["pretrain_lr"] or default_lr(entry, cfg["pretrainer"])))
    params = dict(cfg.get("pretrain_params") or {})
    path, reused = pretrained_backbone(cfg["pretrainer"], spec, pset.pairs, epochs, batch, lr, seed=0,
                                       params=params, quiet=quiet, pair_set=record,
                                       compile=bool(cfg.get("pretrain_compile")), device=cfg.get("device", "cpu"),
                                       positions=getattr(dataset.table, "positions", None))
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


def _epoch_progress(quiet: bool, select_by: str = "loss"):
    """The per-epoch line on a terminal: the validation score the trainer minimises (the loss, a lower-is-better
    metric, or 1 - metric for a higher-is-better one: zoo_core.train.trainer.validation_score)."""
    if quiet or not os.isatty(2):
        return None
    from rich.console import Console

    from zoo_core.train.metrics import direction

    console = Console(stderr=True)
    label = select_by if direction(select_by) == "min" else f"1 - {select_by}"

    def show(epoch: int, val: float, best: float) -> None:
        console.print(f"    epoch {epoch:4d}  valid {label} {val:.4f}  best {best:.4f}", end="\r", highlight=False)
    return show


