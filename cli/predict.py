"""``zoo predict`` (your own pairs through a run or published weights) and ``zoo download`` (weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from zoo_cli.app import app, fail, print_json
from zoo_cli.inference import load_for_inference
from zoo_core.device import DEVICE_HELP, resolve_device
from zoo_core.errors import ZooError


@app.command("predict")
def predict_cmd(
    input: Path = typer.Option(..., "--input", "-i", help="CSV with the molecule column(s): one SMILES column for a "
                                                          "molecule model, two for a pair model"),
    output: Path = typer.Option(..., "--output", "-o"),
    run: Optional[Path] = typer.Option(None, "--run", help="a run directory of `zoo run`"),
    weights: Optional[str] = typer.Option(None, "--weights", "-w", help="weights name (e.g. cigin.compsol) or file"),
    columns: Optional[str] = typer.Option(None, "--columns", help="the molecule column(s): SMILES, or A,B for a pair "
                                                                "model; `zoo run`'s form (A,B,Y) works too, the "
                                                                "target is ignored; default: the run's columns"),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    as_json: bool = typer.Option(False, "--json"),
):
    """Predict on your own molecules or pairs; every input row is written back with one prediction column per task
    (classification: probabilities) or a reason, and a warning for molecules outside the training data."""
    from zoo_core.console import warn
    from zoo_core.data.columns import molecule_columns, parse_columns, recorded_columns
    from zoo_core.data.input_file import header_and_first_row
    from zoo_core.models import roles_of
    from zoo_core.predict import predict_csv, predicted_quantity

    if (run is None) == (weights is None):
        fail("give exactly one of --run DIR or --weights NAME", 2)
    try:
        given = parse_columns(columns)
        header, _ = header_and_first_row(input)  # a missing, non-UTF-8, empty or header-only file fails first
        model, spec, meta = load_for_inference(run, weights, resolve_device(device))
        recorded = recorded_columns(run, meta)
        cols, ignored = molecule_columns(given, roles_of(spec), recorded, header)
        if ignored:
            warn(f"predict: molecule column(s) {', '.join(cols)}; ignoring the target name(s) {', '.join(ignored)}")
        elif recorded and cols != recorded[:len(cols)]:
            warn(f"predict: reading column(s) {', '.join(map(repr, cols))} as the model's "
                 f"{', '.join(recorded[:len(cols)])} (--columns chooses others)")
        counts = dict(predict_csv(model, spec, input, output, tuple(cols), meta.get("training_domain")),
                      **predicted_quantity(meta))
    except ZooError as error:
        fail(error)
    if as_json:
        print_json(dict(counts, output=str(output)))
    else:
        typer.echo(f"wrote {output}: {counts['predicted']} of {counts['rows']} rows predicted"
                   + (f" ({counts['target']} in {counts['units']})" if "units" in counts else "")
                   + (f", {counts['failed']} with a reason instead" if counts["failed"] else "")
                   + (f", {counts['warned']} with a warning (outside the training data)" if counts["warned"] else ""))


@app.command("download")
def download_cmd(name: str = typer.Argument(..., help="a weights name from `zoo list weights`"),
                 quiet: bool = typer.Option(False, "--quiet", "-q")):
    """Download weights into the cache (sha256-verified; a local file named by the registry is used in place)."""
    from zoo_core.hub import weights_path

    try:
        path = weights_path(name, progress=not quiet)
    except ZooError as error:
        fail(error)
    typer.echo(str(path))
