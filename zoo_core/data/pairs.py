"""PairDataset: a PairTable bound to featurized molecules, and PairBatch, what models consume."""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import torch

from zoo_core.data.batching import RowBatches
from zoo_core.data.store import MolStore, build_store
from zoo_core.data.table import BadRow, PairTable


@dataclass
class PairBatch:
    """A batch of pairs: one batched DGL graph per side, targets ``y`` [B, n_tasks], dataset row indices."""

    g_a: object
    g_b: object
    y: torch.Tensor
    index: torch.Tensor

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def to(self, device) -> "PairBatch":
        if str(device) == "cpu":
            return self
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
        store, ids, failures = build_store(table.a + table.b, featurizer, explicit_h, use_cache, progress)
        keep = np.ones(len(table), dtype=bool)
        bad = list(table.bad)
        for i, (a, b) in enumerate(zip(table.a, table.b)):
            for role, s in ((table.roles[0], a), (table.roles[1], b)):
                if s in failures:
                    bad.append(BadRow(table.source, int(table.lines[i]), role, failures[s]))
                    keep[i] = False
                    break
        bad.sort(key=lambda r: r.line)
        kept = table.subset(keep)
        kept.bad = bad
        ids_a = torch.tensor([ids[s] for s in kept.a], dtype=torch.long)
        ids_b = torch.tensor([ids[s] for s in kept.b], dtype=torch.long)
        y = torch.tensor(kept.y, dtype=torch.float32).reshape(len(kept), len(kept.targets))
        return cls(kept, store, ids_a, ids_b, y, bad)

    def batch(self, rows: torch.Tensor | np.ndarray) -> PairBatch:
        """Collate the dataset rows ``rows`` into a PairBatch."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        return PairBatch(self.store.gather(self.ids_a[rows]), self.store.gather(self.ids_b[rows]),
                         self.y[rows], rows)
