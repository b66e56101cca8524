"""Train the zoo's own pretrained weights and publish them: ``weights/<name>.safetensors`` + ``registry.yaml``.

  python bench/publish_weights.py                                   # every recipe below
  python bench/publish_weights.py --only cigin.compsol,mpnn.freesolv --workers 2
  python bench/publish_weights.py --only mpnn.freesolv --epochs 3 \\
      --output-dir /tmp/w/weights --registry /tmp/w/registry.yaml    # smoke test (never into the repository)

Every recipe trains repeat 0 (seed 0), fold 0 of the paper protocol (mi5fold, 5 folds: the pairs shuffled with
seed 0, fold 0's fifth split into validation and test halves, the other four fifths train) with the recipe's
epoch budget and early-stopping patience, exactly as
``zoo run --encoder E --dataset D --seed 0 --repeats 1 --folds 5 --only-fold 0 --epochs N --patience P`` would.
The best-validation weights are written to ``<output-dir>/<name>.safetensors`` (state dict + model spec +
provenance: dataset, split, test metrics, zoo/torch/RDKit versions; no pickle), which must stay under 5 MB.

The registry metrics are those ``zoo predict --weights NAME`` reproduces: the written file is loaded again with
``zoo_core.weights.load_model``, the test-fold pairs are predicted with ``zoo_core.predict.predict_pairs``, and
that RMSE is recorded (it must agree with the run's own test RMSE to 1e-4, or nothing is published). Then the
``weights:`` section of the registry gets the entry ``<name>`` (url: the release asset
``zoo_core.weight_sources.release_url(<name>.safetensors)``, sha256, size, featurizer, metrics, license, model
card); every other byte of the registry file is left as it was. The output folder must be ``weights/`` beside the
registry file: that is where a checkout finds the file until it is uploaded to the release (the script prints
the upload command; an installed zoo downloads it from the release, or from the mirror ``ZOO_WEIGHTS_URL``).

A DDI (classification) recipe (``i2mole.chchminer``, ``cgib.chchminer``) trains instead what the DDI bench's seed-0
cell of the dataset's default split trains at the CPU budget (bench/ddi_bench.py ``CPU_BUDGET``: ``zoo run --encoder E
--dataset D --split transductive --seed 0 --repeats 1 --epochs 30 --patience 5 --lr 0.001 --batch-size 128``; the
papers train for hundreds of epochs at lr 1e-4): seed 0 draws the 1:1 negatives and the one 6:2:2 split, the weights
are the epoch of best validation AUROC), so its test AUROC is that cell's seed-0 figure. Its file must reproduce the
run's test AUROC to 1e-4; the entry records AUROC, AP, F1 and accuracy (at probability 0.5) and the no-chemistry degree
baseline's AUROC and AP on the same test pairs, and the card names the transductive split's leak and ``--split
inductive``. DDI recipes have no full-data version (their negatives are drawn per split).

Each recipe runs with one torch thread; ``--workers N`` runs N recipes at once in separate processes.

Pretrained backbones (:data:`BACKBONES`) are published too: ``zoo pretrain`` with the recipe's pair set and
budget (the pretraining cache is reused when it already holds them), the file copied to ``<output-dir>``, and an
entry without ``dataset`` or ``metrics`` but with ``pretraining.cache_key``: the key ``zoo run --pretrainer`` and
the pretraining bench compute for those settings, so they take the published file instead of pretraining again
(zoo_core.train.pretraining). ``zoo predict`` refuses a backbone; ``zoo run --pretrained-weights NAME`` fine-tunes it.

Every trained-model recipe but a DDI one also has a full-data version ``<name>.full`` (``--only cigin.compsol.full``):
``zoo run --full-data`` on every pair of the dataset for exactly the epochs the evaluation version's validation chose
(``training.best_epoch`` of the ``<name>`` entry, which must be published, file included; named together in
``--only``, the evaluation version is published first), with the same model spec (checked against its file) and,
for a pretrained recipe, its pretraining settings on all pairs. The file must reproduce the run's training-set fit
to 1e-4. Its entry has no ``metrics`` (nothing was held out): ``training.full_data``, ``training.evaluation`` and the
card give the error to expect, the evaluation version's test RMSE; the evaluation version's card is rewritten to
name its full-data version. ``--epochs`` overrides the chosen epochs too (smoke tests).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import tempfile
import textwrap
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from multiprocessing import get_context
from pathlib import Path

import yaml

if __package__ in (None, ""):  # `python bench/publish_weights.py`: the repository root makes `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pool import run_pending  # noqa: E402
from bench.publish_ddi import (DDI_RECIPES, DDI_SPLIT, NO_FULL_DDI, SEED, baseline_metrics,  # noqa: E402
                               ddi_card_paragraphs, ddi_evaluation_rows, ddi_run_settings, ddi_split_description,
                               is_ddi)
from zoo_core.weight_sources import CHECKOUT_FOLDER, RELEASE_BASE_URL, RELEASE_TAG  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REGISTRY = ROOT / "registry.yaml"
DEFAULT_OUTPUT = ROOT / "weights"
MAX_BYTES = 5_000_000  # 5 MB: the weights live in the repository (a recipe may state its own limit, with a reason)
TOLERANCE = 1e-4  # |RMSE (AUROC) recomputed from the file - the run's own test RMSE (AUROC)|
FOLD, FOLDS = 0, 5  # of repeat 0, seed SEED (0, bench/publish_ddi.py: every recipe trains seed 0)


@dataclass(frozen=True)
class Recipe:
    encoder: str  # what `zoo run --encoder` takes (an encoder, or a pair model with its default encoder)
    dataset: str
    epochs: int
    patience: int
    what: str  # one line: the model
    paper: str
    pair_model: str | None = None
    pretrainer: str | None = None  # trained with `zoo run --pretrainer` (its default settings)
    pretrain_epochs: int | None = None  # the recipe's pretraining budget (None: the pretrainer's default)
    max_bytes: int = MAX_BYTES  # the largest weight file allowed
    lr: float | None = None  # Adam's rate and the batch size (None: the dataset entry's)
    batch_size: int | None = None


RECIPES: dict[str, Recipe] = {
    "mpnn.freesolv": Recipe(
        "mpnn", "freesolv", 500, 50,
        "late fusion of two CIGIN-style gather MPNN encoders (solute, solvent): readouts concatenated, MLP",
        "Gilmer et al. 2017 (ICML); the DualMPNN baseline of Lee et al. 2025 (3DMRL, NeurIPS)"),
    "attentivefp.compsol": Recipe(
        "attentivefp", "compsol", 300, 50,
        "late fusion of two AttentiveFP encoders (PyG/3DMRL semantics): readouts concatenated, MLP",
        "Xiong et al. 2019 (J. Med. Chem.); the AttentiveFP baseline of Lee et al. 2025 (3DMRL, NeurIPS)"),
    "cigin.compsol": Recipe(
        "cigin", "compsol", 300, 50,
        "CIGIN as re-implemented by 3DMRL/CGIB over two MPNN encoders: cosine atom-by-atom interaction map, "
        "Set2Set per molecule, MLP",
        "Pathak et al. 2020 (AAAI), CIGIN; the 3DMRL/CGIB re-implementation"),
    "cgib.abraham": Recipe(
        "cgib", "abraham", 300, 50,
        "CGIB: conditional graph information bottleneck on the solute over the CIGIN (cosine) interaction, "
        "MPNN encoders",
        "Lee et al. 2023 (ICML), CGIB"),
    "cigin.3dmrl-compsol": Recipe(
        "cigin", "compsol", 300, 50,
        "CIGIN (3DMRL/CGIB re-implementation, MPNN encoders) whose 2D backbone was first pretrained with 3DMRL, "
        "then fine-tuned",
        "Lee et al. 2025 (NeurIPS), 3DMRL; Pathak et al. 2020 (AAAI), CIGIN", pretrainer="3dmrl",
        # 5 epochs over fold 0's training pairs: the paper's 100 would take ~8 CPU-hours on this 2-core machine
        pretrain_epochs=5),
    # issue 37: the chromophore models chemists ask for first (the paper's budget: 500 epochs, patience 50)
    **{f"cigin.chromophore-{what}": Recipe(
        "cigin", f"chromophore-{what}", 500, 50,
        "CIGIN as re-implemented by 3DMRL/CGIB over two MPNN encoders: cosine atom-by-atom interaction map, "
        "Set2Set per molecule, MLP",
        "Pathak et al. 2020 (AAAI), CIGIN; the 3DMRL/CGIB re-implementation")
       for what in ("absorption", "emission", "lifetime")},
    # issue 35: the DDI recipes (bench/publish_ddi.py)
    **{name: Recipe(**settings) for name, settings in DDI_RECIPES.items()},
}


def size_limit(name: str) -> int:
    """The largest weight file allowed for the published entry ``name`` (its recipe's, a .full version's too)."""
    recipe = RECIPES.get(name[: -len(FULL)] if name.endswith(FULL) else name)
    return recipe.max_bytes if recipe is not None else MAX_BYTES


@dataclass(frozen=True)
class Backbone:
    encoder: str
    pair_set: str
    ratio: float | None
    epochs: int
    dataset: str  # the downstream dataset whose featurization (hydrogen mode) and pretraining lr it is made for
    what: str
    paper: str


BACKBONES: dict[str, Backbone] = {
    "cigin.3dmrl-combisolv": Backbone(
        "cigin", "combisolv-product", 0.02, 40, "freesolv",
        "the 2D backbone of CIGIN (3DMRL/CGIB re-implementation, MPNN encoders) pretrained with 3DMRL, not "
        "fine-tuned: its prediction head is untrained",
        "Lee et al. 2025 (NeurIPS), 3DMRL; Pathak et al. 2020 (AAAI), CIGIN"),
    # rung 3 of the budget ladder (docs/DECISIONS.md): the same backbone grown to the paper's epoch count
    "cigin.3dmrl-combisolv-100ep": Backbone(
        "cigin", "combisolv-product", 0.02, 100, "freesolv",
        "the 2D backbone of CIGIN (3DMRL/CGIB re-implementation, MPNN encoders) pretrained with 3DMRL for 100 "
        "epochs, not fine-tuned: its prediction head is untrained",
        "Lee et al. 2025 (NeurIPS), 3DMRL; Pathak et al. 2020 (AAAI), CIGIN"),
    # rung 4 of the budget ladder: the paper's 20 % pair set at rung 3's number of optimiser steps
    "cigin.3dmrl-combisolv-r20-10ep": Backbone(
        "cigin", "combisolv-product", 0.2, 10, "freesolv",
        "the 2D backbone of CIGIN (3DMRL/CGIB re-implementation, MPNN encoders) pretrained with 3DMRL for 10 "
        "epochs on the paper's 20 % pair set, not fine-tuned: its prediction head is untrained",
        "Lee et al. 2025 (NeurIPS), 3DMRL; Pathak et al. 2020 (AAAI), CIGIN"),
    # rung 5, the last rung: the paper's 20 % pair set for the paper's 100 epochs
    "cigin.3dmrl-combisolv-r20-100ep": Backbone(
        "cigin", "combisolv-product", 0.2, 100, "freesolv",
        "the 2D backbone of CIGIN (3DMRL/CGIB re-implementation, MPNN encoders) pretrained with 3DMRL for 100 "
        "epochs on the paper's 20 % pair set, not fine-tuned: its prediction head is untrained",
        "Lee et al. 2025 (NeurIPS), 3DMRL; Pathak et al. 2020 (AAAI), CIGIN"),
}


# --- training and verification (one recipe, in a worker process) ----------------------------------------

def split_description(split: str = "mi5fold") -> str:
    """The recipe's part of its protocol: fold 0 of mi5fold, or a DDI recipe's seed-0 split."""
    return f"mi5fold seed {SEED} fold {FOLD}" if split == "mi5fold" else ddi_split_description(split)


def run_settings(recipe: Recipe, n_epochs: int, pretrain_epochs: int | None, runs_dir: str) -> dict:
    """The `zoo run` settings of a recipe: the DDI bench's seed-0 cell for a DDI dataset, else fold 0 of repeat 0 of
    the paper protocol."""
    if is_ddi(recipe):
        return ddi_run_settings(recipe, n_epochs, runs_dir)
    return {"encoder": recipe.encoder, "pair_model": recipe.pair_model, "pretrainer": recipe.pretrainer,
            "dataset": recipe.dataset, "seed": SEED, "repeats": 1, "folds": FOLDS, "only_folds": [FOLD],
            "epochs": n_epochs, "patience": recipe.patience, "output": runs_dir, "threads": 1,
            "pretrain_epochs": (pretrain_epochs or recipe.pretrain_epochs) if recipe.pretrainer else None}


def main_metric(spec: dict) -> str:
    """The test metric a weight file must reproduce: RMSE for regression, AUROC for classification."""
    return "auroc" if spec.get("task") == "classification" else "rmse"


def build(name: str, recipe: Recipe, output_dir: str, epochs: int | None,
          pretrain_epochs: int | None, runs_dir: str, quiet: bool) -> dict:
    """Train one recipe, write and verify its weight file; return the registry entry and a summary."""
    import torch

    torch.set_num_threads(1)
    from zoo_core.train.config import resolve_config
    from zoo_core.weights import load_model

    t0 = time.time()
    n_epochs = epochs if epochs is not None else recipe.epochs
    cfg = resolve_config(run_settings(recipe, n_epochs, pretrain_epochs, runs_dir))
    expected = DDI_SPLIT if is_ddi(recipe) else "mi5fold"
    if cfg["split"] != expected:
        raise RuntimeError(f"{name}: dataset {recipe.dataset} uses split {cfg['split']!r}, the recipe assumes "
                           f"{expected}")
    run_dir, run_metrics = run_or_resume(cfg, runs_dir, quiet)
    fold = run_metrics["folds"][0]
    assert (fold.get("repeat", 0), fold["fold"]) == (0, FOLD), fold

    # The weight file: the run's best-validation state dict and spec, with the publication's provenance added.
    model, spec, meta = load_model(Path(run_dir) / "model.safetensors")
    entry, dataset = _featurized(cfg, spec)
    n_pairs = len(dataset)  # a DDI set's positives
    dataset, rows = evaluation_rows(dataset, entry, cfg["split"])
    train_rows, _, test_rows = rows
    _check_test_rows(Path(run_dir) / "predictions.csv", dataset, test_rows, name)
    pretraining = _pretraining_of(recipe, cfg, entry, meta, dataset, train_rows)
    training = training_record(cfg, fold, n_epochs, rows)
    meta = dict(meta, name=name, split_description=split_description(cfg["split"]), training=training,
                pretraining=pretraining, regenerate=f"python bench/publish_weights.py --only {name}")
    path = Path(output_dir) / f"{name}.safetensors"
    tmp = write_small(path, model, spec, meta, name, recipe.max_bytes)
    # Verify as `zoo predict --weights` will: load the written file, predict the test-fold pairs.
    recomputed, metric = file_metrics(tmp, dataset, test_rows, name), main_metric(spec)
    run_value = float(meta["test_metrics"][metric])
    keep_if_reproduced(tmp, path, name, recomputed[metric], run_value, "test", metric)

    from zoo_core.hub import sha256_file
    from zoo_core.weight_sources import release_url

    record = registry_entry(name, recipe, spec, entry, release_url(path.name), sha256_file(path),
                            path.stat().st_size, dict(recomputed, **baseline_metrics(fold)), training, pretraining,
                            n_pairs)
    return {"name": name, "entry": record, "path": str(path), "run_dir": str(run_dir), "metric": metric,
            "value": recomputed[metric], "run_value": run_value, "wall_seconds": round(time.time() - t0, 1)}


def evaluation_rows(dataset, entry, split: str) -> tuple:
    """(dataset, (train, valid, test rows)) as the run built them: a DDI positives set gets seed 0's negatives and
    its one split (:func:`zoo_core.data.ddi.ddi_rows`, as `zoo run` draws them), any other dataset fold FOLD of the
    paper protocol."""
    if entry.get("negatives"):
        return ddi_evaluation_rows(dataset, entry, split)
    from zoo_core.data.splits import make_splits

    return dataset, make_splits(split, len(dataset), SEED, dataset.table.a, dataset.table.b, n_folds=FOLDS)[FOLD]


def training_record(cfg: dict, fold: dict, n_epochs: int, rows: tuple) -> dict:
    """The entry's ``training``: split, seed, budget, the epoch chosen, the parts' sizes, time and rate drops."""
    train_rows, valid_rows, test_rows = rows
    return {"split": cfg["split"], "seed": SEED, "repeat": 0, "fold": FOLD,
            "folds": FOLDS if cfg["split"] == "mi5fold" else 1,
            "epochs": n_epochs, "patience": int(cfg["patience"]), "best_epoch": int(fold["best_epoch"]),
            "epochs_run": int(fold["epochs_run"]), "lr": float(cfg["lr"]), "batch_size": int(cfg["batch_size"]),
            "train_pairs": int(len(train_rows)), "valid_pairs": int(len(valid_rows)),
            "test_pairs": int(len(test_rows)), "seconds": round(float(fold["seconds"]), 1), "torch_threads": 1,
            "lr_steps": [[int(e), float(lr)] for e, lr in fold.get("lr_steps") or []]}


def _featurized(cfg: dict, spec: dict) -> tuple:
    """(dataset entry, featurized PairDataset) of a run's configuration, rows in the run's order."""
    from zoo_core.data.pairs import PairDataset
    from zoo_core.train.config import dataset_entry_of, load_dataset_table

    entry = dataset_entry_of(cfg)
    table = load_dataset_table(cfg, entry)
    return entry, PairDataset.from_table(table, spec["featurizer"]["name"], bool(cfg["explicit_h"]), progress=False)


def _pretraining_of(recipe: Recipe, cfg: dict, entry, meta: dict, dataset, train_rows) -> dict | None:
    """The pretraining record of a recipe with a pretrainer (None without)."""
    from zoo_core.registry import get_registry

    if not recipe.pretrainer:
        return None
    return pretraining_record(cfg, entry, meta, dataset, train_rows,
                              get_registry().entry("pretrainers", recipe.pretrainer).params)


def write_small(path: Path, model, spec: dict, meta: dict, name: str, limit: int = MAX_BYTES) -> Path:
    """The weights written to ``<path>.part`` (returned); refused, and removed, at ``limit`` bytes or more."""
    from zoo_core.weights import save_model

    tmp = path.with_name(path.name + ".part")
    save_model(tmp, model, spec, meta)
    size = tmp.stat().st_size
    if size >= limit:
        tmp.unlink()
        raise RuntimeError(f"{name}: the weight file is {size:,} bytes, over the {limit:,}-byte limit")
    return tmp


def file_metrics(path: Path, dataset, rows, name: str) -> dict:
    """The metrics of ``rows`` (first task) predicted from the weight file at ``path`` as `zoo predict` does."""
    import numpy as np

    from zoo_core.predict import predict_pairs
    from zoo_core.train import metrics as M
    from zoo_core.weights import load_model

    model, spec, _ = load_model(path, check_installed=True)
    a = [dataset.table.a[i] for i in rows]
    b = [dataset.table.b[i] for i in rows]
    preds, reasons = predict_pairs(model, spec, a, b)
    failed = [(a[i], b[i], why) for i, (p, why) in enumerate(zip(preds, reasons)) if p is None]
    if failed:
        raise RuntimeError(f"{name}: {len(failed)} pairs could not be predicted, e.g. {failed[:3]}")
    y = dataset.y.numpy()[rows, 0].astype(np.float64)
    return M.compute(spec["task"], y, model_outputs(spec["task"], preds))


def model_outputs(task: str, predictions) -> "np.ndarray":
    """What the metrics take (zoo_core.train.metrics): `zoo predict`'s values for regression, and for classification
    the logits behind its probabilities (F1 and accuracy threshold σ(logit) at 0.5; AUROC and AP rank either)."""
    import numpy as np

    p = np.asarray(predictions, dtype=np.float64)
    if task != "classification":
        return p
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def keep_if_reproduced(tmp: Path, path: Path, name: str, recomputed: float, run_value: float, what: str,
                       metric: str = "rmse") -> None:
    """Move the checked file into place when the ``metric`` recomputed from it is the run's own (else remove it)."""
    if abs(recomputed - run_value) > TOLERANCE:
        tmp.unlink()
        label = metric.upper()
        raise RuntimeError(f"{name}: {label} recomputed from the weight file ({recomputed:.6f}) differs from the "
                           f"run's own {what} {label} ({run_value:.6f}) by more than {TOLERANCE}")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


_RUN_LOCAL = ("weights", "reused", "seconds", "repeat", "fold")  # this machine's cache path and timings


# Run settings that say where and how fast a run goes, not what it trains.
_NOT_WHAT_IT_TRAINS = {"output", "run_name", "threads", "workers", "device"}


def run_or_resume(cfg: dict, runs_dir: str, quiet: bool):
    """``run(cfg)``, or the continuation of an interrupted run of the same settings under ``runs_dir`` (a publication
    cut short by the end of a session resumes from its fold checkpoint instead of starting again)."""
    from zoo_core.train.config import resume_config
    from zoo_core.train.run import run

    unfinished = unfinished_run(Path(runs_dir), cfg)
    if unfinished is None:
        return run(cfg, quiet=quiet)
    print(f"resuming {unfinished}", file=sys.stderr, flush=True)
    return run(dict(resume_config(unfinished), threads=cfg.get("threads")), quiet=quiet, resume=unfinished)


def unfinished_run(runs_dir: Path, cfg: dict) -> Path | None:
    """The newest run directory under ``runs_dir`` without ``metrics.json`` whose recorded settings equal ``cfg``'s
    (settings added to the zoo after it was written are not compared), or None."""
    if not runs_dir.is_dir():
        return None
    for run_dir in sorted(runs_dir.iterdir(), reverse=True):
        config = run_dir / "config.yaml"
        if not config.is_file() or (run_dir / "metrics.json").exists():
            continue
        recorded = yaml.safe_load(config.read_text()) or {}
        if _same_settings(recorded, cfg):
            return run_dir
    return None


def _same_settings(recorded: dict, cfg: dict) -> bool:
    """Does a run's ``config.yaml`` (names resolved: encoder, pair model, featurizer) record ``cfg``'s settings?"""
    from zoo_core.models import resolve_names
    from zoo_core.registry import get_registry

    roles = len(get_registry().entry("datasets", cfg["dataset"])["roles"])
    pair_model, encoder = resolve_names(cfg["encoder"], cfg["pair_model"], get_registry(), roles)
    if (recorded.get("pair_model"), recorded.get("encoder")) != (pair_model, encoder):
        return False
    named = {"encoder", "pair_model"} | ({"featurizer"} if cfg.get("featurizer") is None else set())
    return all(json.dumps(value, sort_keys=True, default=str) == json.dumps(cfg.get(key), sort_keys=True, default=str)
               for key, value in recorded.items() if key in cfg and key not in _NOT_WHAT_IT_TRAINS | named)


def pretraining_record(cfg: dict, entry, meta: dict, dataset, train_rows, registry_params: dict) -> dict:
    """What the backbone was pretrained on and with: the run's own record when it wrote one, else the config."""
    from zoo_core.train.pretraining import default_lr

    record = {"pretrainer": cfg["pretrainer"], "pair_set": str(cfg["pairs"]),
              "epochs": int(cfg["pretrain_epochs"]), "batch_size": int(cfg["pretrain_batch_size"]),
              "lr": float(cfg.get("pretrain_lr") or default_lr(entry)), "seed": 0}
    if str(cfg["pairs"]).replace("-", "_") == "train_split":
        record["pairs"] = len(dict.fromkeys((dataset.table.a[i], dataset.table.b[i]) for i in train_rows))
        record["transductive"] = False
    record.update({k: v for k, v in (meta.get("pretraining") or {}).items() if k not in _RUN_LOCAL})
    record["params"] = {**registry_params, **(record.get("params") or {}), **(cfg.get("pretrain_params") or {})}
    return record


def _check_test_rows(predictions: Path, dataset, rows, name: str) -> None:
    """The test fold rebuilt here is the one the run evaluated (same data-file lines and molecules: a DDI set's
    drawn negatives all have line 0)."""
    table = dataset.table
    with open(predictions, newline="") as f:
        run_rows = sorted((int(r["line"]), *(r[role] for role in table.roles)) for r in csv.DictReader(f)
                          if r["repeat"] == "0" and r["fold"] == str(FOLD))
    rebuilt = sorted((int(table.lines[i]), *(str(m[i]) for m in table.molecules)) for i in rows)
    if run_rows != rebuilt:
        raise RuntimeError(f"{name}: the rebuilt test fold ({len(rebuilt)} pairs) is not the run's "
                           f"({len(run_rows)} pairs in {predictions})")


# --- the registry entry and its model card ----------------------------------------------------------------

def _r(x: float) -> float:
    return round(float(x), 6)


def _identity(recipe: Recipe, spec: dict, url: str, sha256: str, size: int) -> dict:
    """The keys a trained model's entry starts with: what the model is and where its file is."""
    feat = spec["featurizer"]
    return {"model": recipe.encoder, "encoder": spec["encoder"], "pair_model": spec["pair_model"],
            "pretrainer": recipe.pretrainer, "dataset": recipe.dataset, "url": url, "sha256": sha256,
            "size_bytes": int(size),
            "featurizer": {"name": feat["name"], "version": feat["version"], "explicit_h": bool(feat["explicit_h"]),
                           "atom_dim": feat["atom_dim"], "bond_dim": feat["bond_dim"]}}


def data_license(data_entry) -> str:
    return " ".join(str((data_entry.get("source") or {}).get("license", "not stated")).split())


def _license(recipe: Recipe, data_entry) -> str:
    return (f"MIT (the zoo's license) for the weights; the training data ({recipe.dataset}) keep their own terms: "
            f"{data_license(data_entry)}")


def _trained(recipe: Recipe, spec: dict) -> str:
    """``cigin(mpnn) pretrained with 3dmrl, then`` (the start of a description)."""
    return (f"{spec['pair_model']}({spec['encoder']})"
            f"{' pretrained with ' + recipe.pretrainer + ', then' if recipe.pretrainer else ''}")


def registry_entry(name: str, recipe: Recipe, spec: dict, data_entry, url: str, sha256: str, size: int,
                   metrics: dict, training: dict, pretraining: dict | None, n_pairs: int) -> dict:
    """A trained model's entry; ``n_pairs``: the dataset's pairs (a DDI set's positives)."""
    split = split_description(training["split"])
    quality = (f"AUROC {metrics['auroc']:.3f}" if main_metric(spec) == "auroc" else
               f"RMSE {metrics['rmse']:.3f} {data_entry.get('units', '')}")
    out = {
        "description": f"{_trained(recipe, spec)} trained on {recipe.dataset} ({split}); test {quality}".strip(),
        **_identity(recipe, spec, url, sha256, size),
        "metrics": {"split": f"{split}, test part", "test_pairs": training["test_pairs"],
                    **{k: _r(v) for k, v in metrics.items()}},
        "training": training,
    }
    if pretraining is not None:
        out["pretraining"] = pretraining
    out["license"] = _license(recipe, data_entry)
    out["paper"] = recipe.paper
    card = ddi_card if data_entry.get("negatives") else model_card
    out["card"] = card(name, recipe, spec, data_entry, metrics, training, pretraining, n_pairs,
                       data_license(data_entry))
    return out


def _para(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), width=100, break_on_hyphens=False, break_long_words=False)


def _first_sentence(text: str) -> str:
    text = " ".join(str(text).split())
    return re.split(r"(?<!\bal)\. ", text, maxsplit=1)[0].rstrip(".") + "." if text else ""  # not at "et al. 2018"


CHEMISTRY_LIMITS = ("pairs of small neutral organic molecules only, predictions for chemistry far from the training "
                    "set (ions, metals, polymers, unusual solvents) are extrapolations; no uncertainty estimate; not "
                    "validated for safety-critical or regulatory use.")


def _what_paragraph(name: str, recipe: Recipe, spec: dict, data_entry) -> str:
    feat = spec["featurizer"]
    roles = list(data_entry.get("roles") or ["A", "B"])
    return (f"{name}: {recipe.what}. Predicts the {data_entry['target']} in {data_entry.get('units', '')} of a "
            f"{roles[0]} (molecule A) in a {roles[1]} (molecule B) from their SMILES; features {feat['name']} "
            f"v{feat['version']}, {'explicit hydrogens' if feat['explicit_h'] else 'heavy atoms'}. Paper: "
            f"{recipe.paper}.")


def _data_paragraph(recipe: Recipe, data_entry, n_pairs: int, data_license: str, unit: str = "pairs") -> str:
    source = data_entry.get("source") or {}
    return (f"Data: {recipe.dataset}, {n_pairs:,} {unit}. {_first_sentence(data_entry.get('description', ''))} "
            f"Source: {source.get('url', 'see the dataset entry')} (sha256 {str(source.get('sha256', '?'))[:12]}...). "
            f"Data license (PROVENANCE.md): {data_license}. Cite: {source.get('citation', 'see the dataset entry')}")


def _pretraining_paragraph(p: dict, train_split_pairs: str) -> str:
    """``train_split_pairs``: what the train-split pairs are, after their count (``unique training pairs of ...``)."""
    n = p.get("pairs")
    which = (f"the {n:,} {train_split_pairs}" if str(p["pair_set"]).replace("-", "_") == "train_split"
             and isinstance(n, int) else f"{n:,} pairs" if isinstance(n, int) else "its pairs")
    return (f"Pretraining: {p['pretrainer']} on the pair set '{p['pair_set']}', i.e. {which}"
            + (", TRANSDUCTIVE (it holds test molecules without labels)" if p.get("transductive") else "")
            + f"; budget {p['epochs']} epochs, batch {p['batch_size']}, lr {p['lr']:g}, seed {p['seed']}; the "
            f"registry's {p['pretrainer']} parameters (seeded ETKDG conformers, virtual interaction environment, "
            f"contrastive + pseudo-force losses). Only the 2D backbone is kept, then fine-tuned as above. These are "
            f"the zoo's default pretraining settings (zoo run --pretrainer {p['pretrainer']}), not the paper's "
            f"large-scale pretraining.")


def _epochs(n: int) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


def sibling_note(name: str, n_pairs: int, best_epoch: int, published: bool = True) -> str:
    """The paragraph of an evaluation version's card that names its full-data version (``published`` False: not
    trained yet, and the command that makes it)."""
    head = "Evaluation version (fold 0, with a held-out test). "
    if not published:
        return (f"{head}Its full-data version, {name}{FULL} (all {n_pairs:,} pairs for the {_epochs(best_epoch)} this "
                f"fold's validation chose), is not published yet: python bench/publish_weights.py --only {name}{FULL}")
    return (f"{head}Its full-data version, {name}{FULL}, trained on all {n_pairs:,} pairs for the "
            f"{_epochs(best_epoch)} this fold's validation chose, is the one to use for predictions; expect about this "
            f"version's test error from it.")


def with_sibling_note(card: str, note: str) -> str:
    """``card`` with ``note`` as its paragraph before the last (``Regenerate: ...``), replacing an older one."""
    paragraphs = [p for p in card.rstrip("\n").split("\n\n") if not p.startswith("Evaluation version")]
    return "\n\n".join([*paragraphs[:-1], _para(note), paragraphs[-1]]) + "\n"


def model_card(name: str, recipe: Recipe, spec: dict, data_entry, metrics: dict, training: dict,
               pretraining: dict | None, n_pairs: int, data_license: str) -> str:
    cmd = (f"zoo run --encoder {recipe.encoder} --dataset {recipe.dataset}"
           + (f" --pretrainer {recipe.pretrainer}" if recipe.pretrainer else "")
           + f" --seed {SEED} --folds {FOLDS} --repeats 1 --only-fold {FOLD} --epochs {training['epochs']} "
             f"--patience {training['patience']}")
    parts = [
        _what_paragraph(name, recipe, spec, data_entry),
        _data_paragraph(recipe, data_entry, n_pairs, data_license),
        f"Protocol: {split_description()} of the paper protocol (pairs shuffled with seed {SEED} into {FOLDS} "
        f"folds; fold {FOLD}'s fifth halved into validation and test): trained on {training['train_pairs']:,} "
        f"pairs, {training['valid_pairs']:,} validation, {training['test_pairs']:,} test; budget "
        f"{training['epochs']} epochs, early-stopping patience {training['patience']}, Adam lr {training['lr']:g}, "
        f"batch {training['batch_size']}; the weights are the best-validation epoch ({training['best_epoch']} of "
        f"{training['epochs_run']} run). Test metrics, recomputed from this file with zoo predict: RMSE "
        f"{metrics['rmse']:.4f}, MAE {metrics['mae']:.4f}, R2 {metrics['r2']:.4f}. Same as: {cmd}.",
    ]
    use = (f"Intended use: quick predictions and explanations (zoo predict / zoo explain) for pairs like those of "
           f"{recipe.dataset}, a starting point for fine-tuning, and a reference for reproducing the zoo's numbers. "
           f"Limits: one fold of one repeat (the papers report the mean over 5 folds x several repeats, so compare "
           f"with BENCHMARKS.md, not with this single number); {CHEMISTRY_LIMITS}")
    return _card(name, parts, pretraining, "unique training pairs of this fold (no validation or test pair is seen)",
                 [use, sibling_note(name, n_pairs, training["best_epoch"], published=False)])


def ddi_card(name: str, recipe: Recipe, spec: dict, data_entry, metrics: dict, training: dict,
             pretraining: dict | None, n_pairs: int, data_license: str) -> str:
    """A DDI model's card: its paragraphs (bench/publish_ddi.py), the line that regenerates it."""
    data = _data_paragraph(recipe, data_entry, n_pairs, data_license, "positive pairs")
    return _card(name, ddi_card_paragraphs(name, recipe, spec, data_entry, metrics, training, n_pairs, data,
                                           _epochs(training["epochs"])), pretraining, "", [])


def _card(name: str, head: list[str], pretraining: dict | None, train_split_pairs: str, tail: list[str]) -> str:
    """A trained model's card: ``head``, the pretraining paragraph (if any), ``tail``, the line that regenerates it."""
    parts = [*head, *([_pretraining_paragraph(pretraining, train_split_pairs)] if pretraining is not None else []),
             *tail, f"Regenerate: python bench/publish_weights.py --only {name}"]
    return "\n\n".join(_para(p) for p in parts) + "\n"


# --- full-data versions -----------------------------------------------------------------------------------

FULL = ".full"  # <recipe>.full: the recipe's model trained on every pair


@dataclass(frozen=True)
class FullData:
    """A fine-tuned recipe's full-data version: every pair, for the epochs its published evaluation version's
    validation chose (``training.best_epoch`` of that registry entry)."""

    evaluation: str          # the evaluation version's name (the recipe's)
    recipe: Recipe
    chosen_epochs: int
    evaluation_entry: dict   # its registry entry: the test error to expect, the card that names this version
    evaluation_spec: dict    # its weight file's model spec: the full-data version must be the same model
    lr_steps: tuple | None = None  # its plateau's rate drops ([epoch, lr]), replayed; None: not recorded


def full_data_of(name: str, weights: dict, registry: Path) -> FullData:
    """The FullData of ``<recipe>.full`` from the registry's ``weights`` and the evaluation version's file in
    ``weights/`` beside it (ValueError when that version is not published there)."""
    from zoo_core.weights import read_metadata

    evaluation = name[: -len(FULL)]
    entry = weights.get(evaluation) or {}
    file = registry.parent / CHECKOUT_FOLDER / f"{evaluation}.safetensors"
    if not (entry.get("training") or {}).get("best_epoch") or not (entry.get("metrics") or {}).get("rmse") \
            or not file.is_file():
        raise ValueError(f"{name}: its evaluation version {evaluation} is not published in {registry} (a weights "
                         f"entry with training.best_epoch and a test RMSE, and {file}), so no epoch count has been "
                         f"chosen; publish it first: python bench/publish_weights.py --only {evaluation}")
    return FullData(evaluation, RECIPES[evaluation], int(entry["training"]["best_epoch"]), dict(entry),
                    read_metadata(file)[0], _recorded_lr_steps(entry["training"]))


def _recorded_lr_steps(training: dict) -> tuple | None:
    """An evaluation entry's plateau drops, or None for an entry published before they were recorded."""
    steps = training.get("lr_steps")
    return None if steps is None else tuple(tuple(s) for s in steps)


def check_same_model(name: str, full: FullData, cfg: dict) -> None:
    """Refuse to train a full-data version whose model (spec) is not its evaluation version's: that version's
    test error would say nothing about it."""
    from zoo_core.train.config import dataset_entry_of, load_dataset_table
    from zoo_core.train.run import run_spec

    entry = dataset_entry_of(cfg)
    now = json.loads(json.dumps(run_spec(cfg, entry, load_dataset_table(cfg, entry)), sort_keys=True))
    differ = spec_differences(now, full.evaluation_spec)
    if differ:
        raise RuntimeError(f"{name}: the recipe now builds another model than {full.evaluation}'s weight file "
                           f"(differs in {', '.join(differ)}); republish the evaluation version first: python "
                           f"bench/publish_weights.py --only {full.evaluation},{name}")


def spec_differences(now: dict, old: dict) -> list[str]:
    """The keys (``pair_params.kl_form`` inside a mapping) whose values differ between two model specs."""
    out = []
    for key in sorted(set(now) | set(old)):
        a, b = now.get(key), old.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif a != b:
            out.append(key)
    return out


def build_full(name: str, full: FullData, output_dir: str, epochs: int | None, pretrain_epochs: int | None,
               runs_dir: str, quiet: bool) -> dict:
    """Train a full-data version (`zoo run --full-data`), write and verify its file; return its registry entry and
    its evaluation version's entry with the card naming it."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from zoo_core.hub import sha256_file
    from zoo_core.train.config import resolve_config
    from zoo_core.train.run import run
    from zoo_core.weight_sources import release_url
    from zoo_core.weights import load_model

    t0, recipe = time.time(), full.recipe
    n_epochs = epochs if epochs is not None else full.chosen_epochs
    cfg = resolve_config({"encoder": recipe.encoder, "pair_model": recipe.pair_model, "pretrainer": recipe.pretrainer,
                          "dataset": recipe.dataset, "seed": SEED, "full_data": True, "epochs": n_epochs,
                          "lr_steps": [s for s in full.lr_steps or () if s[0] <= n_epochs] or None,
                          "output": runs_dir, "threads": 1,
                          "pretrain_epochs": (pretrain_epochs or recipe.pretrain_epochs) if recipe.pretrainer
                          else None})
    check_same_model(name, full, cfg)
    run_dir, run_metrics = run(cfg, quiet=quiet)
    model, spec, meta = load_model(Path(run_dir) / "model.safetensors")
    entry, dataset = _featurized(cfg, spec)
    rows = np.arange(len(dataset))
    pretraining = _pretraining_of(recipe, cfg, entry, meta, dataset, rows)
    training = {"full_data": True, "evaluation": full.evaluation, "seed": SEED, "epochs": n_epochs,
                "chosen_epochs": full.chosen_epochs, "lr": float(cfg["lr"]), "lr_steps": cfg.get("lr_steps") or [],
                "batch_size": int(cfg["batch_size"]),
                "train_pairs": len(rows), "seconds": round(float(run_metrics["seconds"]), 1), "torch_threads": 1}
    meta = dict(meta, name=name, training=training, pretraining=pretraining,
                regenerate=f"python bench/publish_weights.py --only {name}")
    path = Path(output_dir) / f"{name}.safetensors"
    tmp = write_small(path, model, spec, meta, name, recipe.max_bytes)
    fit = file_metrics(tmp, dataset, rows, name)  # every pair: the training fit, checked against the run's
    keep_if_reproduced(tmp, path, name, fit["rmse"], float(run_metrics["training_fit"]["rmse"]), "training-fit")
    record = full_registry_entry(name, full, spec, entry, release_url(path.name), sha256_file(path),
                                 path.stat().st_size, training, pretraining)
    note = sibling_note(full.evaluation, len(rows), full.chosen_epochs)
    evaluation = dict(full.evaluation_entry, card=with_sibling_note(full.evaluation_entry["card"], note))
    return {"name": name, "entry": record, "also": {full.evaluation: evaluation}, "path": str(path),
            "run_dir": str(run_dir), "fit_rmse": fit["rmse"], "wall_seconds": round(time.time() - t0, 1)}


def full_registry_entry(name: str, full: FullData, spec: dict, data_entry, url: str, sha256: str, size: int,
                        training: dict, pretraining: dict | None) -> dict:
    """A full-data version's entry: no metrics (nothing was held out); the error to expect is its evaluation
    version's, named in the description and the card."""
    recipe, units = full.recipe, data_entry.get("units", "")
    rmse = float(full.evaluation_entry["metrics"]["rmse"])
    out = {
        "description": f"full-data version of {full.evaluation}: {_trained(recipe, spec)} trained on all "
                       f"{training['train_pairs']:,} {recipe.dataset} pairs for {_epochs(training['epochs'])}; no "
                       f"held-out test, expect about its test RMSE {rmse:.3f} {units}",
        **_identity(recipe, spec, url, sha256, size),
        "training": training,
    }
    if pretraining is not None:
        out["pretraining"] = pretraining
    out.update(license=_license(recipe, data_entry), paper=recipe.paper,
               card=full_card(name, full, spec, data_entry, training, pretraining))
    return out


def full_card(name: str, full: FullData, spec: dict, data_entry, training: dict, pretraining: dict | None) -> str:
    recipe, ev, n, epochs = full.recipe, full.evaluation, training["train_pairs"], training["epochs"]
    rmse, units = float(full.evaluation_entry["metrics"]["rmse"]), data_entry.get("units", "")
    why = ("the epoch the fold-0 validation chose" if epochs == full.chosen_epochs else
           f"a smoke budget; the fold-0 validation chose {full.chosen_epochs}")
    steps = training.get("lr_steps") or []
    cmd = (f"zoo run --encoder {recipe.encoder} --dataset {recipe.dataset}"
           + (f" --pretrainer {recipe.pretrainer} --pretrain-epochs {pretraining['epochs']}" if pretraining else "")
           + f" --seed {SEED} --full-data --epochs {epochs}"
           + (" --lr-steps " + ",".join(f"{e}:{lr:g}" for e, lr in steps) if steps else ""))
    schedule = (f"the learning rate dropping where the fold-0 run's plateau schedule dropped it ("
                + ", ".join(f"{lr:g} from epoch {e}" for e, lr in steps) + ")" if steps else
                "a constant learning rate (the fold-0 run's plateau schedule never dropped it by then)"
                if full.lr_steps is not None else
                "a constant learning rate (the fold-0 run predates the record of its plateau's rate drops)")
    parts = [
        _what_paragraph(name, recipe, spec, data_entry),
        _data_paragraph(recipe, data_entry, n, data_license(data_entry)),
        f"Full-data version: trained on all {n:,} pairs for {_epochs(epochs)} ({why}); no held-out test, expect about "
        f"the fold-0 evaluation version's test error (RMSE {rmse:.3f} {units}, see {ev}). Adam lr "
        f"{training['lr']:g}, batch {training['batch_size']}, {schedule}, the weights of the last epoch; seed "
        f"{SEED}, the evaluation version's initial weights. Same as: {cmd}.",
    ]
    use = (f"Intended use: predictions and explanations (zoo predict / zoo explain) for pairs like those of "
           f"{recipe.dataset}: this is the version to use; {ev} is the one to evaluate with and to reproduce the "
           f"zoo's numbers. Limits: this file's own error is not measured (no pair was held out) and the error to "
           f"expect is one fold of one repeat (compare with BENCHMARKS.md, not with this single number); "
           f"{CHEMISTRY_LIMITS}")
    return _card(name, parts, pretraining, "unique pairs of the dataset (all of them: nothing is held out)", [use])


# --- pretrained backbones ---------------------------------------------------------------------------------

def build_backbone(name: str, recipe: Backbone, output_dir: str, epochs: int | None,
                   pretrain_epochs: int | None, runs_dir: str, quiet: bool) -> dict:
    """Pretrain (or reuse from the cache) one backbone with `zoo pretrain`, copy it to ``output_dir``, return its
    registry entry. ``epochs`` (fine-tuning) does not apply; ``pretrain_epochs`` overrides the budget."""
    import subprocess

    from zoo_core.hub import sha256_file
    from zoo_core.weight_sources import release_url
    from zoo_core.weights import read_metadata

    t0 = time.time()
    n_epochs = pretrain_epochs or recipe.epochs
    args = ["pretrain", "--pretrainer", "3dmrl", "--encoder", recipe.encoder, "--pairs", recipe.pair_set,
            "--dataset", recipe.dataset, "--epochs", str(n_epochs), "--threads", "1", "--output", runs_dir, "--json"]
    if recipe.ratio is not None:
        args += ["--pairs-ratio", str(recipe.ratio)]
    done = subprocess.run([sys.executable, "-m", "zoo_cli.main", *args] + (["-q"] if quiet else []),
                          stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{name}: zoo {' '.join(args)} failed (exit {done.returncode})")
    record = json.loads(done.stdout)
    path = Path(output_dir) / f"{name}.safetensors"
    data = Path(record["weights"]).read_bytes()
    if len(data) >= MAX_BYTES:
        raise RuntimeError(f"{name}: the backbone is {len(data):,} bytes, over the {MAX_BYTES:,}-byte limit")
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    spec, meta = read_metadata(path)
    feat = spec["featurizer"]
    history = meta.get("history") or []
    pretraining = {"cache_key": Path(record["cache"]).stem, "pretrainer": "3dmrl", "pair_set": record["pair_set"],
                   "transductive": bool(record.get("transductive")), "ratio": record.get("ratio"),
                   "pairs": record.get("pairs"), "epochs": n_epochs, "batch_size": record["batch_size"],
                   "lr": record["lr"], "seed": record["seed"],
                   "params": record["params"],  # overrides of the registry's 3dmrl parameters (part of the key)
                   "seconds": meta.get("seconds"),
                   "loss_first_last": [history[0]["loss"], history[-1]["loss"]] if history else None}
    entry = {
        "description": f"{spec['pair_model']}({spec['encoder']}) backbone pretrained with 3dmrl on "
                       f"{record['pair_set']} ({record.get('pairs'):,} pairs, {n_epochs} epochs); not fine-tuned",
        "model": recipe.encoder, "encoder": spec["encoder"], "pair_model": spec["pair_model"], "pretrainer": "3dmrl",
        "url": release_url(path.name), "sha256": sha256_file(path), "size_bytes": path.stat().st_size,
        "featurizer": {"name": feat["name"], "version": feat["version"], "explicit_h": bool(feat["explicit_h"]),
                       "atom_dim": feat["atom_dim"], "bond_dim": feat["bond_dim"]},
        "pretraining": pretraining,
        "license": "MIT (the zoo's license) for the weights; the pretraining molecules (CombiSolv-Exp, no labels "
                   "used) keep their own terms",
        "paper": recipe.paper,
        "card": backbone_card(name, recipe, spec, pretraining),
    }
    return {"name": name, "entry": entry, "path": str(path), "run_dir": str(Path(record["weights"]).parent),
            "wall_seconds": round(time.time() - t0, 1)}


PAPER_PRETRAINING = {"combisolv-product": (71_940, 100)}  # 3DMRL's pairs (20 % of the product) x epochs, §7.1


def _budget_ratio(ratio: float) -> str:
    """How the paper's pretraining budget compares with a backbone's, in words."""
    return "the same budget." if round(ratio, 2) == 1 else f"{ratio:.0f} times this budget."


def backbone_card(name: str, recipe: Backbone, spec: dict, p: dict) -> str:
    paper = PAPER_PRETRAINING.get(p["pair_set"])
    parts = [
        f"{name}: {recipe.what}. Features {spec['featurizer']['name']} v{spec['featurizer']['version']}, "
        f"{'explicit hydrogens' if spec['featurizer']['explicit_h'] else 'heavy atoms'}. Paper: {recipe.paper}.",
        f"Pretraining: 3DMRL on the pair set '{p['pair_set']}' ({p['pairs']:,} pairs, a seeded "
        f"{100 * p['ratio']:g} % subsample)"
        + (", TRANSDUCTIVE: it holds the test molecules of the datasets it is built from, without labels"
           if p["transductive"] else "")
        + f"; {p['epochs']} epochs, batch {p['batch_size']}, lr {p['lr']:g}, seed {p['seed']}; the registry's 3dmrl "
        f"parameters."
        + (f" The paper pretrains {paper[0]:,} pairs for {paper[1]} epochs, " + _budget_ratio(
            paper[0] * paper[1] / (p['pairs'] * p['epochs'])) if paper else ""),
        f"Use: fine-tune it, `zoo run --encoder {recipe.encoder} --dataset {recipe.dataset} --pretrained-weights "
        f"{name}`; `zoo run --pretrainer 3dmrl --pairs {p['pair_set']} --pairs-ratio {p['ratio']} --pretrain-epochs "
        f"{p['epochs']}` on a dataset with the same hydrogen mode takes this file instead of pretraining again "
        f"(ZOO_NO_PUBLISHED_BACKBONES=1 pretrains). It does not predict by itself (zoo predict refuses it). What "
        f"fine-tuning from it gives: BENCHMARKS.md, 3DMRL pretraining section.",
    ]
    parts.append(f"Regenerate: python bench/publish_weights.py --only {name}")
    return "\n\n".join(_para(x) for x in parts) + "\n"


def build_any(name: str, recipe, *rest) -> dict:
    """:func:`build_backbone` for a backbone recipe, :func:`build_full` for a full-data version, :func:`build` for a
    trained-model recipe."""
    builder = build_backbone if isinstance(recipe, Backbone) else build_full if isinstance(recipe, FullData) else build
    return builder(name, recipe, *rest)


# --- rewriting the `weights:` section only ----------------------------------------------------------------

class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, s: str):
    return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None)


_Dumper.add_representer(str, _str)
_ENTRY_KEY = re.compile(r"^  (?P<name>[^\s#'\"][^:#]*):[ \t]*(#.*)?$")


def entry_block(name: str, entry: dict) -> str:
    body = yaml.dump(entry, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=96, default_flow_style=None)
    return f"  {name}:\n" + textwrap.indent(body, "    ")


def set_weights_entries(text: str, blocks: dict[str, str]) -> str:
    """``text`` with the entries ``blocks`` (name -> text of ``entry_block``) set in its top-level ``weights:``
    section, replacing entries of the same name and appending new ones; every byte outside the section is kept."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if re.match(r"weights:(\s|$)", line)]
    if len(starts) != 1:
        raise ValueError(f"expected one top-level 'weights:' section, found {len(starts)}")
    start = starts[0]
    end = next((j for j in range(start + 1, len(lines)) if lines[j][:1] not in ("", " ", "\t", "\n", "\r", "#")),
               len(lines))
    while end < len(lines) and end - 1 > start and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1  # blank lines and column-0 comments just above the next section belong to it
    header = lines[start].split("#", 1)[0].strip()
    body = lines[start + 1:end]
    if header not in ("weights:", "weights: {}", "weights: null", "weights: ~"):
        raise ValueError(f"the weights section must be in block style (found {header!r})")
    preamble: list[str] = []
    existing: dict[str, list[str]] = {}
    current = None
    for line in body:
        m = _ENTRY_KEY.match(line.rstrip("\r\n"))
        if m:
            current = m.group("name").strip()
            existing[current] = [line]
        elif current is None:
            if line.strip() and not line.lstrip().startswith("#"):
                raise ValueError(f"unexpected line in the weights section: {line!r}")
            preamble.append(line)
        else:
            existing[current].append(line)
    if header != "weights:" and existing:
        raise ValueError("the weights section is written as empty but has entries below it")
    merged = {n: "".join(ls).rstrip() + "\n" for n, ls in existing.items()}
    merged.update(blocks)
    section = "weights:\n" + "".join(preamble) + "\n".join(merged.values()) if merged else "weights: {}\n"
    after = "".join(lines[end:])
    sep = "\n" if after and not after.startswith(("\n", "\r\n")) else ""
    return "".join(lines[:start]) + section + sep + after


def publish_entry(registry: Path, name: str, entry: dict) -> None:
    """Write ``entry`` as ``weights.<name>`` of ``registry`` (atomically), then check what was written."""
    from zoo_core.registry import parse_registry_file

    registry = registry.resolve()  # a symlinked registry is rewritten where it lives
    old_text = registry.read_text(encoding="utf-8")
    new_text = set_weights_entries(old_text, {name: entry_block(name, entry)})
    old_doc, new_doc = yaml.safe_load(old_text), yaml.safe_load(new_text)
    if {k: v for k, v in old_doc.items() if k != "weights"} != {k: v for k, v in new_doc.items() if k != "weights"}:
        raise RuntimeError("rewriting the weights section changed another section; nothing was written")
    others = {k: v for k, v in (old_doc.get("weights") or {}).items() if k != name}
    if {k: v for k, v in (new_doc.get("weights") or {}).items() if k != name} != others:
        raise RuntimeError("rewriting the weights section changed another weights entry; nothing was written")
    if new_doc["weights"][name] != entry:
        raise RuntimeError(f"weights.{name} does not read back as written; nothing was written")
    tmp = registry.with_name(registry.name + ".tmp")
    tmp.write_text(new_text, encoding="utf-8")
    parse_registry_file(tmp)  # the zoo's own validation (schema, sha256 format)
    os.replace(tmp, registry)


def upload_hint(paths: list[str]) -> str:
    """What to do so that an installed zoo can fetch the new files: upload them to the release."""
    repo = RELEASE_BASE_URL.split("github.com/", 1)[1].split("/releases/", 1)[0]
    return (f"the registry now names {RELEASE_BASE_URL}<name>.safetensors; upload the new files there before "
            f"committing the registry (a checkout uses weights/ meanwhile):\n  gh release upload {RELEASE_TAG} "
            f"--repo {repo} " + " ".join(paths) + f"\nRelease assets are never replaced (installed zoos pin their "
            f"sha256): if a name is taken, raise RELEASE_TAG in zoo_core/weight_sources.py and make a new release.")


# --- command line ---------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    known = {**RECIPES, **{n + FULL: r for n, r in RECIPES.items() if not is_ddi(r)}, **BACKBONES}
    p.add_argument("--only", help=f"comma-separated recipe names (default: all of {', '.join(known)})")
    p.add_argument("--epochs", type=int, help="override every recipe's epoch budget, and the epochs of a .full "
                                              "version (smoke tests)")
    p.add_argument("--pretrain-epochs", type=int, help="override the pretraining epochs (smoke tests)")
    p.add_argument("--pretrain-ratio", type=float, help="override a backbone's pair-set ratio (smoke tests)")
    p.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT, help="where <name>.safetensors go")
    p.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY, help="registry whose weights: section is "
                                                                            "rewritten")
    p.add_argument("--workers", type=int, default=1, help="recipes trained at once (processes, 1 torch thread each)")
    p.add_argument("--runs-dir", type=Path, help="parent of the training run directories (default: a temp folder)")
    p.add_argument("--quiet", "-q", action="store_true")
    p.add_argument("--list", action="store_true", help="print the recipe table and exit")
    args = p.parse_args(argv)
    if args.list:
        for n, r in known.items():
            evaluation = n[: -len(FULL)]
            print(json.dumps({"name": n, "full_data_of": evaluation, "encoder": r.encoder, "dataset": r.dataset,
                              "epochs": f"training.best_epoch of weights.{evaluation}"} if n.endswith(FULL)
                             else {"name": n, **asdict(r)}))
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else list(known)
    no_full = [n for n in names if n.endswith(FULL) and n[: -len(FULL)] in RECIPES and n not in known]
    if no_full:
        p.error(f"{no_full[0]}: {NO_FULL_DDI}")
    unknown = [n for n in names if n not in known]
    if unknown:
        p.error(f"unknown recipe(s) {', '.join(unknown)} (known: {', '.join(known)})")
    registry, output = args.registry.resolve(), args.output_dir.resolve()
    if any(x is not None for x in (args.epochs, args.pretrain_epochs, args.pretrain_ratio)) and (
            registry == DEFAULT_REGISTRY.resolve() or output == DEFAULT_OUTPUT.resolve()):
        p.error("--epochs/--pretrain-epochs/--pretrain-ratio make smoke weights: give --registry and --output-dir "
                "outside the repository's registry.yaml and weights/")
    if args.pretrain_ratio is not None:
        known.update({n: replace(b, ratio=args.pretrain_ratio) for n, b in BACKBONES.items()})
    if not registry.is_file():
        p.error(f"{registry}: no such registry file")
    if output != registry.parent / CHECKOUT_FOLDER:
        p.error(f"--output-dir must be {registry.parent / CHECKOUT_FOLDER} (weights/ beside the registry file), where "
                f"the registry's release urls find the files until they are uploaded")
    first, fulls = [n for n in names if not n.endswith(FULL)], [n for n in names if n.endswith(FULL)]
    for n in fulls:  # a .full version needs its evaluation version: published already, or published first here
        if n[: -len(FULL)] not in first:
            try:
                full_data_of(n, _published(registry), registry)
            except ValueError as error:
                p.error(str(error))
    output.mkdir(parents=True, exist_ok=True)
    runs = str(args.runs_dir or tempfile.mkdtemp(prefix="zoo-publish-runs-"))
    rest = (str(output), args.epochs, args.pretrain_epochs, runs, args.quiet)
    print(f"publishing {', '.join(names)} -> {output}, registry {registry} (runs under {runs})", file=sys.stderr)
    published: list[str] = []

    def done(result: dict) -> None:
        publish_entry(registry, result["name"], result["entry"])
        for name, entry in result.get("also", {}).items():  # the evaluation version's card names its .full
            publish_entry(registry, name, entry)
        published.append(result["path"])
        quality = (f"test {result['metric'].upper()} {result['value']:.6f} (run's own {result['run_value']:.6f})"
                   if "metric" in result
                   else f"full data, training-set fit RMSE {result['fit_rmse']:.6f} (not a test error)"
                   if "fit_rmse" in result
                   else f"backbone, pretraining key {result['entry']['pretraining']['cache_key']}")
        print(f"{result['name']}: {quality}, {result['entry']['size_bytes']:,} bytes, {result['wall_seconds']} s -> "
              f"{result['path']}", flush=True)

    failures = run_jobs([(n, known[n], *rest) for n in first], args.workers, done)
    jobs = []
    for n in fulls:  # after the evaluation versions: their best epochs are in the registry now
        try:
            jobs.append((n, full_data_of(n, _published(registry), registry), *rest))
        except ValueError as error:
            failures += 1
            print(f"{n}: FAILED: {error}", file=sys.stderr, flush=True)
    failures += run_jobs(jobs, args.workers, done)
    if published:
        print(upload_hint(published), file=sys.stderr)
    return 1 if failures else 0


def _published(registry: Path) -> dict:
    """The ``weights:`` entries of ``registry`` as plain mappings."""
    return yaml.safe_load(registry.read_text(encoding="utf-8")).get("weights") or {}


def run_jobs(jobs: list[tuple], workers: int, done) -> int:
    """Build every job (in ``workers`` processes when more than 1: bench.pool.run_pending), ``done(result)`` each; the
    number that failed (each reported with its traceback, the others going on)."""
    succeeded = []

    def finish(job: tuple, outcome: tuple) -> None:
        result, failure = outcome
        if failure is None:
            try:
                done(result)
                succeeded.append(job)
                return
            except Exception:  # report, go on with the next recipe
                failure = traceback.format_exc()
        print(f"{job[0]}: FAILED\n{failure}", file=sys.stderr, flush=True)

    if workers <= 1:
        for job in jobs:
            finish(job, _attempt(job))
    else:
        try:
            run_pending(jobs, _attempt, ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")),
                        finish, label=lambda job: job[0])
        except Exception:  # noqa: BLE001 - a job whose process died: run_pending reported it, counted below
            pass
    return len(jobs) - len(succeeded)


def _attempt(job: tuple) -> tuple:
    """(``build_any(*job)``, None), or (None, the traceback of its failure) for the parent to report."""
    try:
        return build_any(*job), None
    except Exception:
        return None, traceback.format_exc()


if __name__ == "__main__":
    sys.exit(main())
