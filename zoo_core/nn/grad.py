"""When a memory-lean autograd Function is worth using (docs/DECISIONS.md "Memory")."""

from __future__ import annotations

import torch


def records_grad(*tensors: torch.Tensor | None) -> bool:
    """True when autograd will record an op on ``tensors``: grad mode is on and one of them requires grad."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
