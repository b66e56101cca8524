"""The core's own plugin: the built-in featurizers, registered like any third party's."""

from zoo_core.hookspecs import hookimpl


@hookimpl
def zoo_register_featurizers(register):
    register("mrl56", "zoo_core.chem.featurizers:MRL56")
    register("cgib52", "zoo_core.chem.featurizers:CGIB52")
    register("cigin42", "zoo_core.chem.featurizers:CIGIN42")
    register("chemprop133", "zoo_core.chem.featurizers:Chemprop133")


@hookimpl
def zoo_register_pair_models(register):
    register("molecule", "zoo_core.nn.molecule_model:MoleculeModel")
