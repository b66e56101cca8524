"""Iterating a dataset's rows in (optionally shuffled) batches: shared by PairDataset and MolDataset."""

from __future__ import annotations

from typing import Iterator

import numpy as np


def batch_rows(rows: np.ndarray, batch_size: int, shuffle: bool = False,
               generator: np.random.Generator | None = None) -> Iterator[np.ndarray]:
    """The row indices of each batch over ``rows`` (shuffled with ``generator`` when asked): the one place an
    epoch's order is drawn, so a data-parallel rank shards exactly the batches one process would train on."""
    rows = np.asarray(rows)
    if shuffle:
        rows = rows[(generator or np.random.default_rng()).permutation(len(rows))]
    for start in range(0, len(rows), batch_size):
        yield rows[start:start + batch_size]


class RowBatches:
    """Mixin: ``batches(rows, batch_size)`` over a dataset that defines ``batch(rows)``."""

    def batch(self, rows):  # pragma: no cover - provided by the dataset
        raise NotImplementedError

    def batches(self, rows: np.ndarray, batch_size: int, shuffle: bool = False,
                generator: np.random.Generator | None = None) -> Iterator:
        """Iterate over ``rows`` in batches (shuffled with ``generator`` when asked)."""
        for chunk in batch_rows(rows, batch_size, shuffle, generator):
            yield self.batch(chunk)
