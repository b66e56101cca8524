"""MolStore: every unique molecule featurized once, concatenated, cached on disk, gathered per batch.

Disk cache: ``ZOO_HOME/features/<featurizer>-v<version>-<H|noH>/chunk-*.safetensors``. Each chunk holds the
concatenated tensors of some molecules and, in its metadata, their canonical SMILES, the input strings that
map to them and the inputs that failed (with the reason). A warm run reads chunks and featurizes nothing.
Chunks are written to a temp file and renamed, so concurrent runs never see a half-written chunk.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from zoo_core.console import track
from zoo_core.data.graph import TensorGraph
from zoo_core.paths import zoo_home

_TENSORS = ("x", "edge_index", "edge_attr", "atomic_num", "node_ptr", "edge_ptr")
REPEATS_WORTH_SHARING = 0.1  # share of a batch side's atoms in repeated molecules from which they are encoded once


@dataclass
class MolStore:
    """Concatenated graphs of ``len(smiles)`` molecules (edge_index holds per-molecule local indices)."""

    smiles: list[str]
    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    atomic_num: torch.Tensor
    node_ptr: torch.Tensor
    edge_ptr: torch.Tensor
    stats: dict = field(default_factory=dict)
    edge_type: torch.Tensor | None = None  # id of each edge's distinct feature row (computed once)
    pos: torch.Tensor | None = None  # [N, 3] atom positions (zoo_core.chem.positions.store_positions), if any

    def __len__(self) -> int:
        return len(self.smiles)

    def gather(self, ids: torch.Tensor) -> TensorGraph:
        """Batch the molecules ``ids`` into one :class:`TensorGraph` (ndata x, atomic_num and, when set, pos; edata
        e and etype): plain tensors, no DGL call, ready for ``.to(device)``."""
        n = self.node_ptr[ids + 1] - self.node_ptr[ids]
        e = self.edge_ptr[ids + 1] - self.edge_ptr[ids]
        node_idx = _ranges(self.node_ptr[ids], n)
        edge_idx = _ranges(self.edge_ptr[ids], e)
        offsets = torch.repeat_interleave(torch.cumsum(n, 0) - n, e)
        ei = self.edge_index[:, edge_idx] + offsets
        ndata = {"x": self.x[node_idx], "atomic_num": self.atomic_num[node_idx]}
        if self.pos is not None:  # for an encoder with ``requires_3d``
            ndata["pos"] = self.pos[node_idx]
        edata = {"e": self.edge_attr[edge_idx], "etype": self.edge_types()[edge_idx]}
        return TensorGraph(ei[0], ei[1], n, e, ndata, edata, num_nodes=int(node_idx.shape[0]))

    def gather_with_unique(self, ids: torch.Tensor) -> TensorGraph:
        """``gather(ids)`` that also carries the batch's distinct molecules (``g.unique``, ``g.node_source``,
        ``g.graph_source``; zoo_core.data.graph) when repeats make up at least ``REPEATS_WORTH_SHARING`` of its
        atoms, so that a pair model encodes each of them once (zoo_core.nn.base.encode)."""
        g = self.gather(ids)
        distinct, graph_source = torch.unique(ids, return_inverse=True)
        n_distinct = self.node_ptr[distinct + 1] - self.node_ptr[distinct]
        if int(n_distinct.sum()) > (1.0 - REPEATS_WORTH_SHARING) * g.num_nodes():
            return g
        first_node = torch.cumsum(n_distinct, 0) - n_distinct
        node_source = _ranges(first_node[graph_source], g.batch_num_nodes())
        return g.with_unique(self.gather(distinct), node_source, graph_source)

    def gather_dgl(self, ids: torch.Tensor):
        """The same batch as a DGL graph, for a plugin that wants DGL's API: CPU only (PyPI's DGL has no CUDA
        build), so DGL's message passing then runs on the CPU."""
        return self.gather(ids).to_dgl()

    def edge_types(self) -> torch.Tensor:
        """Ids of distinct edge-feature rows over the whole store, so models group edges without a row-wise
        unique per batch (zoo_core.nn.edge_conv)."""
        if self.edge_type is None:
            if self.edge_attr.shape[0] == 0:
                self.edge_type = torch.zeros(0, dtype=torch.long)
            else:
                _, inverse = np.unique(self.edge_attr.numpy(), axis=0, return_inverse=True)
                self.edge_type = torch.from_numpy(inverse.reshape(-1).astype(np.int64))
        return self.edge_type


def _ranges(starts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Concatenation of arange(s, s+l) for every (s, l)."""
    total = int(lengths.sum())
    if total == 0:
        return torch.zeros(0, dtype=torch.long)
    base = torch.repeat_interleave(starts - (torch.cumsum(lengths, 0) - lengths), lengths)
    return base + torch.arange(total)


def _concat(graphs: list) -> dict[str, torch.Tensor]:
    n = np.array([g.num_atoms for g in graphs], dtype=np.int64)
    e = np.array([g.num_edges for g in graphs], dtype=np.int64)
    atom_dim = graphs[0].x.shape[1] if graphs else 0
    bond_dim = graphs[0].edge_attr.shape[1] if graphs else 0
    return {
        "x": torch.from_numpy(np.concatenate([g.x for g in graphs]) if graphs else np.zeros((0, atom_dim), np.float32)),
        "edge_index": torch.from_numpy(np.concatenate([g.edge_index for g in graphs], axis=1) if graphs
                                       else np.zeros((2, 0), np.int64)),
        "edge_attr": torch.from_numpy(np.concatenate([g.edge_attr for g in graphs]) if graphs
                                      else np.zeros((0, bond_dim), np.float32)),
        "atomic_num": torch.from_numpy(np.concatenate([g.atomic_num for g in graphs]) if graphs
                                       else np.zeros(0, np.int64)),
        "node_ptr": torch.from_numpy(np.concatenate([[0], np.cumsum(n)])),
        "edge_ptr": torch.from_numpy(np.concatenate([[0], np.cumsum(e)])),
    }


def cache_dir(spec: dict) -> Path:
    """The chunk folder of one featurizer spec."""
    mode = "H" if spec["explicit_h"] else "noH"
    return zoo_home() / "features" / f"{spec['name']}-v{spec['version']}-{mode}"


def _read_chunks(folder: Path, wanted: set[str]):
    """Yield (tensors, canonical smiles, aliases, failures) of chunks that hold any wanted input."""
    from safetensors import safe_open

    if not folder.is_dir():
        return
    for path in sorted(folder.glob("chunk-*.safetensors")):
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            canon = json.loads(meta.get("smiles", "[]"))
            aliases = json.loads(meta.get("aliases", "{}"))
            failed = json.loads(meta.get("failed", "{}"))
            if not (wanted & (set(aliases) | set(failed))):
                continue
            tensors = {k: f.get_tensor(k) for k in _TENSORS} if canon else None
        yield tensors, canon, aliases, failed


def _write_chunk(folder: Path, tensors: dict, canon: list[str], aliases: dict, failed: dict) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    meta = {"smiles": json.dumps(canon), "aliases": json.dumps(aliases), "failed": json.dumps(failed)}
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-chunk-")
    os.close(fd)
    try:
        save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata=meta)
        name = f"chunk-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}.safetensors"
        os.replace(tmp, folder / name)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def build_store(inputs: list[str], featurizer_name: str, explicit_h: bool, use_cache: bool = True,
                progress: bool = True) -> tuple[MolStore, dict[str, int], dict[str, str]]:
    """Featurize each unique input string once (reading/writing the disk cache).

    Returns the store, ``{input string: molecule id}`` and ``{input string: failure reason}``.
    """
    from zoo_core.chem.resolve import get_featurizer

    featurizer = get_featurizer(featurizer_name)
    spec = featurizer.spec(explicit_h)
    unique_inputs = list(dict.fromkeys(inputs))
    wanted = set(unique_inputs)
    folder = cache_dir(spec)
    graphs_by_canon: dict[str, dict] = {}  # canonical -> {"chunk": tensors, "index": i}
    alias_to_canon: dict[str, str] = {}
    failures: dict[str, str] = {}
    t0 = time.perf_counter()
    if use_cache:
        for tensors, canon, aliases, failed in _read_chunks(folder, wanted):
            for inp, c in aliases.items():
                alias_to_canon.setdefault(inp, c)
            for i, c in enumerate(canon):
                graphs_by_canon.setdefault(c, {"chunk": tensors, "index": i})
            for inp, reason in failed.items():
                failures.setdefault(inp, reason)
    missing = [s for s in unique_inputs if s not in alias_to_canon and s not in failures]
    t_read = time.perf_counter() - t0
    new_graphs: list = []
    new_aliases: dict[str, str] = {}
    new_failed: dict[str, str] = {}
    t1 = time.perf_counter()
    if missing:
        from zoo_core.chem.featurizers import FeaturizationError

        iterator = track(missing, len(missing), f"featurizing {len(missing)} molecules ({featurizer_name})",
                         progress, min_items=200)
        seen_canon: dict[str, int] = {}
        for s in iterator:
            try:
                mg = featurizer.featurize(s, explicit_h=explicit_h)
            except FeaturizationError as error:
                new_failed[s] = str(error)
                continue
            new_aliases[s] = mg.smiles
            if mg.smiles not in graphs_by_canon and mg.smiles not in seen_canon:
                seen_canon[mg.smiles] = len(new_graphs)
                new_graphs.append(mg)
        if new_graphs or new_failed:
            tensors = _concat(new_graphs)
            canon = [g.smiles for g in new_graphs]
            for i, c in enumerate(canon):
                graphs_by_canon[c] = {"chunk": tensors, "index": i}
            if use_cache:
                _write_chunk(folder, tensors, canon, new_aliases, new_failed)
        alias_to_canon.update(new_aliases)
        failures.update(new_failed)
    t_feat = time.perf_counter() - t1
    # Assemble the store from the molecules this dataset needs.
    order: list[str] = []
    index_of: dict[str, int] = {}
    for s in unique_inputs:
        c = alias_to_canon.get(s)
        if c is not None and c not in index_of:
            index_of[c] = len(order)
            order.append(c)
    store = _assemble(order, graphs_by_canon, spec)
    store.stats = {"featurized": len(missing) - len(new_failed), "failed_new": len(new_failed),
                   "from_cache": len(unique_inputs) - len(missing), "unique_inputs": len(unique_inputs),
                   "seconds_featurizing": t_feat, "seconds_reading_cache": t_read, "spec": spec}
    ids = {s: index_of[alias_to_canon[s]] for s in unique_inputs if s in alias_to_canon}
    return store, ids, failures


def _assemble(order: list[str], graphs_by_canon: dict, spec: dict) -> MolStore:
    parts = {k: [] for k in ("x", "edge_index", "edge_attr", "atomic_num")}
    n_list, e_list = [], []
    for c in order:
        ref = graphs_by_canon[c]
        t, i = ref["chunk"], ref["index"]
        n0, n1 = int(t["node_ptr"][i]), int(t["node_ptr"][i + 1])
        e0, e1 = int(t["edge_ptr"][i]), int(t["edge_ptr"][i + 1])
        parts["x"].append(t["x"][n0:n1])
        parts["atomic_num"].append(t["atomic_num"][n0:n1])
        parts["edge_index"].append(t["edge_index"][:, e0:e1])
        parts["edge_attr"].append(t["edge_attr"][e0:e1])
        n_list.append(n1 - n0)
        e_list.append(e1 - e0)
    n = torch.tensor([0] + n_list, dtype=torch.long)
    e = torch.tensor([0] + e_list, dtype=torch.long)
    return MolStore(
        smiles=order,
        x=torch.cat(parts["x"]) if order else torch.zeros(0, spec["atom_dim"]),
        edge_index=torch.cat(parts["edge_index"], 1) if order else torch.zeros(2, 0, dtype=torch.long),
        edge_attr=torch.cat(parts["edge_attr"]) if order else torch.zeros(0, spec["bond_dim"]),
        atomic_num=torch.cat(parts["atomic_num"]) if order else torch.zeros(0, dtype=torch.long),
        node_ptr=torch.cumsum(n, 0), edge_ptr=torch.cumsum(e, 0))


def featurize_table(table, featurizer: str, explicit_h: bool, use_cache: bool = True, progress: bool = True):
    """Featurize every molecule of a PairTable or MolTable once: returns (the table of the rows whose molecules all
    featurized, its bad rows now including the failed ones by line and role, the store, ``{SMILES: molecule id}``)."""
    from zoo_core.data.table import BadRow

    columns = table.molecules
    store, ids, failures = build_store([s for column in columns for s in column], featurizer, explicit_h, use_cache,
                                       progress)
    keep = np.ones(len(table), dtype=bool)
    bad = list(table.bad)
    for i in range(len(table)):
        for role, column in zip(table.roles, columns):
            if column[i] in failures:
                bad.append(BadRow(table.source, int(table.lines[i]), role, failures[column[i]]))
                keep[i] = False
                break
    bad.sort(key=lambda r: r.line)
    kept = table.subset(keep)
    kept.bad = bad
    return kept, store, ids


def targets_tensor(table) -> torch.Tensor:
    """A table's labels as float32 ``[n, n_tasks]`` (NaN where a multi-task cell has no label)."""
    return torch.tensor(table.y, dtype=torch.float32).reshape(len(table), len(table.targets))
