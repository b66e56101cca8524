"""Drug-drug interaction (DDI) rows for one repeat: seeded negatives and leak-aware splits (METHODS §2.3, §10).

A DDI dataset is a set of unordered **positive** drug pairs (a PairTable with y = 1; a drug is its canonical
SMILES). Per repeat, the seed draws the negatives and the folds together, because where a negative may be drawn
depends on the split:

* ``transductive`` (CGIB, CMRL, I2Mole): negatives over all drugs, then positives and negatives each split 6:2:2
  (stratified, so every part is 1:1). Both drugs of nearly every test pair occur in training pairs: the known
  leak, named in the run's records.
* ``inductive`` (CMRL, I2Mole): the drugs are split into train / validation / test drug sets
  (``INDUCTIVE_DRUGS``). A positive goes to train when both drugs are training drugs, to validation when it has
  a validation drug and no test drug, to test when it has a test drug and no validation drug; pairs of a
  validation and a test drug are unused (counted). Negatives are drawn **inside each part's own drug sets with
  the same type structure** as its positives (train x train, train x held-out, held-out x held-out, as many of
  each), so "was this drug seen in training" cannot give the label away.
* ``molecule`` / ``scaffold`` (3DMRL): negatives over all drugs; 40 % of the drugs (or of their Bemis-Murcko
  scaffolds) are held out; rows with a held-out drug form a pool split 50/50 into validation and test, so
  validation and test share the held-out drugs (METHODS §10 item 3). Kept as options to compare with 3DMRL.

Negatives: ``ratio`` per positive, seeded, unordered pairs of two **different** drugs (a self-pair (d, d) is a
question about one drug, and 3DMRL's admission of them makes a few trivially easy negatives), never a pair that
is positive in either order, never drawn twice. Every row, positive or negative, holds its two drugs in sorted
order (the smaller SMILES string first), so the column order carries no label.

A test row's **type** is the number of its drugs that occur in no training row: 1 = Type 1 (one unseen drug),
2 = Type 2 (both unseen).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from zoo_core.data.table import PairTable
from zoo_core.errors import DataError

DDI_SPLITS = ("transductive", "inductive", "molecule", "scaffold")
TRANSDUCTIVE = (0.6, 0.2, 0.2)     # CGIB/CMRL/I2Mole: 6:2:2 over pairs
INDUCTIVE_DRUGS = (0.8, 0.1, 0.1)  # train / validation / test drug sets (held-out drugs 1:1, as 4:1 known:unknown)
HELD_OUT_3DMRL = 0.4               # 3DMRL molecule/scaffold: share of drugs (scaffolds) held out
LEAKS = {
    "transductive": "transductive: both drugs of (nearly) every test pair occur in training pairs, so a model can "
                    "score drugs it has memorised; compare with the no-chemistry baseline",
    "inductive": None,
    "molecule": "3DMRL molecule split: validation and test share the held-out drugs (model selection sees the test "
                "drugs, METHODS §10 item 3); negatives drawn over all drugs before splitting",
    "scaffold": "3DMRL scaffold split: validation and test share the held-out scaffolds (METHODS §10 item 3); "
                "negatives drawn over all drugs before splitting",
}
Fold = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass
class Drugs:
    """The drugs of a positives table (sorted SMILES) and its positives as sorted index pairs ``lo < hi``."""

    names: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @property
    def keys(self) -> np.ndarray:
        """One integer per unordered pair: ``lo * n + hi``."""
        return self.lo * len(self.names) + self.hi

    def pair(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return keys // len(self.names), keys % len(self.names)


def drugs_of(table: PairTable) -> Drugs:
    """Index the positives of ``table``; DataError (file, line) on a label other than 1, a self-pair or a pair
    given twice (the reader deduplicates, so this is a table built by hand)."""
    names = np.asarray(sorted(set(table.a) | set(table.b)), dtype=object)
    index = {s: i for i, s in enumerate(names)}
    ia = np.asarray([index[s] for s in table.a], dtype=np.int64)
    ib = np.asarray([index[s] for s in table.b], dtype=np.int64)
    y = np.asarray(table.y, dtype=np.float64).reshape(len(table), -1)[:, 0]
    for i in range(len(table)):
        line = int(table.lines[i])
        if y[i] != 1.0:
            raise DataError(f"{table.source}, line {line}, field 'y': a DDI positives table holds label 1 only, "
                            f"got {y[i]!r} (negatives are drawn per repeat)")
        if ia[i] == ib[i]:
            raise DataError(f"{table.source}, line {line}, field {table.roles[1]!r}: a drug paired with itself")
    drugs = Drugs(names, np.minimum(ia, ib), np.maximum(ia, ib))
    _, first, counts = np.unique(drugs.keys, return_index=True, return_counts=True)
    if (counts > 1).any():
        row = int(np.flatnonzero(drugs.keys == drugs.keys[first[counts > 1][0]])[1])
        raise DataError(f"{table.source}, line {int(table.lines[row])}: the pair is given twice (in either order)")
    return drugs


def sample_negatives(rng: np.random.RandomState, n_drugs: int, side_a: np.ndarray, side_b: np.ndarray | None,
                     n: int, forbidden: np.ndarray) -> tuple[np.ndarray, int]:
    """``n`` unordered pairs (as keys ``lo * n_drugs + hi``) with one drug from ``side_a`` and one from ``side_b``
    (both from ``side_a`` when ``side_b`` is None), two different drugs, not in ``forbidden``. Returns (sorted keys,
    shortfall): when fewer candidates exist, all of them are taken and the shortfall says how many are missing."""
    side_a = np.sort(np.asarray(side_a, dtype=np.int64))
    if side_b is None:
        i, j = np.triu_indices(len(side_a), 1)
        x, y = side_a[i], side_a[j]
    else:
        x, y = (g.ravel() for g in np.meshgrid(side_a, np.sort(np.asarray(side_b, dtype=np.int64)), indexing="ij"))
    keep = x != y
    keys = np.unique(np.minimum(x, y)[keep] * n_drugs + np.maximum(x, y)[keep])
    keys = keys[~np.isin(keys, forbidden)]
    take = min(n, len(keys))
    return np.sort(keys[rng.choice(len(keys), size=take, replace=False)]), n - take


@dataclass
class Repeat:
    """One repeat's rows: the negatives (keys, appended after the positives) and the folds over
    positives + negatives (row indices: positives first, in table order, then the negatives in key order)."""

    negatives: np.ndarray
    folds: list[Fold]
    record: dict = field(default_factory=dict)


def _cut(rows: np.ndarray, rng: np.random.RandomState, fractions) -> list[np.ndarray]:
    perm = rows[rng.permutation(len(rows))]
    bounds = np.round(np.cumsum(fractions)[:-1] * len(rows)).astype(int)
    return [np.sort(part) for part in np.split(perm, bounds)]


def transductive(drugs: Drugs, seed: int, ratio: float = 1.0) -> Repeat:
    """Negatives over all drugs, then positives and negatives each split 6:2:2 (METHODS §2.3)."""
    rng = np.random.RandomState(seed)
    n_pos = len(drugs.keys)
    neg, short = sample_negatives(rng, len(drugs.names), np.arange(len(drugs.names)), None,
                                  int(round(ratio * n_pos)), drugs.keys)
    pos_parts = _cut(np.arange(n_pos), rng, TRANSDUCTIVE)
    neg_parts = _cut(n_pos + np.arange(len(neg)), rng, TRANSDUCTIVE)
    fold = tuple(np.concatenate([p, q]) for p, q in zip(pos_parts, neg_parts))
    return Repeat(neg, [fold], {"negatives_short": short})


def _parts_of(part: np.ndarray, drugs: Drugs) -> np.ndarray:
    """Per positive, the sorted pair of its drugs' parts encoded as ``3 * low + high`` (0 = train drug, 1 =
    validation drug, 2 = test drug)."""
    pa, pb = part[drugs.lo], part[drugs.hi]
    return 3 * np.minimum(pa, pb) + np.maximum(pa, pb)


# (part of the rows, the two drug sets) for each type structure of an inductive split; 5 = (1, 2) is unused
_INDUCTIVE = {0: (0, (0, 0)), 1: (1, (0, 1)), 4: (1, (1, 1)), 2: (2, (0, 2)), 8: (2, (2, 2))}


def inductive(drugs: Drugs, seed: int, ratio: float = 1.0) -> Repeat:
    """Drug hold-out with disjoint validation and test drug sets; negatives drawn inside each part's drug sets
    with the positives' type structure (see the module docstring)."""
    rng = np.random.RandomState(seed)
    n_drugs, n_pos = len(drugs.names), len(drugs.keys)
    sets = _cut(np.arange(n_drugs), rng, INDUCTIVE_DRUGS)
    part = np.empty(n_drugs, dtype=np.int64)
    for p, members in enumerate(sets):
        part[members] = p
    code = _parts_of(part, drugs)
    rows: list[list[np.ndarray]] = [[], [], []]
    negatives, short, offset = [], 0, n_pos
    for structure, (target, (x, y)) in _INDUCTIVE.items():
        positives = np.flatnonzero(code == structure)
        neg, missing = sample_negatives(rng, n_drugs, sets[x], None if x == y else sets[y],
                                        int(round(ratio * len(positives))), drugs.keys)
        rows[target] += [positives, offset + np.arange(len(neg))]
        negatives.append(neg)
        short, offset = short + missing, offset + len(neg)
    fold = tuple(np.sort(np.concatenate(r)) for r in rows)
    record = {"drugs": {"train": len(sets[0]), "valid": len(sets[1]), "test": len(sets[2])},
              "unused_positives": int((code == 5).sum()), "negatives_short": short}
    return Repeat(np.concatenate(negatives), [fold], record)


def _held_out_3dmrl(drugs: Drugs, rng: np.random.RandomState, by_scaffold: bool) -> np.ndarray:
    """Boolean per drug: held out (40 % of the drugs, or of the scaffolds, drawn with ``rng``)."""
    if not by_scaffold:
        held = rng.choice(len(drugs.names), size=max(1, int(HELD_OUT_3DMRL * len(drugs.names))), replace=False)
        return np.isin(np.arange(len(drugs.names)), held)
    from zoo_core.data.splits import scaffolds

    groups = np.asarray(scaffolds(list(drugs.names)), dtype=object)
    unique = np.unique(groups)
    held = unique[rng.choice(len(unique), size=max(1, int(HELD_OUT_3DMRL * len(unique))), replace=False)]
    return np.isin(groups, held)


def molecule_3dmrl(drugs: Drugs, seed: int, ratio: float = 1.0, by_scaffold: bool = False) -> Repeat:
    """3DMRL's molecule (or scaffold) DDI split: negatives over all drugs; rows with a held-out drug form a pool
    split 50/50 into validation and test; train holds the rows of two kept drugs (METHODS §2.3)."""
    rng = np.random.RandomState(seed)
    n_pos = len(drugs.keys)
    neg, short = sample_negatives(rng, len(drugs.names), np.arange(len(drugs.names)), None,
                                  int(round(ratio * n_pos)), drugs.keys)
    held = _held_out_3dmrl(drugs, rng, by_scaffold)
    lo, hi = drugs.lo, drugs.hi
    nlo, nhi = drugs.pair(neg)
    pooled = np.concatenate([held[lo] | held[hi], held[nlo] | held[nhi]])
    train = np.flatnonzero(~pooled)
    valid, test = _cut(np.flatnonzero(pooled), rng, (0.5, 0.5))
    return Repeat(neg, [(train, valid, test)], {"held_out_drugs": int(held.sum()), "negatives_short": short})


def split_repeat(drugs: Drugs, protocol: str, seed: int, ratio: float = 1.0) -> Repeat:
    """The negatives and folds of ``protocol`` (one of ``DDI_SPLITS``) for one repeat's seed."""
    if protocol == "transductive":
        return transductive(drugs, seed, ratio)
    if protocol == "inductive":
        return inductive(drugs, seed, ratio)
    if protocol in ("molecule", "scaffold"):
        return molecule_3dmrl(drugs, seed, ratio, by_scaffold=protocol == "scaffold")
    raise DataError(f"unknown DDI split {protocol!r} (known: {', '.join(DDI_SPLITS)})")


def unseen_drugs(table: PairTable, train_rows: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per row of ``rows``: how many of its two drugs occur in no training row (0, 1 = Type 1, 2 = Type 2)."""
    seen = {table.a[i] for i in train_rows} | {table.b[i] for i in train_rows}
    return np.asarray([(table.a[i] not in seen) + (table.b[i] not in seen) for i in rows], dtype=np.int64)


@dataclass
class DDIRows:
    """Every repeat's rows in one table (the positives once, then each repeat's negatives with line 0), the folds
    of each repeat as row indices into it, and what each repeat drew (``records``)."""

    table: PairTable
    folds: list[list[Fold]]
    records: list[dict]
    protocol: str
    ratio: float

    @property
    def leak(self) -> str | None:
        return LEAKS[self.protocol]


def _counts(table: PairTable, y: np.ndarray, fold: Fold) -> dict:
    """Positives and negatives per part, and the test rows by number of unseen drugs."""
    out = {name: {"positives": int((y[rows] == 1).sum()), "negatives": int((y[rows] == 0).sum())}
           for name, rows in zip(("train", "valid", "test"), fold)}
    types = unseen_drugs(table, fold[0], fold[2])
    out["test_unseen_drugs"] = {str(k): int((types == k).sum()) for k in range(3)}
    return out


def ddi_rows(positives: PairTable, protocol: str, seeds: list[int], ratio: float = 1.0) -> DDIRows:
    """The rows and folds of every repeat (one seed each) of a DDI run over the ``positives`` table."""
    if protocol not in DDI_SPLITS:
        raise DataError(f"split {protocol!r} is not a DDI split; a DDI dataset takes one of {', '.join(DDI_SPLITS)}")
    drugs = drugs_of(positives)
    a, b = list(drugs.names[drugs.lo]), list(drugs.names[drugs.hi])
    n_pos = len(a)
    folds, records, y_parts, offset = [], [], [np.ones(n_pos)], n_pos
    for seed in seeds:
        repeat = split_repeat(drugs, protocol, seed, ratio)
        lo, hi = drugs.pair(repeat.negatives)
        a += list(drugs.names[lo])
        b += list(drugs.names[hi])
        y_parts.append(np.zeros(len(lo)))
        shift = offset - n_pos
        folds.append([tuple(np.where(rows >= n_pos, rows + shift, rows) for rows in fold) for fold in repeat.folds])
        records.append(dict(repeat.record, seed=seed, drugs_total=len(drugs.names)))
        offset += len(lo)
    y = np.concatenate(y_parts)
    lines = np.concatenate([positives.lines, np.zeros(offset - n_pos, dtype=np.int64)])
    table = dataclasses.replace(positives, a=a, b=b, y=y.reshape(-1, *positives.y.shape[1:]), lines=lines,
                                bad=list(positives.bad))
    for record, repeat_folds in zip(records, folds):
        record["folds"] = [_counts(table, y, fold) for fold in repeat_folds]
    return DDIRows(table, folds, records, protocol, ratio)
