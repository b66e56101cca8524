"""The one place that imports DGL (ARCHITECTURE §8).

PyPI's last DGL (2.1.0) ships GraphBolt libraries only for torch <= 2.2.1, and importing ``dgl`` imports
``dgl.graphbolt``. The zoo does not use GraphBolt, so when the library matching the installed torch is
missing, a stand-in module is installed for ``dgl.graphbolt`` before ``dgl`` is imported. ``import dgl`` also
imports pandas (through ``dgl.data``) without declaring it, so zoo-core depends on pandas. ``dgl.sparse``
is never imported. Without a backend setting DGL writes ``~/.dgl/config.json`` on first import and prints to
stdout (which broke ``zoo run --json`` on a fresh machine and wrote outside the zoo's folders), so the backend is
chosen through ``DGLBACKEND=pytorch`` unless the user set it. Everything else in the zoo does
``from zoo_core.dglcompat import dgl``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

SUPPORTED = "dgl 2.1.x with torch >= 2.1 on Python 3.11-3.12"


def _graphbolt_library_present() -> bool:
    spec = importlib.util.find_spec("dgl")
    if spec is None or spec.origin is None:
        return False
    import torch

    version = torch.__version__.split("+")[0]
    folder = os.path.join(os.path.dirname(spec.origin), "graphbolt")
    return os.path.exists(os.path.join(folder, f"libgraphbolt_pytorch_{version}.so"))


def _install_graphbolt_stand_in() -> None:
    stub = types.ModuleType("dgl.graphbolt")
    stub.__path__ = []  # a package, so "from dgl.graphbolt import x" fails with a clear AttributeError

    def __getattr__(name: str):
        raise AttributeError(
            f"dgl.graphbolt.{name} is unavailable: the zoo runs DGL without GraphBolt "
            f"(no GraphBolt library for this torch); see zoo_core.dglcompat")

    stub.__getattr__ = __getattr__
    sys.modules["dgl.graphbolt"] = stub


def load_dgl():
    """Import and return ``dgl``, installing the GraphBolt stand-in when needed."""
    if "dgl" in sys.modules and hasattr(sys.modules["dgl"], "batch"):
        return sys.modules["dgl"]
    try:
        import packaging  # noqa: F401  (DGL falls back to setuptools.extern without it)
    except ImportError as error:
        raise ImportError(f"the zoo needs the 'packaging' package to load DGL ({SUPPORTED})") from error
    os.environ.setdefault("DGLBACKEND", "pytorch")
    if "dgl.graphbolt" not in sys.modules and not _graphbolt_library_present():
        _install_graphbolt_stand_in()
    try:
        import dgl as module
    except Exception as error:  # any failure here is an environment problem; say which versions work
        raise ImportError(f"DGL failed to load ({type(error).__name__}: {error}). Supported: {SUPPORTED}; "
                          f"install with: pip install 'dgl==2.1.*'") from error
    return module


dgl = load_dgl()
