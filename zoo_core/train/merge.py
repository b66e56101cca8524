"""Merging fold jobs: ``zoo merge RUN_DIR [RUN_DIR ...] --output DIR``.

Runs of one configuration that each trained some folds (``zoo run --only-fold K``, one job per fold, possibly on
different machines) become one run directory, as if one run had trained them all: the inputs' configurations must
agree on every key but where and how they ran (:data:`RUN_PLACE_KEYS`), every fold each input asked for must be
finished, and all fold records must carry one run key (the fingerprint of model spec and data). The merged
directory gets the configuration with the union of the folds, every fold record, ``model.safetensors`` of its first
fold and ``bad_rows.csv``; it is then finished by :func:`zoo_core.train.run.run` resuming it, which reads every
fold back (training none) and writes ``metrics.json`` and ``predictions.csv`` as a full run does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from zoo_core.errors import UsageError

RUN_PLACE_KEYS = ("only_folds", "output", "run_name", "threads", "workers", "device")


def merge_runs(run_dirs: list[Path], out: Path, quiet: bool = False) -> tuple[Path, dict]:
    """Merge ``run_dirs`` into the new run directory ``out``; returns (``out``, its metrics)."""
    from zoo_core.train.run import resume_config, run

    if len(run_dirs) < 2:
        raise UsageError("zoo merge needs at least two run directories")
    if out.exists():
        raise UsageError(f"{out}: already exists; --output names the merged run directory to create")
    configs = [resume_config(d) for d in run_dirs]   # a folder without config.yaml is refused here
    _check_same_config(run_dirs, configs)
    records = {}
    for run_dir, cfg in zip(run_dirs, configs):
        for fold, path in _finished_folds(run_dir, cfg).items():
            _check_not_trained_twice(records.get(fold), path)
            records.setdefault(fold, path)
    _check_one_run_key(records)
    cfg = _merged_config(configs[0], sorted({k for _, k in records}), out)
    out.mkdir(parents=True)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=True))
    _copy_files(records, run_dirs, out)
    return run(dict(cfg, workers=1), quiet=quiet, resume=out)


def _check_same_config(run_dirs: list[Path], configs: list[dict]) -> None:
    first = configs[0]
    for run_dir, cfg in zip(run_dirs[1:], configs[1:]):
        for key in sorted(set(first) | set(cfg)):
            if key not in RUN_PLACE_KEYS and first.get(key) != cfg.get(key):
                raise UsageError(f"cannot merge: the runs differ in {key!r} ({run_dirs[0]}: {first.get(key)!r}, "
                                 f"{run_dir}: {cfg.get(key)!r})")


def _finished_folds(run_dir: Path, cfg: dict) -> dict[tuple[int, int], Path]:
    """{(repeat, fold): record} of every fold ``run_dir`` was asked to train; refused when one is unfinished."""
    folds = cfg.get("only_folds") or range(int(cfg["folds"]))
    records = {}
    for repeat in range(int(cfg["repeats"])):
        for k in folds:
            path = run_dir / "folds" / f"r{repeat}-f{k}.json"
            if not path.is_file():
                raise UsageError(f"cannot merge: {run_dir} has not finished repeat {repeat} fold {k}; "
                                 f"finish it with `zoo run --resume {run_dir}`")
            records[(repeat, int(k))] = path
    return records


def _check_not_trained_twice(earlier: Path | None, path: Path) -> None:
    """A fold found in two inputs is kept once when both trained it to the same test metrics."""
    import json

    if earlier is not None and json.loads(earlier.read_text())["test"] != json.loads(path.read_text())["test"]:
        raise UsageError(f"cannot merge: {earlier} and {path} are the same fold with different results")


def _check_one_run_key(records: dict[tuple[int, int], Path]) -> None:
    import json

    keys = {}
    for path in records.values():
        keys.setdefault(json.loads(path.read_text()).get("run_key"), path)
    if len(keys) > 1:
        a, b = list(keys.values())[:2]
        raise UsageError(f"cannot merge: {a} and {b} were trained with different model specs or data (run_key)")


def _merged_config(cfg: dict, folds: list[int], out: Path) -> dict:
    """The merged run's configuration: ``only_folds`` the union of the inputs' (none when that is every fold)."""
    every = folds == list(range(int(cfg["folds"])))
    return dict(cfg, only_folds=None if every else folds, output=str(out.parent), run_name=out.name)


def _copy_files(records: dict[tuple[int, int], Path], run_dirs: list[Path], out: Path) -> None:
    """Fold records (and per-fold weights of ``save_all_folds``), the first fold's ``model.safetensors`` and
    ``bad_rows.csv`` into ``out``."""
    (out / "folds").mkdir()
    for path in records.values():
        shutil.copy2(path, out / "folds" / path.name)
        weights = path.with_suffix(".safetensors")
        if weights.is_file():
            shutil.copy2(weights, out / "folds" / weights.name)
    first = records[min(records)].parent.parent   # the input that trained the merged run's first fold
    shutil.copy2(first / "model.safetensors", out / "model.safetensors")
    if (run_dirs[0] / "bad_rows.csv").is_file():
        shutil.copy2(run_dirs[0] / "bad_rows.csv", out / "bad_rows.csv")
