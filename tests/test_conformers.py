"""3D positions in the core (issue 34): seeded cached conformers, positions in a MolStore's node order, and a
dataset's own geometry matched to the featurizer's atom order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo_core.chem import conformers as conf_mod
from zoo_core.chem.conformers import build_conformers, cache_dir, embed
from zoo_core.chem.featurizers import prepare_mol
from zoo_core.chem.positions import match_positions, store_positions
from zoo_core.data.store import build_store
from zoo_core.errors import DataError


def test_conformers_are_deterministic_by_seed():
    a = embed("CCCCCCO", True, seed=1)[1]
    assert np.array_equal(a, embed("CCCCCCO", True, seed=1)[1])
    assert not np.allclose(a, embed("CCCCCCO", True, seed=2)[1])
    assert a.shape == (prepare_mol("CCCCCCO", True)[1].GetNumAtoms(), 3)


def test_second_call_is_a_cache_hit_in_the_same_place(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    smiles = ["OCC", "c1ccccc1O", "[Na+]"]
    first, stats = build_conformers(smiles, explicit_h=False, seed=7, workers=1, progress=False)
    assert stats["embedded"] == 3 and stats["from_cache"] == 0
    for s in smiles:
        canonical, mol = prepare_mol(s, False)
        assert first[canonical].shape == (mol.GetNumAtoms(), 3) and np.allclose(first[canonical].mean(0), 0.0)
    # the 3DMRL plugin's cache folder and key: existing caches stay valid
    assert cache_dir(False, 7) == tmp_path / "conformers" / "etkdg-v1-noH-seed7"
    assert len(list(cache_dir(False, 7).glob("chunk-*.npz"))) == 1

    def boom(*args, **kwargs):
        raise AssertionError("re-embedded a cached molecule")

    monkeypatch.setattr(conf_mod, "embed", boom)
    again, stats = build_conformers(["CCO", "Oc1ccccc1", "[Na+]"], explicit_h=False, seed=7, workers=1,
                                    progress=False)
    assert stats["embedded"] == 0 and stats["from_cache"] == 3
    assert set(again) == set(first) and all(np.array_equal(first[k], again[k]) for k in first)


def test_embedding_falls_back_to_2d_when_etkdg_fails(monkeypatch):
    from rdkit.Chem import AllChem

    monkeypatch.setattr(AllChem, "EmbedMolecule", lambda *args, **kwargs: -1)
    canonical, pos, method = embed("CCCCO", False, seed=1)
    assert method == "2d" and pos.shape == (5, 3) and np.all(pos[:, 2] == 0.0)


def test_parallel_workers_match_serial():
    smiles = ["CCO", "c1ccccc1", "CCN"]
    serial, _ = build_conformers(smiles, explicit_h=False, seed=2, workers=1, use_cache=False, progress=False)
    parallel, stats = build_conformers(smiles, explicit_h=False, seed=2, workers=2, use_cache=False, progress=False)
    assert stats["embedded"] == 3 and set(serial) == set(parallel)
    assert all(np.array_equal(serial[k], parallel[k]) for k in serial)


@pytest.mark.parametrize("explicit_h", [True, False])
def test_store_positions_follow_the_store_node_order(explicit_h):
    store, _, _ = build_store(["CCO", "c1ccccc1N", "O"], "mrl56", explicit_h, use_cache=False, progress=False)
    pos, stats = store_positions(store, explicit_h, seed=0, workers=1, use_cache=False, progress=False)
    assert pos.shape == (int(store.node_ptr[-1]), 3) and pos.dtype == torch.float64 and stats["embedded"] == 3
    for m in range(len(store)):  # every bond of the store's graph joins atoms at bond distance
        p = pos[int(store.node_ptr[m]):int(store.node_ptr[m + 1])]
        e0, e1 = int(store.edge_ptr[m]), int(store.edge_ptr[m + 1])
        for i, j in store.edge_index[:, e0:e1].t().tolist():
            assert 0.9 < float((p[i] - p[j]).norm()) < 1.6
    store.pos = pos.float()
    g = store.gather(torch.tensor([2, 0]))
    water = store.pos[int(store.node_ptr[2]):int(store.node_ptr[3])]
    assert torch.equal(g.ndata["pos"][:len(water)], water)
    assert g.ndata["pos"].shape[0] == len(water) + (9 if explicit_h else 3)  # water, then ethanol


def test_store_positions_refuse_a_molecule_that_does_not_line_up():
    store, _, _ = build_store(["CCO", "c1ccccc1N"], "mrl56", True, use_cache=False, progress=False)
    heavy = {s: embed(s, False, 0)[1] for s in store.smiles}  # conformers of the other H mode
    with pytest.raises(DataError, match=r"molecule 0 \('CCO'\) have 3 atoms, its graph has 9"):
        store_positions(store, True, positions=heavy)
    full = {s: embed(s, True, 0)[1] for s in store.smiles}
    store.atomic_num[0], store.atomic_num[2] = int(store.atomic_num[2]), int(store.atomic_num[0])
    with pytest.raises(DataError, match=r"molecule 0 \('CCO'\): the store's atoms are not in the featurizer"):
        store_positions(store, True, positions=full)
    store.atomic_num[0], store.atomic_num[2] = int(store.atomic_num[2]), int(store.atomic_num[0])
    with pytest.raises(DataError, match=r"no 3D positions for molecule 1 \('Nc1ccccc1'\)"):
        store_positions(store, True, positions={"CCO": full["CCO"]})


def _rotation(seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def _file(smiles, seed):
    """A 'dataset' geometry of ``smiles`` with hydrogens: element symbols and coordinates in a shuffled atom order,
    rotated and moved; plus the same positions in featurizer (explicit H) order."""
    canonical, mol = prepare_mol(smiles, True)
    pos = embed(canonical, True, seed=0)[1]
    perm = np.random.default_rng(seed).permutation(len(pos))
    symbols = [mol.GetAtomWithIdx(int(i)).GetSymbol() for i in perm]
    moved = pos @ _rotation(seed).T + np.array([3.0, -1.0, 2.0])
    return symbols, moved[perm], moved


@pytest.mark.parametrize("smiles", ["OCC(=O)N", "c1ccncc1CCl", "CC(C)(C)O"])
def test_dataset_positions_are_matched_after_a_permuted_atom_order(smiles):
    symbols, coords, want = _file(smiles, seed=4)
    _, mol = prepare_mol(smiles, True)
    got = match_positions(smiles, symbols, coords, explicit_h=True, name="mol-17")
    heavy = np.array([a.GetAtomicNum() > 1 for a in mol.GetAtoms()])
    # heavy atoms of these molecules are all distinguishable: exactly their own positions; H atoms on one heavy
    # atom are interchangeable, so they are compared per parent atom
    if smiles != "CC(C)(C)O":
        assert np.allclose(got[heavy], want[heavy])
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() == 1:
            continue
        hs = [n.GetIdx() for n in atom.GetNeighbors() if n.GetAtomicNum() == 1]
        assert sorted(map(tuple, np.round(got[hs], 8))) == sorted(map(tuple, np.round(want[hs], 8)))
    for b in mol.GetBonds():
        assert 0.9 < np.linalg.norm(got[b.GetBeginAtomIdx()] - got[b.GetEndAtomIdx()]) < 1.9
    # heavy-atom featurizer: the file's hydrogens are dropped, atomic numbers work as well as symbols
    numbers = [prepare_mol("C", True)[1].GetAtomWithIdx(0).GetAtomicNum() if s == "C" else s for s in symbols]
    heavy_only = match_positions(smiles, numbers, coords, explicit_h=False)
    assert heavy_only.shape == (int(heavy.sum()), 3)
    if smiles != "CC(C)(C)O":
        assert np.allclose(heavy_only, want[heavy])


def test_dataset_positions_that_are_not_the_molecule_raise_one_line_naming_it():
    symbols, coords, _ = _file("OCC(=O)N", seed=1)
    wrong = ["S" if s == "O" else s for s in symbols]
    with pytest.raises(DataError, match=r"^3D positions of mol-3 \('OCC\(=O\)N'\): the file's atoms") as err:
        match_positions("OCC(=O)N", wrong, coords, explicit_h=True, name="mol-3")
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="3 atoms but 10 coordinate rows"):
        match_positions("OCC(=O)N", symbols[:3], coords, explicit_h=True)
    # same formula (C2H6O), other graph: ethanol's geometry is not dimethyl ether
    e_symbols, e_coords, _ = _file("CCO", seed=2)
    with pytest.raises(DataError, match=r"of 'COC': the bonds perceived from the file's geometry do not match"):
        match_positions("COC", e_symbols, e_coords, explicit_h=False)
    with pytest.raises(DataError, match="unknown element"):
        match_positions("CCO", ["C", "C", "Xx"], np.zeros((3, 3)), explicit_h=False)
