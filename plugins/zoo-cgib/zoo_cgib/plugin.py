"""Registers the CGIB and CGIB_cont pair models (lazily: nothing heavy at import)."""

from zoo_core.hookspecs import hookimpl


@hookimpl
def zoo_register_pair_models(register):
    register("cgib", "zoo_cgib.cgib:CGIB")
    register("cgib_cont", "zoo_cgib.cgib:CGIBCont")
