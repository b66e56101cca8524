"""CIGIN (Pathak et al., AAAI 2020): two encoders, an atom-by-atom interaction map per pair, Set2Set, MLP.

``variant="3dmrl"`` (default; METHODS §5.2, the version 3DMRL and CGIB benchmark):
    Ĥ = row-L2-normalise(H);  I = Ĥ¹ Ĥ²ᵀ per pair (cosine);  no penalty;
    node features [Ĥ¹ ; I Ĥ²] and [Ĥ² ; Iᵀ Ĥ¹];  Xavier-uniform init of every Linear, zero biases.
``variant="original"`` (METHODS §5.1, devalab/CIGIN ``CIGIN_V2``):
    S = H¹ H²ᵀ (÷ √d with ``scaled``);  I = tanh(S);  node features [H ; I H'];
    ``aux_losses['map_penalty'] = map_penalty · ‖S ⊙ M‖_F`` (pre-tanh masked map, batch Frobenius norm,
    weight 1e-4); PyTorch default init (the original does not re-initialise).
Both: Set2Set per molecule (2 steps, 1 LSTM layer) on 2d -> 4d each -> concat 8d -> MLP 8d->256->128->n_tasks
(ReLU); a projector Linear(8d -> 64) for pretraining (3DMRL z_2D).
DDI: ``shared=true`` (one siamese encoder and Set2Set) and ``symmetric=true`` (implies shared; pair embedding
[s_a + s_b ; s_a ⊙ s_b], so f(a, b) = f(b, a)); zoo_core.nn.interaction.InteractionPairModel.

The interaction runs on any encoder's node embeddings (d = ``encoder.out_dim``; an encoder's own graph readout,
if it has one, is not used) and is batched per pair with padded tensors (zoo_core.nn.interaction): no
[ΣN₁ × ΣN₂] batch matrix. ``PairOutput.explain`` holds the padded maps ``interaction_map`` [B, n₁max, n₂max]
with ``counts_a``/``counts_b`` (un-pad with ``zoo_core.nn.interaction.interaction_maps``) and per-atom
importances (row/column sums of |I|) ``atom_importance_a`` [N₁], ``atom_importance_b`` [N₂].
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from zoo_core.nn.base import EncoderFactory, PairOutput, encode, graph_segments
from zoo_core.nn.interaction import InteractionPairModel, pair_interaction
from zoo_core.nn.mlp import xavier_init

VARIANTS = ("3dmrl", "original")


class CIGIN(InteractionPairModel):
    """CIGIN over any pair of (separate) encoders."""

    def __init__(self, encoder_factory: EncoderFactory, n_tasks: int = 1, variant: str = "3dmrl",
                 scaled: bool = False, map_penalty: float | None = None, mlp_hidden: Sequence[int] = (256, 128),
                 projector_dim: int = 64, set2set_steps: int = 2, xavier: bool | None = None,
                 shared: bool | None = None, symmetric: bool = False):
        super().__init__(encoder_factory, n_tasks, mlp_hidden, set2set_steps, shared, symmetric)
        if variant not in VARIANTS:
            raise ValueError(f"unknown CIGIN variant {variant!r} (expected one of {', '.join(VARIANTS)})")
        self.variant = variant
        self.kind = "cosine" if variant == "3dmrl" else "tanh"
        self.scaled = bool(scaled)
        self.map_penalty = float((1e-4 if variant == "original" else 0.0) if map_penalty is None else map_penalty)
        self.projector = nn.Linear(self.pair_dim, projector_dim)
        if (variant == "3dmrl") if xavier is None else xavier:
            xavier_init(self)  # every Linear, encoders included (3DMRL/CGIB convention)

    def forward(self, batch) -> PairOutput:
        ids_a, counts_a, n = graph_segments(batch.g_a)
        ids_b, counts_b, _ = graph_segments(batch.g_b)
        inter = pair_interaction(encode(self.enc_a, batch.g_a), counts_a, encode(self.enc_b, batch.g_b), counts_b,
                                 kind=self.kind, scaled=self.scaled, ids_a=ids_a, ids_b=ids_b)
        pair = self.pair_embedding(self.set2set_a(inter.h_a, ids_a, n), self.set2set_b(inter.h_b, ids_b, n))
        aux = {"map_penalty": self.map_penalty * inter.penalty()} if self.map_penalty > 0 else {}
        return PairOutput(pred=self.head(pair), h_a=inter.h_a, h_b=inter.h_b, pair_emb=pair, aux_losses=aux,
                          explain=inter.explain())
