"""Registers the 3DMRL pretrainer (lazily: nothing heavy at import)."""

from zoo_core.hookspecs import hookimpl


@hookimpl
def zoo_register_pretrainers(register):
    register("3dmrl", "zoo_3dmrl.pretrainer:ThreeDMRL")
