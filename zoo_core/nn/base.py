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
    # True: a molecule's embeddings depend on the molecule alone (nothing in training but dropout or BatchNorm,
    # which :func:`unique_view` checks, couples its copies), so a batch's repeated molecules may be encoded once
    per_molecule: bool = True

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


def _couples_copies_in_training(module: nn.Module) -> bool:
    """Would ``module`` treat two copies of a molecule differently in training: dropout with p > 0 (a Dropout
    module or a float ``dropout``: each copy its own mask) or batch statistics (BatchNorm over the whole batch)?"""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            return True
        p = m.p if isinstance(m, nn.modules.dropout._DropoutNd) else getattr(m, "dropout", None)
        if isinstance(p, (int, float)) and not isinstance(p, bool) and p > 0:
            return True
    return False


def unique_view(enc: nn.Module, g):
    """``g.unique`` when ``enc`` may run once per distinct molecule of ``g`` (an :class:`Encoder` with
    ``per_molecule`` and, in training, neither dropout nor batch statistics), else None."""
    if getattr(g, "unique", None) is None or not getattr(enc, "per_molecule", False):
        return None
    return None if enc.training and _couples_copies_in_training(enc) else g.unique


def encode(enc: nn.Module, g) -> torch.Tensor:
    """``enc(g)``, node embeddings [N, d]: each distinct molecule of the batch encoded once and its rows copied
    where the batch repeats it (:func:`unique_view`). The same values; the gradients of the copies are summed
    before the encoder's backward, which is the sum the repeated encoding would give."""
    unique = unique_view(enc, g)
    return enc(g) if unique is None else enc(unique).index_select(0, g.node_source)


def graph_segments(g) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(node -> graph ids, nodes per graph, number of graphs) of a batched graph."""
    counts = g.batch_num_nodes()
    return segment_ids(counts), counts, int(counts.shape[0])
