"""Registers the I2Mole pair model and its catalogue fragment (lazily: nothing heavy at import)."""

from pathlib import Path

from zoo_core.hookspecs import hookimpl


@hookimpl
def zoo_register_pair_models(register):
    register("i2mole", "zoo_i2mole.i2mole:I2Mole")


@hookimpl
def zoo_registry_files(register):
    register(Path(__file__).with_name("registry.yaml"))
