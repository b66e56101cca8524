"""The picture of an explanation: both molecules (RDKit, :mod:`zoo_core.explain_depict`) with a colour bar
each, and the atom-by-atom interaction map as a heat map beside them.

The layout is one matplotlib figure (Agg, no pyplot). PNG: the RDKit Cairo drawings are placed in the
molecule panels. SVG: matplotlib writes titles, colour bars and the map, and each molecule is RDKit's own
SVG (``MolDraw2DSVG``) nested at its panel's place, so its atoms stay vector elements (``class='atom-N'``).
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Any

from zoo_core.errors import ZooError

_DPI = 150
# what the model's importance kinds mean, for the colour bars (--json keeps the model's own words)
_KIND_TEXT = {"row sums of |I|": "interaction strength: sum over B's atoms of |I|",
              "column sums of |I|": "interaction strength: sum over A's atoms of |I|",
              "gate keep probability sigmoid(p)": "gate keep probability \u03c3(p_i)"}
_FOLD_TEXT = {"sum": "H folded into its atom (sum)", "max": "H folded into its atom (max)"}


def draw_explanation(result: dict[str, Any], output_path: str | Path) -> Path:
    """One figure (PNG or SVG, by suffix): molecule A, molecule B (atoms coloured by importance) and the map."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from zoo_core.explain_depict import depict

    path = Path(output_path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise ZooError(f"{path}: unsupported picture format {path.suffix!r}; use .png or .svg")
    deps = [depict(result[f"smiles_{k}"], result["explicit_h"], result[f"atom_importance_{k}"],
                   result[f"importance_{k}"]) for k in "ab"]
    fig = Figure(figsize=(16, 6.2), layout="constrained")
    FigureCanvasAgg(fig)  # the Agg canvas; no pyplot, no global backend switch
    grid = fig.add_gridspec(2, 3, width_ratios=[1, 1, 1.2], height_ratios=[1, 0.045])
    mol_axes = [fig.add_subplot(grid[0, i]) for i in (0, 1)]
    for i, (ax, dep) in enumerate(zip(mol_axes, deps)):
        _molecule_panel(fig, ax, fig.add_subplot(grid[1, i]), result, "ab"[i], dep)
    _map_panel(fig, fig.add_subplot(grid[:, 2]), result, deps)
    fig.draw_without_rendering()
    fig.set_layout_engine("none")  # freeze the panels where the molecules go
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "png":
        _place_png(mol_axes, deps)
        fig.savefig(path, format="png", dpi=_DPI)
    else:
        path.write_text(_svg_with_molecules(fig, mol_axes, deps), encoding="utf-8")
    return path


def role_titles(result: dict[str, Any]) -> tuple[str, str]:
    """("solute (molecule A)", ...) from the roles recorded with the model, else "molecule A" / "molecule B"."""
    roles = result.get("roles")
    if not roles:
        return "molecule A", "molecule B"
    return tuple(f"{role.replace('_', ' ')} (molecule {ab})" for role, ab in zip(roles, "AB"))


def _molecule_panel(fig, ax, bar_ax, result: dict[str, Any], key: str, dep) -> None:
    from matplotlib.cm import ScalarMappable

    from zoo_core.explain import gate_keeps_no_atom
    from zoo_core.explain_depict import colour_scale

    ax.set_axis_off()
    title = role_titles(result)["ab".index(key)]
    smiles = "\n".join(textwrap.wrap(result[f"canonical_{key}"], 60)[:3])
    note = "\nthe gate keeps no atom (all below 0.5)" if key == "a" and gate_keeps_no_atom(result) else ""
    ax.set_title(f"{title}\n{smiles}{note}", fontsize=9)
    cmap, norm = colour_scale(dep.importance)
    bar = fig.colorbar(ScalarMappable(norm, cmap), cax=bar_ax, orientation="horizontal")
    kind = result[f"importance_{key}"]
    label = _KIND_TEXT.get(kind, kind) + (f"; {_FOLD_TEXT[dep.folded]}" if dep.folded else "")
    bar.set_label("\n".join(textwrap.wrap(f"atom colour: {label}", 70)), fontsize=8)
    bar.ax.tick_params(labelsize=7)


def _map_panel(fig, ax, result: dict[str, Any], deps) -> None:
    """The interaction map as a heat map, atoms labelled as numbered in the molecules (H: with its atom)."""
    import numpy as np

    n_a, n_b = len(result["atoms_a"]), len(result["atoms_b"])
    imap = np.asarray(result["interaction_map"], dtype=float).reshape(n_a, n_b)
    lim = float(np.abs(imap).max()) or 1.0
    signed = bool((imap < 0).any())  # a signed map (CIGIN) diverges around 0; kept attention (I2Mole) does not
    image = ax.imshow(imap, cmap="RdBu_r" if signed else "Reds", vmin=-lim if signed else 0.0, vmax=lim,
                      aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.85, label="interaction I")
    kept = np.asarray(result.get("kept_edges") or [], dtype=int).reshape(-1, 2)
    if len(kept):
        ax.scatter(kept[:, 1], kept[:, 0], s=5, c="black", marker="o", linewidths=0, label="kept edge")
        ax.legend(loc="upper right", fontsize=7, markerscale=2, framealpha=0.8)
    titles = [t.split(" (")[0] for t in role_titles(result)]
    for atoms, dep, n, setter in ((result["atoms_a"], deps[0], n_a, ax.set_yticks),
                                  (result["atoms_b"], deps[1], n_b, ax.set_xticks)):
        step = max(1, int(np.ceil(n / 40)))
        ticks = list(range(0, n, step))
        labels = [f"{atoms[i]}{i}" + (f"({atoms[dep.host[i]]}{dep.host[i]})" if i in dep.host else "") for i in ticks]
        setter(ticks, labels, fontsize=7 if n <= 25 else 5)
    ax.tick_params(axis="x", labelrotation=90)
    ax.set_ylabel(f"atoms of {titles[0]}")
    ax.set_xlabel(f"atoms of {titles[1]}")
    ax.set_title(f"interaction map ({n_a} x {n_b})\n{result.get('pair_model')} / {result.get('encoder')}"
                 f"{_dataset_text(result)}: {_prediction_text(result)}", fontsize=9)


def _dataset_text(result: dict[str, Any]) -> str:
    return f" on {result['dataset']}" if result.get("dataset") else ""


def _prediction_text(result: dict[str, Any]) -> str:
    if "probability" in result:
        return f"probability {result['probability']:.3g}"
    pred = result["prediction"]
    return "prediction " + (f"{pred:.4g}" if isinstance(pred, float) else ", ".join(f"{v:.4g}" for v in pred))


def _panel_pixels(ax) -> tuple[int, int]:
    box = ax.get_position()
    width, height = ax.figure.get_size_inches()
    return max(50, round(box.width * width * _DPI)), max(50, round(box.height * height * _DPI))


def _place_png(mol_axes, deps) -> None:
    import matplotlib.image as mpimg

    from zoo_core.explain_depict import draw_molecule

    for ax, dep in zip(mol_axes, deps):
        png = draw_molecule(dep, _panel_pixels(ax), "png")
        ax.imshow(mpimg.imread(io.BytesIO(png), format="png"), aspect="equal")


def _svg_with_molecules(fig, mol_axes, deps) -> str:
    """matplotlib's SVG of the figure with each RDKit molecule SVG nested at its panel (figure points)."""
    import re

    from zoo_core.explain_depict import draw_molecule

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    width_pt, height_pt = (float(v) * 72 for v in fig.get_size_inches())
    nested = []
    for ax, dep in zip(mol_axes, deps):
        box = ax.get_position()
        svg = draw_molecule(dep, _panel_pixels(ax), "svg")
        svg = svg[svg.index("<svg"):]
        place = (f"x='{box.x0 * width_pt:.2f}' y='{(1 - box.y1) * height_pt:.2f}' "
                 f"width='{box.width * width_pt:.2f}' height='{box.height * height_pt:.2f}' viewBox=")
        nested.append(re.sub(r"width='[^']*' height='[^']*' viewBox=", place, svg, count=1))
    end = text.rindex("</svg>")
    return text[:end] + "\n".join(nested) + "\n" + text[end:]
