"""zoo_core: the core of the molecular-relational-learning model zoo.

Importing this package is cheap: torch, dgl and rdkit are imported only by the modules that need them.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "load_pretrained"]


def load_pretrained(name: str, **kwargs):
    """Return a ready, eval-mode model for the registry weights entry ``name`` (e.g. ``cigin.compsol``)."""
    from zoo_core.hub import load_pretrained as _load

    return _load(name, **kwargs)

from zoo_core.hookspecs import hookimpl  # noqa: E402  (light: pluggy only)

__all__.append("hookimpl")
