"""Which CSV columns hold the molecules, read the same way by ``zoo run`` and ``zoo predict``.

``--columns`` has one form in both commands: the molecule column(s), then the target(s): ``A,B,Y[,Y2..]`` for pairs,
``SMILES,Y[,Y2..]`` for molecules. ``zoo predict`` takes the first one (molecule model) or two (pair model) and
ignores the target names, so the option given to ``zoo run`` works unchanged; the molecule columns alone work too.
Without ``--columns``, ``zoo predict`` uses the columns the model was trained with: the run's ``config.yaml``
``columns`` (a user CSV; also when ``zoo run`` guessed them), else the weights' recorded ``columns``, else the role
names of the registry dataset the weights name, when the file has them, ignoring case; one of them missing is read
from the file's one other column named like SMILES (``smiles,solvent`` for a chromophore model: the chromophore
from ``smiles``); otherwise, for a molecule model, a one-column file or its one column named like SMILES.
``zoo run``'s own guess for a CSV without ``--columns`` is :func:`zoo_core.train.config.custom_entry`.
"""

from __future__ import annotations

from pathlib import Path

from zoo_core.errors import UsageError

SMILES_NAMES = {"smiles", "smi", "molecule", "mol"}


def parse_columns(text: str | None) -> list[str] | None:
    """``"a, b,y"`` -> ``["a", "b", "y"]`` (None when not given); UsageError for an empty name."""
    if text is None:
        return None
    names = [c.strip() for c in text.split(",")]
    if not all(names):
        raise UsageError(f"--columns {text!r}: an empty column name; give the names separated by commas, e.g. "
                         f"smiles,y or solute,solvent,y")
    return names


def recorded_columns(run_dir: Path | None, meta: dict) -> list[str] | None:
    """The columns a model was trained with, as recorded by its run or weights (see the module docstring)."""
    import yaml

    config = Path(run_dir) / "config.yaml" if run_dir is not None else None
    if config is not None and config.is_file():
        columns = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("columns")
        if columns:
            return list(columns)
    if meta.get("columns"):
        return list(meta["columns"])
    if not meta.get("dataset"):
        return None
    from zoo_core.registry import get_registry

    entry = get_registry().sections["datasets"].get(str(meta["dataset"]))
    return list(entry["roles"]) if entry else None


def molecule_columns(given: list[str] | None, n_roles: int, recorded: list[str] | None,
                     header: list[str]) -> tuple[list[str], list[str]]:
    """(the ``n_roles`` molecule columns, the target names given and ignored); UsageError when it cannot tell."""
    if given:
        if len(given) < n_roles:
            raise UsageError(f"--columns {','.join(given)}: this model reads {n_roles} molecule columns; pass "
                             f"--columns A,B (a target name after them is ignored)")
        return given[:n_roles], given[n_roles:]
    recorded = recorded[:n_roles] if recorded and len(recorded) >= n_roles else None
    if recorded and all(c in header for c in recorded):
        return recorded, []
    matched = matched_roles(recorded, header) if recorded else None
    if matched:
        return matched, []
    named = [h for h in header if h.lower() in SMILES_NAMES]
    if n_roles == 1 and (len(header) == 1 or len(named) == 1):
        return [header[0] if len(header) == 1 else named[0]], []
    if recorded:
        return recorded, []  # reading the file then names the missing column(s)
    raise UsageError("cannot tell which column(s) hold the molecule(s): pass --columns "
                     + ("SMILES" if n_roles == 1 else "A,B"))


def matched_roles(roles: list[str], header: list[str]) -> list[str] | None:
    """The ``header`` columns named like ``roles`` ignoring case, one role missing there read from the one other
    column named like SMILES; None unless every role gets a column."""
    by_name = {h.lower(): h for h in header}
    found = [by_name.get(r.lower()) for r in roles]
    smiles = [h for h in header if h.lower() in SMILES_NAMES and h not in found]
    if found.count(None) == 1 and len(smiles) == 1:
        found[found.index(None)] = smiles[0]
    return None if None in found else found
