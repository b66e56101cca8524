"""MLP and initialisation helpers shared by every plugin."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from zoo_core.nn.grad import records_grad


class MLP(nn.Sequential):
    """Linear layers with an activation between them (none after the last, unless ``final_activation``)."""

    def __init__(self, dims: Sequence[int], activation: type[nn.Module] = nn.ReLU, final_activation: bool = False,
                 dropout: float = 0.0):
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2 or final_activation:
                layers.append(activation())
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every Linear in ``module`` (the 3DMRL/CGIB convention)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Row-wise L2 normalisation."""
    return x / x.norm(dim=-1, keepdim=True).clamp(min=eps)


class _LinearOnCat(torch.autograd.Function):
    """linear(cat([a, b], -1)) with autograd's gradients of that expression, saving a and b (which callers keep
    anyway) instead of the concatenation: backward concatenates again (docs/DECISIONS.md "Memory")."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
        ctx.save_for_backward(a, b, weight)
        ctx.has_bias = bias is not None
        return nn.functional.linear(torch.cat([a, b], -1), weight, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        a, b, weight = ctx.saved_tensors
        grad_a = grad_b = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            grad_a, grad_b = grad.mm(weight).split([a.shape[-1], b.shape[-1]], -1)
        if ctx.needs_input_grad[2]:  # grad.t().mm(cat([a, b])), each half written in place
            grad_weight = weight.new_empty(weight.shape)
            torch.mm(grad.t(), a, out=grad_weight[:, :a.shape[-1]])
            torch.mm(grad.t(), b, out=grad_weight[:, a.shape[-1]:])
        if ctx.has_bias and ctx.needs_input_grad[3]:
            grad_bias = grad.sum(0)
        return grad_a, grad_b, grad_weight, grad_bias


def linear_on_cat(linear: nn.Linear, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``linear(torch.cat([a, b], -1))`` for 2-D ``a``, ``b``: same values and gradients, without keeping the
    concatenated [N, d_a + d_b] input alive for backward."""
    if a.dim() == 2 and records_grad(a, b, linear.weight, linear.bias):
        return _LinearOnCat.apply(a, b, linear.weight, linear.bias)
    return linear(torch.cat([a, b], -1))
