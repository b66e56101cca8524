"""The ``zoo`` Typer app, its ``data`` and ``cache`` groups, and the helpers every command module shares.

Only typer and the zoo's error class are imported here: the commands import torch, dgl and rdkit inside their bodies.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from zoo_core.errors import ZooError

app = typer.Typer(help="A model zoo for molecular relational learning (pairs of molecules).",
                  pretty_exceptions_show_locals=False, no_args_is_help=True, add_completion=True)
data_app = typer.Typer(help="Datasets: list them and fetch their files (sha256-verified).", no_args_is_help=True)
app.add_typer(data_app, name="data")
cache_app = typer.Typer(help="The cache (ZOO_HOME): what it holds, and clearing an area of it.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def fail(message: str, code: int = 1) -> None:
    """Print ``zoo: error: MESSAGE`` to stderr and exit with CODE."""
    typer.echo(f"zoo: error: {message}", err=True)
    raise typer.Exit(code)


def print_json(obj: Any) -> None:
    """The machine-readable result of a command (``--json``), on stdout."""
    typer.echo(json.dumps(obj, indent=2, sort_keys=False, default=str))


def parse_params(values: list[str] | None, what: str) -> dict[str, Any]:
    """KEY=VALUE options (``--pretrain-param``, ``--encoder-param``...) as a dict; a malformed one fails the command."""
    from zoo_core.train.run import parse_key_values

    try:
        return parse_key_values(values, what)
    except ZooError as error:
        fail(str(error))


def check_pretrainer(name: str) -> None:
    """Raise ZooError unless the pretrainer's plugin is installed (naming the package to install)."""
    from zoo_core.plugins import get_catalog
    from zoo_core.registry import get_registry

    entry = get_registry().entry("pretrainers", name)
    if entry["impl"] not in get_catalog().implementations["pretrainers"]:
        raise ZooError(f"pretrainer {name!r} is not installed: pip install {entry.get('plugin')}")
