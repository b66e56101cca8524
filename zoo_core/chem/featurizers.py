"""RDKit featurizers of the originals (METHODS.md §1): SMILES -> :class:`MolGraph`.

Four featurizers, each a registry name the encoders and weight files refer to:

=========== ======================================== ======== ========
name        origin                                   atom_dim bond_dim
=========== ======================================== ======== ========
cigin42     F42, original CIGIN (§1.1)               42       10 (B10)
cgib52      F52, CGIB molecular interaction (§1.2)   52       10 (B10)
mrl56       F56, 3DMRL molecular interaction (§1.2)  56       10 (B10)
chemprop133 C133, CGIB DDI, chemprop style (§1.4)    133      14 (B14)
=========== ======================================== ======== ========

Pipeline of :meth:`Featurizer.featurize` (the same for all four):

1. ``Chem.MolFromSmiles(smiles.strip())``; empty, non-string or unparsable input raises
   :class:`FeaturizationError`.
2. ``MolGraph.smiles`` = ``Chem.MolToSmiles`` of that Mol (the canonical SMILES, the cache key).
3. The canonical SMILES is parsed again and *that* Mol is featurized, so atoms are in
   canonical-SMILES order: the graph depends only on the cache key (``'OCC'`` and ``'CCO'`` give
   identical arrays), and a conformer built from ``MolGraph.smiles`` (+ ``AddHs``) lines up atom for
   atom. :func:`prepare_mol` returns exactly this Mol for other modules (conformers, drawing).
   CGIB did the same kind of round trip (``MolToSmiles`` -> ``MolFromSmiles``).
4. ``explicit_h=True``: ``Chem.AddHs`` on the Mol (as 3DMRL's solvation/DDI/pretraining data do,
   §1.5); the H atoms are appended after the heavy atoms. ``explicit_h=False``: heavy atoms only
   (CIGIN, CGIB, 3DMRL chromophores).
5. Atom features with the originals' RDKit calls; one row per bond in ``mol.GetBonds()`` order, each
   bond emitted twice: column 2k is begin->end, column 2k+1 end->begin (the originals looped over
   all atom pairs instead; the edge order does not change any sum/mean aggregation).

One-hot conventions (METHODS §1 notation): *unk->last* maps a value outside the list to its last
entry, *strict* raised in the original, *+unk* appends one extra slot for unknown values.

RDKit calls and what they return (verified on RDKit 2026.09, legacy stereo perception):

* "implicit valence" is ``atom.GetValence(Chem.ValenceType.IMPLICIT)``, the non-deprecated spelling
  of the originals' ``GetImplicitValence()`` (same value).
* **CIGIN and CGIB (cigin42, cgib52) ran ``AddHs -> MolToSmiles -> MolFromSmiles`` before
  featurizing** (§1.5). The graph is still heavy-atom only, but every H comes back as an *explicit*
  H count, so ``GetImplicitValence()`` is 0 for every atom: in the originals' data the
  implicit-valence block is constant (slot 0). cigin42 and cgib52 reproduce that (the block is
  always slot 0, in both H modes), without the round trip's atom reordering. Checked on the 9,132
  unique molecules of the shared data sets: the round trip changes no other feature (the single
  exception is H2, which it turns into two H atoms). mrl56 keeps the real implicit valence:
  3DMRL featurizes the parsed Mol directly (chromophores) or after ``AddHs`` (where it is 0).
* The 6 "invariant" bits are ``rdMolDescriptors.GetFeatureInvariants(mol)`` written as
  ``"{0:06b}"`` (most significant bit first). RDKit sets bit i for pattern i of
  Donor, Acceptor, Aromatic, Halogen, Basic, Acidic, so the 6 columns read
  [Acidic, Basic, Halogen, Aromatic, Acceptor, Donor]; values are < 64 by construction.
* CIP labels come from ``Chem.FindMolChiralCenters(mol)`` exactly as the originals called it
  (force=True, includeUnassigned=False), pinned to the legacy implementation that RDKit 2019-2020
  used (``useLegacyImplementation=True``). The originals encode the label with unk->last over
  ['R', 'S'] and give every atom that is *not* a stereocentre the label 0, so **every non-R atom,
  stereocentre or not, sets the S column**; R sets the R column. Reproduced as is.
* ``_ChiralityPossible`` is read after that call, as in the originals. RDKit only sets it when
  stereocentres are flagged (``includeUnassigned=True``), which neither the originals nor
  ``MolFromSmiles`` do, so this column is 0 in practice (also in the originals). Kept for the width.
* Hydrogen counts with ``explicit_h=True``: the originals call ``atom.GetTotalNumHs()`` without
  ``includeNeighbors``, which does not count explicit H *atoms*; after ``AddHs`` every heavy atom
  therefore reports 0 H (and implicit valence 0), while ``GetDegree()`` counts the H neighbours.
  H atoms added by ``AddHs`` have hybridisation UNSPECIFIED (the Mol is not re-sanitised, as in
  3DMRL), so they land in the unk->last hybridisation slot (SP3D in F42/F52/F56, the +unk slot in
  C133). In F42, whose element list has no H, an H atom is encoded as Si (unk->last).
* C133/B14 compare hybridisation, chiral tag and bond stereo by RDKit enum *member* (the original
  compared ``int(...)`` against the enum list, which is the same thing within one RDKit version;
  current RDKit renumbered hybridisation when SP2D was added, so members, not numbers, are the
  faithful reading). Chiral tags and bond stereo values beyond the original lists (e.g.
  CHI_TETRAHEDRAL, STEREOATROPCW) go to the +unk slot.

Checked against a literal port of the originals' functions and pipelines (CIGIN/CGIB: AddHs round
trip; 3DMRL: direct parse or AddHs) on the 9,132 unique molecules of the shared data sets, both H
modes, rows compared as multisets (C133 without its order-dependent chiral-tag block): every
explicit-H graph matches; heavy-atom graphs differ only in these known cases: (a) mrl56, 18 of
9,132: implicit valence where the input spells H differently from the canonical SMILES
(``[H]C(=O)...``, or an atom the canonical writer brackets, ``[SH]``); the canonical re-parse
makes it a function of the molecule; (b) cigin42/cgib52/chemprop133, 5 of 9,132: RDKit flips one
macrocyclic double bond from E to Z during the originals' round trip (not reproduced); (c) H2,
which the round trip turns into two H atoms (here one ``[HH]`` atom).

Deviation from the originals (METHODS §10 item 13):

* **Degree > 6** (F42/F52/F56: degree over {0..6}, *strict*) raised an exception in the originals,
  which crashed dataset building on e.g. ReF7 or a 7-coordinated metal. Here it maps to the last
  slot (degree 6) instead. This changes no output for any molecule the originals could featurize.
"""

from __future__ import annotations

import functools
import operator
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np

from zoo_core.chem.molgraph import MolGraph

if TYPE_CHECKING:  # annotations only: RDKit itself is imported on first use (_rdkit)
    from rdkit import Chem

__all__ = [
    "FeaturizationError",
    "Featurizer",
    "MRL56",
    "CGIB52",
    "CIGIN42",
    "Chemprop133",
    "canonical_smiles",
    "prepare_mol",
    "get_featurizer",
    "FEATURIZERS",
]



@functools.cache
def _rdkit() -> SimpleNamespace:
    """RDKit, imported on first use instead of with this module.

    ``import rdkit.Chem`` costs ~30 MB of resident memory. Loading a featurizer class for its :meth:`spec`
    (``model_spec``, ``build_store`` on a warm cache, weight files) needs only class attributes, so RDKit is
    imported when a molecule is first parsed or featurized. Enum values are therefore named in the class
    attributes below (``_hybridisations = ("SP", ...)``) and resolved to RDKit members by :func:`_enum_index`.
    """
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdMolDescriptors

    if hasattr(Chem, "ValenceType"):  # RDKit >= 2024.09 deprecates GetImplicitValence()
        implicit_valence = operator.methodcaller("GetValence", Chem.ValenceType.IMPLICIT)
    else:  # pragma: no cover - older RDKit
        implicit_valence = operator.methodcaller("GetImplicitValence")
    return SimpleNamespace(Chem=Chem, rdBase=rdBase, rdMolDescriptors=rdMolDescriptors,
                           implicit_valence=implicit_valence)


@functools.cache
def _enum_index(enum: str, members: tuple[str, ...]) -> dict:
    """``{Chem.rdchem.<enum>.<member>: position}`` for the member names ``members``."""
    values = getattr(_rdkit().Chem.rdchem, enum)
    return {getattr(values, m): i for i, m in enumerate(members)}


# "{0:06b}" writes the most significant of the 6 bits first.
_BIT_SHIFTS = np.arange(5, -1, -1, dtype=np.int64)


class FeaturizationError(ValueError):
    """A SMILES string cannot be featurized; the message says why."""


# ----------------------------------------------------------------------------------------------
# Parsing


def _parse(smiles: str) -> Chem.Mol:
    """``Chem.MolFromSmiles`` with a FeaturizationError that says why it failed."""
    if not isinstance(smiles, str):
        raise FeaturizationError(f"SMILES must be a string, got {type(smiles).__name__} {smiles!r}")
    text = smiles.strip()
    if not text:
        raise FeaturizationError("empty SMILES")
    rd = _rdkit()
    with rd.rdBase.BlockLogs():
        mol = rd.Chem.MolFromSmiles(text)
        if mol is None:
            raise FeaturizationError(f"RDKit cannot parse SMILES {smiles!r}{_why_unparsable(text)}")
    if mol.GetNumAtoms() == 0:
        raise FeaturizationError(f"SMILES {smiles!r} has no atoms")
    return mol


def _why_unparsable(text: str) -> str:
    """The reason RDKit rejected ``text`` (only called on failure; logs already blocked)."""
    Chem = _rdkit().Chem
    raw = Chem.MolFromSmiles(text, sanitize=False)
    if raw is None:
        return " (invalid SMILES syntax)"
    try:
        problems = Chem.DetectChemistryProblems(raw)
    except Exception:  # pragma: no cover - defensive: diagnosis must never mask the real error
        problems = ()
    if problems:
        return ": " + "; ".join(p.Message() for p in problems)
    return " (sanitization failed)"


def canonical_smiles(smiles: str) -> str | None:
    """RDKit canonical SMILES of ``smiles``; None if it is empty, not a string or unparsable."""
    try:
        return _rdkit().Chem.MolToSmiles(_parse(smiles))
    except FeaturizationError:
        return None


def prepare_mol(smiles: str, explicit_h: bool = False) -> tuple[str, Chem.Mol]:
    """(canonical SMILES, the Mol that :meth:`Featurizer.featurize` featurizes).

    Atoms are in canonical-SMILES order; with ``explicit_h`` the H atoms follow the heavy atoms.
    Raises :class:`FeaturizationError` for empty or unparsable input.
    """
    mol = _parse(smiles)
    rd = _rdkit()
    Chem = rd.Chem
    canonical = Chem.MolToSmiles(mol)
    with rd.rdBase.BlockLogs():
        reparsed = Chem.MolFromSmiles(canonical)
    if reparsed is not None and reparsed.GetNumAtoms() == mol.GetNumAtoms():
        mol = reparsed  # else (an RDKit round-trip bug): keep the input's atom order
    if explicit_h:
        mol = Chem.AddHs(mol)
    return canonical, mol


# ----------------------------------------------------------------------------------------------
# Base class


class Featurizer:
    """SMILES -> MolGraph. Subclasses set the four class attributes and implement
    :meth:`atom_features` and :meth:`bond_features`; the base does parsing, H mode and edges."""

    name: str = ""
    version: str = "1"
    atom_dim: int = 0
    bond_dim: int = 0

    def featurize(self, smiles: str, explicit_h: bool = False) -> MolGraph:
        """Featurize one molecule; raises :class:`FeaturizationError` if it cannot be parsed."""
        canonical, mol = prepare_mol(smiles, explicit_h)
        x = np.ascontiguousarray(self.atom_features(mol), dtype=np.float32)
        bond_attr = np.asarray(self.bond_features(mol), dtype=np.float32).reshape(-1, self.bond_dim)
        n_bonds = mol.GetNumBonds()
        ends = np.fromiter(
            (i for b in _bonds(mol) for i in (b.GetBeginAtomIdx(), b.GetEndAtomIdx())),
            dtype=np.int64,
            count=2 * n_bonds,
        ).reshape(n_bonds, 2)
        # column 2k = begin->end, 2k+1 = end->begin
        edge_index = np.empty((2, 2 * n_bonds), dtype=np.int64)
        edge_index[0, 0::2], edge_index[1, 0::2] = ends[:, 0], ends[:, 1]
        edge_index[0, 1::2], edge_index[1, 1::2] = ends[:, 1], ends[:, 0]
        edge_attr = np.repeat(bond_attr, 2, axis=0)
        atomic_num = np.fromiter(
            (a.GetAtomicNum() for a in _atoms(mol)), dtype=np.int64, count=mol.GetNumAtoms()
        )
        if x.shape != (mol.GetNumAtoms(), self.atom_dim) or bond_attr.shape[0] != n_bonds:
            raise RuntimeError(  # a bug in a subclass, not bad input
                f"featurizer {self.name!r} produced x {x.shape} and {bond_attr.shape[0]} bond rows "
                f"for {mol.GetNumAtoms()} atoms / {n_bonds} bonds (atom_dim {self.atom_dim})"
            )
        return MolGraph(
            smiles=canonical, x=x, edge_index=edge_index, edge_attr=edge_attr, atomic_num=atomic_num
        )

    def atom_features(self, mol: Chem.Mol) -> np.ndarray:
        """[n_atoms, atom_dim] features of ``mol`` (already in its final H mode)."""
        raise NotImplementedError

    def bond_features(self, mol: Chem.Mol) -> np.ndarray:
        """[n_bonds, bond_dim] features, one row per bond in ``mol.GetBonds()`` order."""
        raise NotImplementedError

    def spec(self, explicit_h: bool) -> dict:
        """What weight files and cache keys record about this featurization."""
        return {
            "name": self.name,
            "version": self.version,
            "atom_dim": self.atom_dim,
            "bond_dim": self.bond_dim,
            "explicit_h": bool(explicit_h),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version!r})"


def _atoms(mol: Chem.Mol):
    """Atoms in index order (faster than iterating ``mol.GetAtoms()``'s Python sequence wrapper)."""
    return map(mol.GetAtomWithIdx, range(mol.GetNumAtoms()))


def _bonds(mol: Chem.Mol):
    """Bonds in index order, i.e. ``mol.GetBonds()`` order."""
    return map(mol.GetBondWithIdx, range(mol.GetNumBonds()))


def _scatter_onehot(x: np.ndarray, slots: np.ndarray) -> None:
    """Set x[i, slots[i, k]] = 1 for every atom i and block k (slots are absolute columns)."""
    if slots.size:
        x[np.arange(x.shape[0])[:, None], slots] = 1.0


# ----------------------------------------------------------------------------------------------
# B10 / B14 bond features


# Names of Chem.rdchem enum members, in column order (resolved by _enum_index).
_BOND_TYPES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
_B10_STEREO = ("STEREONONE", "STEREOANY", "STEREOZ", "STEREOE")  # unk -> E


def _b10(mol: Chem.Mol) -> np.ndarray:
    """B10 (§1.3): [single, double, triple, aromatic, conjugated, in-ring] + stereo
    {NONE, ANY, Z, E} unk->last (E)."""
    bond_col, stereo = _enum_index("BondType", _BOND_TYPES), _enum_index("BondStereo", _B10_STEREO)
    out = np.zeros((mol.GetNumBonds(), 10), dtype=np.float32)
    for k, bond in enumerate(_bonds(mol)):
        col = bond_col.get(bond.GetBondType())
        if col is not None:
            out[k, col] = 1.0
        out[k, 4] = bond.GetIsConjugated()
        out[k, 5] = bond.IsInRing()
        out[k, 6 + stereo.get(bond.GetStereo(), 3)] = 1.0
    return out


_B14_STEREO = ("STEREONONE", "STEREOANY", "STEREOZ", "STEREOE", "STEREOCIS", "STEREOTRANS")  # +unk at 6


def _b14(mol: Chem.Mol) -> np.ndarray:
    """B14 (§1.4): [bond-is-None (0), single, double, triple, aromatic, conjugated, in-ring]
    + stereo over 0..5 +unk."""
    bond_col, stereo = _enum_index("BondType", _BOND_TYPES), _enum_index("BondStereo", _B14_STEREO)
    out = np.zeros((mol.GetNumBonds(), 14), dtype=np.float32)
    for k, bond in enumerate(_bonds(mol)):
        col = bond_col.get(bond.GetBondType())
        if col is not None:
            out[k, 1 + col] = 1.0
        out[k, 5] = bond.GetIsConjugated()
        out[k, 6] = bond.IsInRing()
        out[k, 7 + stereo.get(bond.GetStereo(), 6)] = 1.0
    return out


# ----------------------------------------------------------------------------------------------
# F42 / F52 / F56: the CIGIN family


class _CIGINFamily(Featurizer):
    """Shared code of F42, F52 and F56 (CIGIN's ``get_atom_features`` and its CGIB/3DMRL copies).

    Block layout: element (unk->last) · implicit valence (unk->last) · radical electrons {0,1}
    (unk->last) · degree {0..6} (strict in the original; here >6 -> last) · formal charge
    {-1,0,1} (unk->last) · hybridisation (unk->last) · 6 invariant bits · total H {0..4}
    (unk->last) · CIP {R,S} (unk->last) · _ChiralityPossible ·
    [aromatic one-hot, in-ring one-hot].
    """

    bond_dim = 10
    _symbols: tuple[str, ...] = ()
    _max_implicit_valence: int = 1  # list is {0..max}
    _hybridisations: tuple[str, ...] = ()  # HybridizationType member names
    _aromatic_and_ring: bool = False
    # The original ran AddHs -> MolToSmiles -> MolFromSmiles first, which stores every H as an
    # explicit H count, so GetImplicitValence() was 0 for every atom (see the module docstring).
    _h_roundtrip: bool = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        sym, hyb = cls._symbols, cls._hybridisations
        cls._sym_index = {s: i for i, s in enumerate(sym)}
        o = {}
        o["sym"] = 0
        o["iv"] = o["sym"] + len(sym)
        o["rad"] = o["iv"] + cls._max_implicit_valence + 1
        o["deg"] = o["rad"] + 2
        o["chg"] = o["deg"] + 7
        o["hyb"] = o["chg"] + 3
        o["bits"] = o["hyb"] + len(hyb)
        o["nh"] = o["bits"] + 6
        o["rs"] = o["nh"] + 5
        o["chir"] = o["rs"] + 2
        o["arom"] = o["chir"] + 1
        end = o["arom"] + (4 if cls._aromatic_and_ring else 0)
        cls.offsets = o
        if end != cls.atom_dim:  # pragma: no cover - guards the class definitions below
            raise TypeError(f"{cls.__name__}: layout has {end} columns, atom_dim {cls.atom_dim}")

    def atom_features(self, mol: Chem.Mol) -> np.ndarray:
        n = mol.GetNumAtoms()
        o = self.offsets
        rd = _rdkit()
        invariants = np.asarray(rd.rdMolDescriptors.GetFeatureInvariants(mol), dtype=np.int64)
        # The originals' stereo call; pinned to the legacy code path they ran on.
        cip = dict(rd.Chem.FindMolChiralCenters(mol, force=True, includeUnassigned=False,
                                                useLegacyImplementation=True))
        sym_index, sym_unk = self._sym_index, len(self._symbols) - 1
        hyb_index, hyb_unk = _enum_index("HybridizationType", self._hybridisations), len(self._hybridisations) - 1
        implicit_valence = rd.implicit_valence
        max_iv = 0 if self._h_roundtrip else self._max_implicit_valence
        charge_index = {-1: 0, 0: 1, 1: 2}  # unk -> last (+1)

        slots = np.empty((n, 8), dtype=np.int64)
        flags = np.zeros((n, 3), dtype=np.float32)  # chirality possible, aromatic, in ring
        for i, atom in enumerate(_atoms(mol)):
            slots[i] = (
                sym_index.get(atom.GetSymbol(), sym_unk),
                min(implicit_valence(atom), max_iv),  # max_iv 0: the round trip's constant
                min(atom.GetNumRadicalElectrons(), 1),
                min(atom.GetDegree(), 6),  # deviation: the original raised for degree > 6
                charge_index.get(atom.GetFormalCharge(), 2),
                hyb_index.get(atom.GetHybridization(), hyb_unk),
                min(atom.GetTotalNumHs(), 4),
                0 if cip.get(i) == "R" else 1,  # non-stereocentres fall into S (unk->last)
            )
            flags[i, 0] = atom.HasProp("_ChiralityPossible")
            flags[i, 1] = atom.GetIsAromatic()
            flags[i, 2] = atom.IsInRing()

        x = np.zeros((n, self.atom_dim), dtype=np.float32)
        slots += np.array(
            [o["sym"], o["iv"], o["rad"], o["deg"], o["chg"], o["hyb"], o["nh"], o["rs"]],
            dtype=np.int64,
        )
        _scatter_onehot(x, slots)
        x[:, o["bits"]:o["bits"] + 6] = (invariants[:, None] >> _BIT_SHIFTS) & 1
        x[:, o["chir"]] = flags[:, 0]
        if self._aromatic_and_ring:
            a = o["arom"]
            arom, ring = flags[:, 1].astype(np.int64), flags[:, 2].astype(np.int64)
            x[np.arange(n), a + arom] = 1.0  # one-hot over [0, 1]
            x[np.arange(n), a + 2 + ring] = 1.0
        return x

    def bond_features(self, mol: Chem.Mol) -> np.ndarray:
        return _b10(mol)


class CIGIN42(_CIGINFamily):
    """F42 of the original CIGIN (METHODS §1.1) with B10 bonds (§1.3).

    Elements {C,N,O,S,F,P,Cl,Br,I,Si} (anything else, Na, B and H included, becomes Si) ·
    implicit valence {0,1} (always 0, as after CIGIN's AddHs round trip) · radicals {0,1} ·
    degree {0..6} · charge {-1,0,1} · hybridisation {SP,SP2,SP3,SP3D} (S and UNSPECIFIED become
    SP3D) · 6 invariant bits · total H {0..4} · R/S · chirality possible.
    """

    name = "cigin42"
    version = "1"
    atom_dim = 42
    _symbols = ("C", "N", "O", "S", "F", "P", "Cl", "Br", "I", "Si")
    _max_implicit_valence = 1
    _hybridisations = ("SP", "SP2", "SP3", "SP3D")
    _h_roundtrip = True


class CGIB52(_CIGINFamily):
    """F52 of the original CGIB molecular-interaction code (METHODS §1.2) with B10 bonds (§1.3).

    Elements {H,B,C,N,O,F,Na,Si,P,S,Cl,Ge,Se,Br,Sn,Te,I} (unk->I) · implicit valence {0..3}
    (always 0, as after CGIB's AddHs round trip) · radicals {0,1} · degree {0..6} ·
    charge {-1,0,1} · hybridisation {S,SP,SP2,SP3,SP3D} · 6 invariant bits · total H {0..4} ·
    R/S · chirality possible.
    """

    name = "cgib52"
    version = "1"
    atom_dim = 52
    _symbols = ("H", "B", "C", "N", "O", "F", "Na", "Si", "P", "S", "Cl", "Ge", "Se", "Br", "Sn",
                "Te", "I")
    _max_implicit_valence = 3
    _hybridisations = ("S", "SP", "SP2", "SP3", "SP3D")
    _h_roundtrip = True


class MRL56(CGIB52):
    """F56 of 3DMRL's molecular-interaction code (METHODS §1.2) with B10 bonds (§1.3).

    F52 (but with the real implicit valence: 3DMRL has no AddHs round trip; with explicit H it is
    0 anyway) followed by aromatic one-hot [not aromatic, aromatic] and in-ring one-hot
    [not in ring, in ring]: the last column is "atom is in a ring" (3DMRL picks target atoms
    with it) and the first 17 columns are the element one-hot.
    """

    name = "mrl56"
    version = "1"
    atom_dim = 56
    _aromatic_and_ring = True
    _h_roundtrip = False  # 3DMRL featurizes the parsed Mol directly (chromophores) or after AddHs


# ----------------------------------------------------------------------------------------------
# C133: chemprop-style DDI features


class Chemprop133(Featurizer):
    """C133 of CGIB's drug-drug-interaction code, chemprop style (METHODS §1.4), with B14 bonds.

    atomic number - 1 over 0..99 +unk [101] · total degree {0..5} +unk [7] · formal charge
    {-1,-2,1,2,0} +unk [6] · chiral tag {0..3} +unk [5] · total H {0..4} +unk [6] ·
    hybridisation {SP,SP2,SP3,SP3D,SP3D2} +unk [6] · aromatic [1] · mass x 0.01 [1].
    (3DMRL's C134 appends in-ring; not provided here.)
    """

    name = "chemprop133"
    version = "1"
    atom_dim = 133
    bond_dim = 14

    _OFFSETS = np.array([0, 101, 108, 114, 119, 125], dtype=np.int64)
    _CHARGE = {-1: 0, -2: 1, 1: 2, 2: 3, 0: 4}
    _CHIRAL = ("CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW", "CHI_OTHER")  # ChiralType
    _HYBRIDISATION = ("SP", "SP2", "SP3", "SP3D", "SP3D2")  # HybridizationType

    def atom_features(self, mol: Chem.Mol) -> np.ndarray:
        n = mol.GetNumAtoms()
        charge = self._CHARGE
        chiral = _enum_index("ChiralType", self._CHIRAL)
        hyb = _enum_index("HybridizationType", self._HYBRIDISATION)
        slots = np.empty((n, 6), dtype=np.int64)
        tail = np.empty((n, 2), dtype=np.float32)  # aromatic, mass * 0.01
        for i, atom in enumerate(_atoms(mol)):
            z = atom.GetAtomicNum() - 1
            degree = atom.GetTotalDegree()
            n_h = atom.GetTotalNumHs()
            slots[i] = (
                z if 0 <= z < 100 else 100,
                degree if degree <= 5 else 6,
                charge.get(atom.GetFormalCharge(), 5),
                chiral.get(atom.GetChiralTag(), 4),
                n_h if n_h <= 4 else 5,
                hyb.get(atom.GetHybridization(), 5),
            )
            tail[i, 0] = atom.GetIsAromatic()
            tail[i, 1] = atom.GetMass() * 0.01
        x = np.zeros((n, self.atom_dim), dtype=np.float32)
        _scatter_onehot(x, slots + self._OFFSETS)
        x[:, 131:133] = tail
        return x

    def bond_features(self, mol: Chem.Mol) -> np.ndarray:
        return _b14(mol)


# ----------------------------------------------------------------------------------------------
# Lookup

FEATURIZERS: dict[str, type[Featurizer]] = {
    cls.name: cls for cls in (MRL56, CGIB52, CIGIN42, Chemprop133)
}


def get_featurizer(name: str) -> Featurizer:
    """A new instance of the built-in featurizer ``name``; a KeyError lists the known names."""
    try:
        return FEATURIZERS[name]()
    except KeyError:
        known = ", ".join(sorted(FEATURIZERS))
        raise KeyError(f"no featurizer named {name!r} (known: {known})") from None
