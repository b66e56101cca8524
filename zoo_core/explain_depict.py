"""RDKit pictures of the molecules of an explanation: 2D depiction, atoms highlighted by importance.

``depict(smiles, explicit_h, importance, kind)`` returns the molecule as chemists draw it (RDKit's
``rdDepictor.Compute2DCoords``) with one importance per drawn atom; ``draw_molecule`` renders it with
``MolDraw2DCairo`` (PNG) or ``MolDraw2DSVG`` (SVG), each atom highlighted in the colour of its importance on
the scale of ``colour_scale`` (the same scale the figure's colour bar shows) and annotated with its index in
the model's atom order (the interaction map's row/column).

Hydrogens: a model that saw explicit H atoms gave each H its own importance. The picture shows heavy atoms
with their H counts (RDKit's OH, NH2 labels) and folds the importance of each H into the heavy atom it is
bonded to: summed for additive kinds (sums of |I|, summed attention: the group's total, as if the map's H rows
were merged into the heavy atom's row), the maximum for probabilities (a gate's or rationale's keep probability
is not additive: the group shows its most-kept atom). An H that RDKit keeps (H2, an H defining double-bond
stereo) stays drawn with its own importance. The interaction map and ``--json`` keep every atom.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# colours of the highlights: the light 5-70 % of matplotlib's "Reds" (black atom labels stay readable)
_CMAP_RANGE = (0.05, 0.7)


def fold_rule(kind: str) -> str:
    """How the importance of an H joins its heavy atom's: "max" for probabilities, "sum" otherwise."""
    return "max" if "probability" in kind else "sum"


@dataclass
class Depiction:
    """A molecule to draw: ``mol`` (2D coordinates; atom i is the model's atom ``model_index[i]``), the
    importance of each drawn atom, and ``host``: model index of each folded H -> model index of its atom."""

    mol: Any
    model_index: list[int]
    importance: list[float]
    host: dict[int, int]
    folded: str | None  # the fold rule applied, None when no H was folded


def depict(smiles: str, explicit_h: bool, importance: list[float], kind: str) -> Depiction:
    """The molecule the model saw, with foldable H atoms removed and their importances folded (module doc)."""
    from rdkit import Chem
    from rdkit.Chem import rdDepictor

    from zoo_core.chem.featurizers import prepare_mol

    mol = Chem.Mol(prepare_mol(smiles, explicit_h)[1])
    for atom in mol.GetAtoms():
        atom.SetIntProp("zoo_index", atom.GetIdx())
    drawn = Chem.RemoveHs(mol) if explicit_h else mol
    model_index = [atom.GetIntProp("zoo_index") for atom in drawn.GetAtoms()]
    kept, values, host = set(model_index), list(importance), {}
    for atom in mol.GetAtoms():
        if atom.GetIdx() not in kept:  # a removed H: exactly one heavy neighbour
            host[atom.GetIdx()] = atom.GetNeighbors()[0].GetIdx()
    rule = fold_rule(kind)
    for h, heavy in host.items():
        values[heavy] = max(values[heavy], importance[h]) if rule == "max" else values[heavy] + importance[h]
    rdDepictor.Compute2DCoords(drawn)
    rdDepictor.StraightenDepiction(drawn)
    return Depiction(drawn, model_index, [values[i] for i in model_index], host, rule if host else None)


def colour_scale(values: list[float]):
    """(colour map, normalisation) of a molecule's importances: its own min..max (the colours rank atoms; the
    colour bar gives the values); all atoms alike (within 1e-6) take the middle colour."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap, Normalize

    low, high = min(values, default=0.0), max(values, default=0.0)
    cmap = ListedColormap(colormaps["Reds"](np.linspace(*_CMAP_RANGE, 256)), name="importance")
    if high - low <= 1e-6 * max(1.0, abs(high)):
        pad = max(0.05 * abs(high), 1e-3)
        low, high = low - pad, high + pad
    return cmap, Normalize(low, high)


def atom_colours(values: list[float]) -> dict[int, tuple[float, float, float]]:
    """Highlight colour (RGB) of each drawn atom on :func:`colour_scale`."""
    cmap, norm = colour_scale(values)
    return {i: tuple(float(c) for c in cmap(float(norm(v)))[:3]) for i, v in enumerate(values)}


def draw_molecule(dep: Depiction, size: tuple[int, int], fmt: str) -> bytes | str:
    """PNG bytes (``fmt`` "png", Cairo) or SVG text ("svg") of the depiction, ``size`` pixels, transparent."""
    from rdkit import Chem
    from rdkit.Chem.Draw import rdMolDraw2D

    width, height = size
    drawer = rdMolDraw2D.MolDraw2DCairo(width, height) if fmt == "png" else rdMolDraw2D.MolDraw2DSVG(width, height)
    opts = drawer.drawOptions()
    opts.useBWAtomPalette()  # element letters in black: readable on every highlight colour
    opts.clearBackground = False
    opts.annotationFontScale = 0.55
    opts.padding = 0.1
    opts.fixedBondLength = height / 7  # small molecules are not blown up to the panel's size
    mol = Chem.Mol(dep.mol)
    for atom, index in zip(mol.GetAtoms(), dep.model_index):
        atom.SetProp("atomNote", str(index))
    mol = rdMolDraw2D.PrepareMolForDrawing(mol, addChiralHs=False)
    colours = atom_colours(dep.importance)
    drawer.DrawMolecule(mol, highlightAtoms=list(colours), highlightAtomColors=colours, highlightBonds=[])
    drawer.FinishDrawing()
    return drawer.GetDrawingText()
