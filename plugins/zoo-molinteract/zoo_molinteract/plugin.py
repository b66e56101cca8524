"""Registers the OGB featurizer, the MolInteract and SchNet encoders, MolInteract pretraining and the catalogue
fragment (lazily: nothing heavy at import)."""

from pathlib import Path

from zoo_core.hookspecs import hookimpl


@hookimpl
def zoo_register_featurizers(register):
    register("ogb9", "zoo_molinteract.ogb_features:OGB9")


@hookimpl
def zoo_register_encoders(register):
    register("molinteract", "zoo_molinteract.encoder:MolInteract")   # towers=both|2d|3d (gin = towers=2d)
    register("schnet", "zoo_molinteract.schnet_encoder:SchNetEncoder")


@hookimpl
def zoo_register_pretrainers(register):
    register("molinteract", "zoo_molinteract.pretrainer:MolInteractPretraining")


@hookimpl
def zoo_registry_files(register):
    register(Path(__file__).with_name("registry.yaml"))
