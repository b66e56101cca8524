"""The zoo's plugin interfaces (pluggy hookspecs). Every hook receives a ``register`` callback.

A plugin is a module exposed through the entry-point group ``zoo`` that implements some of these
functions, decorated with ``zoo_core.hookimpl``.
"""

import pluggy

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def zoo_register_encoders(register):
    """Register single-molecule encoders: ``register(name, factory)``; factory(**params) -> Encoder."""


@hookspec
def zoo_register_pair_models(register):
    """Register pair models: ``register(name, factory)``; factory(encoder_factory, **params) -> PairModel."""


@hookspec
def zoo_register_pretrainers(register):
    """Register pretraining strategies: ``register(name, factory)``."""


@hookspec
def zoo_register_datasets(register):
    """Register dataset readers: ``register(name, reader)``; reader(entry, path) -> PairTable."""


@hookspec
def zoo_register_featurizers(register):
    """Register featurizers: ``register(name, factory)``; factory() -> Featurizer."""


@hookspec
def zoo_registry_files(register):
    """Register YAML catalogue fragments: ``register(path)``; merged with conflict detection."""


@hookspec
def zoo_register_commands(app):
    """Add CLI commands to the Typer ``app`` (e.g. ``app.add_typer(sub_app, name=...)``)."""
