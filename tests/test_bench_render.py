"""bench/render.py renders pretraining records (both arms side by side) next to accuracy and throughput records."""

import json

import pytest

from bench.render import render_markdown


def _pretraining_record(pair_set="train-split", transductive=False):
    return {"kind": "pretraining", "model": "cigin", "dataset": "compsol", "metric": "rmse", "pretrainer": "3dmrl",
            "pair_set": pair_set, "transductive": transductive, "pretrain_epochs": 10, "pretrain_pairs": [2838] * 15,
            "pretrain_pairs_mean": 2838.0, "pretrain_batch_size": 48, "pretrain_lr": 1e-4,
            "without": {"mean": 0.36, "std": 0.01, "per_repeat": [0.35, 0.36, 0.37], "cpu_seconds": 1000.0},
            "with": {"mean": 0.30, "std": 0.02, "per_repeat": [0.29, 0.30, 0.31], "cpu_seconds": 5000.0},
            "improvement_pct": 100 * (0.36 - 0.30) / 0.36, "paper_without": [0.369, 0.018],
            "paper_with": [0.277, 0.006], "paper_improvement_pct": 100 * (0.369 - 0.277) / 0.369,
            "folds": 5, "folds_total": 5, "repeats": 3, "epochs": 500, "patience": 50,
            "command": "python bench/run_bench.py pretraining --models cigin --datasets compsol",
            "date": "2026-11-22", "machine": "2 cores"}


def test_pretraining_records_render_side_by_side(tmp_path):
    shared = dict(_pretraining_record("combisolv-product", True), pretrain_seconds_mean=2243.2,
                  freeze_backbone_epochs=100)
    (tmp_path / "pre.json").write_text(json.dumps([_pretraining_record(), shared]))
    (tmp_path / "acc.json").write_text(json.dumps([{
        "model": "mpnn", "pretrainer": None, "dataset": "freesolv", "mean": 1.1, "std": 0.1, "paper_mean": 1.127,
        "paper_std": 0.11, "folds": 5, "repeats": 3, "epochs": 500, "patience": 50, "mean_best_epoch": 80,
        "command": "acc", "machine": "m", "date": "d"}]))
    (tmp_path / "thr.json").write_text(json.dumps([{
        "model": "cigin", "dataset": "compsol", "figure": "3DMRL pretraining pairs/s", "value": 12.5,
        "unit": "pairs/s", "settings": "1 thread", "command": "thr", "machine": "m", "date": "d"}]))
    text = render_markdown(tmp_path)
    section = text[text.index("## Pretraining"):text.index("## Throughput")]
    rows = [line for line in section.splitlines() if line.startswith("| cigin")]
    assert len(rows) == 2
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[:12] == ["cigin", "3dmrl", "compsol", "0.360 ± 0.010", "0.300 ± 0.020", "+16.7 %", "0.369 ± 0.018",
                          "0.277 ± 0.006", "+24.9 %", "`train-split`",
                          "10 epochs × 2,838 pairs per fold (batch 48, lr 0.0001)", "500 (50)"]
    assert cells[12:] == ["5 × 3", "1000 / 5000", "`pre.json`"]
    assert "`combisolv-product` (**TRANSDUCTIVE**)" in rows[1] and "(batch 48, lr 0.0001); 2,243 s per backbone" in rows[1]
    assert "s per backbone" not in rows[0]
    assert "| 500 (50); head only for the first 100 (LP-FT, both arms) |" in rows[1] and "LP-FT" not in rows[0]
    assert "| mpnn | — | freesolv | 1.100 ± 0.100" in text[:text.index("## Pretraining")]
    assert "| 3DMRL pretraining pairs/s | cigin | compsol | 12.50 | pairs/s |" in text


def _fake_fold(job):
    """Stands in for a training fold (run in a worker process): RMSE = 0.1 x (fold + 1)."""
    return {"repeat": job[3], "fold": job[4], "test": {"rmse": 0.1 * (job[4] + 1)}}


def test_cells_share_one_pool_and_resume_from_their_finished_folds(tmp_path):
    """run_bench keeps finished folds in a hidden partial file per cell; a rerun takes them from there instead of
    training them again, runs only the missing folds (all cells in one pool), reports each cell once with its folds
    in job order, removes the files when the cells are complete, and render never reads them."""
    from bench import run_bench

    def jobs(dataset):
        return [("cigin", None, dataset, 0, k, 300, 50, f"/tmp/scratch-{k}") for k in range(3)]

    cells = [jobs("abraham"), jobs("compsol")]
    partials = [tmp_path / ".partial-x-cigin-abraham.json", tmp_path / ".partial-x-cigin-compsol.json"]
    partials[0].write_text(json.dumps({json.dumps(list(j[:-1])): {"repeat": 0, "fold": j[4], "test": {"rmse": 9.0}}
                                       for j in cells[0]}))       # abraham: every fold already finished
    partials[1].write_text(json.dumps({json.dumps(list(cells[1][1][:-1])): {"repeat": 0, "fold": 1,
                                                                            "test": {"rmse": 7.0}}}))  # one of three
    assert render_markdown(tmp_path).count("abraham") == 0
    done = []
    run_bench.run_cells(cells, partials, workers=2, cell_done=lambda i, folds: done.append(
        (i, [f["test"]["rmse"] for f in folds])), job_fn=_fake_fold)
    assert done == [(0, [9.0, 9.0, 9.0]), (1, [0.1, 7.0, pytest.approx(0.3)])]
    assert not any(p.exists() for p in partials)


def test_finished_folds_of_dict_jobs_ignore_the_scratch_folder(tmp_path):
    """The pretraining bench's jobs are dicts; a rerun gets a new scratch folder but is the same job."""
    from bench.run_bench import FinishedFolds

    job = {"arm": "3dmrl", "repeat": 0, "fold": 0, "out": "/tmp/zoo-bench-runs-a"}
    FinishedFolds(tmp_path / ".p.json", scratch_key="out").add(job, {"test": {"rmse": 0.3}})
    rerun = FinishedFolds(tmp_path / ".p.json", scratch_key="out")
    same, other = dict(job, out="/tmp/zoo-bench-runs-b"), dict(job, fold=1, out="/tmp/zoo-bench-runs-b")
    assert rerun.pending([same, other]) == [other]
    rerun.add(other, {"test": {"rmse": 0.4}})
    assert [r["test"]["rmse"] for r in rerun.complete([same, other])] == [0.3, 0.4]
    assert not (tmp_path / ".p.json").exists()


def test_a_note_shared_by_several_cells_is_one_bullet(tmp_path):
    cell = {"model": "cgib", "pretrainer": None, "dataset": "abraham", "mean": 0.4, "std": 0.0, "paper_mean": 0.404,
            "paper_std": 0.01, "folds": 5, "repeats": 1, "epochs": 500, "patience": 50, "command": "acc",
            "machine": "m", "date": "d", "note": "5 folds x 1 repeat."}
    (tmp_path / "a.json").write_text(json.dumps([cell, dict(cell, model="cgib_cont"),
                                                 dict(cell, model="cigin", note="Other.")]))
    text = render_markdown(tmp_path)
    bullets = [line for line in text.splitlines() if line.startswith("- ") and "`a.json`" in line]
    assert bullets == ["- cgib on abraham (`a.json`); cgib_cont on abraham (`a.json`): 5 folds x 1 repeat.",
                       "- cigin on abraham (`a.json`): Other."]


def test_fold_jobs_carry_pair_params_only_when_given():
    """Jobs without pair-model parameters keep their earlier shape (so earlier partial files still resume); with
    them, the parameters reach `zoo run`'s config."""
    from bench import run_bench

    plain = ("cgib", None, "compsol", 2, 4, 300, 50, "/tmp/out")
    cfg = run_bench._fold_config(plain)
    assert (cfg["seed"], cfg["only_folds"], cfg["epochs"], cfg["output"], cfg["pair_params"]) == \
        (2, [4], 300, "/tmp/out", {})
    params = run_bench.key_values(["legacy=true", "beta=0.5"])
    assert params == {"legacy": True, "beta": 0.5}
    cfg = run_bench._fold_config(plain[:-1] + (json.dumps(params, sort_keys=True), "/tmp/out"))
    assert cfg["pair_params"] == {"beta": 0.5, "legacy": True} and cfg["output"] == "/tmp/out"
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        run_bench.key_values(["legacy"])


def test_moleculenet_records_render_beside_the_published_numbers(tmp_path):
    record = {"kind": "moleculenet", "model": "mpnn", "dataset": "tox21", "metric": "auroc", "split": "scaffold",
              "seeds": [0, 1, 2], "per_seed": [0.74, 0.75, 0.76], "mean": 0.75, "std": 0.008,
              "published": {"gin_no_pretrain": [74.0, 0.8], "molinteract": [77.3, 0.5]},
              "mean_best_epoch": 24.0, "skipped_tasks": [], "git_commit": "0123456789abcdef",
              "command": "python bench/run_bench.py moleculenet", "machine": "m", "date": "d"}
    (tmp_path / "mnet.json").write_text(json.dumps([record, dict(record, dataset="hiv", seeds=[0], mean=0.7,
                                                                  skipped_tasks=["x"], published={})]))
    text = render_markdown(tmp_path)
    rows = [line for line in text[text.index("## MoleculeNet"):].splitlines() if line.startswith("| mpnn")]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert cells[0][:9] == ["mpnn", "tox21", "75.0 ± 0.8", "3", "74.0 ± 0.8", "+1.0", "77.3 ± 0.5", "—", "24"]
    assert cells[0][10] == "`01234567`"
    assert cells[1][2:4] == ["70.0 (1 seed)", "1"] and cells[1][4] == "—" and cells[1][9] == "x"


def test_ddi_records_render_beside_the_degree_baseline(tmp_path):
    record = {"kind": "ddi", "model": "cgib", "dataset": "chchminer", "split": "inductive", "seeds": [0, 1],
              "per_seed": [0.70, 0.72], "mean": 0.71, "std": 0.01, "type1": 0.74, "type2": 0.61,
              "baseline": {"test": 0.70, "test_type1": 0.77, "test_type2": 0.5}, "published_transductive": None,
              "published_type2": None, "epochs": 50, "patience": 10, "train_pairs_per_s": 812.4, "peak_rss_gb": 1.234,
              "git_commit": "abcdef0123", "command": "python bench/run_bench.py ddi", "machine": "m", "date": "d"}
    (tmp_path / "ddi.json").write_text(json.dumps([record]))
    text = render_markdown(tmp_path)
    row = next(line for line in text[text.index("## Drug-drug"):].splitlines() if line.startswith("| cgib"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:11] == ["cgib", "chchminer", "inductive", "71.0 ± 1.0", "2", "70.0", "74.0 (77.0)", "61.0 (50.0)",
                          "—", "50 (10)", "entry's"]
    assert cells[11:14] == ["812", "1.23", "`abcdef01`"]
    (tmp_path / "ddi.json").write_text(json.dumps([dict(record, lr=0.001, batch_size=128, entry_recipe=False),
                                                   dict(record, model="i2mole", lr=1e-4, batch_size=512,
                                                        entry_recipe=True)]))
    rows = [line for line in render_markdown(tmp_path).splitlines() if line.startswith(("| cgib", "| i2mole"))]
    assert [[c.strip() for c in row.strip("|").split("|")][10] for row in rows] == ["0.001, 128", "0.0001, 512 (entry's)"]


def test_workers_records_render_wall_times_ratio_and_identical_folds(tmp_path):
    record = {"kind": "workers", "model": "mpnn", "dataset": "freesolv", "folds": 5, "repeats": 3, "epochs": 30,
              "patience": 30, "workers": 2, "rounds": 2, "seconds": {"serial": [100.0, 102.0],
                                                                      "workers 2": [55.0, 57.0]},
              "load_average_before": {"serial": [0.1, 1.2], "workers 2": [1.0, 1.1]}, "ratio": 56.0 / 101.0,
              "worker_startup_seconds": [4.3, 4.0, 4.8, 4.1], "identical_fold_numbers": True, "folds_compared": 15,
              "git_commit": "0123456789", "command": "python bench/run_bench.py workers", "machine": "m", "date": "d"}
    (tmp_path / "workers.json").write_text(json.dumps([record, dict(record, identical_fold_numbers=False,
                                                                     repeats=1, worker_startup_seconds=[])]))
    text = render_markdown(tmp_path)
    rows = [line for line in text[text.index("## Folds in parallel"):].splitlines() if line.startswith("| mpnn")]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert cells[0] == ["mpnn", "freesolv", "5 × 3", "30", "2", "100.0, 102.0", "55.0, 57.0", "0.554", "0.533",
                        "yes (15 folds)", "4.0–4.8", "0.1, 1.2 / 1.0, 1.1", "`01234567`", "`workers.json`"]
    assert cells[1][2] == "5 × 1" and cells[1][8] == "0.600" and cells[1][9] == "**no** (15 folds)"
    assert cells[1][10] == "—"
    assert "- `python bench/run_bench.py workers` — m, d" in text


def test_published_weights_table_puts_each_model_beside_the_paper_figure(tmp_path):
    """A fold-0 entry shows its test RMSE beside the paper's same-model figure (CIGIN on chromophore absorption:
    19.66 ± 0.69); a full-data entry names its evaluation version; a backbone (no dataset) is left out."""
    import yaml

    from bench.weights_table import published_weights_section

    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump({"weights": {
        "cigin.chromophore-absorption": {
            "pair_model": "cigin", "encoder": "mpnn", "dataset": "chromophore-absorption",
            "metrics": {"rmse": 20.5, "test_pairs": 1728},
            "training": {"best_epoch": 250, "epochs_run": 300, "epochs": 500, "patience": 50}},
        "cigin.chromophore-absorption.full": {
            "pair_model": "cigin", "encoder": "mpnn", "dataset": "chromophore-absorption",
            "training": {"full_data": True, "train_pairs": 17276, "epochs": 250,
                         "evaluation": "cigin.chromophore-absorption"}},
        "mpnn.freesolv": {"pair_model": "late_fusion", "encoder": "mpnn", "dataset": "freesolv",
                          "metrics": {"rmse": 1.4, "test_pairs": 56},
                          "training": {"best_epoch": 64, "epochs_run": 114, "epochs": 500, "patience": 50}},
        "cigin.3dmrl-combisolv": {"pair_model": "cigin", "encoder": "mpnn", "pretrainer": "3dmrl"}}}))
    lines = published_weights_section(registry)
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| `")}
    assert set(rows) == {"`cigin.chromophore-absorption`", "`cigin.chromophore-absorption.full`", "`mpnn.freesolv`"}
    assert "20.5 on 1728 test pairs" in rows["`cigin.chromophore-absorption`"]
    assert "19.66 ± 0.69" in rows["`cigin.chromophore-absorption`"]
    assert "expect ≈ `cigin.chromophore-absorption`" in rows["`cigin.chromophore-absorption.full`"]
    assert "1.127 ± 0.11" in rows["`mpnn.freesolv`"]  # late fusion: the encoder's paper row
