"""MolInteract's encoder (Soga et al.; METHODS §8.1 and §8.4): a 2D tower and a 3D tower that exchange information
once per block.

    ĥ⁰ = AtomEncoder(x),  g⁰ = Emb_Z(Z − 1),  a⁰ = ĥ⁰,  b⁰ = g⁰
    for ℓ = 1..L:
        aˡ = Norm(Dropout(GIN_ℓ(ĥˡ⁻¹))) + aˡ⁻¹              2D tower (GIN with edges, zoo_molinteract.gin)
        bˡ = Norm(Dropout(SchNet_ℓ(gˡ⁻¹))) + bˡ⁻¹           3D tower (SchNet interaction block, zoo_core.nn.schnet)
        [ĥˡ ; gˡ] = InteractionMLP_ℓ([aˡ ; bˡ])               the states are replaced, not added
    g ← Linear → ssp → Linear (g^L)                           the SchNet head
    node output [ĥ ; g] (2d), readout [mean ĥ ; mean g] (2d)

The residual stream a, b is the *pre-interaction* state (as the code does: the skip bypasses the interaction MLPs).
InteractionMLP_ℓ (one per block): 2 × {Linear(2d → 2d) → Dropout → LayerNorm(2d) → SiLU}, split into ĥ and g.
SchNet blocks: 128 filters, 50 Gaussians, cutoff 10 Å, cosine cutoff, the 32 nearest neighbours (the radius
graph is computed once per forward: positions do not change between blocks, so recomputing gives the same graph).

Defaults are the paper's scripts' (pretrain.sh): d = 300, L = 6, LayerNorm, dropout 0. ``towers="2d"`` is the 2D
tower alone (MoleculeNet's ``forward_2d``; no positions needed, ``requires_3d`` false; registered as ``gin``),
``towers="3d"`` the 3D tower alone with the same blocks; neither has interaction MLPs. Both single-tower modes give
d-wide node states and readouts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from zoo_core.nn.base import Encoder
from zoo_core.nn.schnet import (FilterTable, GaussianSmearing, InteractionBlock, ShiftedSoftplus, masked_mean,
                                radius_graph)
from zoo_molinteract.embeddings import atom_encoder
from zoo_molinteract.gin import GINEdgeConv

TOWERS = ("both", "2d", "3d")


@dataclass
class BlockStates:
    """One forward pass: the encoder's node output and, per block ℓ = 1..L (list index ℓ − 1), each tower's node
    states after that block: the post-interaction ĥˡ, gˡ (towers=both) or the post-residual aˡ, bˡ (one tower).
    A tower that does not run has an empty list. Every state is [N, d]."""

    nodes: torch.Tensor | None
    states_2d: list[torch.Tensor]
    states_3d: list[torch.Tensor]


class InteractionMLP(nn.Module):
    """[a ; b] (2d) → 2 × {Linear(2d, 2d) → Dropout → LayerNorm → SiLU} → (first d, last d)."""

    def __init__(self, hidden: int, dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(2):
            layers += [nn.Linear(2 * hidden, 2 * hidden), nn.Dropout(dropout), nn.LayerNorm(2 * hidden), nn.SiLU()]
        self.net = nn.Sequential(*layers)
        self.hidden = hidden

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.net(torch.cat([a, b], dim=-1))
        return v[:, :self.hidden], v[:, self.hidden:]


class MolInteract(Encoder):
    """Node states ``[N, out_dim]`` (module doc). ``cls(in_dim, edge_dim, hidden, layers, dropout, towers, ...)``;
    ``in_dim``/``edge_dim`` are the ``ogb9`` widths (9, 3): the features are class indices, embedded here."""

    requires_3d = True

    @staticmethod
    def requires_3d_for(params: dict) -> bool:
        """Positions are needed unless only the 2D tower runs."""
        return str(params.get("towers", "both")) != "2d"

    @staticmethod
    def backbone_part(saved: dict, params: dict) -> bool:
        """Is this encoder (``params``) one tower of a backbone saved with ``saved``: a two-tower MolInteract of
        the same width and blocks (and, for the 3D tower, the same radius graph and filters)? Its tensors have the
        same names there, so `zoo run --encoder-param towers=2d --pretrained-weights` fine-tunes the 2D tower of a
        MolInteract pretrained with both (MoleculeNet, METHODS §8.3); the other tower and the interaction MLPs are
        left out (zoo_core.train.pretraining.backbone_part)."""
        towers = str(params.get("towers", "both"))
        if str(saved.get("towers", "both")) != "both" or towers == "both":
            return False
        shared = ("hidden", "layers", "residual") + (("cutoff", "filters", "n_gaussians", "max_neighbors")
                                                     if towers == "3d" else ())
        return all(saved.get(k) == params.get(k) for k in shared)

    def __init__(self, in_dim: int, edge_dim: int, hidden: int = 300, layers: int = 6, dropout: float = 0.0,
                 towers: str = "both", cutoff: float = 10.0, filters: int = 128, n_gaussians: int = 50,
                 max_neighbors: int | None = 32, residual: bool = True, filter_table: int | None = None):
        super().__init__()
        if towers not in TOWERS:
            raise ValueError(f"molinteract: towers must be one of {', '.join(TOWERS)}, got {towers!r}")
        if in_dim != 9 or edge_dim != 3:
            raise ValueError(f"molinteract reads the ogb9 featurizer (9 atom, 3 bond columns), got {in_dim}, {edge_dim}")
        self.towers, self.layers, self.residual, self.hidden = towers, int(layers), bool(residual), int(hidden)
        self.use_2d, self.use_3d = towers != "3d", towers != "2d"
        self.requires_3d = self.use_3d
        self.drop = nn.Dropout(dropout)
        if self.use_2d:
            self.atom_encoder = atom_encoder(hidden)
            self.convs_2d = nn.ModuleList(GINEdgeConv(hidden) for _ in range(layers))
            self.norms_2d = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        if self.use_3d:
            self.cutoff, self.max_neighbors, self.filter_table = float(cutoff), max_neighbors, filter_table
            self.z_embedding = nn.Embedding(120, hidden)
            self.smearing = GaussianSmearing(0.0, cutoff, n_gaussians)
            self.convs_3d = nn.ModuleList(InteractionBlock(hidden, filters, n_gaussians, cutoff) for _ in range(layers))
            self.norms_3d = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
            self.head_3d = nn.Sequential(nn.Linear(hidden, hidden), ShiftedSoftplus(), nn.Linear(hidden, hidden))
        if towers == "both":
            self.interactions = nn.ModuleList(InteractionMLP(hidden, dropout) for _ in range(layers))
        self.out_dim = self.graph_dim = hidden * (2 if towers == "both" else 1)

    def _step(self, conv_out: torch.Tensor, norm: nn.Module, skip: torch.Tensor) -> torch.Tensor:
        """Norm(Dropout(conv)) + the previous pre-interaction state."""
        out = norm(self.drop(conv_out))
        return out + skip if self.residual else out

    def _geometry(self, g):
        """(edges [2, E], distances, Gaussian expansion or None, filter table or None) of each molecule's radius
        graph. ``filter_table=K`` interpolates the SchNet filters from K tabulated distances (zoo_core.nn.schnet;
        ~1e-5 relative error at K = 4096, several times faster); None computes them per edge."""
        pos = g.ndata["pos"].to(self.z_embedding.weight.dtype)
        edges = radius_graph(pos, g.batch_num_nodes(), self.cutoff, self.max_neighbors)
        dist = (pos[edges[0]] - pos[edges[1]]).norm(dim=-1)
        if self.filter_table:
            return edges, dist, None, FilterTable(dist, self.cutoff, int(self.filter_table), self.smearing)
        return edges, dist, self.smearing(dist), None

    def forward(self, g) -> torch.Tensor:
        return self.block_states(g).nodes

    def block_states(self, g, depth: int | None = None) -> BlockStates:
        """The forward pass, keeping each block's node states (what the pretraining heads read, §8.2).
        ``depth``: run only the first ``depth`` blocks (``nodes`` is then None)."""
        h = a = self.atom_encoder(g.ndata["x"]) if self.use_2d else None
        if self.use_3d:
            if "pos" not in g.ndata:
                raise ValueError("molinteract (towers=%s) needs 3D positions (g.ndata['pos'])" % self.towers)
            z = g.ndata["atomic_num"].long().clamp(1, 120) - 1
            s = b = self.z_embedding(z)
            edges, dist, rbf, table = self._geometry(g)
        src, dst = g.edges()
        states_2d: list[torch.Tensor] = []
        states_3d: list[torch.Tensor] = []
        for ell in range(self.layers if depth is None else min(int(depth), self.layers)):
            if self.use_2d:
                h = a = self._step(self.convs_2d[ell](h, src, dst, g.edata["e"]), self.norms_2d[ell], a)
            if self.use_3d:
                s = b = self._step(self.convs_3d[ell](s, edges, dist, rbf, table), self.norms_3d[ell], b)
            if self.towers == "both":
                h, s = self.interactions[ell](a, b)
            if self.use_2d:
                states_2d.append(h)
            if self.use_3d:
                states_3d.append(s)
        if depth is not None and depth < self.layers:
            return BlockStates(None, states_2d, states_3d)
        if self.use_3d:
            s = self.head_3d(s)
        nodes = torch.cat([h, s], dim=-1) if self.towers == "both" else (h if self.use_2d else s)
        return BlockStates(nodes, states_2d, states_3d)

    def readout(self, g, h: torch.Tensor) -> torch.Tensor:
        """Mean over each molecule's atoms of both towers' states ([mean ĥ ; mean g] = the mean of [ĥ ; g])."""
        return masked_mean(h, g.batch_num_nodes())
