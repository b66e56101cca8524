"""``zoo data split DATASET --export DIR``: a dataset's folds written in a form other tools read (chemprop v2's
``--data-path`` and ``--splits-file``), so a peer trains and tests on exactly the zoo's rows.

Files in DIR:

* ``data.csv``: the usable rows, as ``zoo run`` keeps them (bad rows skipped), in the zoo's row order: ``row`` (the
  zoo's row index, what the folds index), ``line`` (the row's line in the source file), one column per role with the
  molecule's canonical SMILES (the featurizer's cache key), then the target column(s) as the zoo trains on them
  (after the entry's transform; an empty cell is a missing label). Data line i (0-based) is row i.
* ``splits-r<R>.json``: repeat R's folds (seed + R), a list with one ``{"train": [...], "val": [...], "test":
  [...]}`` per fold, indices into data.csv: chemprop v2's ``--splits-file`` format.
* ``manifest.json``: dataset, split rule, seeds, counts, featurizer and the sha256 of every other file;
  ``README.md`` says the same in words.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from zoo_core.errors import UsageError

_PARTS = ("train", "val", "test")


def usable_dataset(cfg: dict, entry, progress: bool = False):
    """The featurized rows ``zoo run`` trains on for ``cfg['dataset']`` (its entry's featurizer and hydrogens)."""
    from zoo_core.data.molecules import MolDataset
    from zoo_core.data.pairs import PairDataset
    from zoo_core.train.config import load_dataset_table

    table = load_dataset_table(cfg, entry)
    kind = MolDataset if len(table.roles) == 1 else PairDataset
    return kind.from_table(table, featurizer_of(entry), bool(entry["explicit_h"]), progress=progress)


def featurizer_of(entry) -> str:
    """The featurizer whose parse decides which rows are usable: the entry's, else the zoo's default (mrl56)."""
    return entry.get("featurizer") or "mrl56"


def canonical_columns(dataset) -> list[list[str]]:
    """Each role's canonical SMILES, row by row."""
    ids = [dataset.ids] if hasattr(dataset, "ids") else [dataset.ids_a, dataset.ids_b]
    return [[dataset.store.smiles[i] for i in column.tolist()] for column in ids]


def fold_lists(cfg: dict, dataset, seed: int) -> list[dict[str, list[int]]]:
    """The folds ``make_splits`` gives repeat seed ``seed``, as ``{"train", "val", "test"}`` lists of row indices."""
    from zoo_core.data.splits import make_splits

    folds = make_splits(str(cfg["split"]), len(dataset), seed, dataset.table.a, dataset.table.b,
                        n_folds=int(cfg["folds"]), held_out=cfg.get("held_out"))
    return [{part: [int(i) for i in rows] for part, rows in zip(_PARTS, fold)} for fold in folds]


def write_rows(path: Path, dataset) -> None:
    """data.csv: row, line, one canonical SMILES column per role, the target column(s)."""
    table = dataset.table
    y = table.y.reshape(len(table), -1)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "line", *table.roles, *table.targets])
        for i, smiles in enumerate(zip(*canonical_columns(dataset))):
            labels = ["" if math.isnan(v) else repr(float(v)) for v in y[i]]
            writer.writerow([i, int(table.lines[i]), *smiles, *labels])


def check_request(cfg: dict, entry, out: Path) -> None:
    """UsageError (one line) for what cannot be exported: a DDI set, bad counts, an output that is a file."""
    if entry.get("negatives"):
        raise UsageError(f"{cfg['dataset']} draws its negatives per repeat with its folds; its folds are not a fixed "
                         "row set to export")
    if int(cfg["folds"]) < 2:
        raise UsageError(f"--folds must be 2 or more, got {cfg['folds']}")
    if int(cfg["repeats"]) < 1 or int(cfg["seed"]) < 0:
        raise UsageError(f"--repeats must be 1 or more and --seed 0 or more, got {cfg['repeats']} and {cfg['seed']}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--export {out}: a file is there; name a folder")


def export_folds(cfg: dict, out: Path, progress: bool = False) -> dict:
    """Write data.csv, splits-r<R>.json per repeat, manifest.json and README.md into ``out``; returns the manifest.
    ``cfg``: dataset, split (None: the entry's), folds, repeats, seed."""
    from zoo_core.hub import sha256_file
    from zoo_core.train.config import dataset_entry_of
    from zoo_core.train.preflight import check_enough_rows

    entry = dataset_entry_of(cfg)
    cfg = dict(cfg, split=cfg.get("split") or entry["split"])
    check_request(cfg, entry, out)
    dataset = usable_dataset(cfg, entry, progress)
    check_enough_rows(cfg, entry, dataset)
    out.mkdir(parents=True, exist_ok=True)
    write_rows(out / "data.csv", dataset)
    seeds = [int(cfg["seed"]) + r for r in range(int(cfg["repeats"]))]
    for repeat, seed in enumerate(seeds):
        (out / f"splits-r{repeat}.json").write_text(json.dumps(fold_lists(cfg, dataset, seed)))
    files = ["data.csv", *(f"splits-r{r}.json" for r in range(len(seeds)))]
    manifest = {"dataset": str(cfg["dataset"]), "split": cfg["split"], "folds": int(cfg["folds"]),
                "repeats": len(seeds), "seeds": seeds, "rows": len(dataset), "bad_rows": len(dataset.bad),
                "roles": list(dataset.table.roles), "targets": list(dataset.table.targets), "task": entry["task"],
                "featurizer": featurizer_of(entry), "sha256": {name: sha256_file(out / name) for name in files}}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (out / "README.md").write_text(readme(manifest))
    return manifest


def readme(manifest: dict) -> str:
    """The manifest in words, with the chemprop command that reads the files."""
    m = manifest
    roles, targets = " ".join(m["roles"]), " ".join(m["targets"])
    return (f"# {m['dataset']}: the zoo's folds\n\n"
            f"Written by `zoo data split {m['dataset']} --export DIR --split {m['split']} --folds {m['folds']} "
            f"--repeats {m['repeats']} --seed {m['seeds'][0]}`.\n\n"
            f"- `data.csv`: the {m['rows']} usable rows ({m['bad_rows']} bad rows skipped, as `zoo run` skips "
            f"them; usable = every molecule parses for featurizer {m['featurizer']}): `row` (the zoo's row index), "
            f"`line` (line in the source file), canonical SMILES per role ({', '.join(m['roles'])}), "
            f"target(s) {', '.join(m['targets'])}.\n"
            f"- `splits-r<R>.json`: repeat R (seed {m['seeds'][0]} + R) as a list of {m['folds']} folds "
            "`{\"train\", \"val\", \"test\"}`, indices into data.csv (data line 0 = row 0).\n"
            "- `manifest.json`: these facts and the sha256 of each file.\n\n"
            f"chemprop v2: `chemprop train --data-path data.csv --smiles-columns {roles} --target-columns {targets} "
            "--splits-file splits-r0.json`\n")
