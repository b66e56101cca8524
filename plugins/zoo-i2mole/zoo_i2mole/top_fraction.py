"""I2Mole's top-x % mask of the relation edges (METHODS §9.1 "keep r_ij ≥ X", §9.3 item 2).

Per pair (one row of a [P, L] map: the pair's relation edges of one direction, flattened, padding marked by
``valid``) keep the k = max(1, ⌈x · #valid⌉) largest α. Ties in α with the k-th are broken by the raw score r
(the paper's own ranking); edges indistinguishable from the k-th (same α and r within a relative
:data:`TIE_TOLERANCE`: symmetry-equivalent atom pairs) are all kept, so renumbering atoms cannot change the mask.

The k-th largest values come from ``torch.topk`` up to the largest k of the rows (a tenth of a row at x = 10 %)
instead of full sorts, and the ranking by r runs only on the rows with more candidates than k. No gradient.
"""

from __future__ import annotations

import math

import torch

TIE_TOLERANCE = 1e-5


def top_fraction_count(n_a: int, n_b: int, fraction: float) -> int:
    """How many relation edges of an n_a × n_b pair one direction keeps (without ties)."""
    return max(1, math.ceil(n_a * n_b * fraction))


def kth_largest(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Each row's k-th largest value: x [P, L], k [P, 1] with 1 ≤ k ≤ L → [P, 1]."""
    return x.topk(int(k.max()), dim=1).values.gather(1, k - 1)


def top_fraction_mask(alpha: torch.Tensor, scores: torch.Tensor, valid: torch.Tensor, fraction: float) -> torch.Tensor:
    """[P, L] bool (dim 0: pairs, the rest flattened): the k largest detached α of each pair, ties by r."""
    with torch.no_grad():
        valid = valid.flatten(1)
        a = alpha.detach().flatten(1).masked_fill(~valid, -1.0)                 # α ∈ [0, 1]; padding below
        n_valid = valid.sum(1, keepdim=True)
        k = torch.clamp(torch.ceil(n_valid.to(a.dtype) * fraction), min=1).long()
        k = torch.minimum(k, n_valid.clamp(min=1))
        kth = kth_largest(a, k)
        sure = a > kth * (1.0 + TIE_TOLERANCE)                                 # fewer than k of these
        candidates = (a >= kth * (1.0 - TIE_TOLERANCE)) & valid
        return _rank_ties_by_score(candidates, sure, scores.detach().flatten(1), k)


def _rank_ties_by_score(candidates: torch.Tensor, sure: torch.Tensor, r: torch.Tensor, k: torch.Tensor):
    """Where a row has more than k candidates: its sure edges, and of the tied ones the (k − #sure) largest r and
    every r within the tolerance of the last of them."""
    rows = (candidates.sum(1, keepdim=True) > k).view(-1).nonzero().view(-1)
    if rows.numel() == 0:
        return candidates
    sure = sure.index_select(0, rows)
    tied = candidates.index_select(0, rows) & ~sure
    r = r.index_select(0, rows).masked_fill(~tied, float("-inf"))
    kth_r = kth_largest(r, k.index_select(0, rows) - sure.sum(1, keepdim=True))   # a tied edge's r: finite
    return candidates.index_copy(0, rows, sure | (r >= kth_r - TIE_TOLERANCE * (kth_r.abs() + 1e-6)))
