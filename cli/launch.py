"""``--nproc N`` on ``zoo run`` and ``zoo pretrain``: data-parallel training on N processes of this machine.

Outside torchrun, ``--nproc N`` (N > 1) starts the same command under ``python -m torch.distributed.run
--standalone --nproc-per-node N`` and exits with its status; each process it starts (and each process of a
``torchrun`` the user started, on one machine or several) joins the process group here
(:func:`zoo_core.train.distributed.init_from_env`). See README "Training on N processes / N machines".
"""

from __future__ import annotations

import atexit
import subprocess
import sys

import typer

NPROC_HELP = ("data-parallel training on N processes of this machine (launches torchrun; under torchrun the "
              "processes are torchrun's)")


def torchrun_command(nproc: int, args: list[str]) -> list[str]:
    """The torchrun command line that runs ``zoo ARGS`` (without its ``--nproc``) on ``nproc`` local processes."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "zoo_cli.main", *_without_nproc(args)]


def _without_nproc(args: list[str]) -> list[str]:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def data_parallel(nproc: int | None, device: str) -> bool:
    """Under torchrun: join the process group (True on every rank but 0, whose output is the command's). With
    ``nproc`` > 1 outside torchrun: run this command under torchrun and exit with its status."""
    from zoo_core.train import distributed

    if distributed.launched_by_torchrun():
        distributed.init_from_env(device)
        atexit.register(_leave)
        return not distributed.is_main()
    if nproc and nproc > 1:
        raise typer.Exit(subprocess.call(torchrun_command(nproc, sys.argv[1:])))
    return False


def _leave() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
