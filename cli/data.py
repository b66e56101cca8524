"""``zoo data list`` and ``zoo data fetch``: the datasets and their source files."""

from __future__ import annotations

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
