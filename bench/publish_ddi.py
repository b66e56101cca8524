"""The DDI (classification) recipes of bench/publish_weights.py, ``i2mole.chchminer`` and ``cgib.chchminer``: what is
particular to them. Each trains the DDI bench's seed-0 cell of the dataset's default split (transductive) at the CPU
budget (bench/ddi_bench.py ``CPU_BUDGET``): their settings (:data:`DDI_RECIPES`, :func:`ddi_run_settings`), the drawn
negatives and the one split they are evaluated on (:func:`ddi_evaluation_rows`), the no-chemistry degree baseline
recorded beside their AUROC (:func:`baseline_metrics`) and their model card's paragraphs (:func:`ddi_card_paragraphs`).
Training, the checks of the weight file, the registry entry and the command line are publish_weights'.
"""

from __future__ import annotations

from bench.ddi_bench import CPU_BUDGET

SEED = 0  # the DDI bench's seed-0 cell (every publication of bench/publish_weights.py trains seed 0)
DDI_SPLIT = "transductive"  # a DDI recipe's split: the DDI datasets' default, the papers' headline protocol

# issue 35: the DDI bench's seed-0 transductive cell, at the CPU budget (the papers train for 100s of epochs); the
# settings of a bench.publish_weights.Recipe
DDI_RECIPES: dict[str, dict] = {
    "i2mole.chchminer": dict(
        encoder="i2mole", dataset="chchminer",
        what="I2Mole for drug-drug interaction: one siamese MPNN encoder, inter-molecular attention with a per-pair "
             "top-10 % mask, a graph information bottleneck on the merged pair graph with noise from a 10-code "
             "vector-quantized environment codebook, and an invariance loss over the environments; symmetric, "
             "f(a, b) = f(b, a)",
        paper="Du et al. 2026 (ICLR), I2Mole", **CPU_BUDGET),
    "cgib.chchminer": dict(
        encoder="cgib", dataset="chchminer",
        what="CGIB for drug-drug interaction: conditional graph information bottleneck on each drug conditioned on "
             "the other over the CIGIN (cosine) interaction, one siamese MPNN encoder, beta 1e-4 (CGIB's DDI "
             "protocol); symmetric, f(a, b) = f(b, a)",
        paper="Lee et al. 2023 (ICML), CGIB",
        # 1.88 M float32 parameters over 133-wide C133 atoms (the 266-wide Set2Set LSTM alone is 0.85 M): 7.5 MB
        max_bytes=8_000_000, **CPU_BUDGET),
}

NO_FULL_DDI = ("a DDI recipe has no full-data version: its negatives are drawn per split, so 'every pair' is not a "
               "fixed set (zoo run --full-data refuses a DDI dataset)")


def is_ddi(recipe) -> bool:
    """Is the recipe's dataset a DDI positives set (negatives drawn per seed, one split per seed)?"""
    from zoo_core.data.datasets import dataset_entry

    return bool(dataset_entry(recipe.dataset).get("negatives"))


def ddi_run_settings(recipe, n_epochs: int, runs_dir: str) -> dict:
    """The `zoo run` settings of a DDI recipe: the DDI bench's seed-0 cell."""
    from bench.ddi_bench import cell_config

    if recipe.pair_model or recipe.pretrainer:
        raise RuntimeError("a DDI recipe is the DDI bench's cell: an --encoder name only, no pretrainer")
    return cell_config(recipe.encoder, recipe.dataset, DDI_SPLIT, SEED, n_epochs, recipe.patience, runs_dir,
                       recipe.lr, recipe.batch_size)


def ddi_split_description(split: str) -> str:
    """A DDI recipe's part of its protocol: its seed-0 split."""
    return f"{split} 6:2:2 seed {SEED}, negatives 1:1"


def ddi_evaluation_rows(dataset, entry, split: str) -> tuple:
    """(dataset, (train, valid, test rows)) as the run built them: seed 0's negatives and its one split
    (:func:`zoo_core.data.ddi.ddi_rows`, as `zoo run` draws them)."""
    from zoo_core.data.ddi import ddi_rows

    drawn = ddi_rows(dataset.table, split, [SEED], float(entry["negatives"].get("ratio", 1)))
    return dataset.with_table(drawn.table), drawn.folds[0][0]


def baseline_metrics(fold: dict) -> dict:
    """A DDI fold's no-chemistry degree baseline on the test pairs (``degree_baseline_auroc``/``_ap``), when the run
    recorded it (zoo_core.train.ddi_report); {} otherwise."""
    test = (fold.get("baseline") or {}).get("test") or {}
    return {f"degree_baseline_{k}": v for k, v in test.items() if k in ("auroc", "ap") and v is not None}


def ddi_card_paragraphs(name: str, recipe, spec: dict, data_entry, metrics: dict, training: dict, n_pairs: int,
                        data: str, budget: str) -> list[str]:
    """A DDI model card's paragraphs: what it predicts, ``data`` (the data and its license), the DDI bench cell it is
    (``budget``: its epochs in words), the transductive split's leak beside the no-chemistry baseline, its use and
    limits."""
    from zoo_core.data.ddi import LEAKS

    feat, roles = spec["featurizer"], list(data_entry.get("roles") or ["drug_a", "drug_b"])
    what = (f"{name}: {recipe.what}. Predicts the probability that two drugs interact from their SMILES, columns "
            f"{roles[0]} and {roles[1]} (`zoo predict --columns A,B` names others); features "
            f"{feat['name']} v{feat['version']}, {'explicit hydrogens' if feat['explicit_h'] else 'heavy atoms'}. "
            f"Paper: {recipe.paper}.")
    leak = (f"Leakage: {LEAKS[DDI_SPLIT]}. The leak-free protocol is --split inductive (disjoint validation and test "
            f"drug sets; test rows with one or two drugs unseen in training, Type 1 / Type 2): zoo run --encoder "
            f"{recipe.encoder} --dataset {recipe.dataset} --split inductive; BENCHMARKS.md's DDI section has both "
            f"splits.")
    use = (f"Intended use: ranking drug pairs like those of {recipe.dataset} for a possible interaction (zoo predict / "
           f"zoo explain), and a reference for reproducing the zoo's DDI numbers. Limits: one split of one seed "
           f"(compare BENCHMARKS.md); the probabilities are not calibrated interaction rates (negatives are unobserved "
           f"pairs drawn 1:1, some may interact); drugs unlike the training drugs are extrapolations (see the leak); "
           f"not validated for clinical or regulatory use. {NO_FULL_DDI[0].upper()}{NO_FULL_DDI[1:]}.")
    return [what, data, _ddi_protocol_paragraph(recipe, spec, metrics, training, n_pairs, budget), leak, use]


def _ddi_protocol_paragraph(recipe, spec: dict, metrics: dict, training: dict, n_pairs: int, budget: str) -> str:
    from bench.ddi_bench import cell_command, recipe_flags
    from bench.targets import PAPER_DDI_AUROC

    paper = PAPER_DDI_AUROC.get(spec["pair_model"], {}).get(recipe.dataset)
    baseline = metrics.get("degree_baseline_auroc")
    split, epochs, patience = training["split"], training["epochs"], training["patience"]
    bench = cell_command(recipe.encoder, recipe.dataset, split, str(SEED), epochs, patience, recipe.lr,
                         recipe.batch_size)
    return (
        f"Protocol: the DDI bench's seed-{SEED} {split} cell ({bench}): "
        f"the {n_pairs:,} positive pairs and as many negatives (1:1, seeded: unordered pairs of two different "
        f"drugs positive in neither order, drawn with seed {SEED}), positives and negatives each split 6:2:2 into "
        f"{training['train_pairs']:,} training, {training['valid_pairs']:,} validation and {training['test_pairs']:,} "
        f"test pairs; budget {budget} (the dataset entry's protocol allows 1000), early-stopping patience "
        f"{patience}, Adam lr {training['lr']:g}, batch {training['batch_size']}"
        + (" (a budget this CPU affords: the papers train at lr 1e-4 for hundreds of epochs)" if recipe.lr else "")
        + "; the weights are the epoch of best "
        f"validation AUROC ({training['best_epoch']} of {training['epochs_run']} run). Test metrics, recomputed from "
        f"this file with zoo predict: AUROC {metrics['auroc']:.4f}, AP {metrics['ap']:.4f}, F1 {metrics['f1']:.4f}, "
        f"accuracy {metrics['acc']:.4f} (at probability 0.5)."
        + (f" No-chemistry baseline on the same test pairs (score = training interactions of one drug + of the "
           f"other): AUROC {baseline:.4f}." if baseline is not None else "")
        + (f" Paper: AUROC {paper:g} % ({split}, mean of several seeds at the paper's budget)." if paper else "")
        + f" Same as: zoo run --encoder {recipe.encoder} --dataset {recipe.dataset} --split {split} --seed {SEED} "
          f"--repeats 1 --epochs {epochs} --patience {patience}{recipe_flags(recipe.lr, recipe.batch_size)}.")
