"""One-factor ablations (issue 40 part 2): what carries chemprop's edge over the zoo's models on the same folds.

  python bench/run_bench.py ablation --models cigin,mpnn,attentivefp --datasets freesolv,compsol \
      --factors "scale_targets=true;lr_schedule=noam;explicit_h=false;batch_size=64;featurizer=chemprop133" \
      --repeats 3 --workers 2 --name ablation

Each (model, dataset) cell has arms: ``base``, the zoo's default protocol for the dataset with exactly the accuracy
bench's fold jobs (``bench/run_bench.py accuracy``: mi5fold, seeds 0..R-1, --epochs/--patience), and one arm per
factor: base plus that one setting. A factor is ``KEY=VALUE``, KEY a ``zoo run`` config key (scale_targets,
lr_schedule, warmup_epochs, explicit_h, batch_size, lr, featurizer, loss, ...) or ``encoder_param.NAME`` /
``pair_param.NAME``, VALUE read with ``yaml.safe_load``; factors are separated by ``;``, and ``&`` joins settings
into one arm (a recipe checked as a whole, e.g. ``scale_targets=true&lr_schedule=noam``). Every arm's config and
model are resolved before anything trains, so a bad factor stops the bench in one line. Keys that pick the folds or
the budget (dataset, split, seed, folds, repeats, epochs, patience, ...) are the bench's, the same for every arm.

All arms' folds share one worker pool and resume as the accuracy bench's do. Records go to
``<results>/<name>.json``, one per (model, dataset, arm), with the accuracy record's fields plus ``arm``,
``settings``, ``vs_base`` (arm − base over the folds both hold: mean ± standard error, folds where the arm is lower)
and ``vs_peer`` (arm − chemprop, the same, against each chemprop record of the dataset in the results folder,
``python bench/run_bench.py peer``). A record made by the same command is kept, not measured again (``--remeasure``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import time
from pathlib import Path
from types import SimpleNamespace

import yaml

from bench.compare import paired_folds
from bench.records import RESULTS, save_records
from bench.run_bench import _fold_config, _fold_job, accuracy_record, fold_jobs, plan_cells, run_cells, scratch

BASE = "base"
PARAM_KEYS = {"encoder_param": "encoder_params", "pair_param": "pair_params"}
# set by the bench, the same in every arm: the model, the folds, the budget and where runs go
BENCH_KEYS = {"encoder", "pair_model", "dataset", "split", "folds", "repeats", "seed", "only_folds", "held_out",
              "epochs", "patience", "output", "run_name", "threads", "workers", "full_data", "columns", "targets",
              "save_all_folds", "encoder_params", "pair_params"}
BASE_JOB_LENGTH = 8  # the accuracy bench's fold job without pair parameters: (encoder, ..., patience, out)


def _check_key(key: str) -> None:
    """A factor's KEY: a ``zoo run`` config key that the bench does not own, or ``encoder_param.NAME`` or
    ``pair_param.NAME``."""
    from zoo_core.train.config import DEFAULTS

    prefix, dot, name = key.partition(".")
    if dot:
        if prefix not in PARAM_KEYS or not name:
            raise SystemExit(f"--factors: {key!r} is not encoder_param.NAME or pair_param.NAME")
    elif key in BENCH_KEYS:
        hint = f"; use {key[:-1]}.NAME" if key in ("encoder_params", "pair_params") else ""
        raise SystemExit(f"--factors: {key!r} is set by the bench, the same for every arm{hint}")
    elif key not in DEFAULTS:
        raise SystemExit(f"--factors: {key!r} is not a zoo run config key (known: "
                         f"{', '.join(sorted(set(DEFAULTS) - BENCH_KEYS))}, encoder_param.NAME, pair_param.NAME)")


def _setting(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` as (KEY, VALUE read with yaml.safe_load); a malformed one stops the bench."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SystemExit(f"--factors: expected KEY=VALUE, got {text.strip()!r}")
    _check_key(key)
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as error:
        raise SystemExit(f"--factors: {text.strip()!r}: the value is not YAML ({str(error).splitlines()[0]})") from None
    if parsed is None:
        raise SystemExit(f"--factors: {text.strip()!r} gives {key} no value")
    if isinstance(parsed, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", parsed.strip()):
        parsed = float(parsed)  # YAML 1.1 reads 1e-3 (no dot) as text
    return key, parsed


def parse_factors(text: str | None) -> dict[str, dict]:
    """``"a=1;b=x&c=2"`` -> ``{"a=1": {"a": 1}, "b=x&c=2": {"b": "x", "c": 2}}``: each factor's arm (named by its
    text) and settings, in the order given."""
    arms: dict[str, dict] = {}
    for item in (part.strip() for part in (text or "").split(";")):
        if not item:
            continue
        settings: dict = {}
        for key, value in map(_setting, item.split("&")):
            if key in settings:
                raise SystemExit(f"--factors: {item!r} sets {key} twice")
            settings[key] = value
        if item == BASE or item in arms:
            raise SystemExit(f"--factors: {item!r} is named twice (or is the base arm)")
        arms[item] = settings
    return arms


def arm_config(settings: dict) -> dict:
    """An arm's settings as ``zoo run`` config keys: ``encoder_param.NAME`` into ``encoder_params``, and so on."""
    config: dict = {}
    for key, value in settings.items():
        prefix, dot, name = key.partition(".")
        if dot:
            config.setdefault(PARAM_KEYS[prefix], {})[name] = value
        else:
            config[key] = value
    return config


def cell_jobs(model: str, dataset: str, settings: dict, args, out: str) -> list[tuple]:
    """The fold jobs of one arm: the accuracy bench's, and for an arm other than base its settings (JSON) before the
    scratch folder, so they join the fold's resume key."""
    extra = (json.dumps(settings, sort_keys=True),) if settings else ()
    return fold_jobs(model, dataset, args, out, extra)


def job_config(job: tuple) -> dict:
    """The ``zoo run`` config of a fold job: the accuracy bench's own (the base arm's jobs are exactly its jobs),
    with an arm's settings on top."""
    if len(job) == BASE_JOB_LENGTH:
        return _fold_config(job)
    *fold, settings, out = job
    return {**_fold_config((*fold, out)), **arm_config(json.loads(settings))}


def arm_fold(job: tuple) -> dict:
    """One fold of one arm (in a worker process)."""
    return _fold_job(job, job_config(job))


def _unknown_params(spec: dict, settings: dict) -> list[str]:
    """The arm's ``encoder_param.``/``pair_param.`` names that the model's classes do not take."""
    import inspect

    from zoo_core.plugins import get_catalog

    unknown = []
    for prefix, section, impl in (("encoder_param", "encoders", spec["encoder_impl"]),
                                  ("pair_param", "pair_models", spec["pair_impl"])):
        names = [key.partition(".")[2] for key in settings if key.partition(".")[0] == prefix]
        if names:
            params = inspect.signature(get_catalog().get(section, impl).load().__init__).parameters
            if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                unknown += [f"{prefix}.{name}" for name in names if name not in params]
    return unknown


def check_arms(models: list[str], datasets: list[str], arms: dict[str, dict], args) -> set[tuple]:
    """Resolve every (model, dataset, arm)'s run config, trainer settings and model spec as ``zoo run`` would, without
    reading data or training: a bad model, factor or value stops the bench in one line. Returns the cells whose
    model does not take the arm's ``encoder_param``/``pair_param`` (e.g. ``encoder_param.hidden``: AttentiveFP's
    alone); an arm that no model takes stops the bench."""
    from zoo_core.errors import ZooError
    from zoo_core.train.config import dataset_entry_of, resolve_config
    from zoo_core.train.run import run_spec, train_config

    skipped, reasons = set(), {}
    for dataset in datasets:
        for model in models:
            for arm, settings in arms.items():
                job = cell_jobs(model, dataset, settings, args, "out")[0]
                try:
                    cfg = resolve_config(job_config(job))
                    train_config(cfg)
                    spec = run_spec(cfg, dataset_entry_of(cfg), SimpleNamespace(targets=["target"]))
                    unknown = _unknown_params(spec, settings)
                except (ZooError, ValueError, TypeError) as error:
                    raise SystemExit(f"{model} on {dataset}, arm {arm}: {str(error).splitlines()[0]}") from None
                if unknown:
                    skipped.add((model, dataset, arm))
                    reasons[model, arm] = f"{spec['encoder']}/{spec['pair_model']} takes no {', '.join(unknown)}"
    for arm in arms:
        if all((m, d, arm) in skipped for d in datasets for m in models):
            why = "; ".join(reason for (_, name), reason in reasons.items() if name == arm)
            raise SystemExit(f"arm {arm}: no model takes it ({why})")
    for (model, arm), reason in reasons.items():
        print(f"skipped: arm {arm} for {model} ({reason})", flush=True)
    return skipped


def _paired(arm: dict, other: dict) -> dict | None:
    """arm − other over the (repeat, fold) splits both records hold; None with fewer than two."""
    try:
        s = paired_folds(arm, other)
    except SystemExit:
        return None
    return {"folds": s["folds"], "mean_arm": s["mean_a"], "mean_other": s["mean_b"], "mean_diff": s["mean_diff"],
            "se_diff": s["se_diff"], "arm_lower": s["a_better"]}


def peer_records(results: Path) -> list[tuple[str, dict]]:
    """(file name, record) of every chemprop record (``bench/run_bench.py peer``) in ``results``."""
    found = []
    for path in sorted(results.glob("*.json")):
        if not path.name.startswith("."):
            found += [(path.name, r) for r in json.loads(path.read_text())
                      if r.get("kind") == "peer" and r.get("model") == "chemprop" and "fold_records" in r]
    return found


def with_pairings(records: list[dict], results: Path) -> list[dict]:
    """``records`` with each arm paired fold by fold with its cell's base arm (``vs_base``; None for base itself or
    without a base record) and with every chemprop record of its dataset in ``results`` (``vs_peer``)."""
    bases = {(r["model"], r["dataset"]): r for r in records if r["arm"] == BASE}
    peers = peer_records(results)
    out = []
    for r in records:
        base = bases.get((r["model"], r["dataset"])) if r["arm"] != BASE else None
        vs_peer = []
        for name, peer in peers:
            pair = _paired(r, peer) if peer["dataset"] == r["dataset"] else None
            if pair:
                vs_peer.append({**pair, "peer_record": name, "peer_version": peer.get("peer_version"),
                                "peer_default_budget": bool(peer.get("default_budget"))})
        out.append({**r, "vs_base": _paired(r, base) if base else None, "vs_peer": vs_peer})
    return out


def command_line(args, model: str, dataset: str, arm: str) -> str:
    """The command an arm's record carries: one cell, its factor (none for base), the budget and repeats."""
    cmd = (f"python bench/run_bench.py ablation --models {model} --datasets {dataset} --epochs {args.epochs} "
           f"--patience {args.patience} --repeats {args.repeats}")
    return cmd if arm == BASE else f"{cmd} --factors {shlex.quote(arm)}"


def _cell_of(record: dict) -> tuple:
    return record["model"], record["dataset"], record.get("arm")


def _partial(results: Path, name: str, model: str, dataset: str, arm: str) -> Path:
    """The resume file of one arm's finished folds (a hash keeps arms whose names differ only in odd characters
    apart)."""
    slug = arm if arm == BASE else re.sub(r"[^\w.=-]+", "_", arm) + "-" + hashlib.sha256(arm.encode()).hexdigest()[:6]
    return results / f".partial-{name}-{model}-{dataset}-{slug}.json"


def ablation(args) -> None:
    models = [m.strip() for m in args.models.split(",")]
    datasets = [d.strip() for d in args.datasets.split(",")]
    arms = {BASE: {}, **parse_factors(args.factors)}
    skipped = check_arms(models, datasets, arms, args)
    results = Path(args.results) if args.results else RESULTS
    wanted = {(m, d, arm): command_line(args, m, d, arm) for d in datasets for m in models for arm in arms
              if (m, d, arm) not in skipped}
    todo, kept = plan_cells(results / f"{args.name}.json", wanted, args.remeasure, cell_of=_cell_of)
    cells = [cell for cell in wanted if cell in todo]
    out, t0, records = scratch(args.name), time.time(), {}

    def cell_done(index: int, folds: list[dict]) -> None:
        model, dataset, arm = cells[index]
        folds = [dict(f, arm=arm) for f in folds]  # like a pretraining record's: the peer bench pairs no arm
        pair_params = arm_config(arms[arm]).get("pair_params", {})
        record = accuracy_record(model, dataset, folds, args, wanted[cells[index]], t0, pair_params)
        records[cells[index]] = {"kind": "ablation", **record, "arm": arm, "settings": arms[arm]}
        saved = with_pairings(kept + [records[c] for c in cells if c in records], results)
        save_records(args.name, saved, folder=results)
        report(next(r for r in saved if _cell_of(r) == cells[index]))

    jobs = [cell_jobs(model, dataset, arms[arm], args, out) for model, dataset, arm in cells]
    partials = [_partial(results, args.name, *cell) for cell in cells]
    run_cells(jobs, partials, args.workers, cell_done, job_fn=arm_fold)


def report(record: dict) -> None:
    """A finished arm and its pairings on stdout."""
    line = f"{record['model']:>12} {record['dataset']:>10} {record['arm']}: RMSE {record['mean']:.4f} ± " \
           f"{record['std']:.4f}  [{record['wall_seconds']} s]"
    for label, p in [("base", record["vs_base"])] + [(v["peer_record"], v) for v in record["vs_peer"]]:
        if p:
            line += (f"; − {label} = {p['mean_diff']:+.3f} ± {p['se_diff']:.3f} "
                     f"(lower on {p['arm_lower']}/{p['folds']})")
    print(line, flush=True)


def add_parser(sub) -> None:
    p = sub.add_parser("ablation", help="one-factor ablations on the accuracy bench's folds (issue 40)")
    p.add_argument("--models", default="cigin,mpnn,attentivefp", help="encoder or encoder@pair_model, comma-separated")
    p.add_argument("--datasets", default="freesolv,compsol")
    p.add_argument("--factors", default="", help="KEY=VALUE arms separated by ';' (KEY: a zoo run config key, "
                   "encoder_param.NAME or pair_param.NAME; '&' joins settings into one arm); the base arm always runs")
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--patience", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3, help="repeats of the 5 folds (seeds 0..R-1, as accuracy)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--name", default="ablation", help="records go to <results>/<name>.json")
    p.add_argument("--results", default=None, help="folder of the records (default bench/results; a smoke: a "
                                                   "temporary folder)")
    p.add_argument("--remeasure", action="store_true", help="measure arms recorded by the same command again")
    p.add_argument("--note", default="", help="a sentence stored with each record and shown in BENCHMARKS.md")
