"""Resumable training state: named tensors and JSON metadata in one safetensors file, replaced atomically.

Used by long pretraining loops (3DMRL: the paper's budget is 100 epochs over 71,940 pairs) so that an interrupted
run continues from its last finished epoch instead of starting again. safetensors, not pickle: a checkpoint is
data only. The metadata carries a ``fingerprint`` of everything that defines the run; a checkpoint whose
fingerprint differs is refused rather than silently continued.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo_core.errors import ZooError

if TYPE_CHECKING:
    import torch


def fingerprint(*parts: Any) -> str:
    """Short sha256 of JSON-serialisable ``parts`` (the settings that make two runs the same run)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write ``tensors`` and ``meta`` to ``path`` through a temporary file and ``os.replace`` (a crash mid-write
    leaves the previous checkpoint intact). Data-parallel: rank 0 writes (every rank holds the same state) and the
    metadata records the number of processes (``world_size``)."""
    from safetensors.torch import save_file

    from zoo_core.train.distributed import is_main, world_size

    if not is_main():
        return
    meta = {**meta, "world_size": world_size()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        save_file({k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}, str(tmp),
                  metadata={"zoo_checkpoint": json.dumps(meta, sort_keys=True, default=str)})
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def checkpoint_meta(path: str | Path) -> dict[str, Any]:
    """The metadata of a checkpoint, without loading its tensors."""
    from zoo_core.weights import safetensors_metadata

    raw = safetensors_metadata(path).get("zoo_checkpoint")
    if raw is None:
        raise ZooError(f"{path}: not a zoo checkpoint (no 'zoo_checkpoint' metadata)")
    return json.loads(raw)


def epochs_begun(meta: dict[str, Any]) -> int:
    """Epochs a checkpoint has begun: its finished epochs, plus one when it was saved within the next
    (``epoch_rows`` > 0). A run of fewer epochs cannot continue from it: its weights are not those of its last
    finished epoch."""
    return int(meta["epoch"]) + (int(meta.get("epoch_rows", 0)) > 0)


def checkpoint_progress(meta: dict[str, Any], epochs: int | None = None) -> str:
    """Where a checkpoint stands, in words: ``"epoch 6/100"``, or ``"epoch 6/100 + 20,160 pairs of epoch 7"`` when it
    was saved within an epoch (``epoch_rows`` in its metadata: rows of the next epoch already trained on);
    without ``epochs``, ``"epoch 6"``."""
    done, rows = int(meta["epoch"]), int(meta.get("epoch_rows", 0))
    text = f"epoch {done}" + (f"/{epochs}" if epochs is not None else "")
    return text + (f" + {rows:,} pairs of epoch {done + 1}" if rows else "")


def load_checkpoint(path: str | Path, expected_fingerprint: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) of the checkpoint at ``path``; ZooError when it belongs to another run or was saved under
    another number of data-parallel processes."""
    from safetensors.torch import load_file

    from zoo_core.train.distributed import check_world_size

    meta = checkpoint_meta(path)
    if meta.get("fingerprint") != expected_fingerprint:
        raise ZooError(f"{path}: checkpoint of another run (fingerprint {meta.get('fingerprint')}, this run "
                       f"{expected_fingerprint}); delete it to start afresh")
    check_world_size(meta, path)
    return load_file(str(path)), meta


def with_prefix(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``{prefix + '.' + name: tensor}``: several state dicts in one checkpoint."""
    return {f"{prefix}.{k}": v for k, v in tensors.items()}


def under_prefix(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of :func:`with_prefix` for one prefix."""
    head = prefix + "."
    return {k[len(head):]: v for k, v in tensors.items() if k.startswith(head)}


def rng_tensors() -> dict[str, torch.Tensor]:
    """torch's CPU generator state and, once CUDA is in use, each GPU's (models that run there draw from those)."""
    import torch

    tensors = {"torch_rng": torch.get_rng_state()}
    if torch.cuda.is_initialized():
        tensors.update({f"cuda_rng.{i}": state for i, state in enumerate(torch.cuda.get_rng_state_all())})
    return tensors


def restore_rng(tensors: dict[str, torch.Tensor]) -> None:
    """Set the generators :func:`rng_tensors` saved (the GPUs' only where this process has them)."""
    import torch

    torch.set_rng_state(tensors["torch_rng"])
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("cuda_rng.")),
                                       key=lambda k: int(k.split(".")[1]))]
    if cuda and torch.cuda.is_available() and len(cuda) <= torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
