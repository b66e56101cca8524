"""MolDataset: a MolTable bound to featurized molecules, and MolBatch, what molecule models consume.

The single-molecule counterpart of :mod:`zoo_core.data.pairs`: the same store (each unique molecule featurized
once, cached on disk), the same ``batches`` interface, so the trainer, the metrics and the run directory treat
both alike. Targets are ``[n, T]`` with NaN where a multi-task set has no label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from zoo_core.data.batching import RowBatches
from zoo_core.data.store import MolStore, featurize_table, targets_tensor
from zoo_core.data.table import BadRow, MolTable


@dataclass
class MolBatch:
    """A batch of molecules: one batched graph (:class:`zoo_core.data.graph.TensorGraph`), targets ``y``
    [B, n_tasks], dataset row indices. Plain tensors: ``to(device)`` moves it to any device torch runs on."""

    g: object
    y: torch.Tensor
    index: torch.Tensor

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def to(self, device) -> "MolBatch":
        return MolBatch(self.g.to(device), self.y.to(device), self.index.to(device))


@dataclass
class MolDataset(RowBatches):
    """Featurized molecules. Rows whose SMILES failed to featurize are moved to ``bad`` with their line numbers."""

    table: MolTable
    store: MolStore
    ids: torch.Tensor
    y: torch.Tensor
    bad: list[BadRow]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def tasks(self) -> list[str]:
        return list(self.table.targets)

    @classmethod
    def from_table(cls, table: MolTable, featurizer: str, explicit_h: bool, use_cache: bool = True,
                   progress: bool = True) -> "MolDataset":
        kept, store, ids = featurize_table(table, featurizer, explicit_h, use_cache, progress)
        return cls(kept, store, torch.tensor([ids[s] for s in kept.smiles], dtype=torch.long), targets_tensor(kept),
                   kept.bad)

    def batch(self, rows: torch.Tensor | np.ndarray) -> MolBatch:
        """Collate the dataset rows ``rows`` into a MolBatch."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        return MolBatch(self.store.gather(self.ids[rows]), self.y[rows], rows)
