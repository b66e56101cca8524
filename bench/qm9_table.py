"""BENCHMARKS.md's QM9 section (issue 36) from the `qm9` records of bench/qm9_bench.py: per record a table of arm ×
target MAE with the paper's rows, the budget beside the paper's, and the comparisons the acceptance asks for."""

from __future__ import annotations

TITLE = "QM9 (issue 36): MolInteract against its towers alone, pretrained and not (MAE, lower is better)"
INTRO = (
    "`python bench/run_bench.py qm9` (bench/qm9_bench.py): one `zoo run` per arm and seed on "
    "`fixed-random:TRAIN,VALID,42` (the same training, validation and test molecules for every arm and seed), every "
    "encoder at the same width d and number of blocks L (SchNet: hidden width and interaction blocks; its 128 "
    "filters are MolInteract's 3D tower's), the qm9 entry's protocol otherwise (L1 loss on standardised targets, "
    "learning rate annealed on a cosine), test MAE at the best-validation epoch in the papers' units. "
    "`molinteract-pretrained` is pretrained with MolInteract's tasks on the training split's molecules only (their "
    "DFT geometries), then fine-tuned like `molinteract`. Paper rows: MolInteract and the same table's SchNet with 8 "
    "layers (seed 003, Table 1), at the paper's budget, not ours: the budget gap is stated per record. Fine-tuning "
    "mol/s = training molecules per second of training; peak GB = the job process's max RSS (featurization, "
    "pretraining and fine-tuning).")
PARAM_KEYS = ("hidden", "filters", "layers", "towers")


def _value(x: float | None, unit: str | None) -> str:
    if x is None:
        return "—"
    return f"{x:.2f}" if unit == "meV" else f"{x:.3f}"


def _mae(stats: dict, unit: str | None) -> str:
    if len(stats["per_seed"]) > 1:
        return f"{_value(stats['mean'], unit)} ± {_value(stats['std'], unit)}"
    return _value(stats["mean"], unit)


def _budget_line(r: dict) -> str:
    b = r["budget"]
    line = (f"**`{r['_file']}`** (commit `{(r.get('git_commit') or '—')[:8]}`): {b['train']:,} / {b['valid']:,} / "
            f"{b['test']:,} molecules ({b['split']}), {b['epochs']} epochs (patience {b.get('patience')}), batch "
            f"{b.get('batch_size')}, lr {b.get('lr')} ({b.get('lr_schedule')}), {b.get('loss')} loss; d = "
            f"{b['hidden']}, L = {b['layers']}; seeds {', '.join(map(str, r['seeds']))}; {r['threads']} thread(s) "
            f"per job.") if b.get("test") is not None else f"**`{r['_file']}`**: no arm finished yet."
    pending = r.get("arms_pending") or []
    return line + (f" **Pending:** {', '.join(pending)}." if pending else "") + f"\n\nBudget gap: {r['budget_gap']}.\n"


def _pretraining(arm: dict) -> str:
    pre = arm.get("pretraining")
    if not pre:
        return "—"
    speed = f"{pre['molecules_per_s']:.0f} mol/s" if pre.get("molecules_per_s") else "— mol/s"
    seconds = f"{pre['seconds']:,.0f} s" if pre.get("seconds") is not None else "— s"
    epochs = pre.get("epochs")
    return (f"{epochs} epoch{'' if epochs == 1 else 's'} × {pre.get('molecules') or 0:,} mol ({pre.get('pair_set')}); "
            f"{speed}, {seconds}")


def _arm_row(name: str, arm: dict, targets: list[str], units: dict) -> str:
    params = ", ".join(f"{k}={arm['encoder_params'][k]}" for k in PARAM_KEYS if k in arm["encoder_params"])
    peak = arm.get("peak_rss_gb")
    return (f"| {name} | {params} | {arm['parameters']:,} | {_pretraining(arm)} | "
            + " | ".join(_mae(arm["test_mae"][t], units.get(t)) for t in targets)
            + f" | {', '.join(map(str, arm['best_epoch']))} | {arm['train_molecules_per_s']:.0f} | "
            f"{'—' if peak is None else f'{peak:.2f}'} | {arm['job_seconds'] / 3600:.1f} |")


def _paper_rows(r: dict, targets: list[str], units: dict) -> list[str]:
    label = {"molinteract": "paper: MolInteract (pretrained on PCQM4Mv2)", "schnet": "paper: SchNet, 8 layers"}
    dashes = " — |" * 4
    return [f"| {label.get(name, 'paper: ' + name)} | — | — | — | "
            + " | ".join(_value(values.get(t), units.get(t)) for t in targets) + f" |{dashes}"
            for name, values in r.get("paper", {}).items() if values]


def _comparison_lines(r: dict, units: dict) -> list[str]:
    """The acceptance's comparisons: MolInteract against each single tower, pretrained against scratch."""
    lines = []
    for name, c in r["comparisons"].items():
        if "towers" in c:
            per = "; ".join(
                f"{t}: {_value(v['molinteract'], units.get(t))} vs "
                + ", ".join(f"{a} {_value(v[a], units.get(t))}" for a in c["towers"])
                + (f" (beats {' and '.join(v['beats'])})" if v["beats"] else "")
                for t, v in c["per_target"].items())
            verdict = "**met**" if c["met"] else "**not met**"
            lines.append(f"- {c['arm']} beats every single tower ({', '.join(c['towers'])}) on "
                         f"{c['beats_every_tower_on']} of {c['of']} targets ({per}); acceptance (both towers beaten on "
                         f"at least two): {verdict}.")
        else:
            per = "; ".join(f"{t}: {_value(v['pretrained'], units.get(t))} vs {_value(v['scratch'], units.get(t))} "
                            f"({v['improvement_pct']:+.1f} %)" for t, v in c["per_target"].items())
            lines.append(f"- pretrained vs scratch (same split and seeds; improvement = (scratch − pretrained) / "
                         f"scratch): {per}; pretrained lower on {c['pretrained_lower_on']} of {c['of']}.")
    return lines


def qm9_section(records: list[dict]) -> list[str]:
    """The section's lines: title, protocol, then per record its budget, table and comparisons; the footer."""
    from bench.render import _footer

    out = [f"## {TITLE}\n", INTRO + "\n"]
    for r in records:
        targets, units = r["targets"], r.get("units") or {}
        columns = ["arm", "encoder params", "parameters", "pretraining",
                   *[f"{t} ({units.get(t) or '—'})" for t in targets],
                   "best epoch", "fine-tuning mol/s", "peak GB", "job h"]
        out += [_budget_line(r), "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        out += [_arm_row(name, arm, targets, units) for name, arm in r["arms"].items()]
        out += _paper_rows(r, targets, units) + [""] + _comparison_lines(r, units) + [""]
    return out + _footer(records)
