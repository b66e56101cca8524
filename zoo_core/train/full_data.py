"""Full-data training, ``zoo run --full-data --epochs N``: the model to use once cross-validation has chosen N.

Every usable row trains for exactly N epochs: no validation, no test, no early stopping, and a constant learning
rate (the plateau schedule of a fold reads the validation score; there is none here; a ``cosine`` or ``noam``
``lr_schedule`` spans the run's N epochs) unless ``lr_steps``
(``--lr-steps EPOCH:LR,...``) replays the schedule a fold's plateau took (its record's ``lr_steps``, which
``bench/publish_weights.py`` passes on for ``<name>.full``). The weights are the last
epoch's. The model starts from the weights repeat 0, fold 0 would start from (seed ``seed * 1000``), and a
pretrainer pretrains on the train-split pairs of every row, i.e. all of them. ``metrics.json`` says that there is
no held-out test and gives only the fit on the training rows, named so; the weight file records ``full_data``
instead of test metrics. No checkpoints are kept: an interrupted full-data run starts again.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from zoo_core.errors import UsageError
from zoo_core.train import distributed

NO_TEST = ("full-data training: every usable row trained for exactly the given epochs, with no validation or test "
           "rows and no early stopping; there is no held-out error to report (a cross-validated `zoo run` with this "
           "epoch count measures one)")
FIT_NOTE = "the last epoch's model on the rows it trained on: a training fit, not a test error"


@dataclass
class FullDataResult:
    epochs: int
    fit: dict[str, Any]   # metrics on the training rows themselves (FIT_NOTE)
    seconds: float
    train_pairs_per_s: float


def train_all(model, dataset, rows, cfg, task: str, seed: int, device: str = "cpu",
              progress: Callable[[int, int], None] | None = None, lr_steps=()) -> FullDataResult:
    """Train ``model`` in place on ``rows`` for exactly ``cfg.epochs`` epochs (a :class:`TrainConfig`; its
    patience and plateau settings are not used), then score the training fit. ``cfg.freeze_backbone_epochs``
    trains only the head first, as in a fold. ``lr_steps``: ``[(epoch, lr)]``, the rate from that epoch on."""
    from zoo_core.device import resolve_device
    from zoo_core.train import metrics as M
    from zoo_core.train.lr_schedule import step_schedule
    from zoo_core.train.optim import Adam
    from zoo_core.train.trainer import _freeze_backbone, predict, targets_scaler_and_loss, train_epoch

    t_start = time.perf_counter()
    device = resolve_device(device)
    model.to(device)
    rng = np.random.default_rng(seed)
    y_all, scale, loss_fn = targets_scaler_and_loss(model, dataset, rows, cfg, task, device)
    frozen = _freeze_backbone(model) if cfg.freeze_backbone_epochs > 0 else []
    opt = Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = step_schedule(cfg.lr_schedule, cfg.lr, cfg.epochs, len(rows), cfg.batch_size, cfg.min_lr,
                             cfg.warmup_epochs)  # a cosine or noam schedule spans this run's epochs
    train_seconds = 0.0
    for epoch in range(1, cfg.epochs + 1):
        if frozen and epoch == cfg.freeze_backbone_epochs + 1:  # everything trains from here, fresh optimizer
            for p in frozen:
                p.requires_grad_(True)
            frozen.clear()
            opt = Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        opt.lr = lr_at(epoch, cfg.lr, lr_steps)
        t0 = time.perf_counter()
        train_epoch(model, opt, dataset, rows, cfg.batch_size, loss_fn, rng, device, cfg.grad_clip, scale,
                    schedule, epoch)
        train_seconds += time.perf_counter() - t0
        if progress is not None:
            progress(epoch, cfg.epochs)
    fit_rows, pred = predict(model, (b.to(device) for b in dataset.batches(rows, cfg.eval_batch_size)))
    fit = M.compute(task, y_all[fit_rows], pred, getattr(dataset, "tasks", None))
    return FullDataResult(epochs=cfg.epochs, fit=fit, seconds=time.perf_counter() - t_start,
                          train_pairs_per_s=cfg.epochs * len(rows) / train_seconds if train_seconds > 0 else 0.0)


def lr_at(epoch: int, lr: float, lr_steps) -> float:
    """The learning rate of ``epoch``: the last step's at or before it, else ``lr``."""
    for start, step_lr in lr_steps:
        if start <= epoch:
            lr = float(step_lr)
    return lr


def full_train_config(cfg: dict):
    """The trainer's settings of a full-data run (no patience or plateau: nothing is held out)."""
    from zoo_core.train.run import optimisation_settings
    from zoo_core.train.trainer import TrainConfig

    return TrainConfig(**optimisation_settings(cfg))


def run_full_data(cfg: dict, quiet: bool = False, resume=None) -> tuple[Path, dict]:
    """Featurize, (pre)train on every row, write ``model.safetensors`` and ``metrics.json``; (run dir, metrics)."""
    from zoo_core.models import build_model
    from zoo_core.train.run import _prepare, _pretrain_into
    from zoo_core.train.run_dir import json_default, provenance
    from zoo_core.train.trainer import log
    from zoo_core.weights import save_model

    if resume is not None:
        raise UsageError(f"{resume}: a full-data run keeps no checkpoints to resume; start it again")
    if distributed.world_size() > 1:
        raise UsageError("--full-data trains in one process: drop --nproc")
    import torch

    r = _prepare(cfg, quiet, None)
    rows, seed = np.arange(len(r.dataset)), int(r.cfg["seed"]) * 1000  # fold 0 of repeat 0 starts from this seed
    torch.manual_seed(seed)
    model = build_model(r.spec)
    pre = None
    if r.cfg.get("pretrainer") or r.cfg.get("pretrained_weights"):
        pre = _pretrain_into(model, r.cfg, r.spec, r.entry, r.dataset, rows, r.quiet, r.shared)
    log(f"  full data: all {len(rows)} rows for {r.cfg['epochs']} epochs (no validation, no test, no early stop)",
        quiet)
    result = train_all(model, r.dataset, rows, full_train_config(r.cfg), r.task, seed, r.cfg["device"],
                       progress=_progress(quiet), lr_steps=r.cfg.get("lr_steps") or ())
    save_model(r.run_dir / "model.safetensors", model, r.spec, provenance(weight_metadata(r, model, result, pre, seed)))
    metrics = run_metrics(r, result, pre, seed)
    (r.run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=json_default))
    log(f"  full data: {result.seconds:.1f} s; fit on its training rows (not a test error): "
        + ", ".join(f"{k} {v:.4f}" for k, v in result.fit.items() if isinstance(v, float)), quiet)
    return r.run_dir, metrics


def weight_metadata(r, model, result: FullDataResult, pre: dict | None, seed: int) -> dict:
    """A full-data weight file's record: ``full_data`` (rows, epochs, the note) instead of test metrics."""
    from zoo_core.chem.domain import training_domain
    from zoo_core.train.run import scaler_and_pretraining

    rows = np.arange(len(r.dataset))
    meta = {"dataset": r.cfg["dataset"], "seed": seed, "columns": r.cfg.get("columns"),
            "full_data": {"pairs": len(rows), "epochs": result.epochs, "lr_steps": r.cfg.get("lr_steps"),
                          "note": NO_TEST},
            "training_fit": result.fit, "training_domain": training_domain(r.dataset.table, rows)}
    return dict(meta, **scaler_and_pretraining(model, pre))


def run_metrics(r, result: FullDataResult, pre: dict | None, seed: int) -> dict:
    """``metrics.json`` of a full-data run: no held-out test, said plainly; the training fit, named so."""
    from zoo_core.train.memory import peak_rss_gb

    metrics = {"full_data": True, "held_out_test": None, "note": NO_TEST,
               "dataset": r.cfg["dataset"], "pair_model": r.spec["pair_model"], "encoder": r.spec["encoder"],
               "pretrainer": r.cfg.get("pretrainer"), "task": r.task, "tasks": list(r.dataset.tasks),
               "n_pairs": len(r.dataset), "bad_rows": len(r.dataset.bad), "epochs": result.epochs,
               "lr": float(r.cfg["lr"]), "lr_steps": r.cfg.get("lr_steps"), "batch_size": int(r.cfg["batch_size"]),
               "seed": seed,
               "scale_targets": bool(r.spec.get("scale_targets")), "seconds": round(result.seconds, 3),
               "train_pairs_per_s": round(result.train_pairs_per_s, 1),
               "training_fit": result.fit, "training_fit_note": FIT_NOTE, "featurization": r.cfg["featurization"]}
    if pre is not None:
        metrics["pretraining"] = pre
    metrics["peak_rss_gb"] = peak_rss_gb()
    return metrics


def _progress(quiet: bool):
    """The per-epoch line on a terminal."""
    if quiet or not os.isatty(2):
        return None
    from rich.console import Console

    console = Console(stderr=True)

    def show(epoch: int, epochs: int) -> None:
        console.print(f"    epoch {epoch:4d} of {epochs}", end="\r", highlight=False)
    return show
