"""Pairs grouped by size and zero-padded per group: the layout of the batched per-pair interaction maps.

One zero-padded block [B, n₁max, n₂max] for a whole batch pays for its largest pair everywhere: on CompSol batches of
256 pairs (explicit H) it holds about 16 times the entries of the pairs' own n₁ × n₂ maps. Sorting the pairs by
the atom count of the side with the larger molecules and cutting them into groups of about
:data:`PAIRS_PER_GROUP`, each padded to its own largest molecules, brings that to about 2.7 (eight groups).
A group's padded node rows are contiguous in one flat [Σ_g B_g n_g, d] buffer per side, so padding and un-padding
stay one ``index_copy`` / ``index_select`` each, as for a single block.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

PAIRS_PER_GROUP = 32


def group_count(batch_size: int, device: torch.device) -> int:
    """How many groups a batch is cut into: one per :data:`PAIRS_PER_GROUP` pairs on the CPU; one off it, where
    the extra kernel launches cost more than the padding."""
    return max(1, math.ceil(batch_size / PAIRS_PER_GROUP)) if device.type == "cpu" else 1


@dataclass
class Side:
    """One molecule side of the layout: where each node goes and the groups' padded sizes."""

    flat: torch.Tensor      # [N] row of each node in the flat padded buffer
    n_max: list[int]        # per group: the padded molecule size

    def pad(self, x: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
        """[N, d] → per group a zero-padded [B_g, n_g, d] (views of one buffer; differentiable)."""
        rows = [b * n for b, n in zip(sizes, self.n_max)]
        flat = x.new_zeros((sum(rows),) + tuple(x.shape[1:])).index_copy(0, self.flat, x)
        return [part.view((b, n) + tuple(x.shape[1:]))
                for part, b, n in zip(torch.split(flat, rows), sizes, self.n_max)]

    def unpad(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """Per group [B_g, n_g, ...] → [N, ...] (the inverse of :meth:`pad`)."""
        rows = [p.reshape((-1,) + tuple(p.shape[2:])) for p in parts]
        return (rows[0] if len(rows) == 1 else torch.cat(rows)).index_select(0, self.flat)


def _side(counts: torch.Tensor, ids: torch.Tensor, order: torch.Tensor, sizes: list[int]) -> Side:
    """Each node's row: its group's first row, plus its pair's rank in the group times the group's padded size,
    plus its position in its molecule."""
    ranked = counts[order].tolist()
    bounds = list(itertools.accumulate(sizes, initial=0))
    n_max = [max(ranked[a:b], default=0) for a, b in zip(bounds, bounds[1:])]
    first_row = list(itertools.accumulate((b * n for b, n in zip(sizes, n_max)), initial=0))
    slot = [first_row[g] + rank * n_max[g] for g, size in enumerate(sizes) for rank in range(size)]
    base = torch.empty_like(order).index_copy_(0, order, torch.tensor(slot, device=order.device))
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.arange(ids.shape[0], device=ids.device) - starts.index_select(0, ids)
    return Side(base.index_select(0, ids) + pos, n_max)


@dataclass
class PairBuckets:
    """The pairs of a batch in groups of similar size (see the module doc)."""

    order: torch.Tensor     # [B] the pairs, group after group
    sizes: list[int]        # pairs per group
    a: Side
    b: Side

    @classmethod
    def build(cls, counts_a: torch.Tensor, counts_b: torch.Tensor, ids_a: torch.Tensor, ids_b: torch.Tensor,
              groups: int) -> "PairBuckets":
        """``groups`` groups (one: the batch's own order and a single block)."""
        counts_a, counts_b = counts_a.long(), counts_b.long()
        batch = int(counts_a.shape[0])
        groups = max(1, min(groups, batch))
        if groups == 1:
            order = torch.arange(batch, device=counts_a.device)
        else:
            wider = counts_b if int(counts_b.max()) > int(counts_a.max()) else counts_a
            order = torch.argsort(wider, stable=True)
        sizes = [len(part) for part in torch.tensor_split(torch.arange(batch), groups)]
        return cls(order, sizes, _side(counts_a, ids_a, order, sizes), _side(counts_b, ids_b, order, sizes))

    def assemble(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """Per-group maps [B_g, n₁g, n₂g] → one [B, n₁max, n₂max] block in batch order, zeros outside each pair."""
        if len(parts) == 1:
            return parts[0]
        out = parts[0].new_zeros(len(self.order), max(self.a.n_max), max(self.b.n_max))
        for pairs, part in zip(torch.split(self.order, self.sizes), parts):
            out[pairs, :part.shape[1], :part.shape[2]] = part
        return out
