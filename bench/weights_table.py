"""The published weights in BENCHMARKS.md: each model's fold-0 test error beside the paper's figure for the same
model and dataset (issue 37: the chromophore models beside the paper's CIGIN row; issue 35: a DDI model's test
AUROC beside the paper's transductive AUROC), read from registry.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml

from bench.targets import PAPER_3DMRL_RMSE, PAPER_DDI_AUROC, PAPER_RMSE


def paper_figure(entry: dict) -> tuple[float, float] | None:
    """The paper's (mean, std) RMSE for the entry's model (with 3DMRL when it was pretrained) on its dataset."""
    table = PAPER_3DMRL_RMSE if entry.get("pretrainer") else PAPER_RMSE
    return table.get(entry.get("pair_model") if entry.get("pair_model") != "late_fusion" else entry.get("encoder"),
                     {}).get(entry.get("dataset"))


def _paper_text(entry: dict) -> str:
    """The paper's figure as the table shows it: RMSE mean ± std, or a DDI model's AUROC in % (no std stated)."""
    if "auroc" in (entry.get("metrics") or {}):
        auroc = PAPER_DDI_AUROC.get(entry.get("pair_model"), {}).get(entry.get("dataset"))
        return f"AUROC {auroc:g} % (transductive)" if auroc is not None else "—"
    paper = paper_figure(entry)
    return f"{paper[0]:g} ± {paper[1]:g}" if paper else "—"


def _ours_text(metrics: dict) -> str:
    """The entry's own test figure: RMSE, or AUROC beside the no-chemistry baseline's."""
    n = metrics.get("test_pairs")
    if "auroc" in metrics:
        baseline = metrics.get("degree_baseline_auroc")
        return (f"AUROC {metrics['auroc']:.4f} on {n} test pairs"
                + (f" (no-chemistry baseline {baseline:.4f})" if baseline is not None else ""))
    return f"{metrics['rmse']:.4g} on {n} test pairs" if "rmse" in metrics else "—"


def _row(name: str, entry: dict) -> str:
    training, metrics = entry.get("training") or {}, entry.get("metrics") or {}
    if training.get("full_data"):
        version = f"full data ({training.get('train_pairs', '?'):,} pairs, {training.get('epochs')} epochs)"
        ours = f"no held-out test; expect ≈ `{training.get('evaluation')}`"
    else:
        part = "fold 0" if training.get("split", "mi5fold") == "mi5fold" else \
            f"{training.get('split')} seed {training.get('seed')}"
        version = (f"{part} (best epoch {training.get('best_epoch')} of {training.get('epochs_run')}, budget "
                   f"{training.get('epochs')}/{training.get('patience')})")
        ours = _ours_text(metrics)
    return f"| `{name}` | {entry.get('dataset')} | {version} | {ours} | {_paper_text(entry)} |"


def published_weights_section(registry: Path) -> list[str]:
    """A table of every published fine-tuned model (backbones are left out: they have no test error)."""
    weights = (yaml.safe_load(Path(registry).read_text(encoding="utf-8")) or {}).get("weights") or {}
    rows = [_row(name, entry) for name, entry in weights.items() if entry.get("dataset")]
    if not rows:
        return []
    return ["## Published weights (`zoo list weights`)\n",
            "Each published model's own test error: fold 0 of repeat 0 of the paper protocol (one fold, so compare "
            "the paper's 5-fold × 3-repeat mean with the accuracy table above, not with this single number); a DDI "
            "model's is the DDI bench's seed-0 transductive cell (test AUROC, beside the no-chemistry degree "
            "baseline on the same pairs; the paper's figure is a mean over seeds). A full-data version trains on "
            "every pair for the epochs its evaluation version's validation chose and has no held-out test. "
            "Generated from registry.yaml by `python bench/run_bench.py render`.\n",
            "| weights | dataset | version | ours: test RMSE (DDI: AUROC) | paper (same model): RMSE mean ± std over "
            "5 folds × 3; DDI: AUROC |",
            "|---|---|---|---|---|", *rows, ""]
