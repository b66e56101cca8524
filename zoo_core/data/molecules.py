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
from zoo_core.data.store import MolStore, build_store
from zoo_core.data.table import BadRow, MolTable


@dataclass
class MolBatch:
    """A batch of molecules: one batched DGL graph, targets ``y`` [B, n_tasks], dataset row indices."""

    g: object
    y: torch.Tensor
    index: torch.Tensor

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def to(self, device) -> "MolBatch":
        if str(device) == "cpu":
            return self
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
        store, ids, failures = build_store(table.smiles, featurizer, explicit_h, use_cache, progress)
        keep = np.array([s not in failures for s in table.smiles], dtype=bool)
        bad = list(table.bad) + [BadRow(table.source, int(table.lines[i]), table.roles[0], failures[s])
                                 for i, s in enumerate(table.smiles) if s in failures]
        bad.sort(key=lambda r: r.line)
        kept = table.subset(keep)
        kept.bad = bad
        mol_ids = torch.tensor([ids[s] for s in kept.smiles], dtype=torch.long)
        y = torch.tensor(kept.y, dtype=torch.float32).reshape(len(kept), len(kept.targets))
        return cls(kept, store, mol_ids, y, bad)

    def batch(self, rows: torch.Tensor | np.ndarray) -> MolBatch:
        """Collate the dataset rows ``rows`` into a MolBatch."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        return MolBatch(self.store.gather(self.ids[rows]), self.y[rows], rows)
