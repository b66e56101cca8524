"""MoleculeNet benchmark (issue 34): encoders on Tox21, ClinTox and HIV with DeepChem's deterministic scaffold
split, test ROC-AUC at the epoch of best validation ROC-AUC, beside the published numbers.

  python bench/run_bench.py moleculenet --models mpnn,attentivefp --datasets tox21,clintox --seeds 0,1,2
  python bench/run_bench.py moleculenet --models mpnn,attentivefp --datasets hiv --seeds 0

The split does not depend on the seed (Hu et al. 2020 convention): seeds vary the model's initialisation and the
shuffling. Each (model, dataset, seed) is one `zoo run` with the dataset entry's protocol (epochs, patience, batch
size, learning rate, ``select_by: auroc``), run one at a time with one torch thread each on ``--workers``
processes; finished jobs are kept in bench/results/.partial-<name>.json and an interrupted one continues from its
checkpoint, so rerunning the command resumes it. Records go to bench/results/<name>.json, one per (model, dataset).

MolInteract's arms (issue 36) go in --models beside the encoders:

  python bench/run_bench.py moleculenet --models molinteract-2d,molinteract-2d-pretrained --datasets tox21,clintox \
      --seeds 0,1,2 --pretrain-epochs 50

``molinteract-2d`` is `zoo run --encoder molinteract --encoder-param towers=2d` (the 2D GIN tower alone, the paper's
MoleculeNet model) with the entry's protocol. ``molinteract-2d-pretrained`` first pretrains MolInteract with both
towers on the split's training molecules, `zoo pretrain --pretrainer molinteract --encoder molinteract --dataset D
--epochs N` (its default pair set ``train-split``: the deterministic scaffold split's training molecules, seeded
ETKDG conformers for the 3D tower and the 2D tower's distance and angle targets; pretraining seed 0, one backbone
for every fine-tuning seed), then fine-tunes the 2D tower of that backbone, `zoo run ... --pretrained-weights
BACKBONE`, on the same split with the same seeds. --hidden/--layers set d and L of both arms (default: the
encoder's, 300 and 6); --pretrain-epochs enters only the pretrained arm's command and resume key. The backbone is
the zoo's cached one (ZOO_HOME/pretrained; an interrupted pretraining resumes from its checkpoint), so a rerun
reuses it. A cell already recorded by the same command is kept (--remeasure measures it again).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from bench.records import RESULTS
from bench.run_bench import machine, plan_cells, run_or_resume, scratch
from bench.seed_jobs import run_seed_jobs

# Published ROC-AUC (%), scaffold split (TARGETS.md §3): GIN without pretraining (Hu et al., ICLR 2020, Table 1)
# and MolInteract (seed 003, frozen 2D branch after pretraining on PCQM4Mv2).
PUBLISHED = {
    "tox21": {"gin_no_pretrain": (74.0, 0.8), "molinteract": (77.3, 0.5)},
    "clintox": {"gin_no_pretrain": (58.0, 4.4), "molinteract": (88.4, 1.0)},
    "hiv": {"gin_no_pretrain": (75.3, 1.9), "molinteract": (79.5, 0.4)},
}
# What the paper's MolInteract MoleculeNet figures cost (seed 003; METHODS §8.2-8.3).
PAPER_BUDGET = ("pretrained 50 epochs on PCQM4Mv2 (3.3 M molecules, DFT geometries), both towers, L = 8, about 9 M "
                "parameters (d = 300 in the scripts); MoleculeNet on the 2D branch alone, its 2D embeddings frozen")

# MolInteract's arms: arm -> (encoder, the towers fine-tuned, pretrainer). The pretrained arm's backbone has both
# towers (PRETRAIN_TOWERS); its 2D tower is loaded into the fine-tuned one (zoo_core.train.pretraining.backbone_part).
ARMS = {"molinteract-2d": ("molinteract", "2d", None),
        "molinteract-2d-pretrained": ("molinteract", "2d", "molinteract")}
PRETRAIN_TOWERS = "both"
PRETRAIN_SEED = 0


def arm_budget(arm: str, args) -> dict:
    """What an arm's runs depend on besides dataset and seed: d and L (the encoder's defaults unless given) and, for
    the pretrained arm only, the pretraining epochs."""
    from zoo_core.registry import get_registry

    defaults = get_registry().entry("encoders", ARMS[arm][0]).params
    budget = {"hidden": args.hidden or defaults["hidden"], "layers": args.layers or defaults["layers"]}
    return dict(budget, pretrain_epochs=args.pretrain_epochs) if ARMS[arm][2] else budget


def plan_jobs(model: str, dataset: str, seeds: list[int], args, out: str) -> list[tuple]:
    """A cell's jobs, one per seed: ``(model, dataset, seed, out)`` for an encoder, ``(arm, dataset, seed, budget
    JSON, out)`` for a MolInteract arm; the last item (the scratch folder) is left out of the resume key."""
    if model not in ARMS:
        return [(model, dataset, s, out) for s in seeds]
    budget = json.dumps(arm_budget(model, args), sort_keys=True)
    return [(model, dataset, s, budget, out) for s in seeds]


def run_config(job: tuple) -> dict:
    """The `zoo run` overrides of a job (the dataset entry's protocol otherwise)."""
    model, dataset, seed, *budget, out = job
    cli = {"encoder": model, "dataset": dataset, "seed": seed, "repeats": 1, "output": out, "threads": 1}
    if model in ARMS:
        b = json.loads(budget[0])
        cli.update(encoder=ARMS[model][0],
                   encoder_params={"towers": ARMS[model][1], "hidden": b["hidden"], "layers": b["layers"]})
    return cli


def pretrain_args(job: tuple) -> list[str]:
    """`zoo pretrain` arguments of a pretrained arm's job: MolInteract with both towers at the arm's d and L on the
    training molecules of the dataset's split (the pretrainer's default pair set, train-split), pretraining seed 0,
    its run folder under the job's scratch folder."""
    model, dataset, _seed, budget_json, out = job
    b = json.loads(budget_json)
    encoder_params = [f"towers={PRETRAIN_TOWERS}", f"hidden={b['hidden']}", f"layers={b['layers']}"]
    return ["pretrain", "--pretrainer", ARMS[model][2], "--encoder", ARMS[model][0], "--dataset", dataset,
            "--epochs", str(b["pretrain_epochs"]), *(x for p in encoder_params for x in ("--encoder-param", p)),
            "--seed", str(PRETRAIN_SEED), "--threads", "1", "--output", str(Path(out) / "pretraining"),
            "--json", "--quiet"]


def zoo(args: list[str]) -> str:
    """`zoo ARGS` run in this process (the job's own: no second interpreter, and a test's monkeypatches apply);
    returns what it printed on stdout. A failure raises RuntimeError (its message went to stderr)."""
    import contextlib
    import io

    import typer

    from zoo_cli.main import app

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = typer.main.get_command(app).main(args=args, prog_name="zoo", standalone_mode=False)
    if code:
        raise RuntimeError(f"`zoo {' '.join(args)}` failed (exit status {code})")
    return printed.getvalue()


def _job(job: tuple) -> dict:
    """One seed's `zoo run` (a pretrained arm: after `zoo pretrain`, whose cached backbone it fine-tunes)."""
    import torch

    torch.set_num_threads(1)
    model, dataset, seed = job[:3]
    cli = run_config(job)
    pretraining = None
    if model in ARMS and ARMS[model][2]:
        pretraining = json.loads(zoo(pretrain_args(job)))
        cli["pretrained_weights"] = pretraining["cache"]
    run_dir, metrics = run_or_resume(cli, f"{model}-{dataset}-s{seed}", json.dumps(list(job[:-1])))
    fold = metrics["folds"][0]
    result = {"seed": seed, "test": fold["test"], "valid": fold["valid"], "best_epoch": fold["best_epoch"],
              "epochs_run": fold["epochs_run"], "seconds": fold["seconds"], "split": metrics["split"],
              "select_by": metrics["select_by"], "n_molecules": metrics["n_pairs"], "bad_rows": metrics["bad_rows"]}
    return dict(result, **arm_result(job, run_dir, metrics, pretraining)) if model in ARMS else result


def arm_result(job: tuple, run_dir: Path, metrics: dict, pretraining: dict | None) -> dict:
    """What a MolInteract arm's seed adds: the encoder parameters the run resolved, its parameter count, the
    fine-tuning settings and the backbone's pretraining (bench.qm9_bench's readers, shared with the QM9 bench)."""
    import yaml

    from bench.qm9_bench import model_of, pretraining_of

    encoder_params, parameters = model_of(run_dir / "model.safetensors")
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    out = {"job": list(job[:-1]), "encoder_params": encoder_params, "parameters": parameters,
           "settings": {k: cfg.get(k) for k in ("epochs", "patience", "lr", "batch_size", "lr_schedule")},
           "pretraining": None}
    if pretraining is not None:
        from zoo_core.weights import read_metadata

        spec, meta = read_metadata(pretraining["cache"])
        out["pretraining"] = dict(pretraining_of(metrics), pair_set=pretraining["pair_set"],
                                  transductive=pretraining["transductive"], reused=pretraining["reused"],
                                  encoder_params=spec["encoder_params"], tasks=meta.get("pretrain_tasks"),
                                  conformers=meta.get("conformers"), own_training_molecules=True,
                                  command="zoo " + " ".join(pretrain_args(job)[:-4]))
    return out


def _record(model: str, dataset: str, seeds: list[int], results: list[dict], command: str, t0: float) -> dict:
    record = _seeds_record(model, dataset, seeds, results, command, t0)
    return dict(record, arm=arm_record(model, results)) if model in ARMS else record


def arm_record(arm: str, results: list[dict]) -> dict:
    """A MolInteract arm's budget beside the paper's: the fine-tuned encoder (d, L, parameters), the fine-tuning
    settings and, for the pretrained arm, its backbone's pretraining (on the task's own training molecules)."""
    first = results[0]
    return {"encoder": ARMS[arm][0], "towers": ARMS[arm][1], "pretrainer": ARMS[arm][2],
            "encoder_params": first["encoder_params"], "parameters": first["parameters"],
            "fine_tuning": first["settings"], "pretraining": first["pretraining"], "paper_budget": PAPER_BUDGET}


def _seeds_record(model: str, dataset: str, seeds: list[int], results: list[dict], command: str, t0: float) -> dict:
    aurocs = [r["test"]["auroc"] for r in results]
    tasks = list(results[0]["test"].get("per_task") or {})
    per_task = {t: float(np.mean([r["test"]["per_task"][t]["auroc"] for r in results if t in r["test"]["per_task"]]))
                for t in tasks}
    return {"kind": "moleculenet", "model": model, "dataset": dataset, "metric": "auroc", "split": results[0]["split"],
            "select_by": results[0]["select_by"], "seeds": seeds, "per_seed": aurocs,
            "mean": float(np.mean(aurocs)), "std": float(np.std(aurocs)), "per_task_mean": per_task,
            "skipped_tasks": sorted({t for r in results for t in r["test"].get("skipped_tasks", [])}),
            "mean_best_epoch": float(np.mean([r["best_epoch"] for r in results])),
            "fold_seconds": round(sum(r["seconds"] for r in results), 1), "wall_seconds": round(time.time() - t0, 1),
            "n_molecules": results[0]["n_molecules"], "bad_rows": results[0]["bad_rows"],
            "published": PUBLISHED.get(dataset, {}), "command": command, "date": time.strftime("%Y-%m-%d"),
            "machine": machine(), "seed_records": results}


def moleculenet(args) -> None:
    """Run every (model, dataset, seed) job; write one record per (model, dataset) when its seeds are in."""
    models = [m.strip() for m in args.models.split(",")]
    datasets = [d.strip() for d in args.datasets.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    out = scratch(args.name)
    commands = {(m, d): command_of(m, d, args) for d in datasets for m in models}
    todo, kept = plan_cells(RESULTS / f"{args.name}.json", commands, args.remeasure)
    records = {(r["model"], r["dataset"]): r for r in kept}
    cells = [cell for cell in commands if cell in todo]
    t0 = time.time()

    def make_record(cell: tuple, results: list[dict]) -> dict:
        return _record(cell[0], cell[1], seeds, results, commands[cell], t0)

    def report(job: tuple, result: dict) -> None:
        print(f"{job[0]:>12} {job[1]:>8} seed {job[2]}: test AUROC {result['test']['auroc']:.4f} "
              f"(best epoch {result['best_epoch']}, {result['seconds']:.0f} s)", flush=True)

    jobs = {cell: plan_jobs(cell[0], cell[1], seeds, args, out) for cell in cells}
    run_seed_jobs(args.name, jobs, _job, args.workers, records, make_record, report)


def command_of(model: str, dataset: str, args) -> str:
    """The command line a cell's record carries (a MolInteract arm's names its budget)."""
    command = f"python bench/run_bench.py moleculenet --models {model} --datasets {dataset} --seeds {args.seeds}"
    if model not in ARMS:
        return command
    budget = arm_budget(model, args)
    return command + "".join(f" --{k.replace('_', '-')} {v}" for k, v in budget.items())


def add_parser(sub) -> None:
    m = sub.add_parser("moleculenet", help="MoleculeNet ROC-AUC with the deterministic scaffold split (issue 34)")
    m.add_argument("--models", default="mpnn,attentivefp",
                   help=f"encoders, or MolInteract's arms ({', '.join(ARMS)}), comma-separated")
    m.add_argument("--datasets", default="tox21,clintox")
    m.add_argument("--seeds", default="0,1,2")
    m.add_argument("--workers", type=int, default=1)
    m.add_argument("--name", default="moleculenet-scaffold")
    m.add_argument("--remeasure", action="store_true")
    m.add_argument("--pretrain-epochs", type=int, default=50,
                   help="molinteract-2d-pretrained: MolInteract pretraining epochs on the split's training molecules")
    m.add_argument("--hidden", type=int, default=None, help="MolInteract arms: d (default: the encoder's, 300)")
    m.add_argument("--layers", type=int, default=None, help="MolInteract arms: L blocks (default: the encoder's, 6)")
