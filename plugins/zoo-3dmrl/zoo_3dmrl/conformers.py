"""Moved to :mod:`zoo_core.chem.conformers` (issue 34); this alias remains for bench/pretrain_bench.py, which
imports ``zoo_3dmrl.conformers.build_conformers``. New code imports from the core."""

from zoo_core.chem.conformers import build_conformers, cache_dir, embed  # noqa: F401
