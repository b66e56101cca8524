"""Pretraining orchestration for ``zoo pretrain`` and ``zoo run --pretrainer NAME``.

Pair sets (``--pairs``): ``train_split`` (default for ``zoo run``: the pairs of the current fold's training part,
so no test pair is seen, METHODS §10 item 2), or the name of any registry dataset (e.g. ``solvation-qm``), or
``<dataset>:product`` (every unique A molecule x every unique B molecule of a dataset, the 3DMRL label-free
product; it contains test molecules without labels, i.e. it is transductive). ``--pairs-ratio`` subsamples
with a fixed seed (3DMRL: 20 % for solvation, 1 % for chromophores).

Pretrained backbones are cached under ``ZOO_HOME/pretrained/<key>.safetensors``, keyed by the model spec, the
pretrainer and its parameters, the exact pair list, epochs, batch size, learning rate and seed: a second run on
the same data reuses them instead of pretraining again.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core.errors import ZooError
from zoo_core.paths import zoo_home

DEFAULTS = {"pretrain_epochs": 100, "pretrain_batch_size": 48, "pretrain_lr": None, "pretrain_params": {},
            "pairs": "train_split", "pairs_ratio": 1.0}


def pair_set(source: str, ratio: float = 1.0, seed: int = 0) -> list[tuple[str, str]]:
    """The pretraining pairs named by ``source`` (a dataset name or ``dataset:product``), subsampled to ``ratio``."""
    from zoo_core.data.datasets import load_table

    name, _, mode = source.partition(":")
    table = load_table(name)
    if mode == "product":
        a, b = sorted(set(table.a)), sorted(set(table.b))
        pairs = [(x, y) for x in a for y in b]
    elif mode:
        raise ZooError(f"unknown pair-set mode {mode!r} in {source!r} (use DATASET or DATASET:product)")
    else:
        pairs = list(dict.fromkeys(zip(table.a, table.b)))
    if ratio < 1.0:
        keep = np.random.RandomState(seed).permutation(len(pairs))[: max(1, int(round(ratio * len(pairs))))]
        pairs = [pairs[i] for i in sorted(keep)]
    return pairs


def _key(spec: dict, pretrainer: str, params: dict, pairs: list, epochs: int, batch: int, lr: float, seed: int) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([spec, pretrainer, params, epochs, batch, lr, seed], sort_keys=True).encode())
    for a, b in pairs:
        digest.update(f"{a}\t{b}\n".encode())
    return digest.hexdigest()[:24]


def pretrained_backbone(pretrainer: str, spec: dict, pairs: list[tuple[str, str]], epochs: int, batch_size: int,
                        lr: float, seed: int, params: dict | None = None, quiet: bool = False,
                        out: Path | None = None) -> tuple[Path, bool]:
    """Path of backbone weights pretrained with ``pretrainer`` on ``pairs`` (from the cache when present) and
    whether they were reused. ``out`` also copies the file there."""
    from zoo_core.plugins import get_catalog
    from zoo_core.registry import get_registry
    from zoo_core.train.trainer import log

    entry = get_registry().entry("pretrainers", pretrainer)
    params = {**entry.params, **(params or {})}
    path = zoo_home() / "pretrained" / f"{_key(spec, pretrainer, params, pairs, epochs, batch_size, lr, seed)}.safetensors"
    reused = path.exists()
    if reused:
        log(f"zoo: reusing pretrained backbone {path}", quiet)
    else:
        cls = get_catalog().get("pretrainers", entry["impl"]).load()
        log(f"zoo: pretraining {spec['pair_model']}({spec['encoder']}) with {pretrainer} on {len(pairs)} pairs, "
            f"{epochs} epochs", quiet)
        t0 = time.perf_counter()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part.safetensors")
        cls.pretrain(spec, pairs, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, out=str(tmp),
                     params=params, progress=not quiet)
        tmp.replace(path)
        log(f"zoo: pretrained in {time.perf_counter() - t0:.1f} s -> {path}", quiet)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(path.read_bytes())
    return path, reused


def load_backbone(model, path: str | Path, spec: dict) -> None:
    """Load pretrained backbone weights into ``model`` (same model spec; the featurizer must match)."""
    from safetensors.torch import load_model

    from zoo_core.weights import check_featurizer, read_metadata

    saved, _ = read_metadata(path)
    check_featurizer(spec["featurizer"], saved["featurizer"], str(path))
    if (saved["pair_model"], saved["encoder"]) != (spec["pair_model"], spec["encoder"]):
        raise ZooError(f"{path}: pretrained for {saved['pair_model']}({saved['encoder']}), "
                       f"not {spec['pair_model']}({spec['encoder']})")
    load_model(model, str(path), strict=True)


def default_lr(dataset_entry: Any) -> float:
    """3DMRL pretraining learning rate: 5e-4 for chromophores, 1e-4 for solvation (METHODS §7.4)."""
    roles = list(dataset_entry.get("roles") or [])
    return 5e-4 if roles and roles[0] == "chromophore" else 1e-4
