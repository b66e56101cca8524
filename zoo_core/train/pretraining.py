"""Pretraining orchestration for ``zoo pretrain`` and ``zoo run --pretrainer NAME``.

Pair sets (``--pairs`` / ``--pretrain-pairs``) are registry entries (section ``pair_sets``, built by
``zoo_core.data.pair_sets``; ``zoo list pair-sets``): ``train-split`` (default: the pairs of the current fold's
training part, so no test pair is seen, METHODS §10 item 2), ``combisolv-product`` and ``chromophore-product``
(3DMRL's label-free products; TRANSDUCTIVE: they hold the test molecules without labels), ``solvation-qm``.
The old spellings ``DATASET`` and ``DATASET:product`` still work. ``--pairs-ratio`` overrides an entry's
seeded subsample ratio.

Pretrained backbones are cached under ``ZOO_HOME/pretrained/<key>.safetensors``, keyed by the model spec, the
pretrainer and its parameters, the pair-set name and exact pair list, epochs, batch size, learning rate and seed:
a second run on the same data reuses them instead of pretraining again. The spec's target-scaling keys
(:data:`KEY_EXCLUDED`) are fine-tuning settings: they are left out of the key and of the pretrained model, and
:func:`load_backbone` leaves a fine-tuning model's target scaler as it is. A lock file per run key (the key without
the epoch count, below) makes concurrent processes (benchmark workers) wait for one pretraining instead of
repeating it, and keeps two runs from writing one checkpoint; a backbone already in the cache is read without
it, so a longer pretraining of the same settings never blocks a run that reuses a shorter one. The weight file's
metadata records the pair set (name, builder, transductive flag, ratio, pairs) and the budget.

A pretrainer is a ``zoo_core.train.pretrainer.Pretrainer`` subclass (its data view, auxiliary modules and loss;
the loop is the core's), for pair sets (``target: pair``) or molecule sets (``target: molecule``: ``pairs`` is
then a list of SMILES, keyed one per line). The loop keeps its state after every epoch (and every few minutes
within an epoch) in ``ZOO_HOME/pretrained/.<run key>.checkpoint.safetensors``, where the run key is the
cache key without the epoch count. An interrupted pretraining resumes there when the same command runs again
(within the epoch where it stopped, if it was saved there); the checkpoint stays after the backbone is saved, so a
later run with the same settings and more epochs continues from it instead of starting over (the epochs already
done are the same either way: rows and geometry are drawn from (seed, epoch, row) and nothing depends on the
total). A run asking for fewer epochs than the checkpoint holds (or has begun) pretrains from scratch.

Published backbones: a registry weights entry whose ``pretraining.cache_key`` equals a run's cache key holds the
backbone those settings produce. When the cache has no file for the key, that entry's file (sha256-verified, from
``weights/`` or downloaded) fills it instead of hours of pretraining, and the log says so;
``ZOO_NO_PUBLISHED_BACKBONES=1`` pretrains instead. Backbone files record their key (``cache_key``).

Data-parallel (torchrun): rank 0 looks up the cache, takes the lock and writes the backbone; every rank pretrains
(zoo_core.train.distributed) and returns once the file is there.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import os
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from zoo_core.console import duration
from zoo_core.errors import ZooError
from zoo_core.paths import zoo_home
from zoo_core.train.distributed import barrier, from_main, is_main

DEFAULTS = {"pretrain_epochs": 100, "pretrain_batch_size": 48, "pretrain_lr": None, "pretrain_params": {},
            "pairs": "train-split", "pairs_ratio": None}


def pair_set(source: str, ratio: float | None = None, seed: int | None = None) -> list[tuple[str, str]]:
    """The pairs of a (non train-split) pair set; see :func:`zoo_core.data.pair_sets.resolve`."""
    from zoo_core.data.pair_sets import resolve

    return resolve(source, ratio=ratio, seed=seed).pairs


# Model-spec keys that do not change the pretrained backbone (fine-tuning's regression-target scaling): never in
# the cache key, so adding them to specs keeps every existing key (and published backbone) valid.
KEY_EXCLUDED = ("scale_targets", "target_scaler", "target_scaling", "target_scale")


def _key_spec(spec: Any) -> Any:
    """``spec`` without :data:`KEY_EXCLUDED` keys, at any depth."""
    if isinstance(spec, dict):
        return {k: _key_spec(v) for k, v in spec.items() if k not in KEY_EXCLUDED}
    return spec


def _key(spec: dict, pretrainer: str, params: dict, examples: list, epochs: int, batch: int, lr: float, seed: int,
         set_name: str | None = None) -> str:
    """sha256 (24 hex digits) of the settings and the example list: pairs as ``a\\tb`` lines, molecules as one
    SMILES per line."""
    digest = hashlib.sha256()
    head = [_key_spec(spec), pretrainer, params, epochs, batch, lr, seed] + ([set_name] if set_name else [])
    digest.update(json.dumps(head, sort_keys=True).encode())
    for example in examples:
        if isinstance(example, str):
            digest.update(f"{example}\n".encode())
        else:
            a, b = example
            digest.update(f"{a}\t{b}\n".encode())
    return digest.hexdigest()[:24]


def backbone_key(pretrainer: str, spec: dict, pairs: list, epochs: int, batch_size: int, lr: float, seed: int,
                 params: dict | None = None, set_name: str | None = None) -> str:
    """The cache key of a pretrained backbone (``ZOO_HOME/pretrained/<key>.safetensors``; a published backbone's
    ``pretraining.cache_key``). ``params``: overrides of the pretrainer's registry parameters (``--pretrain-param``),
    merged here as :func:`pretrained_backbone` merges them."""
    from zoo_core.registry import get_registry

    entry = get_registry().entry("pretrainers", pretrainer)
    params = {**entry.params, **(params or {})}
    spec = backbone_spec(spec, _pretrainer_class(entry))
    return _key(spec, pretrainer, params, pairs, epochs, batch_size, lr, seed, set_name)


def _pretrainer_class(entry):
    from zoo_core.plugins import get_catalog

    return get_catalog().get("pretrainers", entry["impl"]).load()


def backbone_spec(spec: dict, cls) -> dict:
    """The spec a backbone is pretrained with: ``spec``, built for one task when the pretrainer leaves the task head
    untrained (``pretrains_head = False``), so one backbone serves any ``--targets`` and its head is not loaded."""
    if getattr(cls, "pretrains_head", True):
        return spec
    return {**{k: v for k, v in spec.items() if k != "tasks"}, "n_tasks": 1}


@contextmanager
def _exclusive(path: Path):
    """Blocking ``fcntl.flock`` on ``path`` (released on exit or process death)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def pretrained_backbone(pretrainer: str, spec: dict, pairs: list[tuple[str, str]], epochs: int, batch_size: int,
                        lr: float, seed: int, params: dict | None = None, quiet: bool = False,
                        out: Path | None = None, pair_set: dict | None = None,
                        compile: bool = False, device: str = "cpu",
                        positions: dict | None = None) -> tuple[Path, bool]:
    """Path of backbone weights pretrained with ``pretrainer`` on ``pairs`` (from the cache when present) and
    whether they were reused. ``out`` also copies the file there. ``pair_set``: the set's ``record()`` (its name
    joins the cache key; the record goes into the weight file's metadata). ``compile``: ask the pretrainer for its
    compiled kernels (an execution setting, not in the cache key; ignored with a note by one without them);
    ``device`` likewise (``auto``, ``cpu``, ``cuda``: :func:`zoo_core.device.resolve_device`). ``positions``: the
    molecules' own geometries ({canonical SMILES: [n, 3]}, e.g. QM9's), for a pretrainer that takes them."""
    from zoo_core.registry import get_registry
    from zoo_core.train.pretrainer import unit
    from zoo_core.train.trainer import log

    entry = get_registry().entry("pretrainers", pretrainer)
    params = {**entry.params, **(params or {})}
    cls = _pretrainer_class(entry)
    spec = backbone_spec(_key_spec(spec), cls)  # no target scaler: one file serves scaled and unscaled fine-tuning
    set_name = (pair_set or {}).get("pair_set")
    key = _key(spec, pretrainer, params, pairs, epochs, batch_size, lr, seed, set_name)
    run_key = _key(spec, pretrainer, params, pairs, None, batch_size, lr, seed, set_name)  # any number of epochs
    path = zoo_home() / "pretrained" / f"{key}.safetensors"
    checkpoint = path.with_name(f".{run_key}.checkpoint.safetensors")
    # A finished backbone is written atomically (tmp.replace), so it is read without the lock: a longer
    # pretraining of the same settings (same run key) holds that lock for hours.
    reused = from_main(path.exists)   # data-parallel: rank 0 decides and takes the lock, every rank pretrains
    if not reused:
        with _exclusive(path.with_name(f".{run_key}.lock")) if is_main() else nullcontext():
            reused = from_main(lambda: path.exists() or _copy_published(key, path, quiet))
            if not reused:
                log(f"zoo: pretraining {spec['pair_model']}({spec['encoder']}) with {pretrainer} on {len(pairs)} "
                    f"{unit(cls)}"
                    + (f" (pair set {set_name}{', TRANSDUCTIVE' if pair_set.get('transductive') else ''})"
                       if set_name else "") + f", {epochs} epochs", quiet)
                _pretrain_into(path, checkpoint, cls, spec, pairs, epochs, batch_size, lr, seed, params,
                               {"cache_key": key, **({"pair_set": pair_set} if pair_set is not None else {})}, quiet,
                               compile, device, positions)
    if reused:
        log(f"zoo: reusing pretrained backbone {path}", quiet)
    if out is not None and is_main():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(path.read_bytes())
    return path, reused


def _copy_published(key: str, path: Path, quiet: bool) -> bool:
    """Copy the published weights of cache key ``key`` (sha256-verified) to ``path``; False when none are."""
    from zoo_core.train.trainer import log

    published = published_backbone(key)
    if published is None:
        return False
    from zoo_core.errors import DownloadError
    from zoo_core.hub import weights_path

    try:
        source = weights_path(published.name, progress=not quiet)  # sha256-verified
    except DownloadError as error:
        raise DownloadError(f"{error} (these pretraining settings are published as weights "
                            f"{published.name!r}; ZOO_NO_PUBLISHED_BACKBONES=1 pretrains instead)") from None
    tmp = path.with_name(f".{key}.{os.getpid()}.part.safetensors")
    tmp.write_bytes(source.read_bytes())
    tmp.replace(path)
    log(f"zoo: these pretraining settings are published as weights {published.name!r} (sha256 verified); "
        f"using them instead of pretraining again (to pretrain yourself, delete {path} and set "
        f"ZOO_NO_PUBLISHED_BACKBONES=1)", quiet)
    return True


def _pretrain_into(path: Path, checkpoint: Path, cls, spec: dict, pairs: list, epochs: int, batch_size: int,
                   lr: float, seed: int, params: dict, meta: dict, quiet: bool, compile: bool = False,
                   device: str = "cpu", positions: dict | None = None) -> None:
    """Run pretrainer ``cls`` and write its backbone atomically to ``path``, resuming from (and updating)
    ``checkpoint`` when the pretrainer supports one and it holds no more than ``epochs`` epochs."""
    from zoo_core.train.checkpoint import checkpoint_meta, checkpoint_progress, epochs_begun
    from zoo_core.train.trainer import log

    t0 = time.perf_counter()
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.part.safetensors")
    kwargs = {}
    accepted = inspect.signature(cls.pretrain).parameters
    if "meta" in accepted:
        kwargs["meta"] = meta
    if "log" in accepted:
        kwargs["log"] = lambda record: log(_epoch_line(record, epochs), quiet)
    if positions is not None and "positions" in accepted:
        kwargs["positions"] = positions
    if "device" in accepted:
        kwargs["device"] = device
    elif device != "cpu":
        log(f"zoo: note: {cls.__name__} takes no device; it pretrains on the CPU", quiet)
    if compile and getattr(cls, "supports_compile", "compile" in accepted):
        kwargs["compile"] = True
    elif compile:
        log(f"zoo: note: {cls.__name__} has no compiled kernels; --compile has no effect", quiet)
    held = checkpoint_meta(checkpoint) if checkpoint.exists() else {"epoch": 0}
    started = epochs_begun(held)
    if "checkpoint" in accepted and started <= epochs:
        kwargs["checkpoint"] = str(checkpoint)
        if started:
            log(f"zoo: continuing pretraining after {checkpoint_progress(held, epochs)} ({checkpoint})", quiet)
    elif started:
        log(f"zoo: the checkpoint of these settings is at {checkpoint_progress(held)}, past {epochs} epochs: "
            f"pretraining from scratch without it", quiet)
    try:
        cls.pretrain(spec, pairs, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, out=str(tmp),
                     params=params, progress=not quiet, **kwargs)
        if is_main():   # the only rank that wrote it
            tmp.replace(path)
        barrier()
    except BaseException:
        if "checkpoint" in kwargs and checkpoint.exists():
            log(f"zoo: pretraining stopped after {checkpoint_progress(checkpoint_meta(checkpoint), epochs)}; the "
                f"same command resumes it from {checkpoint}", quiet)
        raise
    finally:
        if tmp.exists():
            tmp.unlink()
    log(f"zoo: pretrained in {time.perf_counter() - t0:.1f} s -> {path}", quiet)
    confs = _metadata(path).get("conformers")
    if confs:
        log(f"zoo: conformers: {confs['embedded']} embedded, {confs['from_cache']} from the cache "
            f"({confs['seconds']:.1f} s)", quiet)


def published_backbone(key: str):
    """The registry weights entry that publishes the backbone of pretraining cache key ``key`` (its
    ``pretraining.cache_key``), or None; ``ZOO_NO_PUBLISHED_BACKBONES=1`` turns the lookup off."""
    from zoo_core.registry import get_registry

    if os.environ.get("ZOO_NO_PUBLISHED_BACKBONES", "").strip().lower() in {"1", "true", "yes", "on"}:
        return None
    for entry in get_registry().sections["weights"].values():
        if (entry.get("pretraining") or {}).get("cache_key") == key:
            return entry
    return None


def _epoch_line(record: dict, epochs: int) -> str:
    """One log line per pretraining epoch: the total loss first, then its named parts, the epoch's time and the
    time left for this backbone at that pace."""
    parts = ", ".join(f"{k} {v:.4f}" for k, v in record.items()
                      if k not in ("epoch", "loss", "pairs", "molecules", "seconds") and isinstance(v, (int, float)))
    left = (epochs - int(record["epoch"])) * float(record["seconds"])
    return (f"zoo: pretraining epoch {int(record['epoch'])}/{epochs}: loss {record['loss']:.4f}"
            + (f" ({parts})" if parts else "") + f", {record['seconds']:.1f} s"
            + (f" (about {duration(left)} left)" if left > 0 else ""))




def _metadata(path: Path) -> dict:
    from zoo_core.weights import read_metadata

    return read_metadata(path)[1]


def load_backbone(model, path: str | Path, spec: dict) -> dict:
    """Load pretrained backbone weights into ``model`` (same model spec; the featurizer must match); returns the
    file's metadata (pretrainer, pair set, budget). A backbone whose task head was not pretrained (``fresh_head``)
    leaves ``model.head`` as initialised: its width is the fine-tuning run's number of targets. A model that is one
    part of the backbone (:func:`backbone_part`) loads that part."""
    from safetensors.torch import load_file, load_model

    from zoo_core.weights import check_featurizer, read_metadata

    saved, meta = read_metadata(path)
    check_featurizer(spec["featurizer"], saved["featurizer"], str(path))
    if (saved["pair_model"], saved["encoder"]) != (spec["pair_model"], spec["encoder"]):
        raise ZooError(f"{path}: pretrained for {saved['pair_model']}({saved['encoder']}), "
                       f"not {spec['pair_model']}({spec['encoder']})")
    fresh = ("target_scaler.", "head.") if meta.get("fresh_head") else ("target_scaler.",)
    if meta.get("fresh_head"):
        tensors = {k: v for k, v in load_file(str(path)).items() if not k.startswith("head.")}
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    else:
        missing, unexpected = load_model(model, str(path), strict=False)
    part = backbone_part(saved, spec)   # e.g. MolInteract's 2D tower of a two-tower backbone: the rest is left out
    wrong = [k for k in [*missing, *([] if part else unexpected)] if not k.startswith(fresh)]
    if wrong:  # the target scaler is fine-tuning's (fitted on the fold's targets), never the backbone's
        raise ZooError(f"{path}: its tensors do not fit {spec['pair_model']}({spec['encoder']}): "
                       f"{', '.join(sorted(wrong)[:5])}{' ...' if len(wrong) > 5 else ''}")
    return meta


def backbone_part(saved: dict, spec: dict) -> bool:
    """Is the model of ``spec`` one part of a backbone saved with spec ``saved`` (same encoder, other parameters)?
    Only when the encoder says so: ``backbone_part(saved encoder params, params) -> bool`` on its class (MolInteract:
    one tower of a two-tower backbone). Then the backbone's tensors the model lacks are left out; every tensor the
    model has must still be in the file, with its shape."""
    from zoo_core.plugins import get_catalog

    params, saved_params = spec.get("encoder_params") or {}, saved.get("encoder_params") or {}
    if params == saved_params or saved.get("encoder_impl") != spec.get("encoder_impl"):
        return False
    decide = getattr(get_catalog().get("encoders", spec["encoder_impl"]).load(), "backbone_part", None)
    return bool(decide is not None and decide(saved_params, params))


def budget(meta: dict) -> dict:
    """The pretraining budget and pair set stated by a backbone file's metadata (for run records)."""
    keys = ("pretrainer", "pair_set", "epochs", "pretrain_pairs", "pretrain_molecules", "batch_size", "lr", "seed")
    return {k: meta.get(k) for k in keys if k in meta}


def default_lr(dataset_entry: Any, pretrainer: str | None = None) -> float:
    """The pretrainer entry's ``train: {lr}`` when it states one (MolInteract: 5e-5, METHODS §8.2), else 3DMRL's:
    5e-4 for chromophores, 1e-4 for solvation (METHODS §7.4)."""
    from zoo_core.registry import get_registry

    entry = get_registry().sections["pretrainers"].get(pretrainer) if pretrainer else None
    stated = (entry.get("train") or {}).get("lr") if entry is not None else None
    if stated is not None:
        return float(stated)
    roles = list(dataset_entry.get("roles") or [])
    return 5e-4 if roles and roles[0] == "chromophore" else 1e-4
