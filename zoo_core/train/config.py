"""Run configuration: defaults < dataset registry entry < ``--config`` file < CLI flags, resolved once.

The resolved configuration is a plain dict saved as the run's ``config.yaml``; ``zoo run --resume`` reads it back.
A dataset is a registry name or a path to the user's own CSV (``--columns`` names its molecule and target columns).
Training protocol keys a dataset entry may state (its paper's protocol): ``train`` (lr, batch size, epochs,
patience, plateau patience), ``select_by`` (validation metric for the best epoch; default ``loss``, or ``auroc`` for
classification), ``scale_targets`` (standardise regression targets; default on, off in entries that reproduce a
paper that trained on raw targets) and ``pos_weight``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from zoo_core.errors import InputError, UsageError

DEFAULTS: dict[str, Any] = {
    "encoder": None, "pair_model": None, "pretrainer": None, "dataset": "freesolv",
    "featurizer": None, "explicit_h": None, "split": None, "folds": 5, "repeats": 3, "seed": 0,
    "only_folds": None, "epochs": 500, "patience": 50, "plateau_patience": 20, "plateau_factor": 0.1,
    "lr": None, "batch_size": None, "loss": None, "weight_decay": 0.0, "encoder_params": {}, "pair_params": {},
    "device": "auto", "threads": None, "workers": 1, "strict": False, "output": "runs", "run_name": None,
    "held_out": None, "save_all_folds": False, "columns": None, "pretrained_weights": None,
    "pretrain_epochs": 100, "pretrain_batch_size": 48, "pretrain_lr": None, "pretrain_params": {},
    "pairs": "train-split", "pairs_ratio": None, "freeze_backbone_epochs": 0, "pretrain_compile": False,
    "select_by": None, "scale_targets": None, "pos_weight": None, "targets": None, "full_data": False,
    "lr_steps": None, "lr_schedule": None, "warmup_epochs": 2,
}

# What selects or judges held-out rows; a full-data run has none, so these are refused with it (CLI or config file).
NOT_WITH_FULL_DATA = {"only_folds": "--only-fold", "folds": "--folds", "repeats": "--repeats", "split": "--split",
                      "held_out": "held_out", "patience": "--patience", "plateau_patience": "plateau_patience",
                      "plateau_factor": "plateau_factor", "select_by": "--select-by",
                      "save_all_folds": "save_all_folds"}


def is_custom_dataset(name: str) -> bool:
    """A dataset given as a path to the user's own CSV instead of a registry name: a name ending in .csv, .tsv or
    .txt, one with a path separator, or an existing file or directory that no registry dataset is named (whether
    the file exists and can be read is checked when it is read, with a message that says so)."""
    from zoo_core.registry import get_registry

    if name.lower().endswith((".csv", ".tsv", ".txt")) or "/" in name or os.sep in name:
        return True
    return Path(name).exists() and name not in get_registry().sections["datasets"]


def custom_entry(path: str, columns: list[str] | None):
    """A registry-like entry for the user's own CSV: ``--columns`` names the molecule column(s) and the target(s).

    ``SMILES,Y[,Y2...]`` with one molecule column whose values do not look like a second molecule is ambiguous with
    ``A,B,Y``; the rule: with ``--columns``, a pair is read when the second column holds SMILES-like strings in the
    first data row, otherwise a molecule dataset. Without ``--columns``, a file whose header has 2 columns is a
    molecule dataset (SMILES, target), 3 or more a pair dataset (A, B, target) with the first target column.
    Regression, random 5-fold CV (mi5fold), targets standardised on the training folds, heavy atoms. Without
    ``--columns`` the columns taken and how they were read are printed on stderr."""
    from zoo_core.data.input_file import header_and_first_row
    from zoo_core.registry import Entry

    header, first = header_and_first_row(path)  # InputError: missing, a directory, not UTF-8, empty, no data rows
    guessed = columns is None
    if guessed:
        if len(header) < 2:
            raise InputError(f"{path}: need at least 2 columns (SMILES and target, or molecule A, molecule B and "
                             f"target), found {len(header)} ({', '.join(header)}); name them with --columns")
        columns = header[:2] if len(header) == 2 else header[:3]
    unknown = [c for c in columns if c not in header]
    if unknown:
        raise InputError(f"{path}: no column(s) {', '.join(map(repr, unknown))} (columns: {', '.join(header)})")
    if len(columns) < 2:
        raise InputError(f"{path}: --columns needs the molecule column(s) and at least one target, "
                         f"e.g. smiles,y or solute,solvent,y (got {','.join(columns)})")
    second = first[header.index(columns[1])].strip() if first and header.index(columns[1]) < len(first) else ""
    pair = len(columns) >= 3 and not _is_number(second)
    roles = list(columns[:2]) if pair else [columns[0]]
    targets = list(columns[2:] if pair else columns[1:])
    data = {"impl": "custom_csv", "task": "regression", "roles": roles, "target": ", ".join(targets),
            "targets": targets, "metric": "rmse", "split": "mi5fold", "explicit_h": False, "featurizer": None,
            "columns": {"a": columns[0], **({"b": columns[1]} if pair else {}),
                        "y": targets if len(targets) > 1 else targets[0]},
            "train": {"lr": 1e-3, "batch_size": 256}}
    if guessed:
        _say_columns_taken(path, header, roles, targets)
    return Entry("datasets", path, data, Path(path))


def _say_columns_taken(path: str, header: list[str], roles: list[str], targets: list[str]) -> None:
    """Tell the user which columns a CSV without ``--columns`` was read with, and how (stderr, also with -q)."""
    from zoo_core.console import warn

    quoted = ", ".join(map(repr, roles))
    kind = (f"a pair dataset: molecules {quoted}" if len(roles) == 2 else
            f"a molecule dataset: molecule {quoted}" + (" (the second column holds numbers, so it is a target)"
                                                         if len(header) > 2 else ""))
    used = len(roles) + len(targets)
    taken = f"its {used} columns" if used == len(header) else f"the first {used} of its {len(header)} columns"
    warn(f"no --columns given: read {path} as {kind}, target(s) {', '.join(map(repr, targets))} ({taken}; "
         f"pass --columns {','.join(roles + targets)} to say so, or other names to choose)")


def _is_number(text: str) -> bool:
    """A number, or a cell that holds no label (what a target column may contain)."""
    from zoo_core.data.table import MISSING_LABELS

    try:
        float(text)
    except ValueError:
        return text.lower() in MISSING_LABELS
    return True


def dataset_entry_of(cfg: dict):
    """The registry entry of ``cfg['dataset']``, or a registry-like entry for the user's own CSV."""
    from zoo_core.data.datasets import dataset_entry

    if is_custom_dataset(cfg["dataset"]):
        return custom_entry(cfg["dataset"], cfg.get("columns"))
    return dataset_entry(cfg["dataset"])


def load_dataset_table(cfg: dict, entry):
    """The dataset's table (PairTable or MolTable), bad rows included, read as ``entry`` says."""
    from zoo_core.data.datasets import load_table
    from zoo_core.data.table import read_molecule_csv, read_pair_csv

    if entry["impl"] == "custom_csv":
        c = entry["columns"]
        if len(entry["roles"]) == 1:
            table = read_molecule_csv(cfg["dataset"], c["a"], c["y"], role=entry["roles"][0], task=entry["task"])
        else:
            table = read_pair_csv(cfg["dataset"], c["a"], c["b"], c["y"], roles=tuple(entry["roles"]),
                                  task=entry["task"])
    else:
        table = load_table(cfg["dataset"])
    return select_targets(table, cfg.get("targets"), cfg["dataset"])


def target_list(value) -> list[str] | None:
    """``targets`` as a list of names: a list, or one comma-separated string (``--targets homo,lumo,alpha``)."""
    if value is None or isinstance(value, list):
        return value
    return [t.strip() for t in str(value).split(",") if t.strip()]


def select_targets(table, targets, dataset: str):
    """``table`` with only the ``targets`` columns (any multi-target dataset; None keeps them all)."""
    names = target_list(targets)
    if not names:
        return table
    try:
        return table.select_targets(names)
    except ValueError as error:
        raise UsageError(f"--targets for {dataset}: {error}") from None


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML run configuration (``yaml.safe_load``); unknown keys are errors naming the file and key."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read config ({error})") from error
    except yaml.YAMLError as error:
        raise UsageError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a run config must be a mapping of keys")
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise UsageError(f"{path}: unknown config key(s) {', '.join(map(repr, unknown))} "
                       f"(known: {', '.join(sorted(DEFAULTS))})")
    return data


def parse_key_values(items: list[str] | None, option: str) -> dict[str, Any]:
    """``["legacy=true", "beta=0.5"]`` -> ``{"legacy": True, "beta": 0.5}`` for a repeatable KEY=VALUE ``option``
    (values read with ``yaml.safe_load``); UsageError naming the option and the item otherwise."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option} expects KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def resolve_config(cli: dict[str, Any], config_file: str | Path | None = None) -> dict[str, Any]:
    """Merge defaults, the dataset's registry defaults, the config file and CLI values (None = not given)."""
    cfg = dict(DEFAULTS)
    file_cfg = load_config_file(config_file) if config_file else {}
    given = {k: v for k, v in cli.items() if v is not None}
    dataset = given.get("dataset") or file_cfg.get("dataset") or cfg["dataset"]
    entry = dataset_entry_of({"dataset": dataset, "columns": given.get("columns") or file_cfg.get("columns")})
    train = dict(entry.get("train") or {})
    # The featurizer comes from the model's registry entry unless the config or CLI names one.
    cfg.update({"dataset": dataset, "explicit_h": entry["explicit_h"],
                "split": entry["split"], "lr": train.get("lr", 1e-3), "batch_size": train.get("batch_size", 256),
                "select_by": entry.get("select_by", "auroc" if entry["task"] == "classification" else "loss"),
                "scale_targets": bool(entry.get("scale_targets", entry["task"] == "regression")),
                "pos_weight": entry.get("pos_weight")})
    for key in ("epochs", "patience", "plateau_patience", "loss", "lr_schedule"):
        if key in train:
            cfg[key] = train[key]
    cfg.update(file_cfg)
    cfg.update(given)
    cfg["targets"] = target_list(cfg.get("targets"))
    if entry["impl"] == "custom_csv" and not cfg.get("columns"):
        cfg["columns"] = [*entry["roles"], *entry["targets"]]  # the guess, recorded: `zoo predict --run` reads it
    if cfg["scale_targets"] and entry["task"] != "regression":
        raise UsageError(f"scale_targets applies to regression; {dataset} is a {entry['task']} dataset")
    cfg["loss"] = regression_loss(cfg.get("loss"), entry["task"], dataset)
    cfg["lr_schedule"] = lr_schedule_of(cfg.get("lr_schedule"), cfg.get("warmup_epochs"))
    _check_pretrainer_target(cfg.get("pretrainer"), entry, dataset)
    if cfg["encoder"] is None:
        raise UsageError("no encoder given: pass --encoder NAME (see `zoo list encoders` and `zoo list pair-models`)")
    workers = cfg.get("workers")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise UsageError(f"workers must be a whole number of processes, 1 or more, got {workers!r}")
    if cfg.get("full_data"):
        cfg = full_data_config(cfg, {k for k, v in {**file_cfg, **given}.items() if v is not None and v is not False},
                               entry)
    if cfg.get("lr_steps") and cfg["lr_schedule"] != "plateau":
        raise UsageError(f"--lr-steps replays a plateau schedule's drops; --lr-schedule {cfg['lr_schedule']} sets "
                         "every step's rate itself: give one of them")
    elif cfg.get("lr_steps") and not cfg.get("full_data"):
        raise UsageError("--lr-steps replays a learning-rate schedule in a --full-data run; a run with folds sets "
                         "its own from the validation score (plateau_patience, plateau_factor)")
    freeze = cfg.get("freeze_backbone_epochs") or 0
    if not isinstance(freeze, int) or isinstance(freeze, bool) or not 0 <= freeze < int(cfg["epochs"]):
        raise UsageError(f"freeze_backbone_epochs must be an integer from 0 to epochs - 1 ({int(cfg['epochs']) - 1}), "
                       f"got {freeze!r}")
    return cfg


def full_data_config(cfg: dict[str, Any], given: set[str], entry) -> dict[str, Any]:
    """``cfg`` of ``zoo run --full-data``: every pair trains for exactly the ``epochs`` the user gave (required), so
    what selects or judges held-out rows is refused when given and recorded as null."""
    refused = [flag for key, flag in NOT_WITH_FULL_DATA.items() if key in given]
    if refused:
        raise UsageError(f"--full-data trains on every pair, with no validation or test rows: drop "
                         f"{', '.join(refused)}")
    if "epochs" not in given or int(cfg["epochs"]) < 1:
        raise UsageError("--full-data needs --epochs N (N >= 1): the epoch count cross-validation chose (a fold's best "
                         "epoch)")
    if int(cfg.get("workers") or 1) > 1:
        raise UsageError("--full-data trains one model in one process: drop --workers")
    if entry.get("negatives"):
        raise UsageError(f"--full-data: {cfg['dataset']} draws its negatives per repeat and fold; train it with folds")
    steps = lr_steps_of(cfg.get("lr_steps"), int(cfg["epochs"]))
    return {**cfg, **dict.fromkeys(NOT_WITH_FULL_DATA), "save_all_folds": False, "lr_steps": steps or None}


def lr_steps_of(value, epochs: int) -> list[list]:
    """``--lr-steps`` as ``[[epoch, lr], ...]``: from ``EPOCH:LR,EPOCH:LR`` (a string) or a list of pairs (a config
    file, a fold record's ``lr_steps``); epochs increasing within 2..``epochs``, rates positive."""
    if not value:
        return []
    try:
        pairs = [part.split(":") for part in value.split(",")] if isinstance(value, str) else list(value)
        steps = [[int(e), float(lr)] for e, lr in pairs]
    except (TypeError, ValueError):
        raise UsageError(f"--lr-steps: expected EPOCH:LR[,EPOCH:LR...] (e.g. 120:5e-4,160:5e-5), got {value!r}")
    epochs_of = [e for e, _ in steps]
    if epochs_of != sorted(set(epochs_of)) or epochs_of[0] < 2 or epochs_of[-1] > epochs or \
            any(lr <= 0 for _, lr in steps):
        raise UsageError(f"--lr-steps: epochs must increase within 2..{epochs} and rates be positive, got {value!r}")
    return steps


def lr_schedule_of(name: str | None, warmup_epochs) -> str:
    """The run's ``lr_schedule`` (``plateau`` unless given; :mod:`zoo_core.train.lr_schedule`), checked with
    ``warmup_epochs`` (noam's warm-up, a whole number of epochs, 0 or more)."""
    from zoo_core.train.lr_schedule import SCHEDULES

    if (name or "plateau") not in SCHEDULES:
        raise UsageError(f"--lr-schedule must be one of {', '.join(SCHEDULES)}, got {name!r}")
    if not isinstance(warmup_epochs, int) or isinstance(warmup_epochs, bool) or warmup_epochs < 0:
        raise UsageError(f"warmup_epochs must be a whole number of epochs, 0 or more, got {warmup_epochs!r}")
    return name or "plateau"


def regression_loss(loss: str | None, task: str, dataset: str) -> str | None:
    """The run's ``loss``: for regression ``mse`` (the default) or ``l1`` (a dataset entry's ``train: {loss}``:
    QM9's); for classification None (BCE), and a stated one is refused."""
    from zoo_core.train.trainer import REGRESSION_LOSSES

    if task != "regression":
        if loss is not None:
            raise UsageError(f"--loss {loss} applies to regression; {dataset} is a {task} dataset (trained on BCE)")
        return None
    if (loss or "mse") not in REGRESSION_LOSSES:
        raise UsageError(f"--loss must be one of {', '.join(REGRESSION_LOSSES)}, got {loss!r}")
    return loss or "mse"


def _check_pretrainer_target(name: str | None, entry, dataset: str) -> None:
    """A pair pretrainer (3DMRL) needs a pair dataset, a molecule pretrainer a molecule dataset."""
    if not name:
        return
    from zoo_core.registry import get_registry

    pre = get_registry().sections["pretrainers"].get(name)
    target = (pre.get("target") if pre is not None else None) or "pair"
    kind = "molecule" if len(entry["roles"]) == 1 else "pair"
    if target != kind:
        raise UsageError(f"pretrainer {name!r} pretrains on {target}s and {dataset} is a {kind} dataset; choose a "
                       f"{kind} pretrainer (see `zoo list pretrainers`)")


def resume_config(run_dir: str | Path) -> dict[str, Any]:
    """The resolved configuration stored in ``run_dir/config.yaml``, for continuing that run in place."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise UsageError(f"{run_dir}: not a run directory of `zoo run` (no config.yaml); nothing to resume")
    cfg = load_config_file(path)
    return dict(DEFAULTS, **cfg)


