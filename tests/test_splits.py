"""Split protocols: disjoint parts, the 80/10/10 MI protocol, reproducibility."""

import numpy as np
import pytest

from zoo_core.data.splits import make_splits, mi5fold


def test_mi5fold_partitions_every_pair_once_into_test_or_valid():
    folds = mi5fold(103, seed=0)
    assert len(folds) == 5
    held = np.concatenate([np.concatenate([va, te]) for _, va, te in folds])
    assert sorted(held.tolist()) == list(range(103))          # no pair in two folds' held-out parts
    for tr, va, te in folds:
        assert not set(tr) & set(va) and not set(tr) & set(te) and not set(va) & set(te)
        assert len(tr) + len(va) + len(te) == 103
        assert abs(len(va) - len(te)) <= 1                     # first half of the held-out fold is validation


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = mi5fold(50, 1), mi5fold(50, 1), mi5fold(50, 2)
    assert all(np.array_equal(x, y) for fa, fb in zip(a, b) for x, y in zip(fa, fb))
    assert not all(np.array_equal(x[2], y[2]) for x, y in zip(a, c))


def test_group_splits_keep_groups_together():
    a = [f"m{i % 17}" for i in range(200)]
    b = [f"s{i % 7}" for i in range(200)]
    for protocol, groups in (("molecule", a), ("solvent", b)):
        (tr, va, te), = make_splits(protocol, 200, 0, a, b)
        assert len(tr) + len(va) + len(te) == 200
        test_groups = {groups[i] for i in te}
        assert not test_groups & {groups[i] for i in tr}, protocol


def test_solvent_holdout_by_name_and_unknown_name():
    b = ["O", "CCO", "O", "CC#N"] * 10
    (tr, va, te), = make_splits("solvent", 40, 0, ["C"] * 40, b, held_out=["O"])
    assert {b[i] for i in te} == {"O"} and "O" not in {b[i] for i in tr}
    with pytest.raises(ValueError, match="not in the dataset"):
        make_splits("solvent", 40, 0, ["C"] * 40, b, held_out=["CCCC"])


def test_scaffold_split_groups_scaffolds():
    smiles = ["c1ccccc1C", "c1ccccc1CC", "C1CCCCC1O", "CCO", "CCCO", "c1ccncc1"] * 5
    (tr, va, te), = make_splits("scaffold", len(smiles), 0, smiles, smiles)
    assert len(tr) + len(va) + len(te) == len(smiles)
    assert not {smiles[i] for i in te} & {smiles[i] for i in tr}


def test_unknown_protocol():
    with pytest.raises(ValueError, match="unknown split protocol"):
        make_splits("nope", 10, 0)
