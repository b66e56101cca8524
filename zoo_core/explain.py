"""Explanations of one pair's prediction: per-atom importances and the atom-by-atom interaction map.

``explain_pair(model, spec, smiles_a, smiles_b)`` featurizes the pair exactly as training did (the spec's
featurizer and hydrogen mode, atoms in the featurizer's order), runs the model in eval mode and returns a
JSON-ready dict. ``draw_explanation(result, path)`` writes one PNG or SVG (by suffix) with both molecules in
RDKit's 2D depiction, atoms coloured by importance and numbered as in the map, next to a heat map of the map
(:mod:`zoo_core.explain_figure`, :mod:`zoo_core.explain_depict`). ``dataset_roles(meta)`` names the two molecules
as the model's dataset does (solute/solvent, drug_a/drug_b), for the picture's titles and ``roles`` in the result.

What the importances are depends on the model (``importance_a`` / ``importance_b`` in the result say which):
CIGIN gives row/column sums of |I|; a model may name its own (``importance_kind_a``/``_b``: I2Mole's rationale
keep probability, with its kept cross-molecular edges in ``kept_edges``); CGIB/CGIB_cont give the gate's keep probability σ(p_i) for the solute
(and column sums of |I| for the solvent), or with ``colour_by="map"`` the row sums of |I| as for CIGIN (the
informative choice when a trained gate keeps no atom). Models without an interaction map (late_fusion) raise
ZooError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo_core.errors import ZooError

_IMPORTANCE_KIND = {"atom_importance_a": "row sums of |I|", "atom_importance_b": "column sums of |I|"}
_GATE_KIND = "gate keep probability sigmoid(p)"
COLOUR_BY = ("model", "map")  # the model's own importance (CGIB: its gate); the interaction map's row sums


def gate_keeps_no_atom(result: dict[str, Any]) -> bool:
    """Whether an explanation's solute colours are a CGIB gate that keeps no atom (every σ(p_i) < 0.5)."""
    return result["importance_a"] == _GATE_KIND and max(result["atom_importance_a"], default=0.0) < 0.5


def dataset_roles(meta: dict[str, Any] | None) -> dict[str, Any]:
    """{"dataset", "roles"} of a model's metadata: the dataset it was trained on and that dataset's role names
    in the registry (molecule A first); empty when the metadata name no dataset the registry knows."""
    from zoo_core.registry import get_registry

    name = (meta or {}).get("dataset")
    entry = get_registry().sections["datasets"].get(str(name)) if name else None
    if entry is None or len(entry.get("roles") or []) != 2:
        return {"dataset": name} if name else {}
    return {"dataset": str(name), "roles": list(entry["roles"])}


def top_kept_edges(result: dict[str, Any], top: int = 10) -> list[dict[str, Any]]:
    """The ``top`` kept cross-molecular edges by their weight in the map, strongest first."""
    imap, atoms_a, atoms_b = result["interaction_map"], result["atoms_a"], result["atoms_b"]
    edges = sorted(result["kept_edges"], key=lambda e: -abs(imap[e[0]][e[1]]))[:top]
    return [{"a": i, "b": j, "atom_a": f"{atoms_a[i]}{i}", "atom_b": f"{atoms_b[j]}{j}", "weight": imap[i][j]}
            for i, j in edges]


def explain_pair(model, spec: dict[str, Any], smiles_a: str, smiles_b: str,
                 colour_by: str = "model", meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Prediction, atom symbols, per-atom importances of both molecules and the interaction map (nested lists);
    ``colour_by`` "model" (CGIB: the gate) or "map" (row sums of |I| for every interaction model); ``meta`` (the
    weights' metadata) adds the dataset and its role names."""
    import numpy as np
    import torch

    from zoo_core.chem.featurizers import prepare_mol
    from zoo_core.data.pairs import PairDataset
    from zoo_core.data.table import PairTable

    if colour_by not in COLOUR_BY:
        raise ZooError(f"colour_by (--colour-by) must be one of {', '.join(COLOUR_BY)}, got {colour_by!r}")

    feat = spec["featurizer"]
    explicit_h = bool(feat.get("explicit_h", False))
    table = PairTable("explain", ("a", "b"), [smiles_a], [smiles_b], np.zeros(1), np.ones(1, dtype=np.int64))
    data = PairDataset.from_table(table, feat["name"], explicit_h, use_cache=False, progress=False)
    if data.bad or len(data) != 1:
        reasons = "; ".join(f"{r.field}: {r.reason}" for r in data.bad) or "unknown reason"
        raise ZooError(f"cannot featurize the pair ({smiles_a!r}, {smiles_b!r}): {reasons}")
    batch = data.batch(np.array([0]))
    model.eval()
    with torch.no_grad():
        out = model(batch)
    ex = out.explain or {}
    if "interaction_map" not in ex:
        raise ZooError(f"pair model {spec.get('pair_model', type(model).__name__)!r} exposes no interaction map, "
                       "so there is nothing to explain; use an interaction model (cigin, cigin-original, cgib, "
                       "cgib_cont, i2mole)")
    n_a, n_b = int(ex["counts_a"][0]), int(ex["counts_b"][0])
    imap = ex["interaction_map"][0, :n_a, :n_b].float().cpu()
    symbols = []
    for smi, n in ((smiles_a, n_a), (smiles_b, n_b)):
        mol = prepare_mol(smi, explicit_h)[1]
        if mol.GetNumAtoms() != n:  # pragma: no cover - featurizer and prepare_mol disagree: a bug
            raise ZooError(f"{smi!r}: the model saw {n} atoms but RDKit gives {mol.GetNumAtoms()}")
        symbols.append([a.GetSymbol() for a in mol.GetAtoms()])
    pred = out.pred[0].float().cpu().tolist()
    gated = "map_importance_a" in ex and colour_by == "model"
    kind_a = _GATE_KIND if gated else ex.get("importance_kind_a", _IMPORTANCE_KIND["atom_importance_a"])
    key_a = "map_importance_a" if "map_importance_a" in ex and not gated else "atom_importance_a"
    importance_a = ex[key_a][:n_a].float().cpu().tolist()
    warnings = []
    if gate_keeps_no_atom({"importance_a": kind_a, "atom_importance_a": importance_a}):
        warnings.append(f"the gate keeps no atom of molecule A (largest keep probability {max(importance_a):.2g} < "
                        "0.5): this model's bottleneck compresses the whole solute, so the colours of A only rank "
                        "small probabilities; the interaction map is the informative picture, and --colour-by map "
                        "colours A by it (docs/DECISIONS.md, CGIB)")
    result = {
        "pair_model": spec.get("pair_model"), "encoder": spec.get("encoder"), "featurizer": feat.get("name"),
        "explicit_h": explicit_h, "smiles_a": smiles_a, "smiles_b": smiles_b,
        "canonical_a": data.store.smiles[int(data.ids_a[0])], "canonical_b": data.store.smiles[int(data.ids_b[0])],
        "prediction": pred[0] if len(pred) == 1 else pred,
        "atoms_a": symbols[0], "atoms_b": symbols[1],
        "atom_importance_a": importance_a,
        "atom_importance_b": ex["atom_importance_b"][:n_b].float().cpu().tolist(),
        "importance_a": kind_a, "importance_b": ex.get("importance_kind_b", _IMPORTANCE_KIND["atom_importance_b"]),
        "interaction_map": imap.tolist(), "warnings": warnings,
        **({"kept_edges": ex["kept_edges"][0, :n_a, :n_b].nonzero().tolist()} if "kept_edges" in ex else {}),
        **dataset_roles(meta),
    }
    if spec.get("task") == "classification":
        from zoo_core.train.run_dir import readable

        result["probability"] = readable("classification", result["prediction"]).tolist()
    if "kept_edges" in result:
        result["top_kept_edges"] = top_kept_edges(result)
    return result


def draw_explanation(result: dict[str, Any], output_path: str | Path) -> Path:
    """One PNG or SVG (by suffix) of an explanation: see :mod:`zoo_core.explain_figure`."""
    from zoo_core.explain_figure import draw_explanation as draw

    return draw(result, output_path)
