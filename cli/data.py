"""``zoo data list``, ``zoo data fetch`` and ``zoo data split``: the datasets, their source files, their folds."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from zoo_cli.app import data_app, fail, print_json
from zoo_core.errors import ZooError


@data_app.command("list")
def data_list(as_json: bool = typer.Option(False, "--json")):
    """Datasets with their size, source and where a local copy is."""
    from zoo_core.data.datasets import list_datasets

    rows = list_datasets()
    if as_json:
        print_json(rows)
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
        fail(error)
    typer.echo(str(path))


@data_app.command("split")
def data_split(dataset: str,
               export: Path = typer.Option(..., "--export", help="folder for data.csv, splits-r<R>.json, "
                                           "manifest.json, README.md"),
               split: Optional[str] = typer.Option(None, "--split", help="split protocol (default: the dataset's)"),
               folds: int = typer.Option(5, "--folds"), repeats: int = typer.Option(3, "--repeats"),
               seed: int = typer.Option(0, "--seed", help="repeat R uses seed + R, as zoo run"),
               quiet: bool = typer.Option(False, "--quiet", "-q"), as_json: bool = typer.Option(False, "--json")):
    """Write a dataset's folds as zoo run makes them, in a form other tools read (chemprop v2's --splits-file)."""
    from zoo_core.data.export import export_folds

    cfg = {"dataset": dataset, "split": split, "folds": folds, "repeats": repeats, "seed": seed}
    try:
        manifest = export_folds(cfg, export, progress=not quiet)
    except ZooError as error:
        fail(error)
    if as_json:
        print_json(manifest)
        return
    typer.echo(f"{manifest['dataset']}: {manifest['rows']} rows, {manifest['split']} x {manifest['folds']} folds, "
               f"{manifest['repeats']} repeat(s) (seeds {', '.join(map(str, manifest['seeds']))}) -> {export}")
