"""The molecule model: any registered encoder + readout + MLP head, for single-molecule datasets (MoleculeNet, QM9).

Readout: the encoder's own readout when it has one (AttentiveFP's super-node GRU, METHODS §4), otherwise
row-L2-normalised node vectors into Set2Set (2 steps, output 2d): exactly one tower of late_fusion, so a molecule
model and a pair model see a molecule the same way. Head: MLP [readout, 256, 128, n_tasks] with ReLU.
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from zoo_core.nn.base import EncoderFactory, PairModel, PairOutput, graph_segments
from zoo_core.nn.mlp import MLP, l2_normalize, xavier_init
from zoo_core.nn.set2set import Set2Set


class MoleculeModel(PairModel):
    """f(readout(encoder(G))) over a :class:`zoo_core.data.molecules.MolBatch` (``batch.g``)."""

    roles = 1

    def __init__(self, encoder_factory: EncoderFactory, n_tasks: int = 1, mlp_hidden: Sequence[int] = (256, 128),
                 set2set_steps: int = 2, normalize: bool = True, dropout: float = 0.0):
        super().__init__()
        self.encoder = encoder_factory()
        self.own_readout = self.encoder.graph_dim is not None
        self.normalize = bool(normalize)
        if self.own_readout:
            width = self.encoder.graph_dim
        else:
            self.set2set = Set2Set(self.encoder.out_dim, set2set_steps)
            width = 2 * self.encoder.out_dim
        self.dropout = nn.Dropout(dropout)
        self.head = MLP([width, *mlp_hidden, n_tasks])
        xavier_init(self)  # every Linear, the encoder's included (the 3DMRL convention, as late_fusion)

    def forward(self, batch) -> PairOutput:
        g = batch.g
        h = self.encoder(g)
        if self.own_readout:
            graph = self.encoder.readout(g, h)
        else:
            ids, _, n = graph_segments(g)
            graph = self.set2set(l2_normalize(h) if self.normalize else h, ids, n)
        return PairOutput(pred=self.head(self.dropout(graph)), h_a=h, pair_emb=graph)
