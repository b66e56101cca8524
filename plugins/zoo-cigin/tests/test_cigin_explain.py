"""zoo_core.explain over CIGIN: result layout, atom counts in the H mode, PNG and SVG pictures."""

from __future__ import annotations

import pytest
from rdkit import Chem

from zoo_core.errors import ZooError
from zoo_core.explain import draw_explanation, explain_pair
from zoo_core.models import model_spec
from zoo_core.testing import build

SOLUTE, SOLVENT = "CC(=O)Nc1ccc(O)cc1", "ClC(Cl)Cl"


@pytest.mark.parametrize("explicit_h", [True, False])
def test_explain_pair_layout(explicit_h):
    spec = model_spec("cigin", explicit_h=explicit_h)
    result = explain_pair(build(spec), spec, SOLUTE, SOLVENT)
    n_a, n_b = (Chem.AddHs(Chem.MolFromSmiles(s)).GetNumAtoms() if explicit_h else
                Chem.MolFromSmiles(s).GetNumAtoms() for s in (SOLUTE, SOLVENT))
    assert result["explicit_h"] is explicit_h
    assert len(result["atoms_a"]) == len(result["atom_importance_a"]) == n_a
    assert len(result["atoms_b"]) == len(result["atom_importance_b"]) == n_b
    assert len(result["interaction_map"]) == n_a and all(len(row) == n_b for row in result["interaction_map"])
    assert ("H" in result["atoms_a"]) is explicit_h
    assert isinstance(result["prediction"], float) and result["warnings"] == []
    # importance = row sums of |I|
    assert result["atom_importance_a"][0] == pytest.approx(sum(abs(v) for v in result["interaction_map"][0]), rel=1e-5)


def test_draw_png_and_svg(tmp_path):
    spec = model_spec("cigin-original", explicit_h=True)
    result = explain_pair(build(spec), spec, SOLUTE, SOLVENT)
    png = draw_explanation(result, tmp_path / "pair.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = draw_explanation(result, tmp_path / "sub" / "pair.svg")
    text = svg.read_text()
    assert "<svg" in text and text.rstrip().endswith("</svg>")
    with pytest.raises(ZooError, match="format"):
        draw_explanation(result, tmp_path / "pair.jpg")


def test_models_without_a_map_are_refused():
    spec = model_spec("mpnn")  # late_fusion
    with pytest.raises(ZooError, match="no interaction map"):
        explain_pair(build(spec), spec, SOLUTE, SOLVENT)


def test_bad_smiles_is_a_clear_error():
    spec = model_spec("cigin")
    with pytest.raises(ZooError, match="cannot featurize"):
        explain_pair(build(spec), spec, "C1CC", SOLVENT)
