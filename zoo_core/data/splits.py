"""Split protocols. Each returns a list of folds ``(train, valid, test)`` of row-index arrays.

* ``mi5fold``: the molecular-interaction protocol of CGIB/3DMRL (METHODS §2.2): shuffle pairs with the repeat's
  seed, fold k is the test part, its first half moves to validation (80/10/10 per fold).
* ``random``: one seeded 80/10/10 split.
* ``scaffold``: the deterministic scaffold split of DeepChem / MoleculeNet (Wu et al. 2018; Hu et al. 2020): group
  rows by the Bemis–Murcko scaffold of molecule A (no chirality), sort groups by (size, first row) descending, and
  put each whole group into train while train stays within 80 % of the rows, else into validation while train +
  validation stay within 90 %, else into test. No seed: every run and every repeat gets the same sets.
* ``scaffold-seeded``: the same groups, largest first with seeded tie-breaks, filled to 80/10/10 (the zoo's
  earlier ``scaffold``).
* ``fixed-random:TRAIN,VALID[,SEED]``: one seeded random split with fixed sizes: TRAIN rows to train, VALID to
  validate, the rest to test; the permutation is drawn from SEED (default 42), not from the run's seed, so every
  repeat sees the same sets and varies only the initialisation and shuffling (as ``scaffold``). QM9's papers' split
  is ``fixed-random:110000,10000,42`` (SchNet, DimeNet, MolInteract: 110k / 10k / rest, seed 42).
* ``molecule``: molecule-A hold-out: unique A molecules split 80/10/10 by seed; pairs follow their A molecule.
* ``solvent``: molecule-B hold-out: the named B molecules (or a seeded 20 % of them) form the test part, the
  rest is split 90/10 into train/validation.
"""

from __future__ import annotations

import numpy as np

SPLITS = ("mi5fold", "random", "fixed-random:TRAIN,VALID[,SEED]", "scaffold", "scaffold-seeded", "molecule", "solvent")


def mi5fold(n: int, seed: int, n_folds: int = 5) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """K-fold CV over pairs; half of each held-out fold is validation (METHODS §2.2)."""
    if n < 2 * n_folds:
        raise ValueError(f"{n} pairs are too few for {n_folds}-fold cross-validation")
    perm = np.random.RandomState(seed).permutation(n)
    chunks = np.array_split(perm, n_folds)
    folds = []
    for k in range(n_folds):
        held = chunks[k]
        half = len(held) // 2
        train = np.concatenate([c for j, c in enumerate(chunks) if j != k])
        folds.append((np.sort(train), np.sort(held[:half]), np.sort(held[half:])))
    return folds


def _fractions(n: int, rng: np.random.RandomState, frac=(0.8, 0.1)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    perm = rng.permutation(n)
    a, b = int(round(frac[0] * n)), int(round((frac[0] + frac[1]) * n))
    return perm[:a], perm[a:b], perm[b:]


def random_split(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    tr, va, te = _fractions(n, np.random.RandomState(seed))
    return [(np.sort(tr), np.sort(va), np.sort(te))]


def fixed_random_split(n: int, spec: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``fixed-random:TRAIN,VALID[,SEED]`` (module doc): sizes, not fractions; the seed is part of the protocol."""
    try:
        values = [int(v) for v in spec.split(",")]
    except ValueError:
        values = []
    if len(values) not in (2, 3) or min(values[:2]) < 1:
        raise ValueError(f"split 'fixed-random:{spec}' must be fixed-random:TRAIN,VALID[,SEED] with TRAIN, VALID >= 1 "
                         f"(e.g. fixed-random:110000,10000,42)")
    n_train, n_valid, seed = (*values, 42)[:3]
    if n_train + n_valid >= n:
        raise ValueError(f"the fixed-random split needs more than {n_train} + {n_valid} rows to leave a test set, "
                         f"got {n}")
    perm = np.random.RandomState(seed).permutation(n)
    parts = perm[:n_train], perm[n_train:n_train + n_valid], perm[n_train + n_valid:]
    return [tuple(np.sort(p) for p in parts)]


def _group_split(groups: list[str], seed: int, largest_first: bool) -> list[tuple]:
    keys, inverse = np.unique(np.asarray(groups, dtype=object), return_inverse=True)
    sizes = np.bincount(inverse)
    rng = np.random.RandomState(seed)
    if largest_first:
        order = sorted(range(len(keys)), key=lambda k: (-sizes[k], rng.random_sample()))
    else:
        order = list(rng.permutation(len(keys)))
    n = len(groups)
    parts: list[list[int]] = [[], [], []]
    filled = 0
    for k in order:
        target = 0 if filled < 0.8 * n else (1 if filled < 0.9 * n else 2)
        parts[target].append(k)
        filled += sizes[k]
    assign = np.empty(len(keys), dtype=np.int64)
    for p, ks in enumerate(parts):
        assign[ks] = p
    where = assign[inverse]
    return [tuple(np.flatnonzero(where == p) for p in range(3))]


def scaffolds(smiles: list[str]) -> list[str]:
    """The Bemis–Murcko scaffold SMILES (no chirality) of each input; an unparsable input is its own group."""
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    def scaffold(s: str) -> str:
        mol = Chem.MolFromSmiles(s)
        return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False) if mol is not None else s

    cache: dict[str, str] = {}
    for s in smiles:
        if s not in cache:
            cache[s] = scaffold(s)
    return [cache[s] for s in smiles]


def seeded_scaffold_split(smiles_a: list[str], seed: int) -> list[tuple]:
    return _group_split(scaffolds(smiles_a), seed, largest_first=True)


def scaffold_split(smiles_a: list[str], frac_train: float = 0.8, frac_valid: float = 0.1) -> list[tuple]:
    """DeepChem's deterministic scaffold split (see the module docstring); the same sets on every call."""
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(scaffolds(smiles_a)):
        groups.setdefault(key, []).append(i)
    ordered = sorted(groups.values(), key=lambda rows: (len(rows), rows[0]), reverse=True)
    n = len(smiles_a)
    train_cut, valid_cut = frac_train * n, (frac_train + frac_valid) * n
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for rows in ordered:
        if len(train) + len(rows) <= train_cut:
            train += rows
        elif len(train) + len(valid) + len(rows) <= valid_cut:
            valid += rows
        else:
            test += rows
    return [tuple(np.sort(np.asarray(part, dtype=np.int64)) for part in (train, valid, test))]


def molecule_split(smiles_a: list[str], seed: int) -> list[tuple]:
    return _group_split(list(smiles_a), seed, largest_first=False)


def solvent_split(smiles_b: list[str], seed: int, held_out: list[str] | None = None) -> list[tuple]:
    smiles_b = list(smiles_b)
    uniq = sorted(set(smiles_b))
    rng = np.random.RandomState(seed)
    if held_out:
        test_set = set(held_out)
        unknown = test_set - set(uniq)
        if unknown:
            raise ValueError(f"held-out molecules not in the dataset: {', '.join(sorted(unknown))}")
    else:
        test_set = set(rng.choice(uniq, size=max(1, int(round(0.2 * len(uniq)))), replace=False))
    test = np.array([i for i, s in enumerate(smiles_b) if s in test_set], dtype=np.int64)
    rest = np.array([i for i, s in enumerate(smiles_b) if s not in test_set], dtype=np.int64)
    rest = rest[rng.permutation(len(rest))]
    cut = int(round(0.9 * len(rest)))
    return [(np.sort(rest[:cut]), np.sort(rest[cut:]), np.sort(test))]


def make_splits(protocol: str, n: int, seed: int, smiles_a=None, smiles_b=None, n_folds: int = 5,
                held_out: list[str] | None = None) -> list[tuple]:
    """The folds of ``protocol`` for one repeat (seed)."""
    if protocol == "mi5fold":
        return mi5fold(n, seed, n_folds)
    if protocol == "random":
        return random_split(n, seed)
    if protocol.startswith("fixed-random:"):
        return fixed_random_split(n, protocol.partition(":")[2])
    if protocol == "scaffold":
        return scaffold_split(smiles_a)
    if protocol == "scaffold-seeded":
        return seeded_scaffold_split(smiles_a, seed)
    if protocol == "molecule":
        return molecule_split(smiles_a, seed)
    if protocol == "solvent":
        return solvent_split(smiles_b, seed, held_out)
    raise ValueError(f"unknown split protocol {protocol!r} (known: {', '.join(SPLITS)})")
