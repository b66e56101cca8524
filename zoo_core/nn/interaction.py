"""Per-pair atom-by-atom interaction maps between two molecules (CIGIN, METHODS §5); shared by CIGIN and CGIB.

For pair b with solute node features H¹_b (n₁ × d) and solvent node features H²_b (n₂ × d):

* ``kind="cosine"`` (CIGIN as re-implemented by 3DMRL and CGIB, §5.2): Ĥ = row-L2-normalise(H),
  I_b = Ĥ¹_b Ĥ²_bᵀ (cosine similarities). The normalised Ĥ replaces H downstream:
  outputs [Ĥ¹ ; I_b Ĥ²] and [Ĥ² ; I_bᵀ Ĥ¹] (width 2d).
* ``kind="tanh"`` (original CIGIN, §5.1): S_b = H¹_b H²_bᵀ (÷ √d when ``scaled``), I_b = tanh(S_b);
  outputs [H¹ ; I_b H²] and [H² ; I_bᵀ H¹]. ``InteractionResult.penalty()`` is ‖S ⊙ M‖_F over the batch
  (the original's "l1_norm" term, which it weights by 1e-4).

Batching (METHODS §11): the originals build one [ΣN₁ × ΣN₂] batch matrix and multiply it by a block mask
M = L₁ᵀL₂. Here the node features are scattered into zero-padded tensors [B, n₁max, d] and [B, n₂max, d]
(positions from the segment ids) and the maps are one ``bmm``: memory O(B · n₁max · n₂max) instead of
O(ΣN₁ · ΣN₂). Padded rows are exactly zero, so every map entry outside a pair's n₁ × n₂ block is exactly 0
(cosine: 0; tanh(0) = 0), which *is* the block mask; the results equal the masked batch matrix's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from zoo_core.nn.base import PairModel
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
    """Post-interaction node features of both molecules and the per-pair maps (padded)."""

    h_a: torch.Tensor       # [N₁, 2d]  [Ĥ¹ ; I Ĥ²]  (tanh kind: [H¹ ; I H²])
    h_b: torch.Tensor       # [N₂, 2d]  [Ĥ² ; Iᵀ Ĥ¹]
    imap: torch.Tensor      # [B, n₁max, n₂max]: I_b in the top-left n₁ × n₂ block, 0 elsewhere
    scores: torch.Tensor    # same layout: the pre-activation S (equal to imap for the cosine kind)
    pad_a: Padding
    pad_b: Padding

    def penalty(self) -> torch.Tensor:
        """‖S ⊙ M‖_F over the whole batch (the original CIGIN's map penalty, before its 1e-4 weight)."""
        return self.scores.pow(2).sum().sqrt()

    def atom_importance(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Row sums of |I| per solute atom [N₁] and column sums per solvent atom [N₂]."""
        a = self.imap.abs()
        return self.pad_a.unpad(a.sum(2)), self.pad_b.unpad(a.sum(1))

    def maps(self) -> list[torch.Tensor]:
        """The per-pair maps as a list of [n₁, n₂] tensors."""
        return interaction_maps(self.imap, self.pad_a.counts, self.pad_b.counts)

    def explain(self) -> dict[str, torch.Tensor]:
        """What a PairOutput.explain carries (detached): padded maps, counts and per-atom importances."""
        with torch.no_grad():
            imp_a, imp_b = self.atom_importance()
        return {"interaction_map": self.imap.detach(), "counts_a": self.pad_a.counts, "counts_b": self.pad_b.counts,
                "atom_importance_a": imp_a, "atom_importance_b": imp_b}


def interaction_maps(imap: torch.Tensor, counts_a: torch.Tensor, counts_b: torch.Tensor) -> list[torch.Tensor]:
    """Un-pad ``explain['interaction_map']``: one [n₁, n₂] tensor per pair."""
    return [imap[b, :int(n1), :int(n2)] for b, (n1, n2) in enumerate(zip(counts_a.tolist(), counts_b.tolist()))]


def pair_interaction(h_a: torch.Tensor, counts_a: torch.Tensor, h_b: torch.Tensor, counts_b: torch.Tensor,
                     kind: str = "cosine", scaled: bool = False, ids_a: torch.Tensor | None = None,
                     ids_b: torch.Tensor | None = None) -> InteractionResult:
    """The CIGIN interaction of every pair of a batch; works over any encoder's node embeddings [N, d].

    ``counts_a``/``counts_b`` are ``g.batch_num_nodes()`` of the two batched graphs (pair b = graph b of each);
    ``ids_a``/``ids_b`` (node -> graph) may be passed when already computed.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown interaction kind {kind!r} (expected one of {', '.join(KINDS)})")
    if counts_a.shape[0] != counts_b.shape[0]:
        raise ValueError(f"{counts_a.shape[0]} solute graphs but {counts_b.shape[0]} solvent graphs")
    if h_a.shape[-1] != h_b.shape[-1]:
        raise ValueError(f"node widths differ: {h_a.shape[-1]} (A) vs {h_b.shape[-1]} (B)")
    pad_a, pad_b = Padding.from_counts(counts_a, ids_a), Padding.from_counts(counts_b, ids_b)
    if kind == "cosine":
        h_a, h_b = l2_normalize(h_a), l2_normalize(h_b)
    xa, xb = pad_a.pad(h_a), pad_b.pad(h_b)                      # [B, n1max, d], [B, n2max, d]
    scores = torch.bmm(xa, xb.transpose(1, 2))                  # [B, n1max, n2max]
    if scaled:
        scores = scores / math.sqrt(h_a.shape[-1])
    imap = scores if kind == "cosine" else torch.tanh(scores)   # padded rows/cols stay exactly 0
    a_prime = pad_a.unpad(torch.bmm(imap, xb))
    b_prime = pad_b.unpad(torch.bmm(imap.transpose(1, 2), xa))
    return InteractionResult(torch.cat([h_a, a_prime], -1), torch.cat([h_b, b_prime], -1), imap, scores,
                             pad_a, pad_b)


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
