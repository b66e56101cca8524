"""Pretraining pair sets: the registry section ``pair_sets`` (ARCHITECTURE §4) and the builders behind it.

A pair set names the (molecule A, molecule B) pairs a pair-level pretrainer (3DMRL) sees; labels are never used.
Molecule A keeps its dataset role (solute / chromophore), molecule B is the solvent. Each entry names a builder
(``impl``) and states whether it is ``transductive`` (holds downstream test molecules, without labels):

* ``train_split``: the downstream dataset's training pairs of the current fold (given by the caller, see
  :func:`pairs_of_rows`): inductive, no validation or test pair is seen (METHODS §10 items 1-2). The default.
* ``product``: every unique A molecule x every unique B molecule of the entry's ``datasets`` (canonical SMILES,
  each side sorted; product index i = a_index * n_b + b_index), the 3DMRL label-free product (METHODS §7.1).
* ``pairs``: the datasets' own pairs, deduplicated in file order.

``params``: ``ratio`` (default 1.0) and ``seed`` (default 0): a seeded subsample of
k = max(1, round(ratio * N)) items, ``numpy.random.default_rng(seed).choice(N, k, replace=False)``, kept in set
order. The product is never materialised (the chromophore product has about 7.7 M pairs).

Legacy names (still accepted wherever a pair set is named): ``train_split`` = ``train-split``; ``DATASET`` = that
dataset's pairs; ``DATASET:product`` = its product (transductive). A set built from the downstream dataset itself
is flagged transductive whatever the entry says (its test pairs are in it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo_core.errors import ZooError

TRAIN_SPLIT = "train-split"
BUILDERS = ("train_split", "product", "pairs")


@dataclass
class PairSet:
    """Resolved pretraining pairs with what produced them (``record()`` goes into metrics and weight files)."""

    name: str
    impl: str
    pairs: list[tuple[str, str]]
    transductive: bool
    datasets: list[str] = field(default_factory=list)
    ratio: float = 1.0
    seed: int = 0
    stats: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pairs)

    def record(self) -> dict[str, Any]:
        return {"pair_set": self.name, "builder": self.impl, "transductive": self.transductive,
                "datasets": list(self.datasets), "ratio": self.ratio, "seed": self.seed, "pairs": len(self.pairs),
                **self.stats}


def canonical_name(name: str) -> str:
    """``train_split`` (the old spelling) -> ``train-split``; other names unchanged."""
    return TRAIN_SPLIT if name in ("train_split", TRAIN_SPLIT) else name


def is_train_split(name: str | None) -> bool:
    return name is None or canonical_name(name) == TRAIN_SPLIT


def definition(name: str) -> dict[str, Any]:
    """{impl, datasets, ratio, seed, transductive} of a pair-set name: a registry entry or a legacy name."""
    from zoo_core.registry import get_registry

    name = canonical_name(name)
    table = get_registry().sections["pair_sets"]
    if name in table:
        e = table[name]
        if e["impl"] not in BUILDERS:
            raise ZooError(f"{e.source}: pair set {name!r} names builder {e['impl']!r} "
                           f"(known: {', '.join(BUILDERS)})")
        p = e.params
        return {"impl": e["impl"], "datasets": list(e.get("datasets") or []), "ratio": float(p.get("ratio", 1.0)),
                "seed": int(p.get("seed", 0)), "transductive": bool(e["transductive"])}
    dataset, _, mode = name.partition(":")
    datasets = get_registry().sections["datasets"]
    if dataset in datasets and mode in ("", "product"):
        return {"impl": "product" if mode else "pairs", "datasets": [dataset], "ratio": 1.0, "seed": 0,
                "transductive": bool(mode)}
    if dataset in datasets:
        raise ZooError(f"unknown pair-set mode {mode!r} in {name!r} (use DATASET or DATASET:product)")
    known = sorted(table)
    raise ZooError(f"no pair set named {name!r}; known: {', '.join(known)} (see `zoo list pair-sets`), "
                   f"or DATASET / DATASET:product")


def subsample(n: int, ratio: float, seed: int) -> np.ndarray:
    """Sorted indices of the seeded subsample of ``n`` items (all of them when ``ratio >= 1``)."""
    if not 0.0 < ratio <= 1.0:
        raise ZooError(f"pair-set ratio must be in (0, 1], got {ratio}")
    if ratio >= 1.0 or n == 0:
        return np.arange(n)
    k = max(1, int(round(ratio * n)))
    return np.sort(np.random.default_rng(int(seed)).choice(n, size=k, replace=False))


def pairs_of_rows(table, rows) -> list[tuple[str, str]]:
    """The unique (A, B) pairs of ``rows`` of a PairTable, in row order (the train-split builder)."""
    return list(dict.fromkeys((table.a[int(i)], table.b[int(i)]) for i in rows))


def examples_of_rows(table, rows) -> list:
    """What a pretrainer of ``table``'s kind sees of ``rows``: its unique pairs, or for a MolTable (``b`` None, a
    molecule pretrainer such as MolInteract's) its unique SMILES, in row order."""
    if table.b is None:
        return list(dict.fromkeys(table.a[int(i)] for i in rows))
    return pairs_of_rows(table, rows)


def _unique_canonical(smiles: list[str]) -> tuple[list[str], int]:
    from zoo_core.chem.featurizers import canonical_smiles

    out, bad = set(), 0
    for s in dict.fromkeys(smiles):
        c = canonical_smiles(s)
        if c is None:
            bad += 1
        else:
            out.add(c)
    return sorted(out), bad


def resolve(name: str | None, *, ratio: float | None = None, seed: int | None = None,
            train_pairs: list[tuple[str, str]] | None = None, downstream: str | None = None) -> PairSet:
    """The pairs of pair set ``name`` (``None`` = train-split). ``ratio``/``seed`` override the entry's params.

    ``train_pairs``: the fold's training pairs, required for train-split (see :func:`pairs_of_rows`).
    ``downstream``: the dataset being fine-tuned, so that a set built from it is flagged transductive.
    """
    from zoo_core.data.datasets import load_table

    name = canonical_name(name or TRAIN_SPLIT)
    d = definition(name)
    ratio = d["ratio"] if ratio is None else float(ratio)
    seed = d["seed"] if seed is None else int(seed)
    transductive = d["transductive"] or (downstream is not None and downstream in d["datasets"])
    if d["impl"] == "train_split":
        if train_pairs is None:
            raise ZooError("pair set 'train-split' needs the downstream dataset and fold "
                           "(zoo run does this per fold; zoo pretrain: --dataset NAME [--fold K --split-seed S])")
        pairs = list(train_pairs)
        keep = subsample(len(pairs), ratio, seed)
        return PairSet(name, "train_split", [pairs[i] for i in keep], transductive, [downstream] if downstream else [],
                       ratio, seed)
    tables = [load_table(ds) for ds in d["datasets"]]
    if d["impl"] == "pairs":
        pairs = list(dict.fromkeys(p for t in tables for p in zip(t.a, t.b)))
        keep = subsample(len(pairs), ratio, seed)
        return PairSet(name, "pairs", [pairs[i] for i in keep], transductive, d["datasets"], ratio, seed,
                       {"candidates": len(pairs)})
    mol_a, bad_a = _unique_canonical([s for t in tables for s in t.a])
    mol_b, bad_b = _unique_canonical([s for t in tables for s in t.b])
    n_b = len(mol_b)
    keep = subsample(len(mol_a) * n_b, ratio, seed)
    pairs = [(mol_a[i // n_b], mol_b[i % n_b]) for i in keep.tolist()]
    return PairSet(name, "product", pairs, transductive, d["datasets"], ratio, seed,
                   {"candidates": len(mol_a) * n_b, "molecules_a": len(mol_a), "molecules_b": n_b,
                    "unparsable": bad_a + bad_b})


def first_dataset(name: str) -> str | None:
    """The first dataset a pair set is built from (for its featurization and default learning rate)."""
    d = definition(name)
    return d["datasets"][0] if d["datasets"] else None


def list_pair_sets() -> list[dict[str, Any]]:
    """Every registry pair set with its builder, datasets, params and transductive flag (no data is read)."""
    from zoo_core.registry import get_registry

    return [{"name": e.name, "impl": e["impl"], "datasets": list(e.get("datasets") or []), "params": e.params,
             "transductive": bool(e["transductive"]), "description": e.get("description", "")}
            for e in get_registry().list("pair_sets")]
