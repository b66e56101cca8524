"""Featurizers on small known molecules, with expected values derived by hand from METHODS.md §1.

The layouts below are written out from the spec, not taken from the module, so a shifted block,
a wrong unk convention or a wrong RDKit call makes these tests fail.

Values that come from RDKit's chemistry perception were derived as follows:
* Feature-invariant bits: RDKit sets bit i for pattern i of [Donor, Acceptor, Aromatic, Halogen,
  Basic, Acidic]; the originals write the value as "{0:06b}", most significant bit first, so the
  6 columns read [Acidic, Basic, Halogen, Aromatic, Acceptor, Donor]. Donor needs e.g.
  [O;H1;+0] or [N;!H0;v3]; Acceptor e.g. [O;H0;v2], [O;-] or an [O;H1;v2] not next to C=O;
  Basic e.g. [#7;+] or a primary amine N; Acidic is the C of C(=O)[OH] / C(=O)[O-].
* CIP: the originals label non-stereocentres 0 and one-hot with unk->last over ['R', 'S'], so
  every atom that is not an R centre has the S column set.
* '_ChiralityPossible' is only set by RDKit when unassigned centres are flagged, which the
  originals never request: always 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from zoo_core.chem.featurizers import (
    CGIB52,
    CIGIN42,
    MRL56,
    Chemprop133,
    FeaturizationError,
    Featurizer,
    canonical_smiles,
    get_featurizer,
)
from zoo_core.chem.molgraph import MolGraph

# --- layouts from METHODS §1 -----------------------------------------------------------------

# F52 (§1.2): element 17 · implicit valence {0..3} 4 · radicals 2 · degree {0..6} 7 · charge 3 ·
# hybridisation {S,SP,SP2,SP3,SP3D} 5 · bits 6 · total H {0..4} 5 · R/S 2 · chirality possible 1;
# F56 appends aromatic one-hot 2 and in-ring one-hot 2.
F52 = dict(sym=0, iv=17, rad=21, deg=23, chg=30, hyb=33, bits=38, nh=44, rs=49, chir=51)
F56_AROM, F56_RING = 52, 54
F52_SYMBOLS = ["H", "B", "C", "N", "O", "F", "Na", "Si", "P", "S", "Cl", "Ge", "Se", "Br", "Sn", "Te", "I"]
F52_HYB = ["S", "SP", "SP2", "SP3", "SP3D"]
# F42 (§1.1): element 10 · implicit valence {0,1} 2 · radicals 2 · degree 7 · charge 3 ·
# hybridisation {SP,SP2,SP3,SP3D} 4 · bits 6 · total H 5 · R/S 2 · chirality possible 1.
F42 = dict(sym=0, iv=10, rad=12, deg=14, chg=21, hyb=24, bits=28, nh=34, rs=39, chir=41)
F42_SYMBOLS = ["C", "N", "O", "S", "F", "P", "Cl", "Br", "I", "Si"]
F42_HYB = ["SP", "SP2", "SP3", "SP3D"]
CHARGES = [-1, 0, 1]
BIT = {"acidic": 0, "basic": 1, "halogen": 2, "aromatic": 3, "acceptor": 4, "donor": 5}
# C133 (§1.4): Z-1 over 0..99 +unk [0:101] · total degree 0..5 +unk [101:108] ·
# charge [-1,-2,1,2,0] +unk [108:114] · chiral tag 0..3 +unk [114:119] · total H 0..4 +unk [119:125]
# · hybridisation [SP,SP2,SP3,SP3D,SP3D2] +unk [125:131] · aromatic 131 · mass*0.01 132.
C_Z, C_DEG, C_CHG, C_TAG, C_NH, C_HYB, C_AROM, C_MASS = 0, 101, 108, 114, 119, 125, 131, 132
C_CHARGES = [-1, -2, 1, 2, 0]
C_HYBS = ["SP", "SP2", "SP3", "SP3D", "SP3D2"]


def f52(sym, iv, deg, hyb, nh, rs="S", chg=0, rad=0, bits=(), arom=None, ring=None):
    """Hot columns of an F52 row (or F56 when arom/ring are given); args are slot values."""
    o = F52
    hot = {
        o["sym"] + F52_SYMBOLS.index(sym), o["iv"] + iv, o["rad"] + rad, o["deg"] + deg,
        o["chg"] + CHARGES.index(chg), o["hyb"] + F52_HYB.index(hyb), o["nh"] + nh,
        o["rs"] + ["R", "S"].index(rs),
    }
    hot |= {o["bits"] + BIT[b] for b in bits}
    if arom is not None:
        hot |= {F56_AROM + int(arom), F56_RING + int(ring)}
    return hot


def f42(sym, iv, deg, hyb, nh, rs="S", chg=0, rad=0, bits=()):
    o = F42
    hot = {
        o["sym"] + F42_SYMBOLS.index(sym), o["iv"] + iv, o["rad"] + rad, o["deg"] + deg,
        o["chg"] + CHARGES.index(chg), o["hyb"] + F42_HYB.index(hyb), o["nh"] + nh,
        o["rs"] + ["R", "S"].index(rs),
    }
    return hot | {o["bits"] + BIT[b] for b in bits}


def c133(z, total_degree, nh, hyb, chg=0, tag=0):
    """Hot one-hot columns of a C133 row (aromatic and mass are checked separately)."""
    return {
        C_Z + (z - 1 if 1 <= z <= 100 else 100),
        C_DEG + (total_degree if total_degree <= 5 else 6),
        C_CHG + (C_CHARGES.index(chg) if chg in C_CHARGES else 5),
        C_TAG + (tag if tag <= 3 else 4),
        C_NH + (nh if nh <= 4 else 5),
        C_HYB + (C_HYBS.index(hyb) if hyb in C_HYBS else 5),
    }


def hot(row: np.ndarray) -> set[int]:
    """Columns of a one-hot/binary row that are set; also checks they are exactly 1."""
    idx = np.flatnonzero(row)
    assert np.all(row[idx] == 1.0), row[idx]
    return set(idx.tolist())


def onehot_part(row: np.ndarray) -> set[int]:
    """C133 rows: the binary columns 0..131 (the mass column 132 is a real number)."""
    return hot(row[:C_MASS])


@pytest.fixture(scope="module")
def fz():
    return {name: get_featurizer(name) for name in ("mrl56", "cgib52", "cigin42", "chemprop133")}


# --- dims, spec, registry --------------------------------------------------------------------

@pytest.mark.parametrize(
    "name,cls,atom_dim,bond_dim",
    [("mrl56", MRL56, 56, 10), ("cgib52", CGIB52, 52, 10), ("cigin42", CIGIN42, 42, 10),
     ("chemprop133", Chemprop133, 133, 14)],
)
def test_dims_and_spec(name, cls, atom_dim, bond_dim):
    f = get_featurizer(name)
    assert isinstance(f, cls) and isinstance(f, Featurizer)
    assert (f.name, f.atom_dim, f.bond_dim) == (name, atom_dim, bond_dim)
    g = f.featurize("CC(=O)O")
    assert isinstance(g, MolGraph)
    assert g.x.shape == (4, atom_dim) and g.x.dtype == np.float32
    assert g.edge_attr.shape == (6, bond_dim) and g.edge_attr.dtype == np.float32
    assert g.edge_index.shape == (2, 6) and g.edge_index.dtype == np.int64
    assert g.atomic_num.dtype == np.int64
    assert f.spec(True) == {"name": name, "version": f.version, "atom_dim": atom_dim,
                            "bond_dim": bond_dim, "explicit_h": True}
    assert f.spec(False)["explicit_h"] is False
    assert isinstance(f.version, str) and f.version


def test_unknown_featurizer():
    with pytest.raises(KeyError, match="mrl56"):
        get_featurizer("nope")


def test_builtin_plugin_registers_these_classes():
    from zoo_core import builtin
    import importlib

    seen = {}
    builtin.zoo_register_featurizers(lambda name, target: seen.setdefault(name, target))
    assert set(seen) == {"mrl56", "cgib52", "cigin42", "chemprop133"}
    for name, target in seen.items():
        module, _, attr = target.partition(":")
        assert getattr(importlib.import_module(module), attr)().name == name


# --- ethanol ----------------------------------------------------------------------------------

def test_ethanol_mrl56_explicit_columns(fz):
    g = fz["mrl56"].featurize("CCO")
    assert g.smiles == "CCO"
    assert g.atomic_num.tolist() == [6, 6, 8]
    # Written out column by column: C, iv3, rad0, deg1, chg0, SP3, H3, S, not aromatic, not in ring
    assert hot(g.x[0]) == {2, 20, 21, 24, 31, 36, 47, 50, 52, 54}
    assert hot(g.x[1]) == {2, 19, 21, 25, 31, 36, 46, 50, 52, 54}
    # O: iv1, deg1, SP3, donor + acceptor (invariant 3 -> '000011'), H1
    assert hot(g.x[2]) == {4, 18, 21, 24, 31, 36, 42, 43, 45, 50, 52, 54}
    assert hot(g.x[2]) == f52("O", iv=1, deg=1, hyb="SP3", nh=1, bits=("donor", "acceptor"),
                              arom=False, ring=False)


def test_cgib52_vs_mrl56(fz):
    # Same F52 layout; CGIB's AddHs -> MolToSmiles -> MolFromSmiles round trip turns every H into
    # an explicit H count, so its implicit valence is 0 everywhere; 3DMRL parses directly.
    iv = slice(F52["iv"], F52["iv"] + 4)
    for smi in ("CCO", "c1ccccc1", "CC(=O)[O-]", "C[C@@H](N)C(=O)O"):
        a, b = fz["mrl56"].featurize(smi), fz["cgib52"].featurize(smi)
        assert (b.x[:, iv] == [1, 0, 0, 0]).all()
        keep = np.r_[0:F52["iv"], F52["iv"] + 4:52]
        np.testing.assert_array_equal(a.x[:, keep], b.x[:, keep])
        np.testing.assert_array_equal(a.edge_attr, b.edge_attr)
    assert fz["mrl56"].featurize("CCO").x[:, iv].tolist() == [[0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]]


def test_ethanol_cigin42(fz):
    x = fz["cigin42"].featurize("CCO").x
    # CIGIN's AddHs round trip leaves every H as an explicit count: implicit valence 0 everywhere
    assert hot(x[0]) == {0, 10, 12, 15, 22, 26, 37, 40}
    assert hot(x[0]) == f42("C", iv=0, deg=1, hyb="SP3", nh=3)
    assert hot(x[1]) == f42("C", iv=0, deg=2, hyb="SP3", nh=2)
    assert hot(x[2]) == f42("O", iv=0, deg=1, hyb="SP3", nh=1, bits=("donor", "acceptor"))


def test_ethanol_chemprop133(fz):
    x = fz["chemprop133"].featurize("CCO").x
    assert onehot_part(x[0]) == {5, 105, 112, 114, 122, 127}
    assert onehot_part(x[1]) == c133(6, total_degree=4, nh=2, hyb="SP3")
    assert onehot_part(x[2]) == c133(8, total_degree=2, nh=1, hyb="SP3")
    assert x[:, C_MASS] == pytest.approx([0.12011, 0.12011, 0.15999], abs=1e-5)


# --- molecules without bonds ------------------------------------------------------------------

@pytest.mark.parametrize("smi,n_atoms", [("O", 1), ("[Na+]", 1), ("Cl", 1), ("C", 1), ("[Na+].[Cl-]", 2)])
def test_no_bonds(fz, smi, n_atoms):
    for f in fz.values():
        g = f.featurize(smi)
        assert g.x.shape == (n_atoms, f.atom_dim)
        assert g.edge_index.shape == (2, 0) and g.edge_index.dtype == np.int64
        assert g.edge_attr.shape == (0, f.bond_dim) and g.edge_attr.dtype == np.float32
        assert g.num_edges == 0


def test_water(fz):
    g = fz["mrl56"].featurize("O")
    # water's O (H2) matches neither the Donor ([O;H1]) nor the Acceptor O patterns: no bits
    assert hot(g.x[0]) == f52("O", iv=2, deg=0, hyb="SP3", nh=2, arom=False, ring=False)
    assert hot(fz["cigin42"].featurize("O").x[0]) == f42("O", iv=0, deg=0, hyb="SP3", nh=2)
    assert onehot_part(fz["chemprop133"].featurize("O").x[0]) == c133(8, total_degree=2, nh=2, hyb="SP3")


def test_sodium_cation(fz):
    x = fz["mrl56"].featurize("[Na+]").x
    assert hot(x[0]) == {6, 17, 21, 23, 32, 33, 44, 50, 52, 54}  # Na, +1, hybridisation S
    assert hot(x[0]) == f52("Na", iv=0, deg=0, hyb="S", nh=0, chg=1, arom=False, ring=False)
    # F42 has neither Na nor S hybridisation: Na -> Si, S -> SP3D (unk->last)
    assert hot(fz["cigin42"].featurize("[Na+]").x[0]) == {9, 10, 12, 14, 23, 27, 34, 40}
    xc = fz["chemprop133"].featurize("[Na+]").x
    assert onehot_part(xc[0]) == {10, 101, 110, 114, 119, 130}  # hybridisation S -> +unk
    assert xc[0, C_MASS] == pytest.approx(0.2299, abs=1e-4)


def test_hydrogen_chloride(fz):
    x = fz["mrl56"].featurize("Cl").x
    assert hot(x[0]) == f52("Cl", iv=1, deg=0, hyb="SP3", nh=1, bits=("halogen",),
                            arom=False, ring=False)
    assert hot(x[0]) == {10, 18, 21, 23, 31, 36, 40, 45, 50, 52, 54}
    assert hot(fz["cigin42"].featurize("Cl").x[0]) == f42("Cl", iv=0, deg=0, hyb="SP3", nh=1,
                                                          bits=("halogen",))


# --- aromatic ---------------------------------------------------------------------------------

def test_benzene(fz):
    g = fz["mrl56"].featurize("c1ccccc1")
    expected = f52("C", iv=1, deg=2, hyb="SP2", nh=1, bits=("aromatic",), arom=True, ring=True)
    assert expected == {2, 18, 21, 25, 31, 35, 41, 45, 50, 53, 55}
    for row in g.x:
        assert hot(row) == expected
    assert g.edge_index.shape == (2, 12)
    # B10: aromatic, conjugated, in ring, STEREONONE
    for row in g.edge_attr:
        assert hot(row) == {3, 4, 5, 6}
    gc = fz["chemprop133"].featurize("c1ccccc1")
    for row in gc.x:
        assert onehot_part(row) == c133(6, total_degree=3, nh=1, hyb="SP2") | {C_AROM}
    # B14: not-None flag 0, aromatic, conjugated, in ring, stereo 0
    for row in gc.edge_attr:
        assert hot(row) == {4, 5, 6, 7}


# --- charged ----------------------------------------------------------------------------------

def test_acetate(fz):
    g = fz["mrl56"].featurize("CC(=O)[O-]")
    assert g.smiles == "CC(=O)[O-]" and g.atomic_num.tolist() == [6, 6, 8, 8]
    x = g.x
    assert hot(x[0]) == f52("C", iv=3, deg=1, hyb="SP3", nh=3, arom=False, ring=False)
    assert hot(x[1]) == f52("C", iv=0, deg=3, hyb="SP2", nh=0, bits=("acidic",), arom=False, ring=False)
    assert hot(x[2]) == f52("O", iv=0, deg=1, hyb="SP2", nh=0, bits=("acceptor",), arom=False, ring=False)
    assert hot(x[3]) == f52("O", iv=0, deg=1, hyb="SP2", nh=0, chg=-1, bits=("acceptor",),
                            arom=False, ring=False)
    assert hot(x[3]) == {4, 17, 21, 24, 30, 35, 42, 44, 50, 52, 54}
    # bonds in SMILES order: C-C single; C=O double, conjugated; C-O(-) single, conjugated
    ea = g.edge_attr
    assert hot(ea[0]) == hot(ea[1]) == {0, 6}
    assert hot(ea[2]) == hot(ea[3]) == {1, 4, 6}
    assert hot(ea[4]) == hot(ea[5]) == {0, 4, 6}
    xc = fz["chemprop133"].featurize("CC(=O)[O-]").x
    assert onehot_part(xc[3]) == c133(8, total_degree=1, nh=0, hyb="SP2", chg=-1)
    assert 108 in onehot_part(xc[3])  # charge -1 is the first entry of [-1,-2,1,2,0]


def test_methylammonium(fz):
    x = fz["mrl56"].featurize("C[NH3+]").x
    # N: bracket H -> implicit valence 0, total H 3, +1, degree 1; Donor ([N;!H0;v4;+1]) + Basic ([#7;+])
    assert hot(x[1]) == f52("N", iv=0, deg=1, hyb="SP3", nh=3, chg=1, bits=("donor", "basic"),
                            arom=False, ring=False)
    assert hot(x[1]) == {3, 17, 21, 24, 32, 36, 39, 43, 47, 50, 52, 54}
    assert hot(fz["cigin42"].featurize("C[NH3+]").x[1]) == f42(
        "N", iv=0, deg=1, hyb="SP3", nh=3, chg=1, bits=("donor", "basic"))


def test_charge_outside_list_and_radical(fz):
    # F42/F52 charge one-hot over [-1,0,1] is unk->last: -2 is encoded as +1
    assert hot(fz["mrl56"].featurize("[O-2]").x[0]) == f52("O", iv=0, deg=0, hyb="SP3", nh=0, chg=1,
                                                           arom=False, ring=False)
    assert hot(fz["cigin42"].featurize("[O-2]").x[0]) == f42("O", iv=0, deg=0, hyb="SP3", nh=0, chg=1)
    # C133 charge list [-1,-2,1,2,0] contains -2 (index 1); +3 goes to +unk
    assert onehot_part(fz["chemprop133"].featurize("[O-2]").x[0]) == c133(8, 0, 0, "SP3", chg=-2)
    assert C_CHG + 5 in onehot_part(fz["chemprop133"].featurize("[Fe+3]").x[0])
    # methyl radical: one radical electron, 3 H from the bracket
    assert hot(fz["mrl56"].featurize("[CH3]").x[0]) == f52("C", iv=0, deg=0, hyb="SP3", nh=3, rad=1,
                                                           arom=False, ring=False)


# --- chirality --------------------------------------------------------------------------------

def test_chirality_alanine(fz):
    l_ala = fz["mrl56"].featurize("C[C@H](N)C(=O)O")   # L-alanine: the alpha carbon is S
    d_ala = fz["mrl56"].featurize("C[C@@H](N)C(=O)O")  # D-alanine: R
    rs = F52["rs"]
    assert l_ala.x[1, rs:rs + 2].tolist() == [0, 1]
    assert d_ala.x[1, rs:rs + 2].tolist() == [1, 0]
    # every other atom (not a stereocentre) falls into the S column (unk->last), both enantiomers
    for x in (l_ala.x, d_ala.x):
        assert x[[0, 2, 3, 4, 5], rs:rs + 2].tolist() == [[0, 1]] * 5
        assert not x[:, F52["chir"]].any()  # _ChiralityPossible is never set by these calls
    # full alpha carbon row of D-alanine: iv0 (bracket H), deg3, SP3, H1, R
    assert hot(d_ala.x[1]) == f52("C", iv=0, deg=3, hyb="SP3", nh=1, rs="R", arom=False, ring=False)
    # N of alanine: donor + acceptor + basic (invariant 19)
    assert hot(d_ala.x[2]) == f52("N", iv=2, deg=1, hyb="SP3", nh=2,
                                  bits=("donor", "acceptor", "basic"), arom=False, ring=False)
    assert fz["cigin42"].featurize("C[C@@H](N)C(=O)O").x[1, F42["rs"]:F42["rs"] + 2].tolist() == [1, 0]
    # C133 reads the chiral tag of the canonical SMILES: '@' = CCW (2), '@@' = CW (1)
    assert C_TAG + 2 in onehot_part(fz["chemprop133"].featurize("C[C@H](N)C(=O)O").x[1])
    assert C_TAG + 1 in onehot_part(fz["chemprop133"].featurize("C[C@@H](N)C(=O)O").x[1])
    assert C_TAG + 0 in onehot_part(fz["chemprop133"].featurize("CC(N)C(=O)O").x[1])


def test_double_bond_stereo(fz):
    g = fz["mrl56"].featurize("F/C=C/F")
    assert g.smiles == "F/C=C/F"
    # bonds: F-C, C=C (trans -> STEREOE), C-F. F here is not conjugated with the C=C in RDKit.
    assert hot(g.edge_attr[2]) == hot(g.edge_attr[3]) == {1, 9}   # double, E
    assert hot(g.edge_attr[0]) == {0, 6}                          # single, STEREONONE
    gc = fz["chemprop133"].featurize("F/C=C/F")
    assert hot(gc.edge_attr[2]) == {2, 7 + 3}                     # double, stereo enum 3 (E)
    assert hot(gc.edge_attr[0]) == {1, 7}
    # unspecified double bond: STEREONONE
    assert hot(fz["mrl56"].featurize("FC=CF").edge_attr[2]) == {1, 6}


# --- explicit hydrogens -----------------------------------------------------------------------

def test_explicit_h_ethanol(fz):
    g = fz["mrl56"].featurize("CCO", explicit_h=True)
    assert g.smiles == "CCO"  # canonical SMILES of the molecule before AddHs
    assert g.num_atoms == 9 and g.num_edges == 16
    assert g.atomic_num.tolist() == [6, 6, 8, 1, 1, 1, 1, 1, 1]
    # heavy atoms: H are neighbours now -> implicit valence 0, GetTotalNumHs() 0, degree counts H
    assert hot(g.x[0]) == f52("C", iv=0, deg=4, hyb="SP3", nh=0, arom=False, ring=False)
    assert hot(g.x[1]) == f52("C", iv=0, deg=4, hyb="SP3", nh=0, arom=False, ring=False)
    assert hot(g.x[2]) == f52("O", iv=0, deg=2, hyb="SP3", nh=0, bits=("donor", "acceptor"),
                              arom=False, ring=False)
    # added H atoms: hybridisation UNSPECIFIED -> SP3D (unk->last)
    for row in g.x[3:]:
        assert hot(row) == f52("H", iv=0, deg=1, hyb="SP3D", nh=0, arom=False, ring=False)
        assert hot(row) == {0, 17, 21, 24, 31, 37, 44, 50, 52, 54}
    # AddHs appends 3 H on C0, 2 on C1, 1 on O2; every bond appears in both directions
    pairs = set(map(tuple, g.edge_index.T.tolist()))
    assert len(pairs) == 16
    for i, j in [(0, 1), (1, 2), (0, 3), (0, 4), (0, 5), (1, 6), (1, 7), (2, 8)]:
        assert (i, j) in pairs and (j, i) in pairs
    # F42 has no H in its element list: H -> Si
    x42 = fz["cigin42"].featurize("CCO", explicit_h=True).x
    assert x42.shape == (9, 42)
    assert hot(x42[8]) == f42("Si", iv=0, deg=1, hyb="SP3D", nh=0)
    xc = fz["chemprop133"].featurize("CCO", explicit_h=True).x
    assert onehot_part(xc[0]) == c133(6, total_degree=4, nh=0, hyb="SP3")
    assert onehot_part(xc[8]) == c133(1, total_degree=1, nh=0, hyb="UNSPECIFIED")
    assert xc[8, C_MASS] == pytest.approx(0.01008, abs=1e-5)


def test_explicit_h_heavy_atom_only_molecules(fz):
    g = fz["mrl56"].featurize("[Na+]", explicit_h=True)
    assert g.num_atoms == 1 and g.edge_index.shape == (2, 0)
    g = fz["mrl56"].featurize("O", explicit_h=True)
    assert g.num_atoms == 3 and g.edge_index.shape == (2, 4)


# --- edges ------------------------------------------------------------------------------------

def test_edges_both_directions(fz):
    for f in fz.values():
        g = f.featurize("CCO")
        # bond 0 = C0-C1, bond 1 = C1-O2; column 2k = begin->end, 2k+1 = end->begin
        assert g.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
        np.testing.assert_array_equal(g.edge_attr[0::2], g.edge_attr[1::2])
    g = fz["mrl56"].featurize("c1ccc2ccccc2c1")  # naphthalene: 11 bonds
    ei = g.edge_index
    assert ei.shape == (2, 22)
    np.testing.assert_array_equal(ei[:, 0::2], ei[::-1, 1::2])


def test_degree_above_six_is_clamped(fz):
    # ReF7: Re has 7 neighbours; the original one-hot over {0..6} raised, the zoo uses the last slot
    for name, o in (("mrl56", F52), ("cgib52", F52), ("cigin42", F42)):
        g = fz[name].featurize("F[Re](F)(F)(F)(F)(F)F")
        re = int(np.flatnonzero(g.atomic_num == 75)[0])
        assert g.x[re, o["deg"]:o["deg"] + 7].tolist() == [0, 0, 0, 0, 0, 0, 1]
    g = fz["chemprop133"].featurize("F[Re](F)(F)(F)(F)(F)F")
    re = int(np.flatnonzero(g.atomic_num == 75)[0])
    assert C_DEG + 6 in onehot_part(g.x[re])  # total degree 7 -> +unk
    assert C_Z + 74 in onehot_part(g.x[re])


# --- canonical SMILES and errors --------------------------------------------------------------

def test_canonical_smiles_and_atom_order(fz):
    assert canonical_smiles("OCC") == "CCO"
    assert canonical_smiles("C1=CC=CC=C1") == "c1ccccc1"
    assert canonical_smiles("C1CC") is None
    assert canonical_smiles("") is None
    assert canonical_smiles(None) is None
    # the graph is a function of the canonical SMILES: atom order does not depend on the input
    for f in fz.values():
        a, b = f.featurize("OCC"), f.featurize("CCO")
        assert a.smiles == b.smiles == "CCO"
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.edge_index, b.edge_index)
        np.testing.assert_array_equal(a.edge_attr, b.edge_attr)


@pytest.mark.parametrize("bad", ["C1CC", "xyz", "", "   ", "C(C)(C)(C)(C)C", "c1cccc1", None, float("nan")])
def test_bad_smiles_raise(fz, bad):
    for f in fz.values():
        with pytest.raises(FeaturizationError):
            f.featurize(bad)
    assert issubclass(FeaturizationError, ValueError)


def test_error_messages_say_why(fz):
    with pytest.raises(FeaturizationError, match=r"RDKit cannot parse SMILES 'C1CC'"):
        fz["mrl56"].featurize("C1CC")
    with pytest.raises(FeaturizationError, match=r"(?i)valence"):
        fz["mrl56"].featurize("C(C)(C)(C)(C)C")
    with pytest.raises(FeaturizationError, match="empty"):
        fz["mrl56"].featurize("")
