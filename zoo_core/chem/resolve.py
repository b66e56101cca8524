"""The one place a featurizer name becomes a featurizer: the plugin catalog's registration, instantiated once per
process. Model specs, the molecule store, weight checks and ``zoo predict`` all go through here."""

from __future__ import annotations

import functools
from typing import Any

from zoo_core.errors import RegistryError


@functools.lru_cache(maxsize=None)
def get_featurizer(name: str):
    """The featurizer registered as ``name`` (``zoo_register_featurizers``), instantiated once."""
    from zoo_core.plugins import get_catalog

    catalog = get_catalog()
    try:
        registration = catalog.get("featurizers", name)
    except KeyError:
        known = ", ".join(sorted(catalog.implementations["featurizers"]))
        raise RegistryError(f"no featurizer named {name!r} is installed (installed: {known}); see `zoo plugins`"
                            ) from None
    return registration.load()()


def featurizer_spec(name: str, explicit_h: bool) -> dict[str, Any]:
    """The spec (name, version, dims, hydrogen mode) that weights and caches record for featurizer ``name``."""
    return get_featurizer(name).spec(explicit_h)
