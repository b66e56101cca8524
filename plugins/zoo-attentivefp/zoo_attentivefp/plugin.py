"""Registers the AttentiveFP encoder (lazily: nothing heavy at import)."""

from zoo_core.hookspecs import hookimpl


@hookimpl
def zoo_register_encoders(register):
    register("attentivefp", "zoo_attentivefp.attentivefp:AttentiveFP")
