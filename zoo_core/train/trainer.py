"""Training: one fold (Adam, ReduceLROnPlateau, early stopping, best-validation checkpoint) and the
folds x repeats driver of the molecular-interaction protocol (METHODS §2.2, §5.3).

Per fold the test metric is read at the epoch of best validation loss. Per repeat the reported number is the
mean over folds; the final number is mean ± std over repeats (3DMRL convention; std with ddof=0 as numpy).
"""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from zoo_core.errors import ZooError
from zoo_core.train import metrics as M
from zoo_core.train.fold_checkpoint import FoldCheckpoint
from zoo_core.train.optim import Adam, ReduceLROnPlateau


@dataclass
class TrainConfig:
    """Optimisation settings (defaults: METHODS §5.3, solvation)."""

    epochs: int = 500
    lr: float = 1e-3
    batch_size: int = 256
    eval_batch_size: int = 1024
    weight_decay: float = 0.0
    patience: int = 50            # early stop after this many epochs without a better validation loss
    plateau_patience: int = 20
    plateau_factor: float = 0.1
    min_lr: float = 0.0
    grad_clip: float | None = None
    freeze_backbone_epochs: int = 0  # LP-FT: train only ``model.head`` this many epochs first (0 = paper protocol)


@dataclass
class FoldResult:
    repeat: int
    fold: int
    seed: int
    best_epoch: int
    epochs_run: int
    valid: dict[str, float]
    test: dict[str, float]
    test_rows: np.ndarray
    test_pred: np.ndarray
    state: dict[str, torch.Tensor] = field(repr=False, default_factory=dict)
    seconds: float = 0.0
    train_pairs_per_s: float = 0.0


def task_loss_fn(task: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if task == "classification":
        return torch.nn.functional.binary_cross_entropy_with_logits
    return torch.nn.functional.mse_loss


def model_loss(model, batch, task_loss) -> tuple[torch.Tensor, Any]:
    """The training loss of a batch: the model's own ``training_loss`` if it has one, else task + Σ aux."""
    if hasattr(model, "training_loss"):
        return model.training_loss(batch, task_loss)
    out = model(batch)
    loss = task_loss(out.pred, batch.y)
    for value in out.aux_losses.values():
        loss = loss + value
    return loss, out


@torch.no_grad()
def predict(model, batches) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, predictions [n, n_tasks]) over pre-collated or lazily collated batches."""
    model.eval()
    rows, preds = [], []
    for batch in batches:
        rows.append(batch.index.cpu().numpy())
        preds.append(model(batch).pred.detach().cpu().numpy())
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 1))
    return np.concatenate(rows), np.concatenate(preds)


def train_epoch(model, opt, dataset, rows, batch_size: int, loss_fn, rng: np.random.Generator, device: str = "cpu",
                grad_clip: float | None = None) -> None:
    """One optimisation pass over ``rows`` in batches shuffled by ``rng``.

    Each batch's graphs, outputs and loss are released before the next batch is collated, so two batches are
    never alive together (holding them cost ~20 MB of peak memory for CIGIN on CompSol; docs/DECISIONS.md
    "Memory"). bench/run_bench.py's throughput figures run this function.
    """
    model.train()
    for batch in dataset.batches(rows, batch_size, shuffle=True, generator=rng):
        batch = batch.to(device)
        opt.zero_grad(set_to_none=True)
        loss, out = model_loss(model, batch, loss_fn)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        del batch, loss, out


def _freeze_backbone(model) -> list[torch.nn.Parameter]:
    """Stop gradients to every trainable parameter outside ``model.head`` (the prediction MLP every pair model
    has); returns them so they can be released."""
    head = getattr(model, "head", None)
    if not isinstance(head, torch.nn.Module):
        raise ZooError(f"freeze_backbone_epochs needs a model with a `head` module; {type(model).__name__} has none")
    keep = {id(p) for p in head.parameters()}
    frozen = [p for p in model.parameters() if p.requires_grad and id(p) not in keep]
    for p in frozen:
        p.requires_grad_(False)
    return frozen


def train_fold(model, dataset, train_rows, valid_rows, test_rows, cfg: TrainConfig, task: str, seed: int,
               device: str = "cpu", progress: Callable[[int, float, float], None] | None = None,
               repeat: int = 0, fold: int = 0, checkpoint: Path | None = None, checkpoint_key: str = "",
               checkpoint_seconds: float = 60.0) -> FoldResult:
    """Train ``model`` on ``train_rows``, select the best-validation epoch, evaluate test there.

    With ``cfg.freeze_backbone_epochs = K > 0`` (linear-probe-then-fine-tune, Kumar et al. 2022; not the papers'
    protocol) epochs 1..K update only ``model.head`` and epoch K+1 starts full fine-tuning with a fresh Adam and
    plateau schedule at ``cfg.lr``; best-epoch selection and early stopping run over both stages.

    With ``checkpoint`` (a file path) the whole training state is saved there at the end of an epoch when
    ``checkpoint_seconds`` have passed since the last save, and a fold started again with the same file, settings,
    rows and ``checkpoint_key`` continues from it and ends exactly as an uninterrupted fold would (see
    :class:`FoldCheckpoint`); the file is removed when the fold ends."""
    t_start = time.perf_counter()
    model.to(device)
    rng = np.random.default_rng(seed)
    loss_fn = task_loss_fn(task)
    frozen = _freeze_backbone(model) if cfg.freeze_backbone_epochs > 0 else []

    def optimizer() -> tuple[Adam, ReduceLROnPlateau]:  # over the parameters that train now
        opt = Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        return opt, ReduceLROnPlateau(opt, factor=cfg.plateau_factor, patience=cfg.plateau_patience,
                                      min_lr=cfg.min_lr)

    def unfreeze() -> None:
        for p in frozen:
            p.requires_grad_(True)
        frozen.clear()

    opt, sched = optimizer()
    valid_batches = [b.to(device) for b in dataset.batches(valid_rows, cfg.eval_batch_size)]
    best_val, best_epoch, best_state = math.inf, -1, None
    train_seconds, train_pairs = 0.0, 0
    epoch = start = 0
    saver = FoldCheckpoint(checkpoint, cfg, task, seed, (train_rows, valid_rows, test_rows), checkpoint_key) \
        if checkpoint is not None else None
    if saver is not None and saver.path.exists():
        if frozen and saver.epoch_of_file() > cfg.freeze_backbone_epochs:  # saved in stage 2
            unfreeze()
            opt, sched = optimizer()
        state = saver.load(model, opt, sched, rng)
        start, best_val, best_epoch = state["epoch"], state["best_val"], state["best_epoch"]
        best_state, train_seconds, train_pairs = state["best_state"], state["train_seconds"], state["train_pairs"]
        t_start -= state["seconds"]
        epoch = start
    last_save = time.perf_counter()
    for epoch in range(start + 1, cfg.epochs + 1):
        if frozen and epoch == cfg.freeze_backbone_epochs + 1:  # stage 2: everything trains, fresh optimizer
            unfreeze()
            opt, sched = optimizer()
        t0 = time.perf_counter()
        train_epoch(model, opt, dataset, train_rows, cfg.batch_size, loss_fn, rng, device, cfg.grad_clip)
        train_seconds += time.perf_counter() - t0
        train_pairs += len(train_rows)
        _, vp = predict(model, valid_batches)
        val_loss = float(loss_fn(torch.as_tensor(vp), dataset.y[torch.as_tensor(valid_rows)]).item())
        sched.step(val_loss)
        if val_loss < best_val:
            best_val, best_epoch = val_loss, epoch
            if best_state is None:
                best_state = copy.deepcopy(model.state_dict())
            else:  # into the same buffers: no new copy of the weights per improvement
                for key, value in model.state_dict().items():
                    best_state[key].copy_(value)
        if progress is not None:
            progress(epoch, val_loss, best_val)
        if epoch - best_epoch >= cfg.patience:
            break
        if saver is not None and time.perf_counter() - last_save >= checkpoint_seconds:
            saver.save(model, opt, sched, rng, epoch=epoch, best_val=best_val, best_epoch=best_epoch,
                       best_state=best_state, train_seconds=train_seconds, train_pairs=train_pairs,
                       seconds=time.perf_counter() - t_start)
            last_save = time.perf_counter()
    unfreeze()  # stopped early inside stage 1
    if saver is not None:
        saver.remove()
    if best_state is not None:
        model.load_state_dict(best_state)
    rows_v, pred_v = predict(model, valid_batches)
    rows_t, pred_t = predict(model, (b.to(device) for b in dataset.batches(test_rows, cfg.eval_batch_size)))
    y = dataset.y.numpy()
    return FoldResult(
        repeat=repeat, fold=fold, seed=seed, best_epoch=best_epoch, epochs_run=epoch,
        valid=M.compute(task, y[rows_v], pred_v), test=M.compute(task, y[rows_t], pred_t) if len(rows_t) else {},
        test_rows=rows_t, test_pred=pred_t, state=model.state_dict(), seconds=time.perf_counter() - t_start,
        train_pairs_per_s=train_pairs / train_seconds if train_seconds > 0 else 0.0)


def summarize(results: list[FoldResult], task: str) -> dict[str, Any]:
    """Per-fold records plus mean ± std over repeats of the per-repeat fold means (and over all folds)."""
    names = list((M.REGRESSION if task == "regression" else M.CLASSIFICATION).keys())
    per_fold = [{"repeat": r.repeat, "fold": r.fold, "seed": r.seed, "best_epoch": r.best_epoch,
                 "epochs_run": r.epochs_run, "seconds": round(r.seconds, 3),
                 "train_pairs_per_s": round(r.train_pairs_per_s, 1),
                 "valid": r.valid, "test": r.test} for r in results]
    summary: dict[str, Any] = {}
    repeats = sorted({r.repeat for r in results})
    for name in names:
        by_repeat = [float(np.mean([r.test[name] for r in results if r.repeat == k and name in r.test]))
                     for k in repeats if any(name in r.test for r in results if r.repeat == k)]
        folds = [r.test[name] for r in results if name in r.test]
        if not folds:
            continue
        summary[name] = {"mean": float(np.mean(by_repeat)), "std": float(np.std(by_repeat)),
                         "per_repeat": by_repeat, "fold_mean": float(np.mean(folds)), "fold_std": float(np.std(folds))}
    return {"summary": summary, "folds": per_fold, "n_repeats": len(repeats),
            "n_results": len(results)}


def log(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)
