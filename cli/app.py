"""The ``zoo`` Typer app, its ``data`` and ``cache`` groups, and the helpers every command module shares.

Only typer and the zoo's error class are imported here: the commands import torch, dgl and rdkit inside their bodies.
Whatever a command lets escape becomes one ``zoo: error: ...`` line on stderr (``--debug`` or ``ZOO_DEBUG=1``: the
traceback instead). Exit status: 0 success, 2 a usage error (an option, config file or input file the zoo refuses,
:class:`~zoo_core.errors.UsageError`, and typer's own option errors), 1 any other failure.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from zoo_core.errors import ZooError


class ZooGroup(TyperGroup):
    """The top-level group: an exception a command lets escape is printed as one ``zoo: error:`` line and exits with
    its ``exit_code`` (1 for one the zoo did not raise on purpose), unless ``--debug`` asks for the traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except Exception as error:
            if ctx.params.get("debug"):
                raise
            fail(error if isinstance(error, ZooError) else
                 f"{type(error).__name__}: {' '.join(str(error).split())} (unexpected; run `zoo --debug ...` for the "
                 f"traceback)")


app = typer.Typer(help="A model zoo for molecular relational learning (pairs of molecules).", cls=ZooGroup,
                  pretty_exceptions_show_locals=False, no_args_is_help=True, add_completion=True)
data_app = typer.Typer(help="Datasets: list them, fetch their files (sha256-verified), export their folds.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")
cache_app = typer.Typer(help="The cache (ZOO_HOME): what it holds, and clearing an area of it.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@app.callback()
def _global_options(debug: bool = typer.Option(False, "--debug", envvar="ZOO_DEBUG",
                                               help="show the traceback of an error instead of one line")) -> None:
    """A model zoo for molecular relational learning (pairs of molecules)."""


def fail(message: str | ZooError, code: int | None = None) -> NoReturn:
    """Print ``zoo: error: MESSAGE`` to stderr and exit with CODE (default: a ZooError's ``exit_code``, else 1)."""
    if code is None:
        code = message.exit_code if isinstance(message, ZooError) else 1
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
        fail(error)


def check_pretrainer(name: str) -> None:
    """Raise ZooError unless the pretrainer's plugin is installed (naming the package to install)."""
    from zoo_core.plugins import get_catalog
    from zoo_core.registry import get_registry

    entry = get_registry().entry("pretrainers", name)
    if entry["impl"] not in get_catalog().implementations["pretrainers"]:
        raise ZooError(f"pretrainer {name!r} is not installed: pip install {entry.get('plugin')}")
