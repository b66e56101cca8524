"""I2Mole's inter-molecular attention with the top-x % mask (METHODS §9.1, §9.3 item 2).

For pair b, atoms i of one molecule attend to the atoms j of its partner over the complete bipartite relation
edges:

    r_ij = LeakyReLU(FC([W h_i ; W h_j]))            (W, FC shared by both directions)
    α_ij = softmax_j r_ij                            (over the partner's atoms)
    keep_ij = (i, j) among the k largest α of the pair, k = max(1, ⌈x · n_a · n_b⌉), x = 10 % (top_fraction.py)
    α'_ij = α_ij · keep_ij                           (no renormalisation by default)
    h_i ← (1 − Σ_j α'_ij) h_i + Σ_j α'_ij h_j        (the paper's mixing)

The mask is computed per pair and per direction on the DETACHED post-softmax α and applied to that same α (the
snapshot thresholded pre-softmax scores and compared post-softmax values, METHODS §10 item 15); gradients flow
through the kept α. FC([W h_i ; W h_j]) then LeakyReLU is "static" attention (Brody et al. 2022): the softmax
rows of all atoms whose scores share a sign are equal, so α ties between atoms are common; ties with the k-th α
are broken by the raw score r_ij (the paper's own ranking, "keep r_ij ≥ X"), and edges indistinguishable from
the k-th are all kept (top_fraction.py).
``renormalize=True`` rescales each row's kept α' to sum to 1; ``mix=(0.8, 0.2)`` replaces the mixing by
h ← 0.8 h + 0.2 Σ_j α'_ij h_j (the snapshot).
Both directions use the features from before the update, and the same weights: swapping the two molecules swaps
the outputs (symmetric by construction).

FC([u ; v]) = w_self·u + w_partner·v + bias, so the scores are two numbers per atom, computed on the atoms
themselves; only the n × m maps and the partner features of the aggregation are padded, per size group of pairs
(zoo_core.nn.buckets), each group to its own largest molecules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo_core.nn.buckets import PairBuckets, Side, group_count
from zoo_core.nn.interaction import Padding
from zoo_i2mole.top_fraction import top_fraction_mask


@dataclass
class CrossDirection:
    """One direction's result: updated features of the attending molecule and its kept attention."""

    h: torch.Tensor                   # [N, d] updated node features (unpadded)
    relation: torch.Tensor            # [N] mean α' over the node's kept edges (0 if none): the gate's relation term
    alpha_groups: list[torch.Tensor]  # per size group [B_g, n_g, m_g] kept α' (0 where masked or padded)
    keep_groups: list[torch.Tensor]   # per size group, bool: the kept relation edges
    groups: PairBuckets

    @property
    def alpha(self) -> torch.Tensor:
        """[B, n_max, m_max] kept α' in batch order (0 where masked or padded)."""
        return self.groups.assemble(self.alpha_groups)

    @property
    def keep(self) -> torch.Tensor:
        """[B, n_max, m_max] bool mask of the kept relation edges, in batch order."""
        return self.groups.assemble(self.keep_groups)


def size_groups(pad_a: Padding, pad_b: Padding, groups: int | None = None) -> PairBuckets:
    """The pairs of a batch in ``groups`` size groups (default zoo_core.nn.buckets.group_count; 1: one block)."""
    groups = group_count(pad_a.batch_size, pad_a.counts.device) if groups is None else groups
    return PairBuckets.build(pad_a.counts, pad_b.counts, pad_a.ids, pad_b.ids, groups)


def pair_maps(a_to_b: CrossDirection, b_to_a: CrossDirection) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, n_a max, n_b max] (detached): α' of A→B plus α' of B→A transposed, and the edges either kept."""
    with torch.no_grad():
        imap = [ab + ba.transpose(1, 2) for ab, ba in zip(a_to_b.alpha_groups, b_to_a.alpha_groups)]
        kept = [ab | ba.transpose(1, 2) for ab, ba in zip(a_to_b.keep_groups, b_to_a.keep_groups)]
        return a_to_b.groups.assemble(imap), a_to_b.groups.assemble(kept)


@dataclass
class _PaddedSide:
    """One molecule's atoms per size group: features, self and partner scores, and the real-atom mask."""

    x: list[torch.Tensor]         # [B_g, n_g, d]
    s_self: list[torch.Tensor]    # [B_g, n_g] w_self·W h_i + bias (0 at padding)
    s_partner: list[torch.Tensor]  # [B_g, n_g] w_partner·W h_j (−∞ at padding: no attention there)
    mask: list[torch.Tensor]      # [B_g, n_g] bool
    side: Side


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

    def _padded(self, h: torch.Tensor, side: Side, sizes: list[int]) -> _PaddedSide:
        w_self, w_partner = self.score.weight.view(2, -1)
        p = self.proj(h)
        mask = side.pad(torch.ones(h.shape[0], dtype=torch.bool, device=h.device), sizes)
        s_partner = [t.masked_fill(~m, float("-inf")) for t, m in zip(side.pad(p @ w_partner, sizes), mask)]
        return _PaddedSide(side.pad(h, sizes), side.pad(p @ w_self + self.score.bias, sizes), s_partner, mask, side)

    def _attend(self, s_self, s_partner, valid, y):
        """One group's kept α' [B_g, n, m], its mask, Σ_j α'_ij [B_g, n], Σ_j α'_ij y_j [B_g, n, d], ρ [B_g, n]."""
        r = F.leaky_relu(s_self.unsqueeze(2) + s_partner.unsqueeze(1), self.negative_slope)   # −∞ at padded j
        alpha = torch.softmax(r, dim=2)
        keep = top_fraction_mask(alpha, r, valid, self.top_fraction).view_as(valid)
        kept = alpha * keep
        total = kept_sum = kept.sum(2)
        if self.renormalize:
            kept = kept / total.clamp(min=1e-12).unsqueeze(2)
            total, kept_sum = (total > 0).to(kept.dtype), kept.sum(2)
        relation = kept_sum / keep.sum(2).clamp(min=1).to(kept.dtype)
        return kept, keep, total, torch.bmm(kept, y), relation

    def _direction(self, h: torch.Tensor, x: _PaddedSide, y: _PaddedSide, groups: PairBuckets) -> CrossDirection:
        """The atoms of x attend to the atoms of y; h [N, d] are x's atoms unpadded."""
        parts = [self._attend(s, t, mx.unsqueeze(2) & my.unsqueeze(1), yy)
                 for s, t, mx, my, yy in zip(x.s_self, y.s_partner, x.mask, y.mask, y.x)]
        kept, keep, total, agg, relation = (list(p) for p in zip(*parts))
        agg = x.side.unpad(agg)
        if self.mix:
            h = self.mix[0] * h + self.mix[1] * agg
        else:
            h = (1.0 - x.side.unpad(total).unsqueeze(1)) * h + agg
        return CrossDirection(h, x.side.unpad(relation), kept, keep, groups)

    def forward(self, h_a: torch.Tensor, pad_a: Padding, h_b: torch.Tensor, pad_b: Padding,
                groups: PairBuckets | None = None) -> tuple[CrossDirection, CrossDirection]:
        """(A attending to B, B attending to A) for node features [N_a, d], [N_b, d]; ``groups`` the size
        groups of the pairs (default :func:`size_groups`)."""
        groups = size_groups(pad_a, pad_b) if groups is None else groups
        xa, xb = self._padded(h_a, groups.a, groups.sizes), self._padded(h_b, groups.b, groups.sizes)
        b_first = PairBuckets(groups.order, groups.sizes, groups.b, groups.a)
        return self._direction(h_a, xa, xb, groups), self._direction(h_b, xb, xa, b_first)
