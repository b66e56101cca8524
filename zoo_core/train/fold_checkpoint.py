"""A fold's training state on disk, so that an interrupted fold continues where it stopped (``zoo run --resume``).

One safetensors file (zoo_core.train.checkpoint: data only, replaced atomically) holds the model, the best-validation
weights so far, Adam's moments and step count, and the torch RNG state; its metadata holds the epoch, the best
validation loss and epoch, the plateau schedule, the numpy shuffling generator and the time spent. Restoring all of
it makes the continued fold end exactly as an uninterrupted one (tests/test_trainer.py, tests/test_cli.py). The fingerprint
covers the training settings, the task, the seed, the fold's rows and the caller's key (the model spec and dataset),
so a checkpoint of another fold or setting is refused, never continued.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo_core.train.checkpoint import (checkpoint_meta, fingerprint, load_checkpoint, restore_rng, rng_tensors,
                                       save_checkpoint, under_prefix, with_prefix)


# Training settings added after fold checkpoints were first written, with their default: at that default a setting
# is left out of the fingerprint, so a fold interrupted under an older zoo resumes under a newer one.
ADDED_SETTINGS = {"loss": "mse", "lr_schedule": "plateau", "warmup_epochs": 2}


def settings_fingerprinted(cfg) -> dict:
    """The fields of a :class:`TrainConfig` that a checkpoint's fingerprint covers (see ``ADDED_SETTINGS``)."""
    return {k: v for k, v in asdict(cfg).items() if k not in ADDED_SETTINGS or v != ADDED_SETTINGS[k]}


def _rows_digest(rows) -> str:
    return hashlib.sha256(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest()[:16]


class FoldCheckpoint:
    """Save and restore the state of :func:`zoo_core.train.trainer.train_fold` at ``path``."""

    def __init__(self, path: str | Path, cfg, task: str, seed: int, rows: tuple, key: str = ""):
        self.path = Path(path)
        self.fingerprint = fingerprint("fold", settings_fingerprinted(cfg), task, seed,
                                       [_rows_digest(r) for r in rows], key)

    def epoch_of_file(self) -> int:
        """The last finished epoch stored in the file (read from its metadata only)."""
        return int(checkpoint_meta(self.path)["epoch"])

    def save(self, model, opt, sched, rng: np.random.Generator, *, epoch: int, best_val: float, best_epoch: int,
             best_state: dict[str, torch.Tensor] | None, train_seconds: float, train_pairs: int,
             seconds: float, lr_steps: list | None = None) -> None:
        tensors = {**with_prefix("model", model.state_dict()), **with_prefix("opt", opt.state_tensors()),
                   **rng_tensors()}
        if best_state is not None:
            tensors.update(with_prefix("best", best_state))
        meta = {"fingerprint": self.fingerprint, "epoch": epoch, "best_val": best_val, "best_epoch": best_epoch,
                "lr": opt.lr, "plateau": {"best": sched.best, "bad_epochs": sched.bad_epochs},
                "numpy_rng": rng.bit_generator.state, "train_seconds": train_seconds, "train_pairs": train_pairs,
                "seconds": seconds, "has_best": best_state is not None, "lr_steps": list(lr_steps or [])}
        save_checkpoint(self.path, tensors, meta)

    def load(self, model, opt, sched, rng: np.random.Generator) -> dict[str, Any]:
        """Restore model, optimizer, schedule and generators in place; returns the loop's counters and the
        best-validation state (``best_state``, a dict of tensors or None)."""
        tensors, meta = load_checkpoint(self.path, self.fingerprint)
        model.load_state_dict(under_prefix("model", tensors))
        opt.load_state_tensors(under_prefix("opt", tensors))
        opt.lr = float(meta["lr"])
        sched.best, sched.bad_epochs = float(meta["plateau"]["best"]), int(meta["plateau"]["bad_epochs"])
        rng.bit_generator.state = meta["numpy_rng"]
        restore_rng(tensors)
        best = under_prefix("best", tensors) if meta["has_best"] else None
        return {"epoch": int(meta["epoch"]), "best_val": float(meta["best_val"]), "best_epoch": int(meta["best_epoch"]),
                "best_state": best, "train_seconds": float(meta["train_seconds"]),
                "train_pairs": int(meta["train_pairs"]), "seconds": float(meta["seconds"]),
                "lr_steps": meta.get("lr_steps") or []}

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
