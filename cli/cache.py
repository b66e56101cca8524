"""``zoo cache list`` and ``zoo cache clear``: the areas of ZOO_HOME and the pretrained backbones in it."""

from __future__ import annotations

import typer

from zoo_cli.app import cache_app, fail, print_json
from zoo_core.errors import ZooError


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _within_epoch(checkpoint: dict) -> str:
    """`` + 20,160 pairs of epoch 7`` for a checkpoint saved within an epoch, else ``""``."""
    rows = checkpoint.get("next_epoch_pairs") or 0
    return f" + {rows:,} pairs of epoch {checkpoint['epochs_done'] + 1}" if rows else ""


def _run_of(checkpoint: dict) -> str:
    """`` of cigin(mpnn) on combisolv-product, TRANSDUCTIVE, 71,940 pairs; loss 0.094, 1,258 s/epoch, about 31.1 h
    left``: what a checkpoint row of ``zoo cache list`` knows of its run (older checkpoints know less)."""
    from zoo_core.console import duration

    text = f" of {checkpoint['model']}" if checkpoint.get("model") else ""
    if checkpoint.get("pair_set"):
        text += f" on {checkpoint['pair_set']}" + (", TRANSDUCTIVE" if checkpoint.get("transductive") else "")
    if isinstance(checkpoint.get("pairs"), (int, float)):
        text += f", {int(checkpoint['pairs']):,} pairs"
    pace = [f"loss {checkpoint['loss']:.4g}"] if isinstance(checkpoint.get("loss"), (int, float)) else []
    if checkpoint.get("seconds_per_epoch") is not None:
        pace.append(f"{checkpoint['seconds_per_epoch']:,.0f} s/epoch")
    if checkpoint.get("seconds_left") is not None:
        pace.append(f"about {duration(checkpoint['seconds_left'])} left")
    return text + ("; " + ", ".join(pace) if pace else "")


@cache_app.command("list")
def cache_list(as_json: bool = typer.Option(False, "--json")):
    """Each cache area with its size, then the pretrained backbones (model, pair set, budget) and pretraining
    checkpoints."""
    from zoo_core import cache
    from zoo_core.paths import zoo_home

    areas, backbones = cache.usage(), cache.pretrained()
    if as_json:
        print_json({"home": str(zoo_home()), "areas": areas, "pretrained": backbones})
        return
    typer.echo(f"cache: {zoo_home()}")
    for a in areas:
        typer.echo(f"  {a['area']:<11} {a['files']:>6} files {_size(a['bytes']):>9}  {a['description']}")
    if backbones:
        typer.echo("pretrained:")
    for b in backbones:
        if b["status"] == "running":
            typer.echo(f"  {b['key']}  RUNNING: {b['epochs_done']}/{b['epochs']} epochs done{_within_epoch(b)}"
                       f"{_run_of(b)}  {_size(b['bytes'])}  {b['modified']}")
        elif b["status"] == "unfinished":
            typer.echo(f"  {b['key']}  UNFINISHED: {b['epochs_done']}/{b['epochs']} epochs{_within_epoch(b)}"
                       f"{_run_of(b)} "
                       f"(the same command resumes it)  {_size(b['bytes'])}  {b['modified']}")
        elif b["status"] == "checkpoint":
            typer.echo(f"  {b['key']}  checkpoint after {b['epochs_done']} epochs{_run_of(b)} (a longer run of the "
                       f"same settings continues from it)  {_size(b['bytes'])}  {b['modified']}")
        elif b["status"] == "unreadable":
            typer.echo(f"  {b['key']}  UNREADABLE: {b['error']}")
        else:
            flag = ", TRANSDUCTIVE" if b.get("transductive") else ""
            epochs = f"{b['epochs']} epoch{'' if b['epochs'] == 1 else 's'}"
            pairs = f"{b['pairs']:,} pairs" if isinstance(b.get("pairs"), int) else "? pairs"
            typer.echo(f"  {b['key']}  {b['model']} {b['pretrainer']} on {b['pair_set']}{flag}: {epochs} x {pairs}, "
                       f"lr {b['lr']}  {_size(b['bytes'])}  {b['modified']}")


@cache_app.command("clear")
def cache_clear(area: str = typer.Argument(..., help="features, conformers, pretrained, weights or data"),
                keys: list[str] = typer.Option(None, "--key", "-k",
                                               help="pretrained only: delete just this backbone or checkpoint "
                                                    "(key or unique prefix from `zoo cache list`); repeatable"),
                yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation")):
    """Delete one area of the cache, or single pretrained entries with --key (rebuilt on demand: recomputed or
    downloaded again)."""
    from zoo_core import cache

    if area not in cache.AREAS:
        fail(f"unknown cache area {area!r}; one of: {', '.join(cache.AREAS)}")
    if keys and area != "pretrained":
        fail("--key names pretrained backbones and checkpoints; use it with `zoo cache clear pretrained`")
    what = f"the pretrained entries {', '.join(keys)}" if keys else f"the cache's {area} ({cache.AREAS[area]})"
    if not yes and not typer.confirm(f"delete {what}?"):
        fail("nothing deleted")
    try:
        removed = cache.remove_pretrained(keys) if keys else cache.clear(area)
    except ZooError as error:
        fail(error)
    typer.echo(f"removed {removed['files']} files ({_size(removed['bytes'])}) from {removed['path']}")
