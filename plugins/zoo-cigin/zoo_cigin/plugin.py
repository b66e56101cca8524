"""Registers the CIGIN pair model (lazily: nothing heavy at import)."""

from zoo_core.hookspecs import hookimpl


@hookimpl
def zoo_register_pair_models(register):
    register("cigin", "zoo_cigin.cigin:CIGIN")
