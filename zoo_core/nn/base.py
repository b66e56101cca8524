"""The Encoder and PairModel interfaces (ARCHITECTURE §2) and the PairOutput they return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from zoo_core.nn.segment import segment_ids


@dataclass
class PairOutput:
    """What a PairModel returns: predictions plus what pretrainers and explainers need."""

    pred: torch.Tensor                              # [B, n_tasks]
    h_a: torch.Tensor | None = None                 # post-interaction node embeddings of molecule A
    h_b: torch.Tensor | None = None                 # ... of molecule B
    pair_emb: torch.Tensor | None = None            # [B, k] readout before the head
    aux_losses: dict[str, torch.Tensor] = field(default_factory=dict)
    explain: dict[str, Any] = field(default_factory=dict)


class Encoder(nn.Module):
    """One molecule -> node embeddings ``[N, out_dim]``. Reads ``g.ndata['x']`` and ``g.edata['e']`` of a batched
    :class:`zoo_core.data.graph.TensorGraph` (its module doc lists everything a graph offers; no DGL call).

    Subclasses set ``out_dim``; ``requires_3d`` (then ``g.ndata['pos']`` is set). An encoder with its own graph
    readout sets ``graph_dim`` and implements ``readout(g, h) -> [B, graph_dim]``.
    """

    out_dim: int
    requires_3d: bool = False
    graph_dim: int | None = None

    def readout(self, g, h: torch.Tensor) -> torch.Tensor:  # pragma: no cover - optional
        raise NotImplementedError


class PairModel(nn.Module):
    """Two molecules -> PairOutput. Built as ``cls(encoder_factory, n_tasks=1, **params)``.

    A model that needs more than ``task_loss(pred, y) + Σ aux_losses`` (e.g. CGIB's two passes) implements
    ``training_loss(batch, task_loss) -> (loss, PairOutput)``.
    """

    def forward(self, batch) -> PairOutput:  # pragma: no cover - interface
        raise NotImplementedError


EncoderFactory = Callable[[], Encoder]


def graph_segments(g) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(node -> graph ids, nodes per graph, number of graphs) of a batched graph."""
    counts = g.batch_num_nodes()
    return segment_ids(counts), counts, int(counts.shape[0])
