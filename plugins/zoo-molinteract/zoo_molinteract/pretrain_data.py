"""MolInteract's pretraining data view: the molecules featurized for the model spec, one geometry each (the
dataset's own, e.g. QM9's DFT positions, else the core's seeded ETKDG conformers), and per batch the examples of
every task (zoo_molinteract.pretrain_tasks) with atom indices into the batched graph. The examples of row r in
epoch e are drawn from ``numpy.random.default_rng([seed, e, r])`` only, so a resumed run repeats them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from zoo_molinteract.pretrain_tasks import TASKS, Molecule


@dataclass
class PretrainBatch:
    """The batched molecules (a MolBatch whose graph carries ``pos``) and, per task, atom tuples ``index``
    [M, arity] into the batch's nodes and labels ``target`` [M] (float for mse/bce, int64 for ce)."""

    mol: object
    index: dict[str, torch.Tensor]
    target: dict[str, torch.Tensor]

    def to(self, device) -> "PretrainBatch":
        return PretrainBatch(self.mol.to(device), {k: v.to(device) for k, v in self.index.items()},
                             {k: v.to(device) for k, v in self.target.items()})


class PretrainData:
    """``len`` molecules; ``batch(rows, epoch)`` -> :class:`PretrainBatch` for ``tasks`` with settings ``cfg``."""

    def __init__(self, spec: dict, smiles: list[str], seed: int, tasks: tuple[str, ...], cfg: dict,
                 positions: dict | None = None, workers: int | None = None, use_cache: bool = True,
                 progress: bool = True):
        from zoo_core.chem.positions import heavy_atom_positions, store_positions
        from zoo_core.data.molecules import MolDataset
        from zoo_core.data.table import MolTable

        feat = spec["featurizer"]
        table = MolTable("pretraining", ("molecule",), list(smiles), np.zeros((len(smiles), 1)),
                         np.arange(1, len(smiles) + 1))
        self.data = MolDataset.from_table(table, feat["name"], feat["explicit_h"], use_cache, progress)
        store = self.data.store
        if positions is not None and not feat["explicit_h"]:
            positions = heavy_atom_positions(positions, store)
        pos, self.geometry_stats = store_positions(store, feat["explicit_h"], positions=positions, seed=seed,
                                                   workers=workers, use_cache=use_cache, progress=progress)
        store.pos = pos.float()
        self.pos = pos.numpy()   # float64: the labels come from these
        self.geometry = "dataset" if positions is not None else "etkdg"
        self.seed, self.tasks, self.cfg = int(seed), tuple(tasks), dict(cfg)

    def __len__(self) -> int:
        return len(self.data)

    def molecule(self, m: int) -> Molecule:
        """Store molecule ``m``: its unique bonds (each directed pair once, i < j), their types, its positions."""
        store = self.data.store
        n0, n1 = int(store.node_ptr[m]), int(store.node_ptr[m + 1])
        e0, e1 = int(store.edge_ptr[m]), int(store.edge_ptr[m + 1])
        edges = store.edge_index[:, e0:e1].numpy().T
        once = edges[:, 0] < edges[:, 1]
        types = store.edge_attr[e0:e1, 0].numpy().astype(np.int64)
        return Molecule(n1 - n0, edges[once].astype(np.int64), types[once], self.pos[n0:n1])

    def batch(self, rows, epoch: int) -> PretrainBatch:
        rows = np.asarray(rows, dtype=np.int64)
        index = {t: [] for t in self.tasks}
        target = {t: [] for t in self.tasks}
        offset = 0
        for row in rows.tolist():
            mol = self.molecule(int(self.data.ids[row]))
            rng = np.random.default_rng([self.seed, int(epoch), row])
            for name in self.tasks:
                atoms, labels = TASKS[name].examples(mol, rng, self.cfg)
                index[name].append(atoms + offset)
                target[name].append(labels)
            offset += mol.n
        return PretrainBatch(self.data.batch(rows), *_collate(index, target))


def _collate(index: dict, target: dict) -> tuple[dict, dict]:
    out_index, out_target = {}, {}
    for name, parts in index.items():
        task = TASKS[name]
        atoms = np.concatenate(parts) if parts else np.zeros((0, task.arity))
        out_index[name] = torch.from_numpy(atoms.reshape(-1, task.arity).astype(np.int64))
        labels = np.concatenate(target[name]) if target[name] else np.zeros(0)
        out_target[name] = torch.from_numpy(labels.astype(np.int64 if task.loss == "ce" else np.float32))
    return out_index, out_target
