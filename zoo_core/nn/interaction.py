"""Per-pair atom-by-atom interaction maps between two molecules (CIGIN, METHODS §5); shared by CIGIN and CGIB.

For pair b with solute node features H¹_b (n₁ × d) and solvent node features H²_b (n₂ × d):

* ``kind="cosine"`` (CIGIN as re-implemented by 3DMRL and CGIB, §5.2): Ĥ = row-L2-normalise(H),
  I_b = Ĥ¹_b Ĥ²_bᵀ (cosine similarities). The normalised Ĥ replaces H downstream:
  outputs [Ĥ¹ ; I_b Ĥ²] and [Ĥ² ; I_bᵀ Ĥ¹] (width 2d).
* ``kind="tanh"`` (original CIGIN, §5.1): S_b = H¹_b H²_bᵀ (÷ √d when ``scaled``), I_b = tanh(S_b);
  outputs [H¹ ; I_b H²] and [H² ; I_bᵀ H¹]. ``InteractionResult.penalty()`` is ‖S ⊙ M‖_F over the batch
  (the original's "l1_norm" term, which it weights by 1e-4).

Batching (METHODS §11): the originals build one [ΣN₁ × ΣN₂] batch matrix and multiply it by a block mask
M = L₁ᵀL₂. Here the pairs are cut into groups of similar size (zoo_core.nn.buckets; one group off the CPU and for
small batches), each group's node features are scattered into zero-padded tensors [B_g, n₁g, d] and [B_g, n₂g, d]
(n_g: the group's largest molecule) and its maps are one ``bmm``: memory O(Σ_g B_g · n₁g · n₂g) instead of
O(ΣN₁ · ΣN₂). Padded rows are exactly zero, so every map entry outside a pair's n₁ × n₂ block is exactly 0
(cosine: 0; tanh(0) = 0), which *is* the block mask; the results equal the masked batch matrix's. ``imap`` and
``scores`` give the maps as one [B, n₁max, n₂max] block in batch order (assembled when asked for).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from zoo_core.nn.base import PairModel
from zoo_core.nn.buckets import PairBuckets, group_count
from zoo_core.nn.mlp import l2_normalize
from zoo_core.nn.pair_readout import combine, siamese
from zoo_core.nn.segment import segment_ids

KINDS = ("cosine", "tanh")


@dataclass
class Padding:
    """Where each node of a batched graph goes in a zero-padded ``[B, n_max, ...]`` tensor."""

    counts: torch.Tensor    # [B] nodes per graph
    ids: torch.Tensor       # [N] graph of each node
    flat: torch.Tensor      # [N] row of each node in the flattened [B * n_max, ...] tensor
    n_max: int

    @classmethod
    def from_counts(cls, counts: torch.Tensor, ids: torch.Tensor | None = None) -> "Padding":
        counts = counts.long()
        ids = segment_ids(counts) if ids is None else ids
        n_max = int(counts.max()) if counts.numel() else 0
        starts = torch.cumsum(counts, 0) - counts
        pos = torch.arange(ids.shape[0], device=ids.device) - starts[ids]
        return cls(counts, ids, ids * n_max + pos, n_max)

    @property
    def batch_size(self) -> int:
        return int(self.counts.shape[0])

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """[N, ...] -> [B, n_max, ...], zeros after each graph's nodes (differentiable)."""
        rest = tuple(x.shape[1:])
        out = x.new_zeros((self.batch_size * self.n_max,) + rest).index_copy(0, self.flat, x)
        return out.view((self.batch_size, self.n_max) + rest)

    def unpad(self, padded: torch.Tensor) -> torch.Tensor:
        """[B, n_max, ...] -> [N, ...] (the inverse of :meth:`pad`)."""
        return padded.reshape((self.batch_size * self.n_max,) + tuple(padded.shape[2:])).index_select(0, self.flat)

    def mask(self) -> torch.Tensor:
        """[B, n_max] boolean, True at real nodes."""
        return torch.arange(self.n_max, device=self.counts.device) < self.counts.unsqueeze(1)


@dataclass
class InteractionResult:
    """Post-interaction node features of both molecules and the per-pair maps (per size group, padded)."""

    h_a: torch.Tensor       # [N₁, 2d]  [Ĥ¹ ; I Ĥ²]  (tanh kind: [H¹ ; I H²])
    h_b: torch.Tensor       # [N₂, 2d]  [Ĥ² ; Iᵀ Ĥ¹]
    group_maps: list[torch.Tensor]      # per group [B_g, n₁g, n₂g]: I_b in each pair's top-left n₁ × n₂ block
    group_scores: list[torch.Tensor]    # same layout: the pre-activation S (the maps themselves for cosine)
    buckets: PairBuckets
    counts_a: torch.Tensor
    counts_b: torch.Tensor
    ids_a: torch.Tensor
    ids_b: torch.Tensor

    @property
    def imap(self) -> torch.Tensor:
        """[B, n₁max, n₂max]: I_b in the top-left n₁ × n₂ block, 0 elsewhere."""
        return self.buckets.assemble(self.group_maps)

    @property
    def scores(self) -> torch.Tensor:
        """The pre-activation S in the layout of :attr:`imap` (equal to it for the cosine kind)."""
        return self.buckets.assemble(self.group_scores)

    @property
    def pad_a(self) -> Padding:
        return Padding.from_counts(self.counts_a, self.ids_a)

    @property
    def pad_b(self) -> Padding:
        return Padding.from_counts(self.counts_b, self.ids_b)

    def penalty(self) -> torch.Tensor:
        """‖S ⊙ M‖_F over the whole batch (the original CIGIN's map penalty, before its 1e-4 weight)."""
        squares = [s.pow(2).sum() for s in self.group_scores]
        return (squares[0] if len(squares) == 1 else torch.stack(squares).sum()).sqrt()

    def atom_importance(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Row sums of |I| per solute atom [N₁] and column sums per solvent atom [N₂]."""
        a = [m.abs() for m in self.group_maps]
        return self.buckets.a.unpad([m.sum(2) for m in a]), self.buckets.b.unpad([m.sum(1) for m in a])

    def maps(self) -> list[torch.Tensor]:
        """The per-pair maps as a list of [n₁, n₂] tensors."""
        return interaction_maps(self.imap, self.counts_a, self.counts_b)

    def explain(self) -> dict[str, torch.Tensor]:
        """What a PairOutput.explain carries (detached): padded maps, counts and per-atom importances."""
        with torch.no_grad():
            imp_a, imp_b = self.atom_importance()
            imap = self.imap
        return {"interaction_map": imap.detach(), "counts_a": self.counts_a, "counts_b": self.counts_b,
                "atom_importance_a": imp_a, "atom_importance_b": imp_b}


def interaction_maps(imap: torch.Tensor, counts_a: torch.Tensor, counts_b: torch.Tensor) -> list[torch.Tensor]:
    """Un-pad ``explain['interaction_map']``: one [n₁, n₂] tensor per pair."""
    return [imap[b, :int(n1), :int(n2)] for b, (n1, n2) in enumerate(zip(counts_a.tolist(), counts_b.tolist()))]


def pair_interaction(h_a: torch.Tensor, counts_a: torch.Tensor, h_b: torch.Tensor, counts_b: torch.Tensor,
                     kind: str = "cosine", scaled: bool = False, ids_a: torch.Tensor | None = None,
                     ids_b: torch.Tensor | None = None, groups: int | None = None) -> InteractionResult:
    """The CIGIN interaction of every pair of a batch; works over any encoder's node embeddings [N, d].

    ``counts_a``/``counts_b`` are ``g.batch_num_nodes()`` of the two batched graphs (pair b = graph b of each);
    ``ids_a``/``ids_b`` (node -> graph) may be passed when already computed. ``groups``: size groups of pairs
    (default :func:`zoo_core.nn.buckets.group_count`; 1 is a single padded block).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown interaction kind {kind!r} (expected one of {', '.join(KINDS)})")
    if counts_a.shape[0] != counts_b.shape[0]:
        raise ValueError(f"{counts_a.shape[0]} solute graphs but {counts_b.shape[0]} solvent graphs")
    if h_a.shape[-1] != h_b.shape[-1]:
        raise ValueError(f"node widths differ: {h_a.shape[-1]} (A) vs {h_b.shape[-1]} (B)")
    ids_a = segment_ids(counts_a) if ids_a is None else ids_a
    ids_b = segment_ids(counts_b) if ids_b is None else ids_b
    groups = group_count(int(counts_a.shape[0]), h_a.device) if groups is None else groups
    buckets = PairBuckets.build(counts_a, counts_b, ids_a, ids_b, groups)
    if kind == "cosine":
        h_a, h_b = l2_normalize(h_a), l2_normalize(h_b)
    xa, xb = buckets.a.pad(h_a, buckets.sizes), buckets.b.pad(h_b, buckets.sizes)   # [B_g, n_g, d] per group
    scores = [torch.bmm(a, b.transpose(1, 2)) for a, b in zip(xa, xb)]               # [B_g, n1g, n2g]
    if scaled:
        scores = [s / math.sqrt(h_a.shape[-1]) for s in scores]
    imaps = scores if kind == "cosine" else [torch.tanh(s) for s in scores]          # padding stays exactly 0
    a_prime = buckets.a.unpad([torch.bmm(i, b) for i, b in zip(imaps, xb)])
    b_prime = buckets.b.unpad([torch.bmm(i.transpose(1, 2), a) for i, a in zip(imaps, xa)])
    return InteractionResult(torch.cat([h_a, a_prime], -1), torch.cat([h_b, b_prime], -1), imaps, scores, buckets,
                             counts_a, counts_b, ids_a, ids_b)


class InteractionPairModel(PairModel):
    """The backbone shared by CIGIN and CGIB (METHODS §5.2, §6.1): two separate encoders of equal width d, the
    per-pair interaction (features become 2d), a Set2Set per molecule (4d each) and an MLP head on the 8d pair
    embedding. Subclasses add their interaction kind and losses; attribute names fix the weight-file keys.

    ``shared``: one (siamese) encoder and one Set2Set for both molecules (the DDI originals, METHODS §5.2, §6.1);
    ``symmetric`` (implies ``shared``): pair embedding [s_a + s_b ; s_a ⊙ s_b] (zoo_core.nn.pair_readout), so
    f(a, b) = f(b, a): the interaction itself is symmetric (swapping the molecules swaps [Ĥ¹ ; IĤ²] and
    [Ĥ² ; IᵀĤ¹]). Both default off (the originals' MI models; published weights unchanged)."""

    def __init__(self, encoder_factory, n_tasks: int = 1, mlp_hidden=(256, 128), set2set_steps: int = 2,
                 shared: bool | None = None, symmetric: bool = False):
        from zoo_core.nn.mlp import MLP
        from zoo_core.nn.set2set import Set2Set

        super().__init__()
        self.shared, self.symmetric = siamese(shared, symmetric)
        self.enc_a = encoder_factory()
        self.enc_b = self.enc_a if self.shared else encoder_factory()
        d = self.enc_a.out_dim
        if self.enc_b.out_dim != d:
            raise ValueError(f"the two encoders' widths differ ({d} vs {self.enc_b.out_dim})")
        self.node_dim = 2 * d
        self.set2set_a = Set2Set(2 * d, set2set_steps)
        self.set2set_b = self.set2set_a if self.shared else Set2Set(2 * d, set2set_steps)
        self.pair_dim = 8 * d
        self.head = MLP([self.pair_dim, *mlp_hidden, n_tasks])

    def pair_embedding(self, s_a: torch.Tensor, s_b: torch.Tensor) -> torch.Tensor:
        """[s_a ; s_b], or the symmetric combination (see the class docstring)."""
        return combine(s_a, s_b, self.symmetric)
