"""AttentiveFP (Xiong et al. 2019, J. Med. Chem. 63:8749) with the PyG semantics used by 3DMRL (METHODS §4, §11).

The paper's recipe, applied to atoms and then to a molecule-level "super virtual node":

* eq. (1) alignment   s_ij = LeakyReLU(aᵀ [W h_i ; W h_j])          (split here into a_dst·W h_i + a_src·W h_j)
* eq. (2) attention   α_ij = softmax_j(s_ij) over the neighbours j of i
* eq. (3) context     C_i  = ELU(Σ_j α_ij W h_j)
* eq. (4) update      h_i' = GRU(C_i, h_i)

as implemented by ``torch_geometric.nn.models.AttentiveFP`` (PyG 2.0.3, the version 3DMRL pins, METHODS §0):

    x   = LeakyReLU_0.01(lin1(x))
    h   = ELU(GATEConv(x, e));  x = ReLU(GRU_1(dropout(h), x))                    (edge-aware first layer)
    for l = 2..L:  h = ELU(GATConv_l(x));  x = ReLU(GRU_l(dropout(h), x))        (1 head, no self-loops, slope 0.01)
    g   = ReLU(Σ_{i in mol} x_i)
    for t = 1..T:  h_g = ELU(GATConv_mol((x, g), atom → its molecule));  g = ReLU(GRU_mol(dropout(h_g), g))
    mol = lin2(dropout(g))                                                       (hidden → hidden, as in 3DMRL)

``mol_conv`` and ``mol_gru`` are shared over t. ``forward(g)`` returns the atom embeddings x (``out_dim = hidden``);
``readout(g, x)`` the molecule embedding (``graph_dim = hidden``). Everything is vectorised with the zoo's plain-torch
segment ops (zoo_core.nn.segment): no DGL message passing and no Python loop over atoms or molecules.

Parameter names and shapes mirror PyG's, so a PyG ``AttentiveFP`` state dict (with ``out_channels = hidden``) loads:
PyG shares ``lin_dst`` with ``lin_src`` when ``in_channels`` is an int; the duplicate key is dropped on load.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo_core.nn.base import Encoder, graph_segments
from zoo_core.nn.csr import CSRPattern, weighted_sum
from zoo_core.nn.gru import gru_relu
from zoo_core.nn.segment import segment_softmax, segment_sum

NEGATIVE_SLOPE = 0.01  # LeakyReLU slope everywhere in PyG's AttentiveFP (F.leaky_relu default and GATConv(negative_slope))


def glorot_(tensor: torch.Tensor) -> None:
    """PyG's ``glorot``: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) over the last two dimensions."""
    a = math.sqrt(6.0 / (tensor.size(-2) + tensor.size(-1)))
    with torch.no_grad():
        tensor.uniform_(-a, a)


class GATEConv(nn.Module):
    """PyG's edge-aware first AttentiveFP layer (``torch_geometric.nn.models.attentive_fp.GATEConv``, PyG 2.0.3).

    For each edge j → i:  u_j = LeakyReLU(W_a [x_j ; e_ij]);  s_ij = LeakyReLU(a_lᵀ u_j + a_rᵀ x_i);
    α_ij = softmax of s_ij over the incoming edges of i (then attention dropout);  out_i = Σ_j α_ij W_b u_j + b.
    A node with no incoming edge gets ``out_i = b`` (Xiong et al. eqs 1-3 with the edge features in the neighbour
    term; METHODS §4). Since W_b has no bias, Σ α W_b u = W_b Σ α u is computed after aggregation (same value).
    """

    def __init__(self, in_dim: int, out_dim: int, edge_dim: int, dropout: float = 0.0):
        super().__init__()
        self.in_dim, self.dropout = in_dim, dropout
        self.att_l = nn.Parameter(torch.empty(1, out_dim))
        self.att_r = nn.Parameter(torch.empty(1, in_dim))
        self.lin1 = nn.Linear(in_dim + edge_dim, out_dim, bias=False)   # W_a
        self.lin2 = nn.Linear(out_dim, out_dim, bias=False)             # W_b
        self.bias = nn.Parameter(torch.empty(out_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p in (self.att_l, self.att_r, self.lin1.weight, self.lin2.weight):
            glorot_(p)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, e: torch.Tensor, src: torch.Tensor, dst: torch.Tensor,
                pattern: CSRPattern | None = None) -> torch.Tensor:
        """``pattern``: the (dst, edge) pairs as a :class:`zoo_core.nn.csr.CSRPattern` (edges in its order)."""
        n, w = x.shape[0], self.lin1.weight
        # lin1([x_j ; e_ij]) = W_x x_j + W_e e_ij: transform the nodes once, then gather (same value, fewer FLOPs).
        u = F.leaky_relu(torch.addmm(F.linear(x, w[:, : self.in_dim]).index_select(0, src), e, w[:, self.in_dim:].t()),
                         NEGATIVE_SLOPE)
        score = F.leaky_relu((u @ self.att_l.t()).squeeze(-1) + (x @ self.att_r.t()).squeeze(-1).index_select(0, dst),
                             NEGATIVE_SLOPE)
        alpha = F.dropout(segment_softmax(score, dst, n), p=self.dropout, training=self.training)
        pattern = pattern or CSRPattern.unsorted(dst, torch.arange(len(dst), device=dst.device), n, len(dst))
        return self.lin2(weighted_sum(alpha, u, pattern)) + self.bias


class GATConv(nn.Module):
    """Single-head ``torch_geometric.nn.GATConv(in, out, heads=1, dropout, add_self_loops=False, negative_slope=0.01)``.

    α_ij = softmax_j LeakyReLU(a_srcᵀ W x_j + a_dstᵀ W x_i) over the incoming edges j → i (then attention dropout);
    out_i = Σ_j α_ij W x_j + b (Xiong et al. eqs 1-3). Bipartite use ``(x_src, x_dst)`` transforms both sides with the
    same W, as PyG does for an int ``in_channels``. A destination with no incoming edge gets ``out_i = b``.
    """

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.0, negative_slope: float = NEGATIVE_SLOPE):
        super().__init__()
        self.dropout, self.negative_slope = dropout, negative_slope
        self.lin_src = nn.Linear(in_dim, out_dim, bias=False)
        self.att_src = nn.Parameter(torch.empty(1, 1, out_dim))    # [1, heads, out] as in PyG
        self.att_dst = nn.Parameter(torch.empty(1, 1, out_dim))
        self.bias = nn.Parameter(torch.empty(out_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p in (self.lin_src.weight, self.att_src, self.att_dst):
            glorot_(p)
        nn.init.zeros_(self.bias)

    def sources(self, x_src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(W x_src, a_srcᵀ W x_src): what :meth:`forward` needs of the sources, computed once where they stay the
        same over several calls (the readout's atoms over its T steps)."""
        h_src = self.lin_src(x_src)
        return h_src, h_src @ self.att_src.view(-1)

    def forward(self, x_src: torch.Tensor | None, src: torch.Tensor, dst: torch.Tensor,
                x_dst: torch.Tensor | None = None, n_dst: int | None = None, src_is_identity: bool = False,
                sources: tuple[torch.Tensor, torch.Tensor] | None = None,
                pattern: CSRPattern | None = None) -> torch.Tensor:
        """Edges ``src[k] → dst[k]``; ``x_dst=None`` means a plain graph (x_dst = x_src). ``src_is_identity``: edge k
        leaves node k (the atoms → super-node readout), which saves a gather. ``sources``: :meth:`sources` of
        ``x_src``, already computed; ``pattern``: the (dst, src) pairs as a :class:`zoo_core.nn.csr.CSRPattern`
        (edges in its order)."""
        h_src, a_src = self.sources(x_src) if sources is None else sources
        h_dst = h_src if x_dst is None else self.lin_src(x_dst)
        n_dst = h_dst.shape[0] if n_dst is None else n_dst
        a_dst = h_dst @ self.att_dst.view(-1)
        if src_is_identity:
            src = torch.arange(h_src.shape[0], device=h_src.device)
        score = F.leaky_relu((a_src if src_is_identity else a_src.index_select(0, src)) + a_dst.index_select(0, dst),
                             self.negative_slope)
        alpha = F.dropout(segment_softmax(score, dst, n_dst), p=self.dropout, training=self.training)
        pattern = pattern or CSRPattern.unsorted(dst, src, n_dst, h_src.shape[0])
        return weighted_sum(alpha, h_src, pattern) + self.bias

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.pop(prefix + "lin_dst.weight", None)   # PyG's alias of lin_src.weight
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class AttentiveFP(Encoder):
    """AttentiveFP encoder (METHODS §4): atom embeddings from ``forward``, super-node molecule embedding from
    ``readout``. Defaults are 3DMRL's: hidden 56, 3 atom layers, 2 readout steps, dropout 0."""

    def __init__(self, in_dim: int, edge_dim: int, hidden: int = 56, layers: int = 3, readout_steps: int = 2,
                 dropout: float = 0.0):
        super().__init__()
        if layers < 1 or readout_steps < 0:
            raise ValueError(f"AttentiveFP needs layers >= 1 and readout_steps >= 0 (got {layers}, {readout_steps})")
        self.out_dim = self.graph_dim = hidden
        self.dropout, self.readout_steps = dropout, readout_steps
        self.lin1 = nn.Linear(in_dim, hidden)
        self.atom_convs = nn.ModuleList([GATEConv(hidden, hidden, edge_dim, dropout)]
                                        + [GATConv(hidden, hidden, dropout) for _ in range(layers - 1)])
        self.atom_grus = nn.ModuleList([nn.GRUCell(hidden, hidden) for _ in range(layers)])
        self.mol_conv = GATConv(hidden, hidden, dropout)
        self.mol_gru = nn.GRUCell(hidden, hidden)
        self.lin2 = nn.Linear(hidden, hidden)

    def reset_parameters(self) -> None:
        """PyG's ``AttentiveFP.reset_parameters``: torch defaults for lin1/lin2 and the GRUs, glorot/zeros in convs."""
        self.lin1.reset_parameters()
        for conv, gru in zip(self.atom_convs, self.atom_grus):
            conv.reset_parameters()
            gru.reset_parameters()
        self.mol_conv.reset_parameters()
        self.mol_gru.reset_parameters()
        self.lin2.reset_parameters()

    def forward(self, g) -> torch.Tensor:
        """Atom embeddings [N, hidden] after the L attentive GRU layers (Xiong et al. eqs 1-4 on atoms)."""
        src, dst = g.edges()
        n, e = g.num_nodes(), g.edata["e"]
        atoms, order = CSRPattern.build(dst, src, n, n)   # edges by destination, once for every layer
        if order is not None:
            e = e.index_select(0, order)
        src, dst = atoms.cols, atoms.rows
        edges = CSRPattern.build(dst, torch.arange(len(dst), device=dst.device), n, len(dst), sorted_rows=True)[0]
        x = F.leaky_relu(self.lin1(g.ndata["x"]), NEGATIVE_SLOPE)
        h = F.elu(self.atom_convs[0](x, e, src, dst, pattern=edges))
        x = gru_relu(self.atom_grus[0], F.dropout(h, p=self.dropout, training=self.training), x)
        for conv, gru in zip(self.atom_convs[1:], self.atom_grus[1:]):
            h = F.elu(conv(x, src, dst, pattern=atoms))
            x = gru_relu(gru, F.dropout(h, p=self.dropout, training=self.training), x)
        return x

    def readout(self, g, h: torch.Tensor) -> torch.Tensor:
        """Molecule embedding [B, hidden]: super virtual node over the atoms (eqs 1-4 again, T shared steps) + lin2."""
        ids, _, n = graph_segments(g)
        out = torch.relu(segment_sum(h, ids, n))
        atoms = self.mol_conv.sources(h)   # the same atoms at every step
        pattern = CSRPattern.build(ids, torch.arange(len(ids), device=ids.device), n, len(ids), sorted_rows=True)[0]
        for _ in range(self.readout_steps):
            m = F.elu(self.mol_conv(None, None, ids, x_dst=out, n_dst=n, src_is_identity=True, sources=atoms,
                                    pattern=pattern))
            out = gru_relu(self.mol_gru, F.dropout(m, p=self.dropout, training=self.training), out)
        return self.lin2(F.dropout(out, p=self.dropout, training=self.training))
