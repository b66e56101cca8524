"""``zoo explain``: which atoms drive a prediction, as a picture and as numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from zoo_cli.app import app, fail, print_json
from zoo_cli.inference import load_for_inference
from zoo_core.errors import ZooError


@app.command("explain")
def explain_cmd(
    solute: str = typer.Option(..., "--a", "--solute", "--chromophore", "--drug-a",
                               help="molecule A SMILES, by its role in the model's dataset (solute, chromophore, "
                               "drug_a) or as --a; the picture and the output name the roles recorded with the model"),
    solvent: str = typer.Option(..., "--b", "--solvent", "--drug-b",
                                help="molecule B SMILES (solvent, drug_b) or as --b"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="picture to write (.png or .svg)"),
    run: Optional[Path] = typer.Option(None, "--run", help="a run directory of `zoo run`"),
    weights: Optional[str] = typer.Option(None, "--weights", "-w", help="weights name or file"),
    as_json: bool = typer.Option(False, "--json", help="print the numbers (importances, map, prediction)"),
    colour_by: str = typer.Option("model", "--colour-by", help="colours of molecule A: 'model' (CGIB: its gate's "
                                  "keep probability; CIGIN: the map) or 'map' (row sums of the interaction map)"),
):
    """Draw which atoms drive a prediction: atoms coloured by importance and the atom-by-atom interaction map."""
    from zoo_core.explain import draw_explanation, explain_pair

    if (run is None) == (weights is None):
        fail("give exactly one of --run DIR or --weights NAME", 2)
    if output is None and not as_json:
        fail("give --output picture.png|svg, --json, or both", 2)
    if output is not None and output.suffix.lower() not in {".png", ".svg"}:
        fail(f"{output}: the picture must end in .png or .svg", 2)
    try:
        model, spec, meta = load_for_inference(run, weights)
        result = explain_pair(model, spec, solute, solvent, colour_by, meta)
        if output is not None:
            draw_explanation(result, output)
    except ZooError as error:
        fail(error)
    for warning in result.get("warnings", []):
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        print_json(result)
    else:
        typer.echo(_summary(result, output))


def _summary(result: dict, output: Path) -> str:
    """One line: the prediction (classification: the probability) and the molecules by their roles."""
    value = result.get("probability", result.get("prediction"))
    values = ", ".join(f"{v:.4g}" for v in value) if isinstance(value, list) else f"{value:.4g}"
    roles = result.get("roles") or ["A", "B"]
    return (f"{'probability' if 'probability' in result else 'prediction'} {values} for {roles[0]} "
            f"{result['smiles_a']} and {roles[1]} {result['smiles_b']}; wrote {output}")
