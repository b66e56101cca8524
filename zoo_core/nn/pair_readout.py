"""How two molecule readouts become one pair embedding: ordered concatenation, or a symmetric combination for
tasks where the roles are interchangeable (drug-drug interaction, METHODS §2.3 and §10 item 19).

* ``symmetric=False``: [r_a ; r_b] (the originals; f(a, b) ≠ f(b, a) in general).
* ``symmetric=True``: [r_a + r_b ; r_a ⊙ r_b], the same width, invariant to swapping the molecules, so that
  f(a, b) = f(b, a) by construction when both readouts come from the same (shared, siamese) weights.

A symmetric model needs the shared encoder: ``siamese(shared, symmetric)`` resolves the two pair params
(``shared`` unset follows ``symmetric``) and refuses ``symmetric=True, shared=False``.
"""

from __future__ import annotations

import torch


def siamese(shared: bool | None, symmetric: bool) -> tuple[bool, bool]:
    """(shared, symmetric) pair params resolved: ``shared=None`` means "as symmetric"."""
    symmetric = bool(symmetric)
    shared = symmetric if shared is None else bool(shared)
    if symmetric and not shared:
        raise ValueError("symmetric=true needs the shared (siamese) encoder; drop shared=false")
    return shared, symmetric


def combine(r_a: torch.Tensor, r_b: torch.Tensor, symmetric: bool = False) -> torch.Tensor:
    """[r_a ; r_b], or [r_a + r_b ; r_a ⊙ r_b] when ``symmetric`` (both [B, k] -> [B, 2k])."""
    if symmetric:
        return torch.cat([r_a + r_b, r_a * r_b], dim=-1)
    return torch.cat([r_a, r_b], dim=-1)
