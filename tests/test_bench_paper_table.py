"""BENCHMARKS.md's 3DMRL table in the paper's shape (bench/paper_table.py, issue 39): which record fills a cell,
what an unmeasured or MNSol cell says, and the share of measured cells within the paper's mean + 1 std."""

from __future__ import annotations

from bench.paper_table import paper_table_section


def _accuracy(model, dataset, mean, repeats=3, std=0.01, epochs=500, **kw):
    return {"model": model, "dataset": dataset, "mean": mean, "std": std, "repeats": repeats, "folds": 5,
            "epochs": epochs, **kw}


def _pretraining(model, dataset, mean, pair_set="combisolv-product", ratio=0.2, epochs=100, repeats=3):
    return {"model": model, "dataset": dataset, "pretrainer": "3dmrl", "pair_set": pair_set, "pairs_ratio": ratio,
            "pretrain_epochs": epochs, "repeats": repeats, "folds": 5, "with": {"mean": mean, "std": 0.02}}


def _cells(lines: list[str], label: str) -> list[str]:
    row = next(line for line in lines if line.startswith(f"| {label} |"))
    return [c.strip() for c in row.strip("|").split("|")][1:]


def test_cells_take_the_fullest_exact_record_and_the_nearest_pretraining_recipe():
    accuracy = [_accuracy("cigin", "compsol", 0.30), _accuracy("cigin", "compsol", 0.25, repeats=1),
                _accuracy("cigin (scaled=True)", "freesolv", 0.5), _accuracy("cigin", "abraham", 0.50)]
    pretraining = [_pretraining("cigin", "compsol", 0.26, ratio=0.02, repeats=5),
                   _pretraining("cigin", "compsol", 0.28),
                   _pretraining("cigin", "freesolv", 0.90, epochs=10)]
    lines = paper_table_section(accuracy, pretraining)
    plain, pretrained = _cells(lines, "cigin"), _cells(lines, "cigin + 3DMRL")
    assert plain[5] == "**0.300** ± 0.010 (5×3) · paper 0.369 ± 0.018"          # 3 repeats beat 1
    assert plain[4].startswith("not measured")                                   # a variant is another model
    assert plain[6].startswith("**0.500** ± 0.010 ✗ (5×3)")                      # above 0.421 + 0.018
    assert plain[3].startswith("data not redistributable") and plain[0].startswith("not measured")
    assert pretrained[5] == "**0.280** ± 0.020 (5×3) · paper 0.277 ± 0.006"     # 20 % beats more repeats at 2 %
    assert pretrained[4].startswith("**0.900** ± 0.020 (5×3, 10 ep)")            # the budget is stated
    assert "**3 of 4 measured cells (75 %) are at or below the paper's mean + 1 std.**" in lines[1]


def test_an_empty_zoo_measures_no_cell():
    lines = paper_table_section([], [])
    assert lines[1].rstrip().endswith("No cell is measured yet.")
    assert all("not measured" in c or "not redistributable" in c for c in _cells(lines, "mpnn"))
