"""The ``zoo`` command line. Results go to stdout (``--json`` for machines); progress and logs to stderr.

Listing commands read only entry-point metadata and YAML: torch, dgl and rdkit are imported inside the commands
that need them.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from zoo_core.errors import ZooError

app = typer.Typer(help="A model zoo for molecular relational learning (pairs of molecules).",
                  pretty_exceptions_show_locals=False, no_args_is_help=True, add_completion=True)
data_app = typer.Typer(help="Datasets: list them and fetch their files (sha256-verified).", no_args_is_help=True)
app.add_typer(data_app, name="data")
cache_app = typer.Typer(help="The cache (ZOO_HOME): what it holds, and clearing an area of it.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")

SECTION_NAMES = {"encoders": "encoders", "pair-models": "pair_models", "pair_models": "pair_models",
                 "pretrainers": "pretrainers", "pair-sets": "pair_sets", "pair_sets": "pair_sets",
                 "datasets": "datasets", "weights": "weights"}


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"zoo: error: {message}", err=True)
    raise typer.Exit(code)


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=False, default=str))


def _available(section: str, entry, catalog) -> bool:
    kind = {"encoders": "encoders", "pair_models": "pair_models", "pretrainers": "pretrainers",
            "datasets": "datasets"}.get(section)
    if kind is None:
        return True
    return entry.get("impl") in catalog.implementations[kind]


@app.command("list")
def list_cmd(
    section: Optional[str] = typer.Argument(None, help="encoders | pair-models | pretrainers | pair-sets | datasets | "
                                                         "weights, or a name pattern"),
    pattern: str = typer.Argument("*", help="fnmatch pattern, e.g. 'cigin*'"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
):
    """List catalogue entries (wildcards allowed)."""
    from zoo_core.plugins import get_catalog
    from zoo_core.registry import SECTIONS, get_registry

    if section is not None and section not in SECTION_NAMES:
        section, pattern = None, section
    sections = [SECTION_NAMES[section]] if section else list(SECTIONS)
    try:
        reg, catalog = get_registry(), get_catalog()
    except ZooError as error:
        _fail(str(error))
    rows = []
    for s in sections:
        for e in reg.list(s, pattern):
            rows.append({"section": s, "name": e.name, "impl": e.get("impl"), "plugin": e.get("plugin"),
                         "available": _available(s, e, catalog), "description": e.get("description", "")})
    if as_json:
        _print_json(rows)
        return
    if not rows:
        typer.echo(f"no entries match {pattern!r}")
        return
    width = max(len(r["name"]) for r in rows)
    current = None
    for r in rows:
        if r["section"] != current:
            current = r["section"]
            typer.echo(f"{current.replace('_', '-')}:")
        flag = "" if r["available"] else f"  [not installed: pip install {r['plugin']}]"
        text = " ".join(str(r["description"]).split())
        if r["section"] == "pair_sets":
            e = reg.sections["pair_sets"][r["name"]]
            text = f"[{'transductive' if e['transductive'] else 'inductive'}] {text}"
        room = max(20, shutil.get_terminal_size((120, 20)).columns - width - 4 - len(flag))
        text = text if len(text) <= room else text[: room - 1] + "…"
        typer.echo(f"  {r['name']:<{width}}  {text}{flag}")


@app.command("info")
def info_cmd(name: str = typer.Argument(..., help="an entry name, e.g. attentivefp or cigin.compsol"),
             as_json: bool = typer.Option(False, "--json")):
    """Show an entry: parameters, featurizer, paper, source plugin (and metrics, sha256 for weights)."""
    from zoo_core.plugins import get_catalog
    from zoo_core.registry import get_registry

    reg, catalog = get_registry(), get_catalog()
    entries = reg.find(name)
    if not entries:
        _fail(f"no entry named {name!r}; try `zoo list '*{name}*'`")
    out = []
    for e in entries:
        if e.section == "weights":
            out.append(_weights_record(e))
            continue
        record = {"name": e.name, "section": e.section, **e.data, "registry_file": str(e.source)}
        kind = e.section if e.section in ("encoders", "pair_models", "pretrainers", "datasets") else None
        if kind and e.get("impl") in catalog.implementations.get(kind, {}):
            reg_ = catalog.implementations[kind][e["impl"]]
            info = catalog.plugins.get(reg_.plugin)
            record["registered_by"] = {"plugin": reg_.plugin, "distribution": info.distribution if info else None,
                                       "version": info.version if info else None,
                                       "target": reg_.target if isinstance(reg_.target, str) else repr(reg_.target)}
        elif kind:
            record["registered_by"] = None
        if e.section == "encoders":
            record["featurizer_spec"] = _featurizer_spec(catalog, e["featurizer"])
        out.append(record)
    if as_json:
        _print_json(out if len(out) > 1 else out[0])
        return
    import yaml

    for record in out:
        card = record.pop("card", None) if record["section"] == "weights" else None
        typer.echo(yaml.safe_dump(record, sort_keys=False, default_flow_style=False, allow_unicode=True,
                                  width=110).rstrip())
        if card:
            typer.echo("card: |")
            typer.echo("\n".join(("  " + line).rstrip() for line in str(card).rstrip().splitlines()))


def _human_size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit} ({n:,} bytes)"
    return f"{n:,} bytes"


def _weights_record(e) -> dict:
    """A weights entry for `zoo info`: the registry keys in a reading order, the size in words, where the file is."""
    import urllib.parse

    from zoo_core.hub import cached_path

    data = dict(e.data)
    first = ("description", "model", "encoder", "pair_model", "pretrainer", "dataset", "metrics", "training",
             "pretraining", "featurizer", "license", "paper", "citation", "sha256", "size_bytes", "url")
    record: dict[str, Any] = {"name": e.name, "section": e.section}
    record.update({k: data.pop(k) for k in first if k in data})
    if isinstance(record.get("size_bytes"), int):  # the size in words next to the hash, the byte count after it
        record = {**{k: v for k, v in record.items() if k not in ("size_bytes", "url")},
                  "size": _human_size(record["size_bytes"]), "size_bytes": record["size_bytes"],
                  **({"url": record["url"]} if "url" in record else {})}
    url = str(record.get("url", ""))
    where = []
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https", "file"):
        local = Path(url).expanduser()
        local = local if local.is_absolute() else Path(e.source).resolve().parent / local
        where.append(f"local file {local}" + ("" if local.is_file() else " (missing)"))
    cached = cached_path("weights", f"{e.name}.safetensors")
    if cached.is_file():
        where.append(f"cached {cached}")
    record["file"] = "; ".join(where) or f"not downloaded yet (`zoo download {e.name}` fetches {url})"
    record.update(data)  # anything else, card last
    record["registry_file"] = str(e.source)
    if "card" in record:
        record["card"] = record.pop("card")
    return record


def _featurizer_spec(catalog, name: str) -> dict | str:
    """Dimensions of a featurizer (imports rdkit; only for `zoo info`)."""
    try:
        f = catalog.get("featurizers", name).load()()
        return {"name": f.name, "version": f.version, "atom_dim": f.atom_dim, "bond_dim": f.bond_dim}
    except Exception as error:  # info must still print
        return f"unavailable ({error})"


@app.command("plugins")
def plugins_cmd(as_json: bool = typer.Option(False, "--json")):
    """Installed plugins: name, distribution, version, hooks and what each registered."""
    from zoo_core.plugins import get_catalog

    catalog = get_catalog()
    rows = [{"name": p.name, "distribution": p.distribution, "version": p.version, "hooks": p.hooks,
             "registered": p.registered} for p in catalog.plugins.values()]
    rows += [{"name": n, "skipped": reason} for n, reason in catalog.skipped]
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        if "skipped" in r:
            typer.echo(f"{r['name']}: SKIPPED ({r['skipped']})")
            continue
        what = "; ".join(f"{k}: {', '.join(v)}" for k, v in r["registered"].items()) or "-"
        typer.echo(f"{r['name']} ({r['distribution']} {r['version']}): {what}")


@data_app.command("list")
def data_list(as_json: bool = typer.Option(False, "--json")):
    """Datasets with their size, source and where a local copy is."""
    from zoo_core.data.datasets import list_datasets

    rows = list_datasets()
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        size = f"{r['size']:>7,} pairs" if isinstance(r.get("size"), int) else "   (your file)"
        typer.echo(f"{r['name']:<24} {r.get('task', ''):<14} {size}  {r.get('status', '')}")


@data_app.command("fetch")
def data_fetch(name: str, quiet: bool = typer.Option(False, "--quiet", "-q")):
    """Download a dataset's source file into the cache (sha256-verified)."""
    from zoo_core.data.datasets import fetch

    try:
        path = fetch(name, progress=not quiet)
    except ZooError as error:
        _fail(str(error))
    typer.echo(str(path))


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _within_epoch(checkpoint: dict) -> str:
    """`` + 20,160 pairs of epoch 7`` for a checkpoint saved within an epoch, else ``""``."""
    rows = checkpoint.get("next_epoch_pairs") or 0
    return f" + {rows:,} pairs of epoch {checkpoint['epochs_done'] + 1}" if rows else ""


def _run_of(checkpoint: dict) -> str:
    """`` of cigin(mpnn) on combisolv-product, TRANSDUCTIVE, 71,940 pairs; loss 0.094, 1,258 s/epoch, about 31.1 h
    left``: what a checkpoint row of ``zoo cache list`` knows of its run (older checkpoints know less)."""
    from zoo_core.console import duration

    text = f" of {checkpoint['model']}" if checkpoint.get("model") else ""
    if checkpoint.get("pair_set"):
        text += f" on {checkpoint['pair_set']}" + (", TRANSDUCTIVE" if checkpoint.get("transductive") else "")
    if isinstance(checkpoint.get("pairs"), (int, float)):
        text += f", {int(checkpoint['pairs']):,} pairs"
    pace = [f"loss {checkpoint['loss']:.4g}"] if isinstance(checkpoint.get("loss"), (int, float)) else []
    if checkpoint.get("seconds_per_epoch") is not None:
        pace.append(f"{checkpoint['seconds_per_epoch']:,.0f} s/epoch")
    if checkpoint.get("seconds_left") is not None:
        pace.append(f"about {duration(checkpoint['seconds_left'])} left")
    return text + ("; " + ", ".join(pace) if pace else "")


@cache_app.command("list")
def cache_list(as_json: bool = typer.Option(False, "--json")):
    """Each cache area with its size, then the pretrained backbones (model, pair set, budget) and pretraining
    checkpoints."""
    from zoo_core import cache
    from zoo_core.paths import zoo_home

    areas, backbones = cache.usage(), cache.pretrained()
    if as_json:
        _print_json({"home": str(zoo_home()), "areas": areas, "pretrained": backbones})
        return
    typer.echo(f"cache: {zoo_home()}")
    for a in areas:
        typer.echo(f"  {a['area']:<11} {a['files']:>6} files {_size(a['bytes']):>9}  {a['description']}")
    if backbones:
        typer.echo("pretrained:")
    for b in backbones:
        if b["status"] == "running":
            typer.echo(f"  {b['key']}  RUNNING: {b['epochs_done']}/{b['epochs']} epochs done{_within_epoch(b)}"
                       f"{_run_of(b)}  {_size(b['bytes'])}  {b['modified']}")
        elif b["status"] == "unfinished":
            typer.echo(f"  {b['key']}  UNFINISHED: {b['epochs_done']}/{b['epochs']} epochs{_within_epoch(b)}"
                       f"{_run_of(b)} "
                       f"(the same command resumes it)  {_size(b['bytes'])}  {b['modified']}")
        elif b["status"] == "checkpoint":
            typer.echo(f"  {b['key']}  checkpoint after {b['epochs_done']} epochs{_run_of(b)} (a longer run of the "
                       f"same settings continues from it)  {_size(b['bytes'])}  {b['modified']}")
        elif b["status"] == "unreadable":
            typer.echo(f"  {b['key']}  UNREADABLE: {b['error']}")
        else:
            flag = ", TRANSDUCTIVE" if b.get("transductive") else ""
            epochs = f"{b['epochs']} epoch{'' if b['epochs'] == 1 else 's'}"
            pairs = f"{b['pairs']:,} pairs" if isinstance(b.get("pairs"), int) else "? pairs"
            typer.echo(f"  {b['key']}  {b['model']} {b['pretrainer']} on {b['pair_set']}{flag}: {epochs} x {pairs}, "
                       f"lr {b['lr']}  {_size(b['bytes'])}  {b['modified']}")


@cache_app.command("clear")
def cache_clear(area: str = typer.Argument(..., help="features, conformers, pretrained, weights or data"),
                keys: list[str] = typer.Option(None, "--key", "-k",
                                               help="pretrained only: delete just this backbone or checkpoint "
                                                    "(key or unique prefix from `zoo cache list`); repeatable"),
                yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation")):
    """Delete one area of the cache, or single pretrained entries with --key (rebuilt on demand: recomputed or
    downloaded again)."""
    from zoo_core import cache

    if area not in cache.AREAS:
        _fail(f"unknown cache area {area!r}; one of: {', '.join(cache.AREAS)}")
    if keys and area != "pretrained":
        _fail("--key names pretrained backbones and checkpoints; use it with `zoo cache clear pretrained`")
    what = f"the pretrained entries {', '.join(keys)}" if keys else f"the cache's {area} ({cache.AREAS[area]})"
    if not yes and not typer.confirm(f"delete {what}?"):
        _fail("nothing deleted")
    try:
        removed = cache.remove_pretrained(keys) if keys else cache.clear(area)
    except ZooError as error:
        _fail(str(error))
    typer.echo(f"removed {removed['files']} files ({_size(removed['bytes'])}) from {removed['path']}")


def _parse_params(values: list[str] | None, what: str) -> dict[str, Any]:
    from zoo_core.train.run import parse_key_values

    try:
        return parse_key_values(values, what)
    except ZooError as error:
        _fail(str(error))


@app.command("run")
def run_cmd(
    encoder: Optional[str] = typer.Option(None, "--encoder", "-e", help="encoder or pair-model name"),
    pair_model: Optional[str] = typer.Option(None, "--pair-model", "-p", help="interaction model over the encoder"),
    pretrainer: Optional[str] = typer.Option(None, "--pretrainer", help="pretraining strategy (e.g. 3dmrl)"),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="registry name, or a path to your own CSV"),
    columns: Optional[str] = typer.Option(None, "--columns", help="for your own CSV: A,B,Y column names"),
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
    patience: Optional[int] = typer.Option(None, "--patience", help="early-stopping patience (epochs)"),
    freeze_backbone_epochs: Optional[int] = typer.Option(
        None, "--freeze-backbone-epochs", help="train only the prediction head for this many epochs, then "
                                              "everything (linear-probe-then-fine-tune; default 0, the papers' "
                                              "protocol)"),
    lr: Optional[float] = typer.Option(None, "--lr"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    split: Optional[str] = typer.Option(None, "--split", help="mi5fold | random | scaffold | molecule | solvent"),
    explicit_h: Optional[bool] = typer.Option(None, "--explicit-h/--no-explicit-h"),
    encoder_param: Optional[list[str]] = typer.Option(None, "--encoder-param", help="KEY=VALUE"),
    pair_param: Optional[list[str]] = typer.Option(None, "--pair-param", help="KEY=VALUE"),
    threads: Optional[int] = typer.Option(None, "--threads"),
    device: Optional[str] = typer.Option(None, "--device"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="parent folder of run directories"),
    strict: Optional[bool] = typer.Option(None, "--strict/--no-strict", help="stop at the first bad row"),
    resume: Optional[Path] = typer.Option(None, "--resume", help="continue an interrupted run in its directory "
                                                                  "(finished folds are kept; alone, or with "
                                                                  "--threads)"),
    as_json: bool = typer.Option(False, "--json"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Train and evaluate a model on a dataset with its paper protocol (folds x repeats)."""
    from zoo_core.train.run import resolve_config, resume_config, run

    cli = {"encoder": encoder, "pair_model": pair_model, "pretrainer": pretrainer, "dataset": dataset,
           "folds": folds, "repeats": repeats, "only_folds": list(only_fold) if only_fold else None, "seed": seed,
           "epochs": epochs, "patience": patience, "freeze_backbone_epochs": freeze_backbone_epochs, "lr": lr,
           "batch_size": batch_size, "split": split,
           "explicit_h": explicit_h, "threads": threads,
           "columns": [c.strip() for c in columns.split(",")] if columns else None,
           "pretrained_weights": pretrained_weights,
           "pretrain_epochs": pretrain_epochs, "pairs": pairs, "pairs_ratio": pairs_ratio,
           "pretrain_params": _parse_params(pretrain_param, "--pretrain-param") or None, "device": device,
           "pretrain_compile": compile,
           "output": str(output) if output else None, "strict": strict,
           "encoder_params": _parse_params(encoder_param, "--encoder-param") or None,
           "pair_params": _parse_params(pair_param, "--pair-param") or None}
    try:
        if resume is not None:
            given = sorted(k for k, v in cli.items() if v is not None and k != "threads") + (["config"] if config else [])
            if given:
                raise ZooError(f"--resume continues {resume} with its own config.yaml; drop {', '.join(given)}")
            cfg = dict(resume_config(resume), **({"threads": threads} if threads else {}))
        else:
            cfg = resolve_config(cli, config)
        if cfg.get("pretrainer"):
            _check_pretrainer(cfg["pretrainer"])
        run_dir, metrics = run(cfg, quiet=quiet, resume=resume)
    except ZooError as error:
        _fail(str(error))
    result = {"run_dir": str(run_dir), "dataset": metrics["dataset"], "model": metrics["pair_model"],
              "encoder": metrics["encoder"], "summary": metrics["summary"], "bad_rows": metrics["bad_rows"]}
    pre = metrics.get("pretraining")
    if pre:
        result["pretraining"] = {k: v for k, v in pre.items() if k != "folds"}
    if as_json:
        _print_json(result)
        return
    for name, s in metrics["summary"].items():
        typer.echo(f"test {name}: {s['mean']:.4f} ± {s['std']:.4f} (over {metrics['n_repeats']} repeat(s); "
                   f"fold mean {s['fold_mean']:.4f} ± {s['fold_std']:.4f})")
    if pre and pre.get("pair_set"):
        typer.echo(f"pretraining: {pre.get('pretrainer')} on pair set {pre['pair_set']}"
                   f"{' (TRANSDUCTIVE: test molecules without labels)' if pre.get('transductive') else ''}, "
                   f"{pre.get('epochs')} epochs, {pre['pairs_per_fold']} pairs per fold")
    typer.echo(f"run directory: {run_dir}")


def _check_pretrainer(name: str) -> None:
    from zoo_core.plugins import get_catalog
    from zoo_core.registry import get_registry

    entry = get_registry().entry("pretrainers", name)
    if entry["impl"] not in get_catalog().implementations["pretrainers"]:
        raise ZooError(f"pretrainer {name!r} is not installed: pip install {entry.get('plugin')}")


@app.command("pretrain")
def pretrain_cmd(
    pretrainer: str = typer.Option(..., "--pretrainer", help="e.g. 3dmrl"),
    encoder: str = typer.Option(..., "--encoder", "-e", help="encoder or pair-model name"),
    pair_model: Optional[str] = typer.Option(None, "--pair-model", "-p"),
    pairs: str = typer.Option(..., "--pairs", "--pretrain-pairs",
                              help="pair set (`zoo list pair-sets`: train-split, combisolv-product, solvation-qm, "
                                   "chromophore-product) or DATASET / DATASET:product"),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d",
                                          help="downstream dataset: required for train-split; sets the H mode"),
    fold: int = typer.Option(0, "--fold", help="train-split: the fold whose training pairs are used"),
    split_seed: int = typer.Option(0, "--split-seed", help="train-split: the split seed (zoo run's --seed + repeat)"),
    folds: int = typer.Option(5, "--folds", help="train-split: number of folds of the split protocol"),
    pairs_ratio: Optional[float] = typer.Option(None, "--pairs-ratio", help="override the set's subsample ratio"),
    epochs: int = typer.Option(100, "--epochs"),
    batch_size: int = typer.Option(48, "--batch-size"),
    lr: Optional[float] = typer.Option(None, "--lr", help="default: 1e-4 solvation, 5e-4 chromophores"),
    seed: int = typer.Option(0, "--seed"),
    pretrain_param: Optional[list[str]] = typer.Option(None, "--pretrain-param", help="pretrainer KEY=VALUE"),
    output: Path = typer.Option(Path("runs"), "--output", "-o", help="parent folder of the run directory"),
    threads: Optional[int] = typer.Option(None, "--threads"),
    compile: bool = typer.Option(False, "--compile",
                                 help="compiled kernels for the pretrainer's hot loop (needs a C compiler; "
                                      "~1.6x faster on CPU for 3DMRL; same results up to float rounding)"),
    as_json: bool = typer.Option(False, "--json", help="print the record (weights, pair set, budget)"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Pretrain a 2D backbone on a pair set; writes <run>/backbone.safetensors for `zoo run --pretrained-weights`.

    With `--pairs train-split --dataset D` the pairs are exactly those `zoo run --pretrainer ... --dataset D` uses
    for that fold, so the cached backbone is reused by the run. Interrupted? The same command resumes after the last
    finished epoch; a later run with more `--epochs` continues from there (`zoo cache list` shows checkpoints)."""
    import time as _time

    from zoo_core.data.pair_sets import first_dataset, is_train_split, pairs_of_rows, resolve
    from zoo_core.models import model_spec
    from zoo_core.train.pretraining import default_lr, pretrained_backbone
    from zoo_core.train.run import _entry_of, _table_of

    try:
        _check_pretrainer(pretrainer)
        if threads:
            import torch

            torch.set_num_threads(threads)
        train_split = is_train_split(pairs)
        if train_split and not dataset:
            raise ZooError("--pairs train-split needs --dataset NAME (the downstream dataset whose fold is used)")
        source = dataset or first_dataset(pairs)
        if source is None:
            raise ZooError(f"pair set {pairs!r} names no dataset; pass --dataset NAME")
        entry = _entry_of({"dataset": source, "columns": None})
        spec = model_spec(encoder, pair_model, task=entry["task"], explicit_h=bool(entry["explicit_h"]))
        if train_split:
            from zoo_core.data.pairs import PairDataset
            from zoo_core.data.splits import make_splits

            data = PairDataset.from_table(_table_of({"dataset": dataset}, entry), spec["featurizer"]["name"],
                                          bool(entry["explicit_h"]), progress=not quiet)
            splits = make_splits(entry["split"], len(data), split_seed, data.table.a, data.table.b, n_folds=folds)
            if not 0 <= fold < len(splits):
                raise ZooError(f"--fold {fold}: the {entry['split']} split has {len(splits)} fold(s)")
            pset = resolve(pairs, ratio=pairs_ratio, downstream=dataset,
                           train_pairs=pairs_of_rows(data.table, splits[fold][0]))
        else:
            pset = resolve(pairs, ratio=pairs_ratio, downstream=dataset)
        if pset.transductive:
            typer.echo(f"zoo: warning: pair set {pset.name!r} is TRANSDUCTIVE (it holds downstream test molecules, "
                       f"without labels)", err=True)
        label = pset.name.replace(":", "-") + (f"-{dataset}-s{split_seed}f{fold}" if train_split else "")
        run_dir = output / f"{_time.strftime('%Y%m%d-%H%M%S')}-pretrain-{pretrainer}-{spec['pair_model']}-{label}"
        lr = lr or default_lr(entry)
        params = _parse_params(pretrain_param, "--pretrain-param")
        t0 = _time.perf_counter()
        path, reused = pretrained_backbone(pretrainer, spec, pset.pairs, epochs, batch_size, lr, seed,
                                           params=params, quiet=quiet, out=run_dir / "backbone.safetensors",
                                           pair_set=pset.record(), compile=compile)
        record = {"weights": str(run_dir / "backbone.safetensors"), "cache": str(path), "reused": reused,
                  "pretrainer": pretrainer, "pair_model": spec["pair_model"], "encoder": spec["encoder"],
                  **pset.record(), "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
                  "params": params, "seconds": round(_time.perf_counter() - t0, 3)}
        if train_split:
            record.update(fold=fold, split_seed=split_seed, n_folds=folds)
        (run_dir / "pretraining.json").write_text(json.dumps(record, indent=2))
    except ZooError as error:
        _fail(str(error))
    if as_json:
        _print_json(record)
    else:
        typer.echo(record["weights"])


@app.command("predict")
def predict_cmd(
    input: Path = typer.Option(..., "--input", "-i", help="CSV with the two molecule columns"),
    output: Path = typer.Option(..., "--output", "-o"),
    run: Optional[Path] = typer.Option(None, "--run", help="a run directory of `zoo run`"),
    weights: Optional[str] = typer.Option(None, "--weights", "-w", help="weights name (e.g. cigin.compsol) or file"),
    columns: Optional[str] = typer.Option(None, "--columns", help="A,B: the columns holding the two molecules"),
    as_json: bool = typer.Option(False, "--json"),
):
    """Predict on your own pairs; every input row is written back with a prediction or a reason."""
    from zoo_core.predict import predict_csv

    if (run is None) == (weights is None):
        _fail("give exactly one of --run DIR or --weights NAME")
    try:
        model, spec, meta = _load_for_inference(run, weights)
        roles = _roles_for(meta.get("dataset"))
        cols = tuple(c.strip() for c in columns.split(",")) if columns else roles
        if cols is None or len(cols) != 2:
            _fail("cannot tell which columns hold the molecules: pass --columns A,B")
        counts = predict_csv(model, spec, input, output, cols)
    except ZooError as error:
        _fail(str(error))
    if as_json:
        _print_json(dict(counts, output=str(output)))
    else:
        typer.echo(f"wrote {output}: {counts['predicted']} of {counts['rows']} rows predicted"
                   + (f", {counts['failed']} with a reason instead" if counts["failed"] else ""))


@app.command("download")
def download_cmd(name: str = typer.Argument(..., help="a weights name from `zoo list weights`"),
                 quiet: bool = typer.Option(False, "--quiet", "-q")):
    """Download weights into the cache (sha256-verified; a local file named by the registry is used in place)."""
    from zoo_core.hub import weights_path

    try:
        path = weights_path(name, progress=not quiet)
    except ZooError as error:
        _fail(str(error))
    typer.echo(str(path))


@app.command("explain")
def explain_cmd(
    solute: str = typer.Option(..., "--solute", "--a", help="molecule A (solute / chromophore) SMILES"),
    solvent: str = typer.Option(..., "--solvent", "--b", help="molecule B (solvent) SMILES"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="picture to write (.png or .svg)"),
    run: Optional[Path] = typer.Option(None, "--run", help="a run directory of `zoo run`"),
    weights: Optional[str] = typer.Option(None, "--weights", "-w", help="weights name or file"),
    as_json: bool = typer.Option(False, "--json", help="print the numbers (importances, map, prediction)"),
    colour_by: str = typer.Option("model", "--colour-by", help="colours of molecule A: 'model' (CGIB: its gate's "
                                  "keep probability; CIGIN: the map) or 'map' (row sums of the interaction map)"),
):
    """Draw which atoms drive a prediction: atoms coloured by importance and the atom-by-atom interaction map."""
    from zoo_core.explain import draw_explanation, explain_pair

    if (run is None) == (weights is None):
        _fail("give exactly one of --run DIR or --weights NAME")
    if output is None and not as_json:
        _fail("give --output picture.png|svg, --json, or both")
    if output is not None and output.suffix.lower() not in {".png", ".svg"}:
        _fail(f"{output}: the picture must end in .png or .svg")
    try:
        model, spec, _ = _load_for_inference(run, weights)
        result = explain_pair(model, spec, solute, solvent, colour_by)
        if output is not None:
            draw_explanation(result, output)
    except ZooError as error:
        _fail(str(error))
    for warning in result.get("warnings", []):
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        _print_json(result)
    else:
        typer.echo(f"prediction {result.get('prediction'):.4g}; wrote {output}")


def _load_for_inference(run: Path | None, weights: str | None):
    """(model, spec, meta) of a run directory or a weights name/file; weights whose featurizer differs from the
    installed one are refused with the differences named."""
    from zoo_core.weights import load_model

    if run is not None:
        path = run / "model.safetensors"
        if not path.exists():
            raise ZooError(f"{run}: no model.safetensors (is this a `zoo run` directory?)")
        return load_model(path, check_installed=True, for_prediction=True)
    from zoo_core.hub import weights_path

    return load_model(weights_path(weights), check_installed=True, for_prediction=True)


def _roles_for(dataset: str | None) -> tuple[str, str] | None:
    if not dataset:
        return None
    from zoo_core.registry import get_registry

    entry = get_registry().sections["datasets"].get(dataset)
    return tuple(entry["roles"]) if entry else None


def main() -> None:
    from zoo_core.plugins import get_catalog

    try:
        catalog = get_catalog()
        if catalog.pm is not None:
            catalog.pm.hook.zoo_register_commands(app=app)
    except ZooError as error:
        typer.echo(f"zoo: error: {error}", err=True)
        sys.exit(1)
    app()


if __name__ == "__main__":
    main()
