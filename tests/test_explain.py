"""``zoo explain`` pictures (issue 37 part 6) and role names (issue 35): RDKit depictions in the PNG and SVG,
highlights in importance order with H folded into heavy atoms, role-named options and titles, I2Mole's kept
edges, one-line errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from rdkit import Chem
from typer.testing import CliRunner

from zoo_core.explain import draw_explanation, explain_pair
from zoo_core.explain_depict import depict, fold_rule
from zoo_core.explain_figure import role_titles
from zoo_core.models import model_spec
from zoo_core.testing import build

SOLUTE, SOLVENT = "CC(=O)Nc1ccc(O)cc1", "ClC(Cl)Cl"  # paracetamol in chloroform
runner = CliRunner()


@pytest.fixture(scope="module")
def explicit_h_result():
    torch.manual_seed(0)
    spec = model_spec("cigin", explicit_h=True)
    return explain_pair(build(spec), spec, SOLUTE, SOLVENT)


def _rdkit_parts(svg: str) -> list[str]:
    """The two nested RDKit drawings of a composed SVG, molecule A first."""
    parts = svg.split("xmlns:rdkit=")[1:]
    assert len(parts) == 2
    return [p[:p.index("</svg>")] for p in parts]


def _fill_lightness(part: str) -> dict[int, float]:
    """Lightness (sum of RGB) of each atom's highlight ellipse in one RDKit SVG."""
    found = re.findall(r"<ellipse [^>]*class='atom-(\d+)'\s+style='fill:#([0-9A-F]{6})", part)
    return {int(i): sum(int(c[k:k + 2], 16) for k in (0, 2, 4)) for i, c in found}


def _folded(smiles: str, importance: list[float], kind: str) -> list[float]:
    """The test's own fold of H importances into heavy atoms (sum, or max for probabilities)."""
    mol = Chem.AddHs(Chem.MolFromSmiles(Chem.MolToSmiles(Chem.MolFromSmiles(smiles))))
    values = list(importance[:mol.GetNumHeavyAtoms()])
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() == 1:
            j, v = atom.GetNeighbors()[0].GetIdx(), importance[atom.GetIdx()]
            values[j] = max(values[j], v) if "probability" in kind else values[j] + v
    return values


def test_svg_draws_every_heavy_atom_with_rdkit_and_no_h(explicit_h_result, tmp_path):
    text = draw_explanation(explicit_h_result, tmp_path / "pair.svg").read_text()
    assert text.startswith("<?xml") and text.rstrip().endswith("</svg>")
    for smiles, part in zip((SOLUTE, SOLVENT), _rdkit_parts(text)):
        heavy = Chem.MolFromSmiles(smiles).GetNumAtoms()
        drawn = {int(i) for i in re.findall(r"class='atom-(\d+)'", part)}
        assert drawn == set(range(heavy))  # every heavy atom, no separate H atom
        assert "class='bond-0" in part


def test_highlights_follow_importance_with_h_folded(explicit_h_result, tmp_path):
    text = draw_explanation(explicit_h_result, tmp_path / "pair.svg").read_text()
    for key, smiles, part in zip("ab", (SOLUTE, SOLVENT), _rdkit_parts(text)):
        values = _folded(smiles, explicit_h_result[f"atom_importance_{key}"], explicit_h_result[f"importance_{key}"])
        light = _fill_lightness(part)
        for i in range(len(values)):
            for j in range(len(values)):
                if values[i] > values[j] + 1e-6 * max(1.0, abs(values[j])):
                    assert light[i] <= light[j], (key, i, j, values[i], values[j])
        top, bottom = int(np.argmax(values)), int(np.argmin(values))
        assert light[top] < light[bottom] or np.isclose(values[top], values[bottom])


def test_probabilities_fold_by_maximum():
    assert fold_rule("gate keep probability sigmoid(p)") == "max" and fold_rule("row sums of |I|") == "sum"
    importance = [0.1, 0.2, 0.3, 0.9, 0.4, 0.05, 0.7, 0.8, 0.6]  # CCO with H: C0 C1 O2, H3-5 on C0, H6-7 on C1, H8
    dep = depict("CCO", True, importance, "rationale keep probability p_i")
    assert dep.model_index == [0, 1, 2] and dep.folded == "max"
    assert dep.importance == pytest.approx([0.9, 0.8, 0.6]) and dep.host == {3: 0, 4: 0, 5: 0, 6: 1, 7: 1, 8: 2}
    summed = depict("CCO", True, importance, "row sums of |I|")
    assert summed.importance == pytest.approx([1.45, 1.7, 0.9])
    assert depict("CCO", False, [1.0, 2.0, 3.0], "row sums of |I|").folded is None


def test_png_decodes_at_the_figure_size(explicit_h_result, tmp_path):
    import matplotlib.image as mpimg

    path = draw_explanation(explicit_h_result, tmp_path / "pair.png")
    image = mpimg.imread(path)
    assert image.shape[:2] == (930, 2400)  # 16 x 6.2 inches at 150 dpi
    pixels = (image[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 200  # drawings, not a blank canvas
    reds = (pixels[:, 0] > 200) & (pixels[:, 1] < 120) & (pixels[:, 2] < 120)
    assert reds.sum() > 500  # the most important atoms' highlights


def _ddi_weights(tmp_path, encoder="cigin", **kwargs):
    from zoo_core.weights import save_model

    torch.manual_seed(0)
    spec = model_spec(encoder, task="classification", **kwargs)
    return save_model(tmp_path / f"{encoder}.ddi.safetensors", build(spec), spec, {"dataset": "chchminer"})


def test_role_named_options_and_titles(tmp_path):
    from zoo_cli.main import app

    weights = str(_ddi_weights(tmp_path))
    r = runner.invoke(app, ["explain", "--weights", weights, "--drug-a", "CCO", "--drug-b", "c1ccncc1", "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["roles"] == ["drug_a", "drug_b"] and result["dataset"] == "chchminer"
    assert 0 < result["probability"] < 1 and result["smiles_b"] == "c1ccncc1"
    assert role_titles(result) == ("drug a (molecule A)", "drug b (molecule B)")
    r = runner.invoke(app, ["explain", "--weights", weights, "--a", "CCO", "--b", "c1ccncc1", "-o",
                            str(tmp_path / "why.png")])
    assert r.exit_code == 0, r.output
    assert "for drug_a CCO and drug_b c1ccncc1" in r.stdout and (tmp_path / "why.png").stat().st_size > 10_000
    assert role_titles({}) == ("molecule A", "molecule B")


def test_bad_smiles_is_one_line(tmp_path):
    from zoo_cli.main import app

    r = runner.invoke(app, ["explain", "--weights", str(_ddi_weights(tmp_path)), "--drug-a", "C1CC",
                            "--drug-b", "CCO", "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 1 and r.stderr.count("\n") == 1 and "cannot featurize" in r.stderr, r.output
    assert not (tmp_path / "x.png").exists()


def test_i2mole_kept_edges_are_listed_and_drawn(tmp_path):
    pytest.importorskip("zoo_i2mole")
    from zoo_cli.main import app

    weights = str(_ddi_weights(tmp_path, "i2mole"))
    args = ["explain", "--weights", weights, "--drug-a", "CC(=O)Oc1ccccc1C(=O)O", "--drug-b", "CN1CCC[C@H]1c1cccnc1"]
    r = runner.invoke(app, args + ["--json", "-o", str(tmp_path / "why.svg")])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    top = result["top_kept_edges"]
    assert 0 < len(top) <= 10 and all([e["a"], e["b"]] in result["kept_edges"] for e in top)
    weights_ = [e["weight"] for e in top]
    assert weights_ == sorted(weights_, reverse=True)
    assert weights_[0] == pytest.approx(max(result["interaction_map"][i][j] for i, j in result["kept_edges"]))
    assert top[0]["atom_a"] == f"{result['atoms_a'][top[0]['a']]}{top[0]['a']}"
    assert len(_rdkit_parts((tmp_path / "why.svg").read_text())) == 2
