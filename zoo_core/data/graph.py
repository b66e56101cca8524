"""TensorGraph: a batch of molecule graphs as plain tensors, the graph every encoder and pair model reads.

PyPI's DGL (2.1.0) has no CUDA build, so a DGL graph cannot move to a GPU. A batch is therefore built as plain
tensors (:meth:`zoo_core.data.store.MolStore.gather`, no DGL call) and ``TensorGraph.to(device)`` moves them
anywhere torch runs. This is the whole contract an encoder may rely on (docs/PLUGINS.md, "Encoder"):

* ``g.ndata``: ``'x'`` [N, atom_dim] float, ``'atomic_num'`` [N] long and, for an encoder with ``requires_3d``,
  ``'pos'`` [N, 3]; ``g.edata``: ``'e'`` [E, bond_dim] float, ``'etype'`` [E] long (id of the edge's distinct
  feature row over the whole store). Plain dicts: a model may read, test with ``in`` or assign entries.
* ``g.edges()`` -> ``(src, dst)`` [E] long, node ids of the batch (molecule k's nodes follow molecule k-1's; the
  two directions of a bond are two edges);
* ``g.batch_num_nodes()`` / ``g.batch_num_edges()`` -> [B] long, per molecule; ``g.num_nodes()`` /
  ``g.num_edges()`` -> int (no device synchronisation);
* ``g.to(device)`` (a new graph; a no-op copy on the same device), ``g.device``;
* ``g.unique`` (or None): the batch's distinct molecules as one graph, with ``g.node_source`` [N] (the row of
  ``g.unique``'s nodes each node copies) and ``g.graph_source`` [B] (the molecule of ``g.unique`` each graph is):
  a pair model encodes a side's repeated molecules once (:func:`zoo_core.nn.base.encode`).

These are the names and meanings of DGL's batched-graph methods, so code written against a DGL graph reads a
TensorGraph unchanged; DGL's message passing (``update_all``, ``apply_edges``, ``local_scope``...) is not part
of it. A plugin that wants DGL's API converts with :meth:`TensorGraph.to_dgl` (on the CPU: PyPI's DGL has no
CUDA build).
"""

from __future__ import annotations

import torch


class TensorGraph:
    """A batched graph of ``len(node_counts)`` molecules held as tensors (see the module doc)."""

    def __init__(self, src: torch.Tensor, dst: torch.Tensor, node_counts: torch.Tensor, edge_counts: torch.Tensor,
                 ndata: dict[str, torch.Tensor] | None = None, edata: dict[str, torch.Tensor] | None = None,
                 num_nodes: int | None = None):
        self.src, self.dst = src, dst
        self.node_counts, self.edge_counts = node_counts, edge_counts
        self.ndata: dict[str, torch.Tensor] = dict(ndata or {})
        self.edata: dict[str, torch.Tensor] = dict(edata or {})
        self._num_nodes = int(node_counts.sum()) if num_nodes is None else int(num_nodes)
        self.unique: TensorGraph | None = None
        self.node_source: torch.Tensor | None = None
        self.graph_source: torch.Tensor | None = None

    def with_unique(self, unique: "TensorGraph", node_source: torch.Tensor,
                    graph_source: torch.Tensor) -> "TensorGraph":
        """This graph, knowing that its molecules are copies of ``unique``'s (see the module doc)."""
        self.unique, self.node_source, self.graph_source = unique, node_source, graph_source
        return self

    def edges(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(source, destination) node ids of every edge, in edge order."""
        return self.src, self.dst

    def batch_num_nodes(self) -> torch.Tensor:
        return self.node_counts

    def batch_num_edges(self) -> torch.Tensor:
        return self.edge_counts

    def num_nodes(self) -> int:
        return self._num_nodes

    def num_edges(self) -> int:
        return int(self.src.shape[0])

    @property
    def device(self) -> torch.device:
        return self.src.device

    def to(self, device) -> "TensorGraph":
        """The same graph with every tensor on ``device``."""
        g = TensorGraph(self.src.to(device), self.dst.to(device), self.node_counts.to(device),
                        self.edge_counts.to(device), {k: v.to(device) for k, v in self.ndata.items()},
                        {k: v.to(device) for k, v in self.edata.items()}, self._num_nodes)
        if self.unique is None:
            return g
        return g.with_unique(self.unique.to(device), self.node_source.to(device), self.graph_source.to(device))

    def to_dgl(self):
        """This batch as a batched DGL graph (same node and edge data, same per-molecule counts), for a plugin
        that wants DGL's API. CPU only: PyPI's DGL has no CUDA build, so a graph on a GPU comes back to the CPU."""
        from zoo_core.dglcompat import dgl

        cpu = self.to("cpu")
        g = dgl.graph((cpu.src, cpu.dst), num_nodes=cpu.num_nodes())
        g.ndata.update(cpu.ndata)
        g.edata.update(cpu.edata)
        g.set_batch_num_nodes(cpu.node_counts)
        g.set_batch_num_edges(cpu.edge_counts)
        return g

    def __repr__(self) -> str:
        return (f"TensorGraph(graphs={len(self.node_counts)}, nodes={self._num_nodes}, edges={self.num_edges()}, "
                f"ndata={sorted(self.ndata)}, edata={sorted(self.edata)}, device={self.device})")
