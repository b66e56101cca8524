"""zoo-datasets: readers for the zoo's pair datasets and the embedded FreeSolv default.

The catalogue entries (``datasets:`` in the zoo's ``registry.yaml``) name a reader registered here by
``impl`` and describe the file (columns, roles, transform, source URL and sha256). Locating, hashing and
downloading files is the core's job (``zoo_core.data.datasets``); this package only parses.

Importing this package is cheap: nothing heavy is imported until a reader runs.
"""

__version__ = "0.1.0"
