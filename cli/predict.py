"""``zoo predict`` (your own pairs through a run or published weights) and ``zoo download`` (weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from zoo_cli.app import app, fail, print_json
from zoo_cli.inference import load_for_inference
from zoo_core.errors import ZooError


@app.command("predict")
def predict_cmd(
    input: Path = typer.Option(..., "--input", "-i", help="CSV with the molecule column(s): one SMILES column for a "
                                                          "molecule model, two for a pair model"),
    output: Path = typer.Option(..., "--output", "-o"),
    run: Optional[Path] = typer.Option(None, "--run", help="a run directory of `zoo run`"),
    weights: Optional[str] = typer.Option(None, "--weights", "-w", help="weights name (e.g. cigin.compsol) or file"),
    columns: Optional[str] = typer.Option(None, "--columns", help="the column(s) holding the molecule(s): SMILES, "
                                                                "or A,B for a pair model"),
    as_json: bool = typer.Option(False, "--json"),
):
    """Predict on your own molecules or pairs; every input row is written back with one prediction column per task
    (classification: probabilities) or a reason."""
    from zoo_core.predict import predict_csv

    if (run is None) == (weights is None):
        fail("give exactly one of --run DIR or --weights NAME")
    try:
        model, spec, meta = load_for_inference(run, weights)
        n_roles = 1 if spec["pair_model"] == "molecule" else 2
        roles = _roles_for(meta.get("dataset"))
        cols = tuple(c.strip() for c in columns.split(",")) if columns else roles
        if not columns and n_roles == 1:
            cols = _single_column(input) or roles
        if cols is None or len(cols) != n_roles:
            fail("cannot tell which column(s) hold the molecule(s): pass --columns "
                 + ("SMILES" if n_roles == 1 else "A,B"))
        counts = predict_csv(model, spec, input, output, cols)
    except ZooError as error:
        fail(str(error))
    if as_json:
        print_json(dict(counts, output=str(output)))
    else:
        typer.echo(f"wrote {output}: {counts['predicted']} of {counts['rows']} rows predicted"
                   + (f", {counts['failed']} with a reason instead" if counts["failed"] else ""))


@app.command("download")
def download_cmd(name: str = typer.Argument(..., help="a weights name from `zoo list weights`"),
                 quiet: bool = typer.Option(False, "--quiet", "-q")):
    """Download weights into the cache (sha256-verified; a local file named by the registry is used in place)."""
    from zoo_core.hub import weights_path

    try:
        path = weights_path(name, progress=not quiet)
    except ZooError as error:
        fail(str(error))
    typer.echo(str(path))



def _roles_for(dataset: str | None) -> tuple[str, str] | None:
    if not dataset:
        return None
    from zoo_core.registry import get_registry

    entry = get_registry().sections["datasets"].get(dataset)
    return tuple(entry["roles"]) if entry else None


def _single_column(path: Path) -> tuple[str] | None:
    """The molecule column of a one-column file, or the column named like SMILES; None when it is ambiguous."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            header = [h.strip() for h in next(csv.reader(f), [])]
    except OSError:
        return None
    if len(header) == 1:
        return (header[0],)
    named = [h for h in header if h.lower() in {"smiles", "smi", "molecule", "mol"}]
    return (named[0],) if len(named) == 1 else None
