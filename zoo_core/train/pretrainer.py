"""The pretrainer interface (issue 34): a plugin supplies its data view, auxiliary modules and loss; the core owns
the loop.

A pretrainer subclasses :class:`Pretrainer`, sets ``name``, ``target`` (``"pair"``: examples are
``(smiles_a, smiles_b)`` pairs; ``"molecule"``: examples are SMILES), ``defaults`` (its parameters) and ``parts``
(the names of its loss parts, ``"loss"`` first), and implements:

* ``prepare(spec, examples, seed, workers, use_cache, progress)`` -> a data view with ``__len__`` and
  ``batch(rows, epoch)`` (what ``loss`` receives; anything random in it must be drawn from (seed, epoch, row) only,
  so that a resumed run is the uninterrupted one), optionally ``row_cost(rows)`` (each row's work, e.g. atoms:
  data-parallel shares are cut to balance it, :func:`zoo_core.train.distributed.shard_rows`);
* ``aux_modules(model)`` -> an ``nn.Module`` of what it trains beside the 2D backbone (discarded after
  pretraining; the backbone is not a submodule);
* ``loss(model, aux, batch)`` -> (loss tensor, {part: float}) with every name of ``parts``;
* optionally ``optimised_parameters(model, aux)`` (default: all of both), ``to_device(batch, device)``,
  a ``positions`` keyword on ``prepare`` (a dataset's own geometries, {canonical SMILES: [n, 3]}, passed when the
  caller has them: QM9's DFT positions), ``pretrains_head = False`` (the model's task ``head`` gets no loss: the
  backbone is built for one task and fine-tuning keeps its fresh head, :func:`zoo_core.train.pretraining.load_backbone`),
  ``metadata(data)`` (extra keys for the weight file), and, for ``--compile``, ``supports_compile = True`` with
  ``check_compile()`` (before the data is prepared: fail early) and ``use_compiled(aux)``.

:meth:`Pretrainer.pretrain` (what ``zoo_core.train.pretraining`` calls) runs :func:`run_pretraining`: the model is
built after ``torch.manual_seed(seed)``, then the data, then the auxiliary modules; Adam without weight decay; rows
shuffled per epoch with ``numpy.random.default_rng([seed, epoch])``; a checkpoint (zoo_core.train.checkpoint) after
every epoch and within one every ``checkpoint_seconds``, from which a run continues to the same numbers; one log
record per epoch ``{epoch, <parts>, pairs|molecules, seconds}``; the backbone saved with
``zoo_core.weights.save_model`` (``kind: pretrained-backbone``). Under torchrun each rank trains on its share of
every batch, the step is the union batch's, and rank 0 prepares the data first (filling the caches the others
read) and writes (:mod:`zoo_core.train.distributed`).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from zoo_core.train import distributed

if TYPE_CHECKING:
    from torch import nn

TARGETS = ("pair", "molecule")


class Pretrainer:
    """Base class of a pretraining strategy; see the module doc for the contract."""

    name: str = ""
    target: str = "pair"
    defaults: dict[str, Any] = {}
    parts: tuple[str, ...] = ("loss",)
    supports_compile: bool = False
    pretrains_head: bool = True

    def __init__(self, params: dict | None = None):
        if self.target not in TARGETS:
            raise ValueError(f"{type(self).__name__}.target must be one of {TARGETS}, not {self.target!r}")
        self.params = {**self.defaults, **(params or {})}
        unknown = set(self.params) - set(self.defaults)
        if unknown:
            raise ValueError(f"unknown {self.name or type(self).__name__} parameters: {', '.join(sorted(unknown))}")

    # -- what a plugin supplies ------------------------------------------------------------------------------

    def prepare(self, spec: dict, examples: list, seed: int, workers: int | None = None, use_cache: bool = True,
                progress: bool = True):  # pragma: no cover - interface
        raise NotImplementedError

    def aux_modules(self, model) -> nn.Module:
        from torch import nn

        return nn.Module()

    def loss(self, model, aux, batch):  # pragma: no cover - interface
        raise NotImplementedError

    def optimised_parameters(self, model, aux) -> list:
        return list(model.parameters()) + list(aux.parameters())

    def to_device(self, batch, device):
        if isinstance(batch, (tuple, list)):
            return type(batch)(b.to(device) for b in batch)
        return batch.to(device)

    def metadata(self, data) -> dict:
        return {}

    def check_compile(self) -> None:
        """``--compile``: raise now if the compiled kernels cannot be built (before the data is prepared)."""

    def use_compiled(self, aux) -> None:
        """``--compile``: switch ``aux`` to its compiled kernels."""

    # -- what the core runs ----------------------------------------------------------------------------------

    @classmethod
    def pretrain(cls, spec: dict, examples: list, epochs: int = 100, batch_size: int = 48, lr: float = 5e-4,
                 seed: int = 0, out: str | None = None, params: dict | None = None, workers: int | None = None,
                 use_cache: bool = True, progress: bool = True, device: str = "cpu", log: Callable | None = None,
                 meta: dict | None = None, checkpoint: str | None = None, checkpoint_seconds: float = 300.0,
                 compile: bool = False, positions: dict | None = None):
        """Pretrain the 2D model of ``spec`` on ``examples``; (model, history). See :func:`run_pretraining`."""
        return run_pretraining(cls(params), spec, examples, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                               out=out, workers=workers, use_cache=use_cache, progress=progress, device=device,
                               log=log, meta=meta, checkpoint=checkpoint, checkpoint_seconds=checkpoint_seconds,
                               compile=compile, positions=positions)


def unit(pretrainer) -> str:
    """What a pretrainer's examples are called in records and messages: ``pairs`` or ``molecules``."""
    return "molecules" if getattr(pretrainer, "target", "pair") == "molecule" else "pairs"


class _State:
    """The model, auxiliary modules and optimizer of one run, with its checkpoint file."""

    def __init__(self, pre: Pretrainer, model, aux, opt, checkpoint: str | None, run_id: str | None, meta: dict):
        self.pre, self.model, self.aux, self.opt = pre, model, aux, opt
        self.checkpoint, self.run_id, self.meta = checkpoint, run_id, meta

    def save(self, finished_epochs: int, epochs: int, history: list, spec: dict, lr: float, batch_size: int,
             progress: dict) -> None:
        from zoo_core.train.checkpoint import rng_tensors, save_checkpoint, with_prefix

        save_checkpoint(self.checkpoint, {**with_prefix("model", self.model.state_dict()),
                                          **with_prefix("aux", self.aux.state_dict()),
                                          **with_prefix("adam", self.opt.state_tensors()), **rng_tensors()},
                        {"fingerprint": self.run_id, "epoch": finished_epochs, "epochs": epochs, "history": history,
                         "spec": spec, "meta": self.meta, "lr": lr, "batch_size": batch_size, **progress})

    def restore(self, epochs: int) -> tuple[list, int, int, dict | None, float]:
        """(history, first epoch, rows of it done, their loss sums, their seconds) from the checkpoint, loading
        the weights, the optimizer and torch's RNG; a fresh start when there is none."""
        from zoo_core.train.checkpoint import (checkpoint_progress, epochs_begun, load_checkpoint, restore_rng,
                                               under_prefix)

        if self.checkpoint is None or not os.path.exists(self.checkpoint):
            return [], 0, 0, None, 0.0
        tensors, info = load_checkpoint(self.checkpoint, self.run_id)
        if epochs_begun(info) > epochs:
            raise ValueError(f"{self.checkpoint}: saved at {checkpoint_progress(info)}, past the {epochs} epochs "
                             f"asked for")
        rows = int(info.get("epoch_rows", 0))
        self.model.load_state_dict(under_prefix("model", tensors))
        self.aux.load_state_dict(under_prefix("aux", tensors))
        self.opt.load_state_tensors(under_prefix("adam", tensors))
        restore_rng(tensors)
        sums, seconds = (info["epoch_sums"], float(info["epoch_seconds"])) if rows else (None, 0.0)
        return info["history"], int(info["epoch"]), rows, sums, seconds


def _setup(pre: Pretrainer, spec: dict, examples: list, seed: int, lr: float, batch_size: int, workers, use_cache,
           progress, device, compile: bool, checkpoint, meta, positions: dict | None = None):
    """Model (after ``torch.manual_seed(seed)``), data, auxiliary modules and Adam, in that order (it fixes the
    random initialisations)."""
    import torch

    from zoo_core.models import build_model
    from zoo_core.train.checkpoint import fingerprint
    from zoo_core.train.optim import Adam

    if compile and pre.supports_compile:
        pre.check_compile()
    torch.manual_seed(seed)
    model = build_model(spec).to(device)
    given = {"positions": positions} if positions is not None else {}   # only pretrainers that take them get them
    data = distributed.main_first(lambda: pre.prepare(spec, examples, seed, workers, use_cache, progress, **given))
    aux = pre.aux_modules(model).to(device)
    if compile and pre.supports_compile:
        pre.use_compiled(aux)
    opt = Adam(pre.optimised_parameters(model, aux), lr=lr)
    keyed = [e if isinstance(e, str) else list(e) for e in examples]
    run_id = fingerprint(spec, pre.params, keyed, batch_size, lr, seed) if checkpoint else None
    return data, _State(pre, model, aux, opt, checkpoint, run_id, meta or {})


def _epoch(state: _State, data, epoch: int, seed: int, batch_size: int, device, resumed: tuple, save_every: float,
           save: Callable) -> dict:
    """Train one epoch (from row ``resumed[0]`` when resuming within it); returns its record."""
    pre, model, aux, opt = state.pre, state.model, state.aux, state.opt
    t0 = time.perf_counter()
    model.train()
    aux.train()
    rows = np.random.default_rng([int(seed), epoch]).permutation(len(data))
    n_seen, sums, seconds_before = resumed
    sums = dict(sums) if sums is not None else {k: 0.0 for k in pre.parts}
    last_save = time.perf_counter()
    for start in range(n_seen, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        share = distributed.shard_rows(chunk, getattr(data, "row_cost", None))  # data-parallel: this rank's part
        batch = pre.to_device(data.batch(share.rows, epoch), device)
        opt.zero_grad()
        with distributed.step(share):
            loss, parts = pre.loss(model, aux, batch)
            distributed.backward(loss, share, opt.params)
        parts = distributed.union_parts(parts, share)
        opt.step()
        for k in sums:
            sums[k] += parts[k] * len(chunk)
        n_seen += len(chunk)
        if state.checkpoint is not None and n_seen < len(rows) and time.perf_counter() - last_save >= save_every:
            save(epoch, {"epoch_rows": n_seen, "epoch_sums": sums,
                         "epoch_seconds": seconds_before + time.perf_counter() - t0})
            last_save = time.perf_counter()
    return {"epoch": epoch + 1, **{k: v / max(n_seen, 1) for k, v in sums.items()}, unit(pre): n_seen,
            "seconds": seconds_before + time.perf_counter() - t0}


def run_pretraining(pre: Pretrainer, spec: dict, examples: list, epochs: int = 100, batch_size: int = 48,
                    lr: float = 5e-4, seed: int = 0, out: str | None = None, workers: int | None = None,
                    use_cache: bool = True, progress: bool = True, device: str = "cpu", log: Callable | None = None,
                    meta: dict | None = None, checkpoint: str | None = None, checkpoint_seconds: float = 300.0,
                    compile: bool = False, positions: dict | None = None):
    """Pretrain the 2D model of ``spec`` with ``pre`` on ``examples``; returns (model, history).

    ``out``: where to save the backbone only (metadata: ``meta``, the pretrainer, its parameters, the budget and
    ``pre.metadata(data)``). ``log(record)`` after each epoch. ``checkpoint``: a file updated after every epoch and
    within one after the batch that ends ``checkpoint_seconds`` since the last save, holding the backbone
    (``model.*``), the auxiliary modules (``aux.*``), Adam's moments, torch's RNG state, the history, the spec and
    ``meta``; when it exists the run continues there, and ends as an uninterrupted run would (nothing depends on
    ``epochs``). ``compile``: an execution setting, in neither the checkpoint's fingerprint nor the cache key.
    ``positions``: the molecules' own geometries, for ``pre.prepare`` (module doc).
    """
    from zoo_core.device import resolve_device

    device = resolve_device(device)
    data, state = _setup(pre, spec, examples, seed, lr, batch_size, workers, use_cache, progress, device, compile,
                         checkpoint, meta, positions)
    history, first_epoch, rows, sums, seconds = state.restore(epochs)

    def save(finished: int, progress_: dict) -> None:
        state.save(finished, epochs, history, spec, lr, batch_size, progress_)

    for epoch in range(first_epoch, epochs):
        resumed = (rows, sums, seconds) if epoch == first_epoch else (0, None, 0.0)
        record = _epoch(state, data, epoch, seed, batch_size, device, resumed, checkpoint_seconds, save)
        history.append(record)
        if checkpoint is not None:
            save(epoch + 1, {})
        if log is not None:
            log(record)
    state.model.eval()
    if out is not None and distributed.is_main():
        _save_backbone(out, state, spec, data, history, epochs, batch_size, lr, seed, meta)
    return state.model, history


def _save_backbone(out: str, state: _State, spec: dict, data, history: list, epochs: int, batch_size: int,
                   lr: float, seed: int, meta: dict | None) -> None:
    from zoo_core.weights import BACKBONE_KIND, save_model

    pre = state.pre
    info = {**(meta or {}), "kind": BACKBONE_KIND, "pretrainer": pre.name, "pretrain_params": pre.params,
            f"pretrain_{unit(pre)}": len(data), "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
            **pre.metadata(data), **({} if pre.pretrains_head else {"fresh_head": True}),
            "seconds": round(sum(r["seconds"] for r in history), 3),
            "history": [{k: round(float(v), 5) for k, v in r.items()} for r in history]}
    save_model(out, state.model, spec, info)
