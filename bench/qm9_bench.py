"""QM9 benchmark (issue 36): MolInteract from scratch and pretrained, SchNet alone and the GIN tower alone, all at one
budget, on HOMO, LUMO and α: test MAE in the papers' units beside the paper's MolInteract figures.

  python bench/run_bench.py qm9 --arms molinteract,molinteract-pretrained,schnet,gin --targets homo,lumo,alpha \
      --train 50000 --valid 10000 --epochs 50 --hidden 128 --layers 4 --pretrain-epochs 5 --seeds 0 --name qm9-budget

Each (arm, seed) is one `zoo run` on the split fixed-random:TRAIN,VALID,42: the same molecules for every arm and
seed (the seed varies initialisation and shuffling only). --hidden and --layers reach every encoder: MolInteract's and
the GIN tower's width and blocks, SchNet's hidden width and interaction blocks (its 128 filters, 50 Gaussians, 10 Å
cutoff and 32 neighbours are those of MolInteract's 3D tower). The pretrained arm is `zoo run --pretrainer
molinteract --pretrain-epochs N`: the zoo pretrains on the training split's molecules and caches the backbone (and
its resumable checkpoint) in ZOO_HOME, so every seed reuses one backbone. Each job runs in a fresh process, so the
peak RSS it records is its own (featurization, pretraining and fine-tuning).

Resuming: a finished job is kept in bench/results/.partial-<name>.json and in the record itself (so a later session
with the record committed continues as well); an unfinished one continues from its fold checkpoint under --runs
(default $TMPDIR/zoo-bench-runs-<name>; `bench.run_bench.run_or_resume`). The record, bench/results/<name>.json, is
rewritten after every job with the arms finished so far, the comparisons issue 36 asks for, and ``complete``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench.pool import run_pending
from bench.records import RESULTS, save_records
from bench.run_bench import FinishedFolds, machine, run_or_resume, scratch

# arm -> (encoder, pretrainer)
ARMS = {"molinteract": ("molinteract", None), "molinteract-pretrained": ("molinteract", "molinteract"),
        "schnet": ("schnet", None), "gin": ("gin", None)}
MOLINTERACT_ARMS = ("molinteract", "molinteract-pretrained")
SINGLE_TOWERS = ("schnet", "gin")
SPLIT_SEED = 42
UNITS = {"homo": "meV", "lumo": "meV", "gap": "meV", "zpve": "meV", "u0": "meV", "u298": "meV", "h298": "meV",
         "g298": "meV", "alpha": "bohr³", "mu": "D", "r2": "bohr²", "cv": "cal/(mol K)"}


def budget_of(args) -> dict:
    """The measurement's budget from the command's arguments (what every arm shares)."""
    return {"targets": [t.strip() for t in args.targets.split(",")], "train": args.train, "valid": args.valid,
            "split_seed": SPLIT_SEED, "epochs": args.epochs, "patience": args.patience, "hidden": args.hidden,
            "layers": args.layers, "pretrain_epochs": args.pretrain_epochs}


def arm_budget(arm: str, budget: dict) -> dict:
    """What an arm's runs depend on: the budget, without the pretraining epochs for an arm that does not pretrain
    (so changing --pretrain-epochs keeps the other arms' finished jobs)."""
    return {k: v for k, v in budget.items() if k != "pretrain_epochs" or ARMS[arm][1]}


def plan_jobs(arms: list[str], seeds: list[int], budget: dict, local: dict) -> list[tuple]:
    """One job ``(arm, seed, budget JSON, local)`` per arm and seed, arm by arm; ``local`` (run folder, threads)
    is the job's last item, left out of its resume key."""
    return [(arm, seed, json.dumps(arm_budget(arm, budget), sort_keys=True), local) for arm in arms for seed in seeds]


def run_config(job: tuple) -> dict:
    """The `zoo run` overrides of a job."""
    arm, seed, budget_json, local = job
    budget = json.loads(budget_json)
    encoder, pretrainer = ARMS[arm]
    cli = {"encoder": encoder, "dataset": "qm9", "targets": budget["targets"],
           "split": f"fixed-random:{budget['train']},{budget['valid']},{budget['split_seed']}",
           "seed": seed, "repeats": 1, "epochs": budget["epochs"], "patience": budget["patience"],
           "encoder_params": {"hidden": budget["hidden"], "layers": budget["layers"]},
           "output": local["runs"], "threads": local["threads"]}
    if pretrainer:
        cli.update(pretrainer=pretrainer, pretrain_epochs=budget["pretrain_epochs"])
    return cli


def run_arm(job: tuple) -> dict:
    """Run (or continue, or read back) one arm's `zoo run` for one seed; returns its result."""
    import torch

    from bench.records import provenance

    torch.set_num_threads(job[-1]["threads"])
    commit, t0 = provenance()["git_commit"], time.time()
    run_dir, metrics = run_or_resume(run_config(job), f"qm9-{job[0]}-s{job[1]}", json.dumps(list(job[:-1])))
    return dict(seed_result(job, run_dir, metrics, time.time() - t0), git_commit=commit)


def seed_result(job: tuple, run_dir: Path, metrics: dict, seconds: float) -> dict:
    """What the record keeps of one job: test and validation MAE per target, the epochs, throughput, memory, the
    resolved settings and encoder parameters, and the pretraining's budget and speed."""
    import yaml

    targets = json.loads(job[2])["targets"]
    fold = metrics["folds"][0]
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    encoder_params, parameters = model_of(run_dir / "model.safetensors")
    return {"job": list(job[:-1]), "arm": job[0], "seed": job[1], "test_mae": _per_target(fold["test"], targets),
            "valid_mae": _per_target(fold["valid"], targets), "best_epoch": fold["best_epoch"],
            "epochs_run": fold["epochs_run"], "fold_seconds": fold["seconds"],
            "train_molecules_per_s": fold["train_pairs_per_s"], "peak_rss_gb": metrics.get("peak_rss_gb"),
            "job_seconds": round(seconds, 1), "threads": job[-1]["threads"], "split": metrics["split"],
            "n_molecules": metrics["n_pairs"], "bad_rows": metrics["bad_rows"],
            "settings": {k: cfg.get(k) for k in ("epochs", "patience", "lr", "batch_size", "loss", "lr_schedule")},
            "encoder_params": encoder_params, "parameters": parameters,
            "pretraining": pretraining_of(metrics), "run_dir": str(run_dir)}


def _per_target(scores: dict, targets: list[str]) -> dict[str, float]:
    """MAE per target of a fold's metrics (a single-target run has no ``per_task``)."""
    per_task = scores.get("per_task") or {targets[0]: scores}
    return {t: float(per_task[t]["mae"]) for t in targets}


def model_of(weights: Path) -> tuple[dict, int]:
    """(the encoder parameters the run resolved, the model's number of trained parameters) of its weight file."""
    from safetensors import safe_open

    from zoo_core.weights import read_metadata

    spec, _ = read_metadata(weights)
    with safe_open(str(weights), "pt") as f:
        sizes = [f.get_slice(k).get_shape() for k in f.keys() if not k.startswith("target_scaler.")]
    count = 0
    for shape in sizes:
        n = 1
        for d in shape:
            n *= d
        count += n
    return spec["encoder_params"], count


def pretraining_of(metrics: dict) -> dict | None:
    """A pretrained run's backbone: budget, molecules, seconds and molecules/s (from the backbone file's per-epoch
    history, so a backbone made by an earlier run, or resumed across runs, reports its own pretraining)."""
    pre = metrics.get("pretraining")
    if not pre:
        return None
    from zoo_core.weights import read_metadata

    fold = pre["folds"][0]
    _, meta = read_metadata(fold["weights"])
    history = meta.get("history") or []
    seen, seconds = sum(h.get("molecules", 0) for h in history), sum(h["seconds"] for h in history)
    return {"pretrainer": pre.get("pretrainer"), "pair_set": fold.get("pair_set"),
            "transductive": fold.get("transductive"), "molecules": meta.get("pretrain_molecules"),
            "epochs": meta.get("epochs"), "batch_size": meta.get("batch_size"), "lr": meta.get("lr"),
            "geometry": meta.get("geometry"), "seconds": meta.get("seconds"),
            "molecules_per_s": round(seen / seconds, 1) if seconds else None, "reused": fold.get("reused"),
            "cache_key": meta.get("cache_key")}


def summarize_arm(arm: str, results: list[dict], targets: list[str]) -> dict:
    """One arm's entry in the record: test MAE per target (per seed, mean, std), epochs, speed and memory."""
    import numpy as np

    first = results[0]
    mae = {t: {"per_seed": [r["test_mae"][t] for r in results],
               "mean": float(np.mean([r["test_mae"][t] for r in results])),
               "std": float(np.std([r["test_mae"][t] for r in results]))} for t in targets}
    peaks = [r["peak_rss_gb"] for r in results if r.get("peak_rss_gb") is not None]
    return {"encoder": ARMS[arm][0], "pretrainer": ARMS[arm][1], "encoder_params": first["encoder_params"],
            "parameters": first["parameters"], "seeds": [r["seed"] for r in results], "test_mae": mae,
            "best_epoch": [r["best_epoch"] for r in results], "epochs_run": [r["epochs_run"] for r in results],
            "train_molecules_per_s": float(np.mean([r["train_molecules_per_s"] for r in results])),
            "peak_rss_gb": max(peaks) if peaks else None,
            "fold_seconds": round(sum(r["fold_seconds"] for r in results), 1),
            "job_seconds": round(sum(r["job_seconds"] for r in results), 1),
            "pretraining": first.get("pretraining"), "seed_records": results}


def comparisons(mae: dict[str, dict[str, float]], targets: list[str]) -> dict:
    """The acceptance's comparisons from each arm's mean test MAE per target (``mae[arm][target]``): each MolInteract
    arm against the single towers (which it beats per target; ``met``: both towers beaten on at least two targets),
    and the pretrained arm against the one trained from scratch (same split, same seeds)."""
    out: dict = {}
    towers = [a for a in SINGLE_TOWERS if a in mae]
    for arm in (a for a in MOLINTERACT_ARMS if a in mae and towers):
        per_target = {t: {"molinteract": mae[arm][t], **{a: mae[a][t] for a in towers},
                          "beats": [a for a in towers if mae[arm][t] < mae[a][t]]} for t in targets}
        wins = sum(len(c["beats"]) == len(towers) for c in per_target.values())
        out[f"{arm} vs single towers"] = {"arm": arm, "towers": towers, "per_target": per_target,
                                         "beats_every_tower_on": wins, "of": len(targets),
                                         "met": len(towers) == len(SINGLE_TOWERS) and wins >= 2}
    if all(a in mae for a in MOLINTERACT_ARMS):
        scratch_mae, pre_mae = mae["molinteract"], mae["molinteract-pretrained"]
        per_target = {t: {"scratch": scratch_mae[t], "pretrained": pre_mae[t],
                          "difference": pre_mae[t] - scratch_mae[t],
                          "improvement_pct": 100 * (scratch_mae[t] - pre_mae[t]) / scratch_mae[t]} for t in targets}
        out["pretrained vs scratch"] = {"per_target": per_target,
                                        "pretrained_lower_on": sum(c["difference"] < 0 for c in per_target.values()),
                                        "of": len(targets)}
    return out


def budget_gap(budget: dict, pretrained: bool) -> str:
    """Our budget against the paper's, in one sentence."""
    from bench.targets import PAPER_QM9_BUDGET

    ours = (f"{budget['train']:,} training molecules, {budget['epochs']} epochs, d = {budget['hidden']}, "
            f"L = {budget['layers']}")
    if pretrained:
        epochs = budget["pretrain_epochs"]
        ours += (f", pretrained {epochs} epoch{'' if epochs == 1 else 's'} on the same {budget['train']:,} training "
                 "molecules")
    return f"ours: {ours}; paper: {PAPER_QM9_BUDGET}"


def budget_record(budget: dict, result: dict) -> dict:
    """The record's budget: the command's, the test size and the settings a run resolved (``result``: any job's;
    empty before the first has finished)."""
    settings, n = result.get("settings") or {}, result.get("n_molecules")
    return {"train": budget["train"], "valid": budget["valid"],
            "test": n - budget["train"] - budget["valid"] if n else None,
            "split": f"fixed-random:{budget['train']},{budget['valid']},{budget['split_seed']}",
            "epochs": budget["epochs"], "patience": settings.get("patience"), "hidden": budget["hidden"],
            "layers": budget["layers"], "pretrain_epochs": budget["pretrain_epochs"],
            **{k: settings.get(k) for k in ("lr", "batch_size", "loss", "lr_schedule")}}


def make_record(arms: list[str], seeds: list[int], budget: dict, results: dict[tuple, dict], context: dict) -> dict:
    """The record of the arms whose every seed has finished (``results[(arm, seed)]``); the others are pending."""
    from bench.targets import PAPER_QM9_MAE

    targets = budget["targets"]
    done = [a for a in arms if all((a, s) in results for s in seeds)]
    entries = {a: summarize_arm(a, [results[(a, s)] for s in seeds], targets) for a in done}
    any_result = next(iter(results.values()), {})
    return {"kind": "qm9", "dataset": "qm9", "name": context["name"], "targets": targets,
            "units": {t: UNITS.get(t) for t in targets}, "seeds": seeds, "arms_requested": arms,
            "arms_pending": [a for a in arms if a not in entries], "complete": len(done) == len(arms),
            "budget": budget_record(budget, any_result), "n_molecules": any_result.get("n_molecules"),
            "bad_rows": any_result.get("bad_rows"), "arms": entries,
            "comparisons": comparisons({a: {t: e["test_mae"][t]["mean"] for t in targets}
                                        for a, e in entries.items()}, targets),
            "paper": {arm: {t: v[t] for t in targets if t in v} for arm, v in PAPER_QM9_MAE.items()},
            "budget_gap": budget_gap(budget, "molinteract-pretrained" in arms),
            "threads": context["threads"], "workers": context["workers"],
            "job_seconds": round(sum(r["job_seconds"] for r in results.values()), 1),
            "command": context["command"], "date": time.strftime("%Y-%m-%d"), "machine": machine(),
            **({"note": context["note"]} if context.get("note") else {})}


def fresh_processes(workers: int):
    """A process pool that starts every job in a new process (spawned: nothing inherited), one job each."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               max_tasks_per_child=1)


def restore_finished(finished: FinishedFolds, record: dict | None) -> None:
    """Add the jobs the record already holds to ``finished`` (the partial file may be gone: another session)."""
    for arm in (record or {}).get("arms", {}).values():
        for result in arm["seed_records"]:
            finished.results.setdefault(json.dumps(result["job"]), result)


def run_jobs(jobs: list[tuple], finished: FinishedFolds, job_fn, executor, on_result) -> None:
    """Run the jobs not in ``finished`` on ``executor``; each result is kept at once, then ``on_result(job, result)``.
    A job that fails does not stop the others (hours each); the first failure is raised once they have ended."""

    def keep(job: tuple, result: dict) -> None:
        finished.add(job, result)
        on_result(job, result)

    run_pending(finished.pending(jobs), job_fn, executor, keep, label=lambda job: f"{job[0]} seed {job[1]}")


def command_of(args) -> str:
    """The command line a record carries: the options that decide what is measured."""
    patience = f" --patience {args.patience}" if args.patience is not None else ""
    return (f"python bench/run_bench.py qm9 --arms {args.arms} --targets {args.targets} --train {args.train} "
            f"--valid {args.valid} --epochs {args.epochs}{patience} --hidden {args.hidden} --layers {args.layers} "
            f"--pretrain-epochs {args.pretrain_epochs} --seeds {args.seeds} --name {args.name}")


def previous_record(name: str) -> dict | None:
    """The record bench/results/<name>.json holds (one per name), or None."""
    path = RESULTS / f"{name}.json"
    return (json.loads(path.read_text()) or [None])[0] if path.exists() else None


def qm9(args, job_fn=run_arm, executor=None) -> dict | None:
    """Run every (arm, seed) job not finished yet; rewrite bench/results/<name>.json after each. Returns the record
    (None when the file already holds this command's complete record, which is kept)."""
    arms = [a.strip() for a in args.arms.split(",")]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise SystemExit(f"unknown arm(s) {', '.join(unknown)}; known: {', '.join(ARMS)}")
    seeds = [int(s) for s in str(args.seeds).split(",")]
    budget = budget_of(args)
    context = {"name": args.name, "command": command_of(args), "threads": args.threads, "workers": args.workers,
               "note": args.note}
    old = previous_record(args.name)
    if old and old.get("complete") and old.get("command") == context["command"]:
        print(f"kept: {args.name}.json already holds this command's complete record (measure again under another "
              "--name)", flush=True)
        return None
    jobs = plan_jobs(arms, seeds, budget, {"runs": args.runs or scratch(args.name), "threads": args.threads})
    finished = FinishedFolds(RESULTS / f".partial-{args.name}.json", scratch_key=-1)
    restore_finished(finished, old)
    results = {(j[0], j[1]): finished.results[finished.key(j)] for j in jobs if finished.key(j) in finished.results}
    t0 = time.time()

    def on_result(job: tuple, result: dict) -> None:
        results[(job[0], job[1])] = result
        save_records(args.name, [make_record(arms, seeds, budget, results, context)], RESULTS)
        print(f"{job[0]:>22} seed {job[1]}: test MAE " + ", ".join(
            f"{t} {v:.4g} {UNITS.get(t, '')}" for t, v in result["test_mae"].items())
            + f" (best epoch {result['best_epoch']}/{result['epochs_run']}, {result['job_seconds']:.0f} s; "
            f"{time.time() - t0:.0f} s since start)", flush=True)

    run_jobs(jobs, finished, job_fn, executor or fresh_processes(args.workers), on_result)
    record = make_record(arms, seeds, budget, results, context)
    save_records(args.name, [record], RESULTS)
    if record["complete"]:
        finished.path.unlink(missing_ok=True)
    return record


def add_parser(sub) -> None:
    q = sub.add_parser("qm9", help="QM9: MolInteract scratch and pretrained, SchNet and the GIN tower at one budget "
                       "(issue 36)")
    q.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, of: {', '.join(ARMS)}")
    q.add_argument("--targets", default="homo,lumo,alpha")
    q.add_argument("--train", type=int, default=50000, help="training molecules (split fixed-random:TRAIN,VALID,42)")
    q.add_argument("--valid", type=int, default=10000, help="validation molecules; the rest is the test set")
    q.add_argument("--epochs", type=int, default=50)
    q.add_argument("--patience", type=int, default=None, help="early stopping (default: the qm9 entry's, 100)")
    q.add_argument("--hidden", type=int, default=128, help="d of every encoder (SchNet: its hidden width)")
    q.add_argument("--layers", type=int, default=4, help="blocks of every encoder (SchNet: interaction blocks)")
    q.add_argument("--pretrain-epochs", type=int, default=5, help="MolInteract pretraining on the training molecules")
    q.add_argument("--seeds", default="0")
    q.add_argument("--workers", type=int, default=1, help="jobs at once, each in a fresh process")
    q.add_argument("--threads", type=int, default=1, help="torch threads per job")
    q.add_argument("--runs", default=None, help="run folders (default $TMPDIR/zoo-bench-runs-<name>): where an "
                   "unfinished job continues from its checkpoint")
    q.add_argument("--name", default="qm9-budget")
    q.add_argument("--note", default="", help="a sentence stored with the record and shown in BENCHMARKS.md")
