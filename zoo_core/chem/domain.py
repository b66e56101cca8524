"""The training domain of a model, and the warnings ``zoo predict`` writes for molecules outside it.

``zoo run`` records in the weights' metadata (``training_domain``), per role, over the training rows of the saved
fold: the elements seen (heavy atoms), the most heavy atoms in one molecule and the largest absolute net charge.
A molecule to predict gets a warning (the prediction is still written) when it has

* an element the featurizer has no slot for (built-in featurizers encode it as their last listed element),
* an element, more heavy atoms or a larger absolute net charge than any training molecule of its role,
* without a recorded domain (weights saved before it was recorded): a net charge other than 0.
"""

from __future__ import annotations

import functools
from typing import NamedTuple


class Profile(NamedTuple):
    """What the domain compares: a molecule's heavy-atom elements, heavy-atom count and net formal charge."""

    elements: frozenset[str]
    heavy_atoms: int
    charge: int


@functools.lru_cache(maxsize=100_000)
def profile(smiles: str) -> Profile | None:
    """The molecule's profile, or None when RDKit cannot parse it."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    elements = frozenset(a.GetSymbol() for a in mol.GetAtoms() if a.GetAtomicNum() > 1)
    return Profile(elements, mol.GetNumHeavyAtoms(), Chem.GetFormalCharge(mol))


def training_domain(table, rows) -> dict:
    """``{"roles": [{"role", "elements", "max_heavy_atoms", "max_abs_charge"}, ...]}`` over ``rows`` of ``table``
    (one entry per role, in the table's role order)."""
    roles = []
    for role, column in zip(table.roles, table.molecules):
        found = [p for p in map(profile, {column[int(i)] for i in rows}) if p is not None]
        roles.append({"role": role, "elements": sorted(frozenset().union(*(p.elements for p in found))),
                      "max_heavy_atoms": max((p.heavy_atoms for p in found), default=0),
                      "max_abs_charge": max((abs(p.charge) for p in found), default=0)})
    return {"roles": roles}


def featurizer_elements(name: str) -> frozenset[str] | None:
    """The elements featurizer ``name`` has a slot for; None when it does not list them (then nothing is checked)."""
    from zoo_core.chem.resolve import get_featurizer

    symbols = getattr(get_featurizer(name), "_symbols", None)  # the built-in featurizers' element one-hot list
    return frozenset(symbols) if symbols else None


def _molecule_warnings(p: Profile, known: dict | None, slots: frozenset[str] | None) -> list[str]:
    out = []
    if slots is not None and p.elements - slots:
        out.append(f"element(s) {', '.join(sorted(p.elements - slots))} unknown to the featurizer")
    if known is None:
        if p.charge:
            out.append(f"net charge {p.charge:+d}")
        return out
    unseen = p.elements - set(known["elements"]) - (p.elements - slots if slots is not None else set())
    if unseen:
        out.append(f"element(s) {', '.join(sorted(unseen))} in no training molecule")
    if p.heavy_atoms > known["max_heavy_atoms"]:
        out.append(f"{p.heavy_atoms} heavy atoms (training: at most {known['max_heavy_atoms']})")
    if abs(p.charge) > known["max_abs_charge"]:
        out.append(f"net charge {p.charge:+d} (training: |charge| at most {known['max_abs_charge']})")
    return out


def domain_warnings(molecules: list[list[str]], names: list[str], domain: dict | None,
                    featurizer: str) -> list[str]:
    """One warning per row of the parallel SMILES columns ``molecules`` ('' when none, or when a SMILES does not
    parse: that row has a reason instead); ``names`` label the columns in the text."""
    slots = featurizer_elements(featurizer)
    known = list(domain["roles"]) if domain and len(domain.get("roles", [])) == len(molecules) else None
    out = []
    for row in zip(*molecules):
        parts = []
        for k, (name, smiles) in enumerate(zip(names, row)):
            p = profile(smiles.strip()) if smiles.strip() else None
            found = _molecule_warnings(p, known[k] if known else None, slots) if p is not None else []
            parts.extend(f"{name}: {w}" for w in found)
        out.append("; ".join(parts))
    return out
