"""``zoo plugin new NAME``: write a working plugin package (cli/plugin_template.py) for a new encoder."""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from typing import Optional

import typer

from zoo_cli.app import app, fail, print_json

plugin_app = typer.Typer(help="Write a new plugin package: `zoo plugin new NAME`.", no_args_is_help=True)
app.add_typer(plugin_app, name="plugin")

NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")


def check_name(name: str) -> None:
    """Refuse (exit 2) a name that is not a lowercase identifier or that the registry already uses."""
    from zoo_core.plugins import get_catalog
    from zoo_core.registry import get_registry

    if not NAME_RE.fullmatch(name) or keyword.iskeyword(name) or name.endswith("_"):
        fail(f"invalid plugin name {name!r}: use lowercase letters, digits and '_', starting with a letter, at "
             f"most 40 (it names the encoder, the package zoo_NAME and the distribution zoo-NAME)", 2)
    taken = [entry.section for entry in get_registry().find(name)]
    taken += ["an encoder implementation"] if name in get_catalog().implementations["encoders"] else []
    if taken:
        fail(f"{name!r} is already a registry name ({', '.join(taken)}); choose another name", 2)


def class_name(name: str) -> str:
    """``my_gin`` -> ``MyGinEncoder``."""
    return "".join(part.capitalize() for part in name.split("_")) + "Encoder"


@plugin_app.command("new")
def new_cmd(name: str = typer.Argument(..., help="the encoder's name, e.g. mygin (lowercase, digits, '_')"),
            folder: Optional[Path] = typer.Option(None, "--dir", help="the package folder to write (default: "
                                                                     "./zoo-NAME); it must not exist or be empty"),
            as_json: bool = typer.Option(False, "--json")):
    """Write the package zoo-NAME: a pyproject (build system, entry point, package data), the hooks, a registry fragment, a
    GIN-style encoder that handles molecules with no bonds, and a conformance test."""
    from zoo_cli.plugin_template import render

    check_name(name)
    dist = "zoo-" + name.replace("_", "-")
    root = folder if folder is not None else Path(dist)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        fail(f"{root} already exists; nothing was written (remove it or give another --dir)", 2)
    files = render(name, dist, class_name(name))
    try:
        for relative, text in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as error:
        fail(f"cannot write {root}: {error}")
    if as_json:
        print_json({"folder": str(root), "distribution": dist, "files": sorted(files)})
        return
    typer.echo(f"wrote {root}: {', '.join(sorted(files))}\nnext: pip install -e {root}[test] && pytest {root}/tests "
               f"&& zoo run --encoder {name} --dataset freesolv --epochs 2")
