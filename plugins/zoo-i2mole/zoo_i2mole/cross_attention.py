"""I2Mole's inter-molecular attention with the top-x % mask (METHODS §9.1, §9.3 item 2).

For pair b, atoms i of one molecule attend to the atoms j of its partner over the complete bipartite relation
edges:

    r_ij = LeakyReLU(FC([W h_i ; W h_j]))            (W, FC shared by both directions)
    α_ij = softmax_j r_ij                            (over the partner's atoms)
    keep_ij = (i, j) among the k largest α of the pair, k = max(1, ⌈x · n_a · n_b⌉), x = 10 % (ties below)
    α'_ij = α_ij · keep_ij                           (no renormalisation by default)
    h_i ← (1 − Σ_j α'_ij) h_i + Σ_j α'_ij h_j        (the paper's mixing)

The mask is computed per pair and per direction on the DETACHED post-softmax α and applied to that same α (the
snapshot thresholded pre-softmax scores and compared post-softmax values, METHODS §10 item 15); gradients flow
through the kept α. FC([W h_i ; W h_j]) then LeakyReLU is "static" attention (Brody et al. 2022): the softmax
rows of all atoms whose scores share a sign are equal, so α ties between atoms are common; ties with the k-th α
are broken by the raw score r_ij (the paper's own ranking, "keep r_ij ≥ X"). Edges still indistinguishable from
the k-th (same α and r within a relative 1e-5: symmetry-equivalent atom pairs, e.g. the hydrogens of a methyl
group) are all kept, so the count exceeds k only there and renumbering atoms cannot change the result.
``renormalize=True`` rescales each row's kept α' to sum to 1; ``mix=(0.8, 0.2)`` replaces the mixing by
h ← 0.8 h + 0.2 Σ_j α'_ij h_j (the snapshot).
Both directions use the features from before the update, and the same weights: swapping the two molecules swaps
the outputs (symmetric by construction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo_core.nn.interaction import Padding

TIE_TOLERANCE = 1e-5


@dataclass
class CrossDirection:
    """One direction's result: updated features of the attending molecule and its kept attention."""

    h: torch.Tensor          # [N, d] updated node features (unpadded)
    alpha: torch.Tensor      # [B, n_max, m_max] kept α' (0 where masked or padded)
    keep: torch.Tensor       # [B, n_max, m_max] bool mask of the kept relation edges
    relation: torch.Tensor   # [N] mean α' over the node's kept edges (0 if none): the gate's relation term


def top_fraction_mask(alpha: torch.Tensor, scores: torch.Tensor, valid: torch.Tensor, fraction: float) -> torch.Tensor:
    """Per pair (dim 0): the k = max(1, ⌈fraction · #valid⌉) largest α, ties in α broken by the raw score r, and
    every edge indistinguishable from the k-th (same α and r within a relative TIE_TOLERANCE). No gradient."""
    with torch.no_grad():
        a = alpha.detach().masked_fill(~valid, -1.0).flatten(1)                # α ∈ [0, 1]; padding below
        r = scores.detach().masked_fill(~valid, float("-inf")).flatten(1)
        n_valid = valid.flatten(1).sum(1)
        k = torch.clamp(torch.ceil(n_valid.to(a.dtype) * fraction), min=1).long()
        k = torch.minimum(k, n_valid.clamp(min=1)).unsqueeze(1)
        kth = a.sort(dim=1, descending=True).values.gather(1, k - 1)            # [B, 1]
        sure = a > kth * (1.0 + TIE_TOLERANCE)                                 # fewer than k of these
        tied = (a >= kth * (1.0 - TIE_TOLERANCE)) & ~sure
        key = torch.where(sure, float("inf"), torch.where(tied, r, float("-inf")))
        kth_key = key.sort(dim=1, descending=True).values.gather(1, k - 1)     # a tied edge's r: finite
        return (key >= kth_key - TIE_TOLERANCE * (kth_key.abs() + 1e-6)) & valid.flatten(1)


def top_fraction_count(n_a: int, n_b: int, fraction: float) -> int:
    """How many relation edges of an n_a × n_b pair one direction keeps (without ties)."""
    return max(1, math.ceil(n_a * n_b * fraction))


class CrossAttention(nn.Module):
    """One round of inter-molecular attention, both directions (see the module docstring)."""

    def __init__(self, dim: int, att_dim: int | None = None, top_fraction: float = 0.1, renormalize: bool = False,
                 mix: Sequence[float] | None = None, negative_slope: float = 0.2):
        super().__init__()
        if not 0.0 < top_fraction <= 1.0:
            raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
        if mix is not None and len(mix) != 2:
            raise ValueError(f"mix must be two weights (self, partner), e.g. [0.8, 0.2]; got {mix!r}")
        att_dim = att_dim or dim
        self.proj = nn.Linear(dim, att_dim, bias=False)      # W
        self.score = nn.Linear(2 * att_dim, 1)               # FC on [W h_i ; W h_j]
        self.top_fraction, self.renormalize = float(top_fraction), bool(renormalize)
        self.mix = None if mix is None else (float(mix[0]), float(mix[1]))
        self.negative_slope = negative_slope

    def _direction(self, x, mask_x, y, mask_y, w_self, w_partner, pad_x: Padding) -> CrossDirection:
        """Atoms of x ([B, n, d]) attend to the atoms of y ([B, m, d])."""
        r = F.leaky_relu(w_self.unsqueeze(2) + w_partner.unsqueeze(1), self.negative_slope)   # [B, n, m]
        valid = mask_x.unsqueeze(2) & mask_y.unsqueeze(1)
        alpha = torch.softmax(r.masked_fill(~mask_y.unsqueeze(1), torch.finfo(r.dtype).min), dim=2) * valid
        keep = top_fraction_mask(alpha, r, valid, self.top_fraction).view_as(valid)
        kept = alpha * keep
        total = kept.sum(2, keepdim=True)
        if self.renormalize:
            kept = kept / total.clamp(min=1e-12)
            total = (total > 0).to(kept.dtype)
        agg = torch.bmm(kept, y)
        h = self.mix[0] * x + self.mix[1] * agg if self.mix else (1.0 - total) * x + agg
        n_kept = keep.sum(2).clamp(min=1).to(kept.dtype)
        relation = kept.sum(2) / n_kept
        return CrossDirection(pad_x.unpad(h), kept, keep, pad_x.unpad(relation))

    def forward(self, h_a: torch.Tensor, pad_a: Padding, h_b: torch.Tensor, pad_b: Padding):
        """(A attending to B, B attending to A) for node features [N_a, d], [N_b, d]."""
        xa, xb = pad_a.pad(h_a), pad_b.pad(h_b)
        ma, mb = pad_a.mask(), pad_b.mask()
        w_self, w_partner = self.score.weight.view(2, -1)      # FC([u ; v]) = w_self·u + w_partner·v + bias
        pa, pb = self.proj(xa), self.proj(xb)
        sa, sb = pa @ w_self + self.score.bias, pb @ w_self + self.score.bias
        ta, tb = pa @ w_partner, pb @ w_partner
        return (self._direction(xa, ma, xb, mb, sa, tb, pad_a),
                self._direction(xb, mb, xa, ma, sb, ta, pad_b))
