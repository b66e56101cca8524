"""Explanations of one pair's prediction: per-atom importances and the atom-by-atom interaction map.

``explain_pair(model, spec, smiles_a, smiles_b)`` featurizes the pair exactly as training did (the spec's
featurizer and hydrogen mode, atoms in the featurizer's order), runs the model in eval mode and returns a
JSON-ready dict. ``draw_explanation(result, path)`` writes one PNG or SVG (by suffix) with both molecules drawn by
RDKit, atoms coloured by importance and numbered as in the map, next to a heat map of the map (matplotlib, Agg).

What the importances are depends on the model (``importance_a`` / ``importance_b`` in the result say which):
CIGIN gives row/column sums of |I|; a model may name its own (``importance_kind_a``/``_b``: I2Mole's rationale
keep probability, with its kept cross-molecular edges in ``kept_edges``); CGIB/CGIB_cont give the gate's keep probability σ(p_i) for the solute
(and column sums of |I| for the solvent), or with ``colour_by="map"`` the row sums of |I| as for CIGIN (the
informative choice when a trained gate keeps no atom). Models without an interaction map (late_fusion) raise
ZooError.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from zoo_core.errors import ZooError

_IMPORTANCE_KIND = {"atom_importance_a": "row sums of |I|", "atom_importance_b": "column sums of |I|"}
_GATE_KIND = "gate keep probability sigmoid(p)"
COLOUR_BY = ("model", "map")  # the model's own importance (CGIB: its gate); the interaction map's row sums


def gate_keeps_no_atom(result: dict[str, Any]) -> bool:
    """Whether an explanation's solute colours are a CGIB gate that keeps no atom (every σ(p_i) < 0.5)."""
    return result["importance_a"] == _GATE_KIND and max(result["atom_importance_a"], default=0.0) < 0.5


def explain_pair(model, spec: dict[str, Any], smiles_a: str, smiles_b: str,
                 colour_by: str = "model") -> dict[str, Any]:
    """Prediction, atom symbols, per-atom importances of both molecules and the interaction map (nested lists);
    ``colour_by`` "model" (CGIB: the gate) or "map" (row sums of |I| for every interaction model)."""
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
    return {
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
    }


def _mol_png(smiles: str, explicit_h: bool, importance: list[float], size: tuple[int, int]) -> bytes:
    """RDKit drawing of a molecule with atoms numbered and highlighted by importance (white -> red)."""
    from matplotlib import colormaps
    from rdkit.Chem.Draw import rdMolDraw2D

    from zoo_core.chem.featurizers import prepare_mol

    mol = prepare_mol(smiles, explicit_h)[1]
    low, high = min(importance, default=0.0), max(importance, default=0.0)
    span = (high - low) or 1.0
    cmap = colormaps["Reds"]  # min-max scaled per molecule: the ranking of atoms is what the colours show
    colours = {i: tuple(float(c) for c in cmap(0.08 + 0.82 * (v - low) / span)[:3]) for i, v in enumerate(importance)}
    drawer = rdMolDraw2D.MolDraw2DCairo(*size)
    opts = drawer.drawOptions()
    opts.addAtomIndices = True
    opts.clearBackground = True
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol, highlightAtoms=list(colours), highlightAtomColors=colours,
                                       highlightBonds=[])
    drawer.FinishDrawing()
    return drawer.GetDrawingText()


def draw_explanation(result: dict[str, Any], output_path: str | Path) -> Path:
    """One figure (PNG or SVG, by suffix): molecule A, molecule B (atoms coloured by importance) and the map."""
    import matplotlib.image as mpimg
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(output_path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise ZooError(f"{path}: unsupported picture format {path.suffix!r}; use .png or .svg")
    imap = np.asarray(result["interaction_map"], dtype=float).reshape(len(result["atoms_a"]), len(result["atoms_b"]))
    n_a, n_b = imap.shape
    fig = Figure(figsize=(15, 5.6), layout="constrained")
    FigureCanvasAgg(fig)  # the Agg canvas; no pyplot, no global backend switch
    axes = fig.subplots(1, 3, width_ratios=[1, 1, 1.25])
    for ax, key, title in ((axes[0], "a", "molecule A (solute)"), (axes[1], "b", "molecule B (solvent)")):
        png = _mol_png(result[f"smiles_{key}"], result["explicit_h"], result[f"atom_importance_{key}"], (600, 520))
        ax.imshow(mpimg.imread(io.BytesIO(png), format="png"))
        ax.set_axis_off()
        ax.set_title(f"{title}\n{result[f'canonical_{key}']}\n"
                     f"colour: {result[f'importance_{key}']} (min-max scaled)"
                     + ("\nthe gate keeps no atom (all below 0.5)"
                        if key == "a" and gate_keeps_no_atom(result) else ""), fontsize=9)
    ax = axes[2]
    lim = float(np.abs(imap).max()) or 1.0
    image = ax.imshow(imap, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.85, label="interaction I")
    for axis, atoms, n, setter in ((ax.yaxis, result["atoms_a"], n_a, ax.set_yticks),
                                   (ax.xaxis, result["atoms_b"], n_b, ax.set_xticks)):
        step = max(1, int(np.ceil(n / 40)))
        ticks = list(range(0, n, step))
        setter(ticks, [f"{atoms[i]}{i}" for i in ticks], fontsize=7 if n <= 25 else 5)
    ax.tick_params(axis="x", labelrotation=90)
    ax.set_ylabel("atoms of A")
    ax.set_xlabel("atoms of B")
    pred = result["prediction"]
    pred_text = f"{pred:.4g}" if isinstance(pred, float) else ", ".join(f"{v:.4g}" for v in pred)
    ax.set_title(f"interaction map ({n_a} x {n_b})\n{result.get('pair_model')} / {result.get('encoder')}: "
                 f"prediction {pred_text}", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format=fmt, dpi=150)
    return path
