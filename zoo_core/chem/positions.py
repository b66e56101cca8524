"""Per-atom 3D positions in the featurizer's atom order: for a MolStore, and from a dataset's own geometries.

* :func:`store_positions` gives one ``[N, 3]`` tensor in the store's node order (``node_ptr``): seeded ETKDG
  conformers (zoo_core.chem.conformers, cached) or positions already matched to the featurizer's order. Counts
  and elements are checked against the store; a disagreement is an error naming the molecule.
* :func:`match_positions` takes a file's geometry (SMILES, its atoms as element symbols or atomic numbers in the
  file's order, coordinates in Å; e.g. QM9's DFT geometries) and reorders it to the atoms of
  ``zoo_core.chem.featurizers.prepare_mol(smiles, explicit_h)``. The file's bonds are perceived from distances
  (RDKit ``DetermineConnectivity``, covalent radii); the featurizer's molecular graph, elements and connectivity
  only (no bond orders, charges or stereo), is then matched as a substructure of that graph (with
  ``explicit_h=False`` the file's hydrogens are extra atoms the match leaves out). Atoms the graph cannot tell
  apart (symmetry) may be assigned either way: their positions are interchangeable for the graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from zoo_core.errors import DataError

if TYPE_CHECKING:
    import torch

    from zoo_core.data.store import MolStore


def store_positions(store: MolStore, explicit_h: bool, positions: dict[str, np.ndarray] | None = None,
                    seed: int = 0, workers: int | None = None, use_cache: bool = True,
                    progress: bool = True) -> tuple[torch.Tensor, dict]:
    """(positions [N, 3] float64 in ``store``'s node order, stats).

    ``positions``: {canonical SMILES: [n_atoms, 3]} already in featurizer order (:func:`match_positions`);
    without it, one seeded ETKDG conformer per molecule (zoo_core.chem.conformers.build_conformers, whose stats
    are returned). ``explicit_h`` must be the store's featurizer H mode.
    """
    import torch

    from zoo_core.chem.conformers import build_conformers
    from zoo_core.chem.featurizers import prepare_mol

    if positions is None:
        positions, stats = build_conformers(store.smiles, explicit_h, seed, workers, use_cache, progress)
    else:
        stats = {"from_dataset": len(store.smiles)}
    ptr = store.node_ptr
    rows = []
    for m, smi in enumerate(store.smiles):
        n = int(ptr[m + 1] - ptr[m])
        pos = positions.get(smi)
        if pos is None:
            raise DataError(f"no 3D positions for molecule {m} ({smi!r})")
        pos = np.asarray(pos, dtype=np.float64)
        elements = np.array([a.GetAtomicNum() for a in prepare_mol(smi, explicit_h)[1].GetAtoms()])
        if pos.shape != (n, 3) or len(elements) != n:
            raise DataError(f"3D positions of molecule {m} ({smi!r}) have {pos.shape[0]} atoms, its graph has {n} "
                            f"(featurizer H mode explicit_h={explicit_h}?)")
        if not np.array_equal(elements, store.atomic_num[int(ptr[m]):int(ptr[m + 1])].numpy()):
            raise DataError(f"3D positions of molecule {m} ({smi!r}): the store's atoms are not in the featurizer's "
                            f"order (explicit_h={explicit_h})")
        rows.append(pos)
    out = torch.from_numpy(np.concatenate(rows)) if rows else torch.zeros(0, 3, dtype=torch.float64)
    return out, stats


def heavy_atom_positions(positions: dict[str, np.ndarray], store: MolStore) -> dict[str, np.ndarray]:
    """Explicit-H positions (``match_positions(..., explicit_h=True)``) cut to a heavy-atom store's molecules: the
    featurizer puts the H atoms after the heavy atoms, so each molecule keeps its first ``n`` rows (``n`` from the
    store); :func:`store_positions` then checks the elements."""
    ptr = store.node_ptr
    return {smi: np.asarray(positions[smi])[:int(ptr[m + 1] - ptr[m])]
            for m, smi in enumerate(store.smiles) if smi in positions}


def atomic_numbers(atoms: Sequence) -> np.ndarray:
    """Atomic numbers of element symbols (``"C"``, ``"cl"``) or numbers, in the given order."""
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    out = []
    for a in atoms:
        if isinstance(a, (int, np.integer)):
            out.append(int(a))
        else:
            text = str(a).strip()
            out.append(int(text) if text.isdigit() else table.GetAtomicNumber(text[:1].upper() + text[1:].lower()))
    return np.asarray(out, dtype=np.int64)


def _skeleton(numbers: Sequence[int], bonds: Sequence[tuple[int, int]]):
    """A Mol of bare atoms (atomic number only) and single bonds: the graph a geometry and a SMILES share."""
    from rdkit import Chem

    mol = Chem.RWMol()
    for z in numbers:
        atom = Chem.Atom(int(z))
        atom.SetNoImplicit(True)
        mol.AddAtom(atom)
    for i, j in bonds:
        mol.AddBond(int(i), int(j), Chem.BondType.SINGLE)
    mol = mol.GetMol()
    mol.UpdatePropertyCache(strict=False)
    Chem.FastFindRings(mol)
    return mol


def _file_bonds(numbers: np.ndarray, coords: np.ndarray) -> list[tuple[int, int]]:
    """Bonds of a geometry perceived from interatomic distances (RDKit's covalent-radius rule)."""
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdDetermineBonds
    from rdkit.Geometry import Point3D

    mol = Chem.RWMol()
    for z in numbers:
        mol.AddAtom(Chem.Atom(int(z)))
    conf = Chem.Conformer(len(numbers))
    for i, (x, y, z) in enumerate(coords):
        conf.SetAtomPosition(i, Point3D(float(x), float(y), float(z)))
    mol.AddConformer(conf, assignId=True)
    with rdBase.BlockLogs():
        rdDetermineBonds.DetermineConnectivity(mol)
    return [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]


def match_positions(smiles: str, atoms: Sequence, coords, explicit_h: bool, name: str | None = None) -> np.ndarray:
    """``coords`` of a file's ``atoms`` reordered to the atoms of ``prepare_mol(smiles, explicit_h)``:
    [n_atoms, 3] float64 (see the module doc). A DataError naming the molecule (``name``, else the SMILES) when
    the file's atoms cannot be those of the SMILES."""
    from zoo_core.chem.featurizers import prepare_mol

    label = f"{name} ({smiles!r})" if name else repr(smiles)
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    try:
        numbers = atomic_numbers(atoms)
    except Exception:  # noqa: BLE001 - RDKit raises RuntimeError on an unknown symbol
        raise DataError(f"3D positions of {label}: unknown element in {list(atoms)!r}") from None
    if len(numbers) != coords.shape[0]:
        raise DataError(f"3D positions of {label}: {len(numbers)} atoms but {coords.shape[0]} coordinate rows")
    _, mol = prepare_mol(smiles, explicit_h)
    want = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    heavy_ok = sorted(numbers[numbers != 1].tolist()) == sorted(want[want != 1].tolist())
    n_h, want_h = int((numbers == 1).sum()), int((want == 1).sum())
    if not heavy_ok or n_h < want_h or (explicit_h and n_h != want_h):
        raise DataError(f"3D positions of {label}: the file's atoms {_formula(numbers)} are not the SMILES' "
                        f"{_formula(want)} (explicit_h={explicit_h})")
    query = _skeleton(want, [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()])
    target = _skeleton(numbers, _file_bonds(numbers, coords))
    match = target.GetSubstructMatch(query, useChirality=False)
    if len(match) != len(want):
        raise DataError(f"3D positions of {label}: the bonds perceived from the file's geometry do not match the "
                        f"SMILES' graph (coordinates not in Å, or another molecule?)")
    return coords[np.asarray(match, dtype=np.int64)].copy()


def _formula(numbers: np.ndarray) -> str:
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    zs, counts = np.unique(numbers, return_counts=True)
    return "".join(f"{table.GetElementSymbol(int(z))}{c if c > 1 else ''}" for z, c in zip(zs, counts)) or "(none)"
