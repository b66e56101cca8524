"""Pretraining pair sets: registry entries, resolution, subsampling, and train-split's no-leak guarantee."""

import numpy as np
import pytest

from zoo_core.data.pair_sets import canonical_name, definition, pairs_of_rows, resolve, subsample
from zoo_core.data.splits import mi5fold
from zoo_core.data.table import PairTable
from zoo_core.errors import RegistryError, ZooError
from zoo_core.registry import load_registry, parse_registry_file


def test_registry_pair_sets_validate_and_state_transductivity():
    sets = load_registry().sections["pair_sets"]
    assert {"train-split", "combisolv-product", "solvation-qm", "chromophore-product"} <= set(sets)
    for name in ("combisolv-product", "chromophore-product"):
        assert sets[name]["transductive"] is True and "TRANSDUCTIVE" in sets[name]["description"]
    assert sets["train-split"]["transductive"] is False and sets["solvation-qm"]["transductive"] is False
    assert sets["combisolv-product"].params == {"ratio": 0.2, "seed": 0}
    assert sets["chromophore-product"].params["ratio"] == 0.01


@pytest.mark.parametrize("body, message", [
    ("    impl: product\n    datasets: [compsol]\n", "missing required key 'transductive'"),
    ("    impl: product\n    transductive: true\n", "needs a non-empty 'datasets' list"),
    ("    impl: pairs\n    datasets: [1]\n    transductive: false\n", "list of dataset names"),
    ("    impl: pairs\n    datasets: [compsol]\n    transductive: 'no'\n", "'transductive' must be bool"),
])
def test_bad_pair_set_entries_are_rejected(tmp_path, body, message):
    path = tmp_path / "frag.yaml"
    path.write_text("pair_sets:\n  mine:\n" + body)
    with pytest.raises(RegistryError, match=message):
        parse_registry_file(path)


def test_legacy_names_map_to_builders():
    assert canonical_name("train_split") == "train-split"
    assert definition("freesolv:product") == {"impl": "product", "datasets": ["freesolv"], "ratio": 1.0, "seed": 0,
                                              "transductive": True}
    assert definition("compsol")["impl"] == "pairs" and not definition("compsol")["transductive"]
    with pytest.raises(ZooError, match="no pair set named 'nope'"):
        definition("nope")
    with pytest.raises(ZooError, match="unknown pair-set mode"):
        definition("freesolv:cube")


def test_product_pair_set_is_the_seeded_canonical_product():
    full = resolve("freesolv:product")  # 560 solutes x water
    assert full.transductive and len(full) == 560 and full.record()["molecules_b"] == 1
    assert all(b == "O" for _, b in full.pairs)
    part = resolve("freesolv:product", ratio=0.1, seed=3)
    assert len(part) == 56 and set(part.pairs) <= set(full.pairs)
    assert part.pairs == resolve("freesolv:product", ratio=0.1, seed=3).pairs
    assert part.pairs != resolve("freesolv:product", ratio=0.1, seed=4).pairs
    assert part.record()["pair_set"] == "freesolv:product" and part.record()["ratio"] == 0.1


def test_subsample_is_sorted_and_sized():
    idx = subsample(1000, 0.2, 0)
    assert len(idx) == 200 and np.all(np.diff(idx) > 0) and idx.max() < 1000
    assert len(subsample(10, 1.0, 0)) == 10 and len(subsample(10, 0.01, 0)) == 1
    with pytest.raises(ZooError):
        subsample(10, 0.0, 0)


def test_train_split_holds_only_training_pairs():
    n = 40
    table = PairTable("toy", ("solute", "solvent"), [f"C{'C' * i}O" for i in range(n)], ["O"] * n,
                      np.arange(n, dtype=float), np.arange(2, n + 2))
    train, valid, test = mi5fold(n, seed=1)[2]
    pset = resolve("train-split", train_pairs=pairs_of_rows(table, train), downstream="toy")
    held_out = {(table.a[i], table.b[i]) for i in np.concatenate([valid, test])}
    assert len(pset) == len(train) and not held_out & set(pset.pairs)
    assert not pset.transductive and pset.record()["pair_set"] == "train-split"
    with pytest.raises(ZooError, match="needs the downstream dataset and fold"):
        resolve("train-split")


def test_a_set_built_from_the_downstream_dataset_is_flagged_transductive():
    assert resolve("freesolv", downstream="freesolv").transductive
    assert not resolve("freesolv", downstream="compsol").transductive
