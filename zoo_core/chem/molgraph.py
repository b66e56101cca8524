"""MolGraph: the featurized form of one molecule (numpy arrays, no torch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MolGraph:
    """Atoms, directed bonds (both directions) and their features for one molecule.

    ``x``: [n_atoms, atom_dim] float32; ``edge_index``: [2, n_edges] int64 (row 0 source, row 1
    destination; every bond appears once per direction); ``edge_attr``: [n_edges, bond_dim] float32;
    ``atomic_num``: [n_atoms] int64 (for 3D models and drawing); ``smiles``: the canonical SMILES.
    """

    smiles: str
    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray
    atomic_num: np.ndarray

    @property
    def num_atoms(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])
