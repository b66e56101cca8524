"""Learning-rate schedules set per optimiser step: the alternatives to the plateau schedule.

``plateau`` (the default, the papers' solvation protocol, METHODS §5.3) reads the validation score after each
epoch and lives in :mod:`zoo_core.train.optim`. The two here are functions of the step alone, so a fold resumed
from its checkpoint and a full-data run (no validation) follow them exactly:

* ``cosine``: cosine annealing over the epochs, stepped once per epoch as ``CosineAnnealingLR(T_max=epochs)``
  (MolInteract's fine-tuning and pretraining, METHODS §8.2-8.3): epoch e (1-based) trains at
  ``min_lr + (lr - min_lr) (1 + cos(pi (e - 1) / epochs)) / 2``.
* ``noam``: chemprop v2's NoamLR (Vaswani et al. 2017, as chemprop schedules it), stepped per batch: linear
  warm-up from ``lr / 10`` to ``lr`` over ``warmup_epochs`` epochs, then exponential decay to ``lr / 10`` at the
  last step of ``epochs``.
"""

from __future__ import annotations

import math

SCHEDULES = ("plateau", "cosine", "noam")
NOAM_RATIO = 10.0  # chemprop v2's defaults: init_lr = final_lr = max_lr / 10 (1e-4, 1e-3, 1e-4)


class StepSchedule:
    """The rate of every optimiser step of a run of ``epochs`` epochs of ``steps_per_epoch`` steps each."""

    def __init__(self, kind: str, lr: float, epochs: int, steps_per_epoch: int, min_lr: float = 0.0,
                 warmup_epochs: int = 2):
        if kind not in SCHEDULES[1:]:
            raise ValueError(f"lr schedule must be one of {', '.join(SCHEDULES[1:])}, got {kind!r}")
        self.kind, self.lr, self.min_lr = kind, float(lr), float(min_lr)
        self.epochs, self.steps_per_epoch = max(1, int(epochs)), max(1, int(steps_per_epoch))
        self.total = self.epochs * self.steps_per_epoch
        self.warmup = min(max(0, int(warmup_epochs)) * self.steps_per_epoch, self.total - 1)

    def at(self, step: int) -> float:
        """The rate of the 0-based ``step`` of the run (steps past the end keep the last rate)."""
        step = min(max(0, int(step)), self.total - 1)
        if self.kind == "cosine":
            epoch = step // self.steps_per_epoch
            return self.min_lr + (self.lr - self.min_lr) * (1 + math.cos(math.pi * epoch / self.epochs)) / 2
        low = self.lr / NOAM_RATIO
        if step < self.warmup:
            return low + (self.lr - low) * step / self.warmup
        decay_steps = self.total - 1 - self.warmup
        if decay_steps <= 0:
            return self.lr
        return self.lr * (low / self.lr) ** ((step - self.warmup) / decay_steps)

    def first_step(self, epoch: int) -> int:
        """The 0-based step the 1-based ``epoch`` starts at."""
        return (int(epoch) - 1) * self.steps_per_epoch


def steps_per_epoch(n_rows: int, batch_size: int) -> int:
    """Optimiser steps of an epoch over ``n_rows`` rows (the last batch may be short)."""
    return max(1, math.ceil(int(n_rows) / int(batch_size)))


def step_schedule(kind: str, lr: float, epochs: int, n_rows: int, batch_size: int, min_lr: float = 0.0,
                  warmup_epochs: int = 2) -> StepSchedule | None:
    """The :class:`StepSchedule` of a run, or None for ``plateau`` (the trainer's epoch-wise schedule)."""
    if kind == "plateau":
        return None
    return StepSchedule(kind, lr, epochs, steps_per_epoch(n_rows, batch_size), min_lr, warmup_epochs)
