"""Training: one fold (Adam, ReduceLROnPlateau, early stopping, best-validation checkpoint) and the
folds x repeats driver of the molecular-interaction protocol (METHODS §2.2, §5.3).

Per fold the test metric is read at the epoch of best validation score: the validation loss by default (the MI
papers' protocol), or a validation metric with its direction (``TrainConfig.select_by``: highest AUROC for
MoleculeNet); the plateau schedule and early stopping follow the same score. Per repeat the reported number is the
mean over folds; the final number is mean ± std over repeats (3DMRL convention; std with ddof=0 as numpy).

Targets are ``[n, T]``; a NaN label (a missing cell of a multi-task set) is masked out of the loss and the metrics.
When the model carries a target scaler (``zoo_core.nn.scaler``), it is fitted on the training rows of the fold, the
loss is computed on standardised targets, and the model in eval mode predicts in the dataset's unit.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from zoo_core.device import resolve_device
from zoo_core.errors import ZooError
from zoo_core.train import distributed, metrics as M
from zoo_core.train.fold_checkpoint import FoldCheckpoint
from zoo_core.nn.scaler import scaler_of
from zoo_core.train.lr_schedule import step_schedule
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
    select_by: str = "loss"          # validation score for the best epoch, plateau and early stop (loss, auroc, ...)
    pos_weight: Any = None           # classification: None, "balanced" (n_neg / n_pos per task, train rows) or numbers
    loss: str = "mse"                # regression: "mse" or "l1" (MAE: the QM9 papers', METHODS §8.3); BCE otherwise
    lr_schedule: str = "plateau"     # "plateau" (validation-driven), "cosine" or "noam" (per step: train/lr_schedule.py)
    warmup_epochs: int = 2           # noam's linear warm-up


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
    subsets: dict = field(default_factory=dict)  # DDI: test_type1/test_type2 and the baseline (train/ddi_report.py)
    lr_steps: list = field(default_factory=list)  # [(epoch, lr)]: from that epoch on the lr was lr (plateau drops)


REGRESSION_LOSSES = ("mse", "l1")


def task_loss_fn(task: str, pos_weight: torch.Tensor | None = None,
                 regression_loss: str = "mse") -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The task loss (``regression_loss``: MSE or L1; BCE on logits with an optional per-task ``pos_weight`` for
    classification) averaged over the labelled entries: a NaN label contributes nothing. Without NaN labels it is
    the plain mean (bit-identical to before)."""
    import torch.nn.functional as F

    if regression_loss not in REGRESSION_LOSSES or (task == "classification" and regression_loss != "mse"):
        raise ZooError(f"loss {regression_loss!r}: regression trains on one of {', '.join(REGRESSION_LOSSES)}, "
                       f"classification on BCE")
    regression = F.l1_loss if regression_loss == "l1" else F.mse_loss

    def elementwise(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if task == "classification":
            return F.binary_cross_entropy_with_logits(pred, y, pos_weight=pos_weight, reduction="none")
        return regression(pred, y, reduction="none")

    def loss(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        labelled = ~torch.isnan(y)
        sharded = distributed.sharded()
        if not sharded and bool(labelled.all()):
            if task == "classification":
                return F.binary_cross_entropy_with_logits(pred, y, pos_weight=pos_weight)
            return regression(pred, y)
        values = elementwise(pred, torch.where(labelled, y, torch.zeros_like(y)))
        if sharded:  # the mean over the union batch's labelled cells
            return distributed.union_mean(values[labelled])
        return (values * labelled).sum() / labelled.sum().clamp(min=1)
    return loss


def pos_weights(setting: Any, y: np.ndarray) -> torch.Tensor | None:
    """BCE ``pos_weight`` per task: None, "balanced" (negatives / positives among the labelled training rows,
    1 where a task has no positive) or a number / list given by the user."""
    if setting is None or setting is False:
        return None
    n_tasks = y.shape[1]
    if isinstance(setting, str):
        if setting != "balanced":
            raise ZooError(f"pos_weight must be 'balanced', a number or one number per task, got {setting!r}")
        pos = np.nansum(y == 1, axis=0).astype(np.float64)
        neg = np.nansum(y == 0, axis=0).astype(np.float64)
        return torch.tensor(np.where(pos > 0, neg / np.maximum(pos, 1), 1.0), dtype=torch.float32)
    values = np.atleast_1d(np.asarray(setting, dtype=np.float64))
    if values.size not in (1, n_tasks):
        raise ZooError(f"pos_weight gives {values.size} numbers for {n_tasks} task(s)")
    return torch.tensor(np.broadcast_to(values, (n_tasks,)).copy(), dtype=torch.float32)


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
                grad_clip: float | None = None, scale=None, schedule=None, epoch: int = 1) -> None:
    """One optimisation pass over ``rows`` in batches shuffled by ``rng``.

    Each batch's graphs, outputs and loss are released before the next batch is collated, so two batches are
    never alive together (holding them cost ~20 MB of peak memory for CIGIN on CompSol; docs/DECISIONS.md
    "Memory"). ``scale`` (a :class:`zoo_core.nn.scaler.TargetScaler`) standardises the batch's targets. Under
    torchrun each rank trains on its share of every batch and the step is the union batch's
    (:mod:`zoo_core.train.distributed`). ``schedule`` (a :class:`zoo_core.train.lr_schedule.StepSchedule`) sets the
    rate of each step of the 1-based ``epoch``.
    bench/run_bench.py's throughput figures run this function.
    """
    model.train()
    first = schedule.first_step(epoch) if schedule is not None else 0
    for i, (batch, share) in enumerate(_steps(dataset, rows, batch_size, rng)):
        if schedule is not None:
            opt.lr = schedule.at(first + i)
        batch = batch.to(device)
        if scale is not None:
            batch = dataclasses.replace(batch, y=scale.transform(batch.y))
        opt.zero_grad(set_to_none=True)
        with distributed.step(share):
            loss, out = model_loss(model, batch, loss_fn)
            distributed.backward(loss, share, opt.params)
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        del batch, loss, out


def _steps(dataset, rows, batch_size: int, rng: np.random.Generator):
    """(batch, share) of each step of an epoch: the dataset's shuffled batches in one process; under torchrun this
    rank's share of each (the permutation that ``RowBatches.batches`` draws; the dataset needs ``batch(rows)``, and
    an optional ``row_cost(rows)`` balances the shares' work)."""
    if distributed.world_size() == 1:
        for batch in dataset.batches(rows, batch_size, shuffle=True, generator=rng):
            yield batch, distributed.UNSHARDED
            del batch   # released before the next batch is collated
        return
    from zoo_core.data.batching import batch_rows

    for chunk in batch_rows(rows, batch_size, shuffle=True, generator=rng):
        share = distributed.shard_rows(chunk, getattr(dataset, "row_cost", None))
        yield dataset.batch(share.rows), share


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


def targets_scaler_and_loss(model, dataset, train_rows, cfg: TrainConfig, task: str, device: str) -> tuple:
    """(every row's targets, the model's target scaler fitted on ``train_rows`` or None, the task loss with the
    ``pos_weight`` of those rows)."""
    y_all = dataset.y.numpy()
    y_train = y_all[np.asarray(train_rows)]
    scale = scaler_of(model)
    if scale is not None:
        scale.fit(y_train)
    weights = pos_weights(cfg.pos_weight, y_train) if task == "classification" else None
    return y_all, scale, task_loss_fn(task, weights.to(device) if weights is not None else None, cfg.loss)


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
    device = resolve_device(device)
    model.to(device)
    rng = np.random.default_rng(seed)
    y_all, scale, loss_fn = targets_scaler_and_loss(model, dataset, train_rows, cfg, task, device)
    score = validation_score(cfg.select_by, task, loss_fn, scale, getattr(dataset, "tasks", None))
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
    schedule = step_schedule(cfg.lr_schedule, cfg.lr, cfg.epochs, len(train_rows), cfg.batch_size, cfg.min_lr,
                             cfg.warmup_epochs)  # None: the plateau schedule
    valid_batches = [b.to(device) for b in dataset.batches(valid_rows, cfg.eval_batch_size)]
    y_valid = dataset.y[torch.as_tensor(np.asarray(valid_rows, dtype=np.int64))]
    best_val, best_epoch, best_state = math.inf, -1, None
    train_seconds, train_pairs = 0.0, 0
    epoch = start = 0
    lr_steps: list[tuple[int, float]] = []  # what a full-data run replays (zoo_core.train.full_data)
    saver = FoldCheckpoint(checkpoint, cfg, task, seed, (train_rows, valid_rows, test_rows), checkpoint_key) \
        if checkpoint is not None else None
    if saver is not None and saver.path.exists():
        if frozen and saver.epoch_of_file() > cfg.freeze_backbone_epochs:  # saved in stage 2
            unfreeze()
            opt, sched = optimizer()
        state = saver.load(model, opt, sched, rng)
        start, best_val, best_epoch = state["epoch"], state["best_val"], state["best_epoch"]
        best_state, train_seconds, train_pairs = state["best_state"], state["train_seconds"], state["train_pairs"]
        lr_steps = [(int(e), float(lr)) for e, lr in state["lr_steps"]]
        t_start -= state["seconds"]
        epoch = start
    last_save = time.perf_counter()
    for epoch in range(start + 1, cfg.epochs + 1):
        if frozen and epoch == cfg.freeze_backbone_epochs + 1:  # stage 2: everything trains, fresh optimizer
            unfreeze()
            opt, sched = optimizer()
        if schedule is None and opt.lr != (lr_steps[-1][1] if lr_steps else cfg.lr):
            lr_steps.append((epoch, float(opt.lr)))
        t0 = time.perf_counter()
        train_epoch(model, opt, dataset, train_rows, cfg.batch_size, loss_fn, rng, device, cfg.grad_clip, scale,
                    schedule, epoch)
        train_seconds += time.perf_counter() - t0
        train_pairs += len(train_rows)
        _, vp = predict(model, valid_batches)
        val_loss = distributed.from_main(lambda: score(torch.as_tensor(vp), y_valid))  # ranks decide alike
        if schedule is None:
            sched.step(val_loss)
        if val_loss < best_val:
            best_val, best_epoch = val_loss, epoch
            if best_state is None:
                best_state = copy.deepcopy(model.state_dict())
            else:  # into the same buffers: no new copy of the weights per improvement
                for key, value in model.state_dict().items():
                    best_state[key].copy_(value)
        if progress is not None and distributed.is_main():
            progress(epoch, val_loss, best_val)
        if epoch - best_epoch >= cfg.patience:
            break
        if saver is not None and time.perf_counter() - last_save >= checkpoint_seconds:
            saver.save(model, opt, sched, rng, epoch=epoch, best_val=best_val, best_epoch=best_epoch,
                       best_state=best_state, train_seconds=train_seconds, train_pairs=train_pairs,
                       seconds=time.perf_counter() - t_start, lr_steps=lr_steps)
            last_save = time.perf_counter()
    unfreeze()  # stopped early inside stage 1
    if saver is not None and distributed.is_main():
        saver.remove()
    if best_state is not None:
        model.load_state_dict(best_state)
    rows_v, pred_v = predict(model, valid_batches)
    rows_t, pred_t = predict(model, (b.to(device) for b in dataset.batches(test_rows, cfg.eval_batch_size)))
    tasks = getattr(dataset, "tasks", None)
    return FoldResult(
        repeat=repeat, fold=fold, seed=seed, best_epoch=best_epoch, epochs_run=epoch,
        valid=M.compute(task, y_all[rows_v], pred_v, tasks),
        test=M.compute(task, y_all[rows_t], pred_t, tasks) if len(rows_t) else {},
        test_rows=rows_t, test_pred=pred_t, state=model.state_dict(), seconds=time.perf_counter() - t_start,
        train_pairs_per_s=train_pairs / train_seconds if train_seconds > 0 else 0.0, lr_steps=lr_steps)


def validation_score(select_by: str, task: str, loss_fn, scale, tasks) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """The per-epoch validation score to minimise: the task loss (on standardised targets when the model scales
    them), a lower-is-better metric as is, or ``1 - metric`` for a higher-is-better one (AUROC, R², ...)."""
    if select_by == "loss":
        def loss(pred: torch.Tensor, y: torch.Tensor) -> float:
            if scale is not None:
                pred, y = scale.transform(pred), scale.transform(y)
            return float(loss_fn(pred, y).item())
        return loss
    if select_by not in M.metric_table(task):
        raise ZooError(f"select_by {select_by!r} is not a {task} metric (choose loss or one of "
                       f"{', '.join(M.metric_table(task))})")
    sign = M.direction(select_by)

    def metric(pred: torch.Tensor, y: torch.Tensor) -> float:
        value = M.compute(task, y.numpy(), pred.numpy(), tasks)[select_by]
        if math.isnan(value):
            return math.inf
        return value if sign == "min" else 1.0 - value
    return metric


def mean_std_over_repeats(results: list[FoldResult], value) -> dict[str, Any] | None:
    """mean ± std over repeats of the per-repeat fold means of ``value(result)`` (None where it has none)."""
    repeats = sorted({r.repeat for r in results})
    by_repeat = []
    for k in repeats:
        values = [v for v in (value(r) for r in results if r.repeat == k) if v is not None]
        if values:
            by_repeat.append(float(np.mean(values)))
    folds = [v for v in (value(r) for r in results) if v is not None]
    if not folds:
        return None
    return {"mean": float(np.mean(by_repeat)), "std": float(np.std(by_repeat)), "per_repeat": by_repeat,
            "fold_mean": float(np.mean(folds)), "fold_std": float(np.std(folds))}


def summarize(results: list[FoldResult], task: str, tasks: list[str] | None = None) -> dict[str, Any]:
    """Per-fold records plus mean ± std over repeats of the per-repeat fold means (and over all folds), for each
    metric (the mean over scored tasks) and, for multi-task sets, for each task under ``per_task`` (in the order of
    ``tasks``, the dataset's; default: as the folds list them)."""
    names = list(M.metric_table(task))
    per_fold = [{"repeat": r.repeat, "fold": r.fold, "seed": r.seed, "best_epoch": r.best_epoch,
                 "epochs_run": r.epochs_run, "seconds": round(r.seconds, 3),
                 "train_pairs_per_s": round(r.train_pairs_per_s, 1), "lr_steps": [list(s) for s in r.lr_steps],
                 "valid": r.valid, "test": r.test, **r.subsets} for r in results]
    summary: dict[str, Any] = {}
    for name in names:
        stats = mean_std_over_repeats(
            results, lambda r, n=name: r.test[n] if n in r.test and not math.isnan(r.test[n]) else None)
        if stats is not None:
            summary[name] = stats
    if tasks is None:
        tasks = list(dict.fromkeys(t for r in results for t in (r.test.get("per_task") or {})))
    per_task: dict[str, Any] = {}
    for t in tasks:
        stats = {name: mean_std_over_repeats(results, lambda r, n=name, t=t: (r.test.get("per_task") or {}).get(t, {})
                                             .get(n)) for name in names}
        if any(v is not None for v in stats.values()):
            per_task[t] = {name: v for name, v in stats.items() if v is not None}
    out = {"summary": summary, "folds": per_fold, "n_repeats": len({r.repeat for r in results}),
           "n_results": len(results)}
    if per_task:
        out["per_task"] = per_task
    skipped = sorted({t for r in results for t in r.test.get("skipped_tasks", [])})
    if skipped:
        out["skipped_tasks"] = skipped
    return out


def log(message: str, quiet: bool = False) -> None:
    if not quiet and distributed.is_main():
        print(message, file=sys.stderr, flush=True)
