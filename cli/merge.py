"""``zoo merge``: one run directory from runs of one configuration that each trained some folds."""

from __future__ import annotations

from pathlib import Path

import typer

from zoo_cli.app import app, fail
from zoo_core.errors import ZooError


@app.command("merge")
def merge_cmd(
    run_dirs: list[Path] = typer.Argument(..., help="run directories of one configuration, e.g. one `zoo run "
                                                    "--only-fold K` job per fold"),
    output: Path = typer.Option(..., "--output", "-o", help="the merged run directory to create"),
    as_json: bool = typer.Option(False, "--json"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Merge fold jobs (`zoo run --only-fold K`, e.g. on a cluster) into one run directory with metrics.json and
    predictions.csv, as one run of all their folds would write."""
    from zoo_cli.run import report_run
    from zoo_core.train.merge import merge_runs

    try:
        run_dir, metrics = merge_runs(list(run_dirs), output, quiet=quiet)
    except ZooError as error:
        fail(error)
    report_run(run_dir, metrics, as_json)
