"""Relaxed Bernoulli (concrete / Gumbel-sigmoid) gate (Maddison et al. 2017; Jang et al. 2017), as CGIB uses it.

λ = σ( (log u − log(1 − u) + logits) / τ ),  u ~ U(b, 1 − b), b = 1e-4 (the CGIB code's bias, which keeps the
logistic noise finite). λ is a differentiable sample in (0, 1) whose mean grows with the logit; as τ → 0 it
approaches a Bernoulli(σ(logits)) sample.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo_core.train.distributed import draw_rows


def relaxed_bernoulli_gate(logits: torch.Tensor, temperature: float = 1.0, bias: float = 1e-4,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """One gate sample per logit (same shape as ``logits``; in a sharded data-parallel step the rows of the union
    batch's draw, zoo_core.train.distributed.draw_rows)."""
    u = draw_rows(lambda n: torch.rand((n, *logits.shape[1:]), dtype=logits.dtype, device=logits.device,
                                       generator=generator), logits.shape[0])
    u = bias + (1.0 - 2.0 * bias) * u
    return torch.sigmoid((torch.log(u) - torch.log1p(-u) + logits) / temperature)


class ConcreteGate(nn.Module):
    """Module form of :func:`relaxed_bernoulli_gate`: samples in training mode, σ(logits / τ) in eval mode."""

    def __init__(self, temperature: float = 1.0, bias: float = 1e-4):
        super().__init__()
        self.temperature, self.bias = temperature, bias

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if self.training:
            return relaxed_bernoulli_gate(logits, self.temperature, self.bias)
        return torch.sigmoid(logits / self.temperature)
