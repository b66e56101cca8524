"""Stock SchNet as a zoo encoder (Schütt et al. 2017; PyG's ``SchNet`` defaults: hidden 128, 128 filters, 6
interaction blocks, 50 Gaussians, cutoff 10 Å, 32 neighbours), over ``zoo_core.nn.schnet.SchNet``: the baseline
that MolInteract's 3D tower is compared with. Atom types are the atomic numbers (the featurizer's ``x`` is not
read). ``readout``: ``mean`` (as MolInteract's, default) or ``sum`` (PyG's, for extensive targets) of the per-atom
outputs; the molecule model's head follows."""

from __future__ import annotations

import torch

from zoo_core.nn.base import Encoder
from zoo_core.nn.schnet import SchNet, masked_mean


class SchNetEncoder(Encoder):
    requires_3d = True

    def __init__(self, in_dim: int, edge_dim: int, hidden: int = 128, filters: int = 128, layers: int = 6,
                 n_gaussians: int = 50, cutoff: float = 10.0, max_neighbors: int | None = 32, readout: str = "mean"):
        super().__init__()
        if readout not in ("mean", "sum"):
            raise ValueError(f"schnet: readout must be mean or sum, got {readout!r}")
        self.net = SchNet(hidden, filters, layers, n_gaussians, cutoff, num_atom_types=120,
                          max_neighbors=max_neighbors)
        self.pooling = readout
        self.out_dim = self.graph_dim = hidden

    def forward(self, g) -> torch.Tensor:
        if "pos" not in g.ndata:
            raise ValueError("schnet needs 3D positions (g.ndata['pos'])")
        z = g.ndata["atomic_num"].long().clamp(0, 119)
        return self.net(z, g.ndata["pos"].to(self.net.embedding.weight.dtype), g.batch_num_nodes())

    def readout(self, g, h: torch.Tensor) -> torch.Tensor:
        mean = masked_mean(h, g.batch_num_nodes())
        return mean if self.pooling == "mean" else mean * g.batch_num_nodes().to(h.dtype).view(-1, 1)
