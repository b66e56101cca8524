"""late_fusion: two separate encoders, per-molecule readout, concatenation, MLP (3DMRL "DualMPNN", METHODS §3).

Readout: the encoder's own readout when it has one (AttentiveFP's super-node GRU, METHODS §4), otherwise
row-L2-normalised node vectors into a Set2Set per molecule (2 steps, output 2d). Head: MLP [.., 256, 128, n_tasks]
with ReLU. A 64-d projector of the pair embedding is exposed for pretraining (3DMRL z_2D).

DDI (METHODS §5.2, issue 35): ``shared=true`` uses one (siamese) encoder and readout for both molecules;
``symmetric=true`` (implies ``shared``) combines the readouts as [r_a + r_b ; r_a ⊙ r_b] (zoo_core.nn.pair_readout),
so f(a, b) = f(b, a). Both default off: the weight-file keys and published models are unchanged.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from zoo_core.nn.base import EncoderFactory, PairModel, PairOutput, graph_segments, unique_view
from zoo_core.nn.mlp import MLP, l2_normalize, xavier_init
from zoo_core.nn.pair_readout import combine, siamese
from zoo_core.nn.set2set import Set2Set


class LateFusion(PairModel):
    """No cross-molecule interaction: f([readout(A) ; readout(B)])."""

    def __init__(self, encoder_factory: EncoderFactory, n_tasks: int = 1, mlp_hidden: Sequence[int] = (256, 128),
                 projector_dim: int = 64, set2set_steps: int = 2, shared: bool | None = None,
                 symmetric: bool = False):
        super().__init__()
        self.shared, self.symmetric = siamese(shared, symmetric)
        self.enc_a = encoder_factory()
        self.enc_b = self.enc_a if self.shared else encoder_factory()
        self.own_readout = self.enc_a.graph_dim is not None
        if self.own_readout:
            width = self.enc_a.graph_dim
        else:
            self.set2set_a = Set2Set(self.enc_a.out_dim, set2set_steps)
            self.set2set_b = self.set2set_a if self.shared else Set2Set(self.enc_b.out_dim, set2set_steps)
            width = 2 * self.enc_a.out_dim
        self.pair_dim = 2 * width
        self.head = MLP([self.pair_dim, *mlp_hidden, n_tasks])
        self.projector = nn.Linear(self.pair_dim, projector_dim)
        xavier_init(self)  # every Linear, encoders included (the 3DMRL convention)

    def _side(self, enc, s2s, g) -> tuple[torch.Tensor, torch.Tensor]:
        """(node embeddings, readout) of one side; its repeated molecules encoded and read out once."""
        unique = unique_view(enc, g)
        if unique is not None:
            h, r = self._read(enc, s2s, unique)
            return h.index_select(0, g.node_source), r.index_select(0, g.graph_source)
        return self._read(enc, s2s, g)

    def _read(self, enc, s2s, g) -> tuple[torch.Tensor, torch.Tensor]:
        h = enc(g)
        if self.own_readout:
            return h, enc.readout(g, h)
        ids, _, n = graph_segments(g)
        h = l2_normalize(h)
        return h, s2s(h, ids, n)

    def forward(self, batch) -> PairOutput:
        h_a, r_a = self._side(self.enc_a, getattr(self, "set2set_a", None), batch.g_a)
        h_b, r_b = self._side(self.enc_b, getattr(self, "set2set_b", None), batch.g_b)
        pair = combine(r_a, r_b, self.symmetric)
        return PairOutput(pred=self.head(pair), h_a=h_a, h_b=h_b, pair_emb=pair)
