"""The zoo's benchmarks (a package, so ``python -m bench.run_bench`` works as well as ``python bench/run_bench.py``).

Bench code reaches the zoo only through zoo_core's public functions and the plugin catalogue
(``zoo_core.plugins.get_catalog``, ``zoo_core.models.build_model``): it imports neither underscore-private core
functions nor plugin modules. Records are written by :mod:`bench.records`.
"""
