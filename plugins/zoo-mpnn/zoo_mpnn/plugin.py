"""Registers the gather MPNN encoder and the late_fusion pair model (lazily: nothing heavy at import)."""

from zoo_core.hookspecs import hookimpl


@hookimpl
def zoo_register_encoders(register):
    register("mpnn", "zoo_mpnn.mpnn:GatherMPNN")


@hookimpl
def zoo_register_pair_models(register):
    register("late_fusion", "zoo_mpnn.late_fusion:LateFusion")
