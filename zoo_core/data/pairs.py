"""PairDataset: a PairTable bound to featurized molecules, and PairBatch, what models consume."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from zoo_core.data.batching import RowBatches
from zoo_core.data.store import MolStore, featurize_table, targets_tensor
from zoo_core.data.table import BadRow, PairTable


@dataclass
class PairBatch:
    """A batch of pairs: one batched graph per side (:class:`zoo_core.data.graph.TensorGraph`), targets ``y``
    [B, n_tasks], dataset row indices. Plain tensors: ``to(device)`` moves it to any device torch runs on."""

    g_a: object
    g_b: object
    y: torch.Tensor
    index: torch.Tensor

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def to(self, device) -> "PairBatch":
        return PairBatch(self.g_a.to(device), self.g_b.to(device), self.y.to(device), self.index.to(device))


@dataclass
class PairDataset(RowBatches):
    """Featurized pairs. Rows whose SMILES failed to featurize are moved to ``bad`` with their line numbers."""

    table: PairTable
    store: MolStore
    ids_a: torch.Tensor
    ids_b: torch.Tensor
    y: torch.Tensor
    bad: list[BadRow]

    def __len__(self) -> int:
        return int(self.ids_a.shape[0])

    @property
    def tasks(self) -> list[str]:
        return list(self.table.targets)

    @classmethod
    def from_table(cls, table: PairTable, featurizer: str, explicit_h: bool, use_cache: bool = True,
                   progress: bool = True) -> "PairDataset":
        kept, store, ids = featurize_table(table, featurizer, explicit_h, use_cache, progress)
        ids_a = torch.tensor([ids[s] for s in kept.a], dtype=torch.long)
        ids_b = torch.tensor([ids[s] for s in kept.b], dtype=torch.long)
        return cls(kept, store, ids_a, ids_b, targets_tensor(kept), kept.bad)

    def with_table(self, table: PairTable) -> "PairDataset":
        """Other rows over the same featurized molecules (e.g. DDI negatives drawn among this dataset's drugs);
        every molecule of ``table`` must occur in this dataset."""
        ids = dict(zip(self.table.a, self.ids_a.tolist())) | dict(zip(self.table.b, self.ids_b.tolist()))
        ids_a = torch.tensor([ids[s] for s in table.a], dtype=torch.long)
        ids_b = torch.tensor([ids[s] for s in table.b], dtype=torch.long)
        return PairDataset(table, self.store, ids_a, ids_b, targets_tensor(table), table.bad)

    def batch(self, rows: torch.Tensor | np.ndarray) -> PairBatch:
        """Collate the dataset rows ``rows`` into a PairBatch."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        return PairBatch(self.store.gather_with_unique(self.ids_a[rows]),
                         self.store.gather_with_unique(self.ids_b[rows]), self.y[rows], rows)
