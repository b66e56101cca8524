"""The zoo's plugin interfaces (pluggy hookspecs, project name ``zoo``). Every hook receives a ``register`` callback.

A plugin is a module named by an entry point of the group ``zoo`` (``[project.entry-points.zoo]`` in its
pyproject.toml) that implements some of these functions, each decorated with ``hookimpl``:
``from zoo_core.hookspecs import hookimpl``. Register factories lazily, as ``"module:attr"`` strings, so that
``zoo --help``, ``zoo list`` and ``zoo plugins`` never import torch, DGL or RDKit. An encoder, pair model or
pretrainer is usable only through a registry entry whose ``impl`` is its registered name: ship a registry
fragment (``zoo_registry_files``) as package data, or the zoo warns (``ZOO_STRICT_PLUGINS=1``: raises).
``ZOO_DISABLE_PLUGINS=a,b`` skips plugins by entry-point name (``mygin``) or distribution name (``zoo-mygin``).
``zoo plugin new NAME`` writes a working plugin; docs/PLUGINS.md is the guide.
"""

import pluggy

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def zoo_register_encoders(register):
    """Register single-molecule encoders: ``register(name, factory)``, factory ``cls(in_dim, edge_dim, **params)``
    -> :class:`zoo_core.nn.base.Encoder` (``forward(g) -> [N, out_dim]`` node embeddings; ``params`` from the
    registry entry). Encoders must handle molecules with no bonds (``[Na+]``; ``O`` or ``Cl`` without explicit
    hydrogens: graphs with zero edges) and batches mixing them with bonded ones; ``zoo_core.testing.check_all``
    includes them."""


@hookspec
def zoo_register_pair_models(register):
    """Register pair models: ``register(name, factory)``, factory ``cls(encoder_factory, n_tasks=1, **params)`` ->
    :class:`zoo_core.nn.base.PairModel` (``forward(batch) -> PairOutput``); ``encoder_factory()`` builds one
    encoder (call it once per molecule role, or once for shared weights)."""


@hookspec
def zoo_register_pretrainers(register):
    """Register pretraining strategies: ``register(name, cls)``, a subclass of
    :class:`zoo_core.train.pretrainer.Pretrainer` (the core owns the loop; docs/PLUGINS.md)."""


@hookspec
def zoo_register_datasets(register):
    """Register dataset readers: ``register(name, reader)``; ``reader(entry, path)`` -> a
    ``zoo_core.data.table.PairTable`` or ``MolTable`` (named by a registry dataset's ``impl``)."""


@hookspec
def zoo_register_featurizers(register):
    """Register featurizers: ``register(name, factory)``; ``factory()`` -> Featurizer."""


@hookspec
def zoo_registry_files(register):
    """Register YAML catalogue fragments: ``register(path)``; merged with the zoo's registry, conflicts detected.
    Ship the file as package data, or a wheel of the plugin loses it."""


@hookspec
def zoo_register_commands(app):
    """Add CLI commands to the Typer ``app`` (e.g. ``app.add_typer(sub_app, name=...)``)."""
