"""``zoo run``: train and evaluate a model on a dataset (folds x repeats)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from zoo_cli.app import app, check_pretrainer, fail, parse_params, print_json
from zoo_cli.launch import NPROC_HELP, data_parallel
from zoo_core.device import DEVICE_HELP, resolve_device
from zoo_core.errors import UsageError, ZooError


@app.command("run")
def run_cmd(
    encoder: Optional[str] = typer.Option(None, "--encoder", "-e", help="encoder or pair-model name"),
    pair_model: Optional[str] = typer.Option(None, "--pair-model", "-p", help="interaction model over the encoder"),
    pretrainer: Optional[str] = typer.Option(None, "--pretrainer", help="pretraining strategy (e.g. 3dmrl)"),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="registry name, or a path to your own CSV"),
    columns: Optional[str] = typer.Option(None, "--columns", help="for your own CSV: the molecule column(s), then "
                                                                "the target(s): A,B,Y[,Y2..] or SMILES,Y[,Y2..]"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config; CLI flags override it"),
    pretrained_weights: Optional[str] = typer.Option(None, "--pretrained-weights",
                                                     help="backbone weights (skips pretraining): a file from `zoo "
                                                          "pretrain`, or a weights name (`zoo list weights`)"),
    pretrain_epochs: Optional[int] = typer.Option(None, "--pretrain-epochs"),
    pairs: Optional[str] = typer.Option(None, "--pretrain-pairs", "--pairs",
                                        help="pretraining pair set (`zoo list pair-sets`): train-split (default), "
                                             "combisolv-product, solvation-qm, chromophore-product; or DATASET, "
                                             "DATASET:product"),
    pairs_ratio: Optional[float] = typer.Option(None, "--pairs-ratio", help="override the pair set's seeded "
                                                                            "subsample ratio"),
    pretrain_param: Optional[list[str]] = typer.Option(None, "--pretrain-param",
                                                       help="pretrainer KEY=VALUE (e.g. role_order=larger)"),
    compile: Optional[bool] = typer.Option(None, "--compile", help="pretrain with compiled kernels (as `zoo pretrain "
                                                                   "--compile`)"),
    folds: Optional[int] = typer.Option(None, "--folds"),
    repeats: Optional[int] = typer.Option(None, "--repeats"),
    only_fold: Optional[list[int]] = typer.Option(None, "--only-fold", help="run only these fold indices"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    epochs: Optional[int] = typer.Option(None, "--epochs"),
    full_data: bool = typer.Option(False, "--full-data", help="train on every pair for exactly --epochs (the count "
                                                             "cross-validation chose): no validation, test or early "
                                                             "stop; the model to use, its error is the CV's"),
    lr_steps: Optional[str] = typer.Option(None, "--lr-steps", help="with --full-data: EPOCH:LR[,EPOCH:LR] replays "
                                                                 "the rate drops a fold's plateau took (its "
                                                                 "record's lr_steps)"),
    patience: Optional[int] = typer.Option(None, "--patience", help="early-stopping patience (epochs)"),
    freeze_backbone_epochs: Optional[int] = typer.Option(
        None, "--freeze-backbone-epochs", help="train only the prediction head for this many epochs, then "
                                              "everything (linear-probe-then-fine-tune; default 0, the papers' "
                                              "protocol)"),
    lr: Optional[float] = typer.Option(None, "--lr"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    loss: Optional[str] = typer.Option(None, "--loss", help="regression loss: mse (default) or l1 (MAE; QM9's "
                                                            "default, as its papers)"),
    lr_schedule: Optional[str] = typer.Option(None, "--lr-schedule", help="plateau (default: the papers' "
                                                                        "reduce-on-plateau) | cosine (annealed over "
                                                                        "--epochs) | noam (chemprop's warm-up then "
                                                                        "decay)"),
    warmup_epochs: Optional[int] = typer.Option(None, "--warmup-epochs", help="noam's warm-up (default 2 epochs)"),
    split: Optional[str] = typer.Option(None, "--split", help="mi5fold | random | fixed-random:TRAIN,VALID[,SEED] | "
                                                            "scaffold (DeepChem's deterministic "
                                                            "rule) | scaffold-seeded | molecule | solvent; DDI sets: "
                                                            "transductive (default) | inductive | molecule | scaffold"),
    targets: Optional[str] = typer.Option(None, "--targets", help="train on these targets of a multi-target "
                                                                  "dataset only, comma-separated (e.g. "
                                                                  "homo,lumo,alpha on qm9); default: all"),
    select_by: Optional[str] = typer.Option(None, "--select-by", help="validation score of the best epoch, the LR "
                                                                    "plateau and early stop: loss, or a metric "
                                                                    "(rmse, mae, r2, auroc, ap, f1, acc); default: "
                                                                    "the dataset's"),
    scale_targets: Optional[bool] = typer.Option(None, "--scale-targets/--no-scale-targets",
                                                 help="standardise regression targets with the training folds' "
                                                      "mean and std (default on, except where a dataset entry "
                                                      "keeps its paper's raw targets)"),
    pos_weight: Optional[str] = typer.Option(None, "--pos-weight", help="classification: 'balanced' "
                                                                      "(negatives/positives per task) or a number"),
    explicit_h: Optional[bool] = typer.Option(None, "--explicit-h/--no-explicit-h"),
    encoder_param: Optional[list[str]] = typer.Option(None, "--encoder-param", help="KEY=VALUE"),
    pair_param: Optional[list[str]] = typer.Option(None, "--pair-param", help="KEY=VALUE"),
    threads: Optional[int] = typer.Option(None, "--threads"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="train the folds on N processes (one torch "
                                                                     "thread each unless --threads); same results"),
    device: Optional[str] = typer.Option(None, "--device", help=DEVICE_HELP),
    nproc: Optional[int] = typer.Option(None, "--nproc", min=1, help=NPROC_HELP),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="parent folder of run directories"),
    strict: Optional[bool] = typer.Option(None, "--strict/--no-strict", help="stop at the first bad row"),
    resume: Optional[Path] = typer.Option(None, "--resume", help="continue an interrupted run in its directory "
                                                                  "(finished folds are kept; alone, or with "
                                                                  "--threads, --workers)"),
    as_json: bool = typer.Option(False, "--json"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Train and evaluate a model on a dataset with its paper protocol (folds x repeats)."""
    from zoo_core.data.columns import parse_columns
    from zoo_core.train.config import target_list
    from zoo_core.train.run import resolve_config, resume_config, run

    cli = {"encoder": encoder, "pair_model": pair_model, "pretrainer": pretrainer, "dataset": dataset,
           "folds": folds, "repeats": repeats, "only_folds": list(only_fold) if only_fold else None, "seed": seed,
           "epochs": epochs, "full_data": True if full_data else None, "lr_steps": lr_steps, "patience": patience,
           "freeze_backbone_epochs": freeze_backbone_epochs, "lr": lr,
           "batch_size": batch_size, "split": split, "targets": target_list(targets), "select_by": select_by,
           "scale_targets": scale_targets,
           "pos_weight": _pos_weight(pos_weight),
           "explicit_h": explicit_h, "threads": threads, "workers": workers, "loss": loss,
           "lr_schedule": lr_schedule, "warmup_epochs": warmup_epochs,
           "columns": None,
           "pretrained_weights": pretrained_weights,
           "pretrain_epochs": pretrain_epochs, "pairs": pairs, "pairs_ratio": pairs_ratio,
           "pretrain_params": parse_params(pretrain_param, "--pretrain-param") or None, "device": device,
           "pretrain_compile": compile,
           "output": str(output) if output else None, "strict": strict,
           "encoder_params": parse_params(encoder_param, "--encoder-param") or None,
           "pair_params": parse_params(pair_param, "--pair-param") or None}
    try:
        cli["columns"] = parse_columns(columns)
        if resume is not None:
            given = sorted(k for k, v in cli.items() if v is not None and k not in ("threads", "workers")) + (
                ["config"] if config else [])
            if given:
                raise UsageError(f"--resume continues {resume} with its own config.yaml; drop {', '.join(given)}")
            cfg = dict(resume_config(resume), **{k: v for k, v in (("threads", threads), ("workers", workers)) if v})
        else:
            cfg = resolve_config(cli, config)
        if cfg.get("pretrainer"):
            check_pretrainer(cfg["pretrainer"])
        cfg["device"] = resolve_device(cfg.get("device"))  # config.yaml records where the run ran
        if cfg.get("full_data") and (nproc or 1) > 1:
            raise UsageError("--full-data trains in one process: drop --nproc")
        other_rank = data_parallel(nproc, cfg["device"])    # --nproc N / torchrun: ranks 1.. stay quiet
        run_dir, metrics = run(cfg, quiet=quiet or other_rank, resume=resume)
    except ZooError as error:
        fail(error)
    if not other_rank:
        report_run(run_dir, metrics, as_json)


def report_run(run_dir: Path, metrics: dict, as_json: bool) -> None:
    """A finished run on stdout: its summary (JSON with ``--json``) and its directory."""
    if metrics.get("full_data"):
        return report_full_data(run_dir, metrics, as_json)
    result = {"run_dir": str(run_dir), "dataset": metrics["dataset"], "model": metrics["pair_model"],
              "encoder": metrics["encoder"], "summary": metrics["summary"], "bad_rows": metrics["bad_rows"]}
    pre = metrics.get("pretraining")
    if pre:
        result["pretraining"] = {k: v for k, v in pre.items() if k != "folds"}
    if as_json:
        print_json(result)
        return
    for name, s in metrics["summary"].items():
        typer.echo(f"test {name}: {s['mean']:.4f} ± {s['std']:.4f} (over {metrics['n_repeats']} repeat(s); "
                   f"fold mean {s['fold_mean']:.4f} ± {s['fold_std']:.4f})")
    if pre and pre.get("pair_set"):
        typer.echo(f"pretraining: {pre.get('pretrainer')} on pair set {pre['pair_set']}"
                   f"{' (TRANSDUCTIVE: test molecules without labels)' if pre.get('transductive') else ''}, "
                   f"{pre.get('epochs')} epochs, {pre['pairs_per_fold']} pairs per fold")
    typer.echo(f"run directory: {run_dir}")


def report_full_data(run_dir: Path, metrics: dict, as_json: bool) -> None:
    """A finished full-data run: what it trained on, that nothing was held out, its directory."""
    keys = ("dataset", "pair_model", "encoder", "n_pairs", "epochs", "held_out_test", "note", "training_fit",
            "training_fit_note", "bad_rows")
    if as_json:
        print_json({"run_dir": str(run_dir), "full_data": True, **{k: metrics[k] for k in keys}})
        return
    typer.echo(f"full-data model: trained on all {metrics['n_pairs']} rows for {metrics['epochs']} epochs; no "
               f"held-out test (a cross-validated run with this epoch count gives its expected error)")
    typer.echo(f"run directory: {run_dir}")


def _pos_weight(text: str | None):
    if text is None or text == "balanced":
        return text
    try:
        return float(text)
    except ValueError:
        fail(f"--pos-weight expects 'balanced' or a number, got {text!r}", 2)
