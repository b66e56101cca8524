"""Adam and reduce-on-plateau without ``torch.optim``.

Constructing any ``torch.optim.Optimizer`` imports ``torch._dynamo`` (about 800 modules, +70 MB resident on
torch 2.13), which is a seventh of a CIGIN training process's memory. These two classes reproduce
``torch.optim.Adam`` (L2 weight decay added to the gradient, bias-corrected moments; Kingma & Ba 2015, Alg. 1)
and ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (mode 'min', relative threshold 1e-4, no cooldown) step for
step; tests/test_optim.py checks both against torch. They keep only what the zoo's trainers use.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch


class Adam:
    """Adam over a fixed list of parameters; ``lr`` may be changed between steps (the plateau schedule does)."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.steps = 0
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The moments and the step count as named tensors (for a safetensors checkpoint)."""
        out = {"steps": torch.tensor(self.steps, dtype=torch.int64)}
        for i, (m, v) in enumerate(zip(self.exp_avg, self.exp_avg_sq)):
            out[f"exp_avg.{i}"], out[f"exp_avg_sq.{i}"] = m, v
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`state_tensors` gave (same parameter list, same shapes)."""
        if sum(k.startswith("exp_avg.") for k in tensors) != len(self.params):
            raise ValueError("optimizer state is for another parameter list")
        with torch.no_grad():
            for i, (m, v) in enumerate(zip(self.exp_avg, self.exp_avg_sq)):
                m.copy_(tensors[f"exp_avg.{i}"])
                v.copy_(tensors[f"exp_avg_sq.{i}"])
        self.steps = int(tensors["steps"])

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient (those without keep their moments unchanged)."""
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        self.steps += 1
        beta1, beta2 = self.betas
        params = [self.params[i] for i in live]
        grads = [self.params[i].grad for i in live]
        m = [self.exp_avg[i] for i in live]
        v = [self.exp_avg_sq[i] for i in live]
        if self.weight_decay:
            grads = torch._foreach_add(grads, params, alpha=self.weight_decay)
        torch._foreach_lerp_(m, grads, 1 - beta1)
        torch._foreach_mul_(v, beta2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - beta2)
        step_size = self.lr / (1 - beta1 ** self.steps)
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, math.sqrt(1 - beta2 ** self.steps))
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(params, m, denom, value=-step_size)


class ReduceLROnPlateau:
    """Multiply the optimiser's ``lr`` by ``factor`` after more than ``patience`` epochs without a relative
    improvement of ``threshold`` in the monitored (minimised) value; never below ``min_lr``."""

    def __init__(self, optimizer: Adam, factor: float = 0.1, patience: int = 10, min_lr: float = 0.0,
                 threshold: float = 1e-4, eps: float = 1e-8):
        if factor >= 1.0:
            raise ValueError("factor must be < 1")
        self.optimizer, self.factor, self.patience = optimizer, factor, patience
        self.min_lr, self.threshold, self.eps = min_lr, threshold, eps
        self.best, self.bad_epochs = math.inf, 0

    def step(self, value: float) -> None:
        if value < self.best * (1 - self.threshold):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            new_lr = max(self.optimizer.lr * self.factor, self.min_lr)
            if self.optimizer.lr - new_lr > self.eps:
                self.optimizer.lr = new_lr
            self.bad_epochs = 0
