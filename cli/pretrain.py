"""``zoo pretrain``: pretrain a backbone on a pair set, or a molecule pretrainer on a dataset's training molecules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from zoo_cli.app import app, check_pretrainer, fail, parse_params, print_json
from zoo_cli.launch import NPROC_HELP, data_parallel
from zoo_core.device import DEVICE_HELP, resolve_device
from zoo_core.errors import ZooError


@app.command("pretrain")
def pretrain_cmd(
    pretrainer: str = typer.Option(..., "--pretrainer", help="e.g. 3dmrl"),
    encoder: str = typer.Option(..., "--encoder", "-e", help="encoder or pair-model name"),
    pair_model: Optional[str] = typer.Option(None, "--pair-model", "-p"),
    pairs: str = typer.Option("train-split", "--pairs", "--pretrain-pairs",
                              help="pair set (`zoo list pair-sets`: train-split, combisolv-product, solvation-qm, "
                                   "chromophore-product) or DATASET / DATASET:product; a molecule dataset: "
                                   "train-split (its training molecules)"),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d",
                                          help="downstream dataset: required for train-split; sets the H mode"),
    fold: int = typer.Option(0, "--fold", help="train-split: the fold whose training pairs are used"),
    split_seed: int = typer.Option(0, "--split-seed", help="train-split: the split seed (zoo run's --seed + repeat)"),
    folds: int = typer.Option(5, "--folds", help="train-split: number of folds of the split protocol"),
    pairs_ratio: Optional[float] = typer.Option(None, "--pairs-ratio", help="override the set's subsample ratio"),
    epochs: int = typer.Option(100, "--epochs"),
    batch_size: int = typer.Option(48, "--batch-size"),
    lr: Optional[float] = typer.Option(None, "--lr", help="default: the pretrainer's (molinteract 5e-5), else 1e-4 "
                                                          "solvation, 5e-4 chromophores"),
    encoder_param: Optional[list[str]] = typer.Option(None, "--encoder-param", help="encoder KEY=VALUE (as zoo run: "
                                                                                    "the backbone must match it)"),
    seed: int = typer.Option(0, "--seed"),
    pretrain_param: Optional[list[str]] = typer.Option(None, "--pretrain-param", help="pretrainer KEY=VALUE"),
    output: Path = typer.Option(Path("runs"), "--output", "-o", help="parent folder of the run directory"),
    threads: Optional[int] = typer.Option(None, "--threads"),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    nproc: Optional[int] = typer.Option(None, "--nproc", min=1, help=NPROC_HELP),
    compile: bool = typer.Option(False, "--compile",
                                 help="compiled kernels for the pretrainer's hot loop (needs a C compiler; "
                                      "~1.6x faster on CPU for 3DMRL; same results up to float rounding)"),
    as_json: bool = typer.Option(False, "--json", help="print the record (weights, pair set, budget)"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Pretrain a 2D backbone on a pair set; writes <run>/backbone.safetensors for `zoo run --pretrained-weights`.
    A molecule pretrainer (molinteract) on a molecule dataset sees the training molecules of the dataset's split.

    With `--pairs train-split --dataset D` the pairs are exactly those `zoo run --pretrainer ... --dataset D` uses
    for that fold, so the cached backbone is reused by the run. Interrupted? The same command resumes after the last
    finished epoch; a later run with more `--epochs` continues from there (`zoo cache list` shows checkpoints)."""
    import time as _time

    from zoo_core.data.pair_sets import first_dataset, is_train_split, resolve
    from zoo_core.models import model_spec
    from zoo_core.train.pretraining import default_lr, pretrained_backbone
    from zoo_core.train.config import _check_pretrainer_target, dataset_entry_of

    try:
        check_pretrainer(pretrainer)
        device = resolve_device(device)
        other_rank = data_parallel(nproc, device)   # --nproc N / torchrun: ranks 1.. quiet, writing nothing
        quiet = quiet or other_rank
        if threads:
            import torch

            torch.set_num_threads(threads)
        train_split = is_train_split(pairs)
        if train_split and not dataset:
            raise ZooError("--pairs train-split needs --dataset NAME (the downstream dataset whose fold is used)")
        source = dataset or first_dataset(pairs)
        if source is None:
            raise ZooError(f"pair set {pairs!r} names no dataset; pass --dataset NAME")
        entry = dataset_entry_of({"dataset": source, "columns": None})
        _check_pretrainer_target(pretrainer, entry, source)
        spec = model_spec(encoder, pair_model, task=entry["task"], explicit_h=bool(entry["explicit_h"]),
                          roles=len(entry["roles"]), encoder_params=parse_params(encoder_param, "--encoder-param"))
        positions = None
        if train_split:
            examples, positions = _fold_train_examples(dataset, entry, spec, split_seed, folds, fold, quiet)
            pset = resolve(pairs, ratio=pairs_ratio, downstream=dataset, train_pairs=examples)
        else:
            pset = resolve(pairs, ratio=pairs_ratio, downstream=dataset)
        if pset.transductive:
            typer.echo(f"zoo: warning: pair set {pset.name!r} is TRANSDUCTIVE (it holds downstream test molecules, "
                       f"without labels)", err=True)
        label = pset.name.replace(":", "-") + (f"-{dataset}-s{split_seed}f{fold}" if train_split else "")
        run_dir = output / f"{_time.strftime('%Y%m%d-%H%M%S')}-pretrain-{pretrainer}-{spec['pair_model']}-{label}"
        lr = lr or default_lr(entry, pretrainer)
        params = parse_params(pretrain_param, "--pretrain-param")
        t0 = _time.perf_counter()
        path, reused = pretrained_backbone(pretrainer, spec, pset.pairs, epochs, batch_size, lr, seed,
                                           params=params, quiet=quiet, out=run_dir / "backbone.safetensors",
                                           pair_set=pset.record(), compile=compile, device=device,
                                           positions=positions)
        record = {"weights": str(run_dir / "backbone.safetensors"), "cache": str(path), "reused": reused,
                  "pretrainer": pretrainer, "pair_model": spec["pair_model"], "encoder": spec["encoder"],
                  **pset.record(), "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
                  "params": params, "device": device, "seconds": round(_time.perf_counter() - t0, 3)}
        if train_split:
            record.update(fold=fold, split_seed=split_seed, n_folds=folds)
        if not other_rank:
            (run_dir / "pretraining.json").write_text(json.dumps(record, indent=2))
    except ZooError as error:
        fail(error)
    if other_rank:
        return
    if as_json:
        print_json(record)
    else:
        typer.echo(record["weights"])


def _fold_train_examples(dataset: str, entry, spec: dict, split_seed: int, folds: int, fold: int, quiet: bool):
    """(the training pairs, or molecules, of one fold of DATASET's split: those `zoo run` pretrains on for that
    fold; the dataset's own geometries or None)."""
    from zoo_core.data.molecules import MolDataset
    from zoo_core.data.pair_sets import examples_of_rows
    from zoo_core.data.pairs import PairDataset
    from zoo_core.data.splits import make_splits
    from zoo_core.train.config import load_dataset_table

    table = load_dataset_table({"dataset": dataset}, entry)
    kind = MolDataset if len(entry["roles"]) == 1 else PairDataset
    data = kind.from_table(table, spec["featurizer"]["name"], bool(entry["explicit_h"]), progress=not quiet)
    splits = make_splits(entry["split"], len(data), split_seed, data.table.a, data.table.b, n_folds=folds)
    if not 0 <= fold < len(splits):
        raise ZooError(f"--fold {fold}: the {entry['split']} split has {len(splits)} fold(s)")
    return examples_of_rows(data.table, splits[fold][0]), getattr(table, "positions", None)
