"""OGB featurizer ``ogb9`` (METHODS §1.6; ``ogb.utils.features`` of OGB 1.3): 9 categorical atom features and 3
categorical bond features, stored as integer class indices (float32 columns of the MolGraph; the encoders embed
them with one table per column and sum, :mod:`zoo_molinteract.embeddings`).

Atom columns: atomic number 1..118 (index Z - 1), chirality tag, total degree 0..10, formal charge -5..5, total H
0..8, radical electrons 0..4, hybridisation {SP, SP2, SP3, SP3D, SP3D2}, aromatic, in ring. Bond columns: type
{SINGLE, DOUBLE, TRIPLE, AROMATIC}, stereo {NONE, Z, E, CIS, TRANS, ANY}, conjugated. A value outside a list maps
to its "misc" slot (the list's last index), as OGB's ``safe_index``; OGB indexes chirality and stereo without it
(an unlisted tag, e.g. CHI_ALLENE, raised) and here they go to misc too.

Hydrogens: OGB featurizes heavy-atom Mols. With ``explicit_h=True`` (QM9's 3D convention) the H atoms are nodes
and the total-H column still counts every H of an atom (``GetTotalNumHs(includeNeighbors=True)``), so a heavy atom
has the same features in both H modes; H atoms themselves have hybridisation UNSPECIFIED (misc).
"""

from __future__ import annotations

import numpy as np

from zoo_core.chem.featurizers import Featurizer

ATOMIC_NUMBERS = tuple(range(1, 119))
CHIRALITY = ("CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW", "CHI_OTHER")
DEGREES = tuple(range(11))
CHARGES = tuple(range(-5, 6))
NUM_HS = tuple(range(9))
RADICALS = tuple(range(5))
HYBRIDISATIONS = ("SP", "SP2", "SP3", "SP3D", "SP3D2")
BOND_TYPES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
BOND_STEREO = ("STEREONONE", "STEREOZ", "STEREOE", "STEREOCIS", "STEREOTRANS", "STEREOANY")

# Classes per column: each list plus its misc slot (OGB's get_atom_feature_dims / get_bond_feature_dims).
ATOM_DIMS = (119, 5, 12, 12, 10, 6, 6, 2, 2)
BOND_DIMS = (5, 7, 2)


def _index(values: tuple, value) -> int:
    """OGB's ``safe_index``: the position of ``value``, else the misc slot (``len(values)``)."""
    try:
        return values.index(value)
    except ValueError:
        return len(values)


class OGB9(Featurizer):
    """OGB's ``atom_to_feature_vector`` / ``bond_to_feature_vector`` as class indices (module doc)."""

    name = "ogb9"
    version = "1"
    atom_dim = 9
    bond_dim = 3

    def atom_features(self, mol) -> np.ndarray:
        rows = [[_index(ATOMIC_NUMBERS, a.GetAtomicNum()), _index(CHIRALITY, str(a.GetChiralTag())),
                 _index(DEGREES, a.GetTotalDegree()), _index(CHARGES, a.GetFormalCharge()),
                 _index(NUM_HS, a.GetTotalNumHs(includeNeighbors=True)), _index(RADICALS, a.GetNumRadicalElectrons()),
                 _index(HYBRIDISATIONS, str(a.GetHybridization())), int(a.GetIsAromatic()), int(a.IsInRing())]
                for a in mol.GetAtoms()]
        return np.asarray(rows, dtype=np.float32).reshape(-1, self.atom_dim)

    def bond_features(self, mol) -> np.ndarray:
        rows = [[_index(BOND_TYPES, str(b.GetBondType())), _index(BOND_STEREO, str(b.GetStereo())),
                 int(b.GetIsConjugated())] for b in mol.GetBonds()]
        return np.asarray(rows, dtype=np.float32).reshape(-1, self.bond_dim)
