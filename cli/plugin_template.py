'''The files of a new plugin package, as ``zoo plugin new NAME`` writes them (tokens ``__NAME__`` for the encoder
and entry-point name, ``__DIST__`` for the distribution ``zoo-name``, ``__CLASS__`` for the encoder class).

Everything docs/PLUGINS.md asks of a plugin is here once, so a third party starts from a package that builds,
ships its registry fragment in the wheel, registers lazily, passes the conformance kit and handles molecules
with no bonds.
'''

from __future__ import annotations

FILES: dict[str, str] = {}

FILES["pyproject.toml"] = '''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "__DIST__"
version = "0.1.0"
description = "The __NAME__ encoder for the molecular-relational-learning zoo."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["zoo-core>=0.1"]

[project.optional-dependencies]
# late_fusion, the pair model `zoo run --encoder __NAME__` uses on a pair dataset, comes with zoo-mpnn
test = ["pytest>=7", "zoo-mpnn"]

[project.entry-points.zoo]
__NAME__ = "zoo___NAME__.plugin"

[tool.setuptools]
packages = ["zoo___NAME__"]

[tool.setuptools.package-data]
# without this line a wheel loses the registry fragment, and the zoo does not know the encoder
zoo___NAME__ = ["registry.yaml"]
'''

FILES["README.md"] = '''\
# __DIST__

The `__NAME__` encoder for the zoo, written by `zoo plugin new __NAME__`: a GIN-style graph network with bond
features, registered as a plugin (entry point `__NAME__` of the group `zoo`).

    pip install -e .[test]       # or: pip wheel --no-deps . && pip install __DIST__-*.whl
    pytest tests                 # registration and the zoo's conformance kit
    zoo list encoders            # __NAME__ is listed, available
    zoo run --encoder __NAME__ --dataset freesolv --epochs 2

What goes where: `zoo___NAME__/encoder.py` the model, `cls(in_dim, edge_dim, **params)`; `zoo___NAME__/registry.yaml`
its catalogue entry (featurizer, default `params`); `zoo___NAME__/plugin.py` the hooks that register both. Keep the
three names equal to the registry entry's `impl`. Encoders must handle molecules with no bonds (`[Na+]`, or water
without explicit hydrogens: a graph with zero edges); the conformance test checks it.
`ZOO_DISABLE_PLUGINS=__NAME__` (or `__DIST__`) switches the plugin off; `ZOO_STRICT_PLUGINS=1` turns its warnings
into errors. The guide: docs/PLUGINS.md of the zoo.
'''

FILES["zoo___NAME__/__init__.py"] = '''\
"""__DIST__: the __NAME__ encoder for the zoo (registered by zoo___NAME__.plugin)."""
'''

FILES["zoo___NAME__/plugin.py"] = '''\
"""Entry point of __DIST__ (group ``zoo``): registers the __NAME__ encoder and its registry fragment.

Registered lazily ("module:attr"), so that zoo --help, zoo list and zoo plugins never import torch.
"""

from pathlib import Path

from zoo_core.hookspecs import hookimpl


@hookimpl
def zoo_register_encoders(register):
    register("__NAME__", "zoo___NAME__.encoder:__CLASS__")  # cls(in_dim, edge_dim, **params)


@hookimpl
def zoo_registry_files(register):
    register(Path(__file__).with_name("registry.yaml"))  # package data: see pyproject.toml
'''

FILES["zoo___NAME__/registry.yaml"] = '''\
# The catalogue entries of __DIST__, merged into the zoo's registry. `impl` is the name plugin.py registers;
# `params` are the encoder's keyword arguments (zoo run --encoder-param KEY=VALUE overrides them).
encoders:
  __NAME__:
    impl: __NAME__
    plugin: __DIST__
    featurizer: mrl56
    params: {hidden: 64, layers: 3}
    description: GIN-style encoder with bond features (written by zoo plugin new)
    paper: Xu et al. 2019 (ICLR), GIN; bond features as in Hu et al. 2020 (ICLR)
'''

FILES["zoo___NAME__/encoder.py"] = '''\
"""A GIN-style encoder with bond features (Xu et al. 2019; Hu et al. 2020):

    h0 = W x;   for each layer l:   h = ReLU(MLP_l((1 + eps_l) h + sum over bonds j->i of ReLU(h_j + W_l e_ji)))

A molecule with no bonds (a graph with zero edges) gets an empty sum, so its atoms keep their own update.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo_core.nn.base import Encoder
from zoo_core.nn.mlp import MLP
from zoo_core.nn.segment import index_add_rows


class __CLASS__(Encoder):
    """Node embeddings ``[N, hidden]`` of a batched molecule graph (``g.ndata['x']``, ``g.edata['e']``)."""

    def __init__(self, in_dim: int, edge_dim: int, hidden: int = 64, layers: int = 3):
        super().__init__()
        self.out_dim = hidden
        self.embed = nn.Linear(in_dim, hidden)
        self.bond = nn.ModuleList(nn.Linear(edge_dim, hidden) for _ in range(layers))
        self.update = nn.ModuleList(MLP([hidden, hidden, hidden]) for _ in range(layers))
        self.eps = nn.Parameter(torch.zeros(layers))

    def forward(self, g) -> torch.Tensor:
        h = self.embed(g.ndata["x"])
        src, dst = g.edges()
        src, dst = src.long(), dst.long()
        for eps, bond, update in zip(self.eps, self.bond, self.update):
            messages = torch.relu(h[src] + bond(g.edata["e"]))  # [edges, hidden]: zero rows without bonds
            summed = index_add_rows(torch.zeros_like(h), dst, messages)
            h = torch.relu(update((1 + eps) * h + summed))
        return h
'''

FILES["tests/conftest.py"] = '''\
"""The tests use a fresh ZOO_HOME: nothing is written into your zoo cache."""

import os
import tempfile

os.environ["ZOO_HOME"] = tempfile.mkdtemp(prefix="zoo-test-home-")
'''

FILES["tests/test___NAME__.py"] = '''\
"""__NAME__: registered with its registry entry, and conformant (zoo_core.testing: shapes, gradients, atom order,
batching, no leakage across pairs, save/load; the test molecules include ones with no bonds)."""

import pytest

from zoo_core.models import model_spec
from zoo_core.plugins import get_catalog
from zoo_core.registry import get_registry
from zoo_core.testing import check_all, conformance_spec


def test_registered_with_its_registry_entry():
    assert "__NAME__" in get_catalog().implementations["encoders"]
    assert get_registry().entry("encoders", "__NAME__")["impl"] == "__NAME__"


def test_conformance_in_the_molecule_model():
    check_all(conformance_spec("molecule", "__NAME__", task="regression"))


def test_conformance_as_the_encoder_of_a_pair_model():
    if "late_fusion" not in get_catalog().implementations["pair_models"]:
        pytest.skip("late_fusion comes with zoo-mpnn: pip install zoo-mpnn")
    check_all(model_spec("__NAME__", task="regression"))  # late_fusion over two __NAME__ encoders
'''


def render(name: str, dist: str, class_name: str) -> dict[str, str]:
    """Relative path -> text of every file of the plugin ``name``."""
    def fill(text: str) -> str:
        return text.replace("__DIST__", dist).replace("__CLASS__", class_name).replace("__NAME__", name)

    return {fill(path): fill(text) for path, text in FILES.items()}
