"""What the zoo keeps in its cache (``zoo_home()``) and clearing it: ``zoo cache list`` / ``zoo cache clear``.

Every area can be rebuilt (featurization, conformers and pretraining are recomputed, downloads fetched again and
sha256-checked), so clearing loses time, never results. Reading the cache imports no torch: backbone metadata
comes from the safetensors headers.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from pathlib import Path
from typing import Any

from zoo_core.errors import ZooError
from zoo_core.paths import zoo_home

AREAS = {
    "features": "featurized molecules, per featurizer and hydrogen mode",
    "conformers": "ETKDG conformers, per hydrogen mode and seed",
    "pretrained": "pretrained backbones and pretraining checkpoints (to resume or extend a run)",
    "weights": "downloaded model weights (sha256-verified)",
    "data": "fetched and unpacked dataset files (sha256-verified)",
    "inductor": "torch.compile's kernels (`zoo pretrain --compile` off the CPU or in float64)",
    "kernels": "native kernels built for this CPU (`zoo pretrain --compile`)",
}
CHECKPOINT_SUFFIX = ".checkpoint.safetensors"


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []


def usage(home: Path | None = None) -> list[dict[str, Any]]:
    """One row per area: name, path, files, bytes, description."""
    home = home or zoo_home()
    rows = []
    for area, description in AREAS.items():
        files = _files(home / area)
        rows.append({"area": area, "path": str(home / area), "files": len(files),
                     "bytes": sum(p.stat().st_size for p in files), "description": description})
    return rows


def pretrained(home: Path | None = None) -> list[dict[str, Any]]:
    """The cached backbones (model, pretrainer, pair set, budget) and the pretraining checkpoints, newest first: status
    ``running`` (a pretraining holds its lock and is writing it), ``unfinished`` (the run that wrote it stopped
    early; ``next_epoch_pairs`` > 0 when it stopped within an epoch) or ``checkpoint`` (it finished; a longer run of
    the same settings continues from it), with what the header says of the run (:func:`_progress`)."""
    from zoo_core.train.checkpoint import checkpoint_meta
    from zoo_core.weights import read_metadata

    folder = (home or zoo_home()) / "pretrained"
    rows = []
    backbones = sorted(p for p in folder.glob("*.safetensors") if not p.name.startswith("."))  # pathlib globs dotfiles
    for path in backbones + sorted(folder.glob(f".*{CHECKPOINT_SUFFIX}")):
        row: dict[str, Any] = {"path": str(path), "bytes": path.stat().st_size,
                               "modified": time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))}
        try:
            if path.name.endswith(CHECKPOINT_SUFFIX):
                meta = checkpoint_meta(path)
                done, asked = meta.get("epoch"), meta.get("epochs")
                key = path.name[1:-len(CHECKPOINT_SUFFIX)]
                status = ("running" if _held(folder / f".{key}.lock")
                          else "unfinished" if done != asked else "checkpoint")
                row.update(status=status, key=key, epochs_done=done, epochs=asked, **_progress(meta))
            else:
                spec, meta = read_metadata(path)
                pair_set = meta.get("pair_set") or {}
                row.update(status="done", key=path.stem, model=f"{spec.get('pair_model')}({spec.get('encoder')})",
                           pretrainer=meta.get("pretrainer"), pair_set=pair_set.get("pair_set"),
                           transductive=pair_set.get("transductive"), epochs=meta.get("epochs"),
                           pairs=meta.get("pretrain_pairs"), lr=meta.get("lr"), seconds=meta.get("seconds"))
        except ZooError as error:
            row.update(status="unreadable", key=path.stem, error=str(error))
        rows.append(row)
    return sorted(rows, key=lambda r: r["modified"], reverse=True)


def _progress(meta: dict[str, Any]) -> dict[str, Any]:
    """What a pretraining checkpoint's header says of its run: model, pair set, pairs, the last epoch's loss, the
    pairs of the next epoch already trained on (a checkpoint saved within an epoch), the mean seconds of its last
    (up to) 5 epochs and, for an unfinished run, the seconds left at that pace. Older checkpoints without some of
    it give None there."""
    spec, run = meta.get("spec") or {}, meta.get("meta") or {}
    pair_set, history = run.get("pair_set") or {}, meta.get("history") or []
    recent = [float(h["seconds"]) for h in history[-5:] if "seconds" in h]
    per_epoch = sum(recent) / len(recent) if recent else None
    done, asked = meta.get("epoch"), meta.get("epochs")
    left = (max(per_epoch * (asked - done) - float(meta.get("epoch_seconds", 0.0)), 0.0)
            if per_epoch is not None and isinstance(done, int) and isinstance(asked, int) and asked > done else None)
    return {"model": f"{spec['pair_model']}({spec['encoder']})" if spec.get("pair_model") else None,
            "pair_set": pair_set.get("pair_set"), "transductive": pair_set.get("transductive"),
            "pairs": history[-1].get("pairs") if history else None,
            "loss": history[-1].get("loss") if history else None,
            "next_epoch_pairs": int(meta.get("epoch_rows", 0)),
            "seconds_per_epoch": per_epoch, "seconds_left": left}


def _held(lock: Path) -> bool:
    """Whether another process holds the lock file ``lock`` (a pretraining in progress)."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _busy_locks(folder: Path) -> list[Path]:
    """Lock files of ``folder`` that another process holds (a pretraining in progress)."""
    return [lock for lock in folder.glob(".*.lock") if _held(lock)]


def clear(area: str, home: Path | None = None) -> dict[str, Any]:
    """Delete one area of the cache; returns what was removed (files, bytes). Refuses an unknown area and, for
    ``pretrained``, an area where a pretraining holds its lock."""
    if area not in AREAS:
        raise ZooError(f"unknown cache area {area!r}; one of: {', '.join(AREAS)}")
    folder = (home or zoo_home()) / area
    busy = _busy_locks(folder) if folder.is_dir() else []
    if busy:
        raise ZooError(f"{folder}: a pretraining is running (lock held on {busy[0].name}); clear it afterwards")
    files = _files(folder)
    removed = {"area": area, "path": str(folder), "files": len(files), "bytes": sum(p.stat().st_size for p in files)}
    if folder.is_dir():
        shutil.rmtree(folder)
    return removed


def remove_pretrained(keys: list[str], home: Path | None = None) -> dict[str, Any]:
    """Delete single entries of the ``pretrained`` area, named by the keys (or unique key prefixes) that
    ``zoo cache list`` prints: a backbone ``KEY.safetensors`` or a checkpoint ``.KEY.checkpoint.safetensors``.
    Refuses a key that matches nothing or more than one entry, and any removal while a pretraining holds its lock
    (it may be writing the entry); nothing is deleted unless every key resolves."""
    folder = (home or zoo_home()) / "pretrained"
    entries = {row["key"]: Path(row["path"]) for row in pretrained(home)}
    busy = _busy_locks(folder) if folder.is_dir() else []
    if busy:
        raise ZooError(f"{folder}: a pretraining is running (lock held on {busy[0].name}); remove entries afterwards")
    paths = []
    for key in keys:
        matches = sorted(k for k in entries if k.startswith(key)) if key else []
        if len(matches) != 1:
            found = f"{len(matches)} entries ({', '.join(matches)})" if matches else "no entry"
            raise ZooError(f"{folder}: key {key!r} matches {found}; `zoo cache list` shows the keys")
        paths.append(entries[matches[0]])
    paths = list(dict.fromkeys(paths))
    removed = {"area": "pretrained", "path": str(folder), "files": len(paths),
               "bytes": sum(p.stat().st_size for p in paths), "keys": [p.name for p in paths]}
    for path in paths:
        path.unlink()
    return removed
