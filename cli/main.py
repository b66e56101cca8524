"""The ``zoo`` command line. Results go to stdout (``--json`` for machines); progress and logs to stderr.

One module per command group; importing them registers their commands on the app, in the order ``zoo --help``
lists them. Listing commands read only entry-point metadata and YAML: torch, dgl and rdkit are imported inside the
commands that need them.
"""

from __future__ import annotations

import importlib
import sys

import typer

from zoo_cli.app import app
from zoo_core.errors import ZooError

__all__ = ["app", "main"]

# `zoo --help` order
COMMAND_MODULES = ("catalog", "data", "cache", "run", "merge", "pretrain", "predict", "explain", "plugin")
for _module in COMMAND_MODULES:
    importlib.import_module(f"zoo_cli.{_module}")


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
