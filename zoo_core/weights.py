"""Weight files: a safetensors state dict whose metadata carries the model spec and provenance (no pickle).

Metadata keys: ``zoo_spec`` (JSON model spec: names, params, featurizer spec) and ``zoo_meta`` (JSON: dataset,
metrics, split, zoo/torch/RDKit versions, ...). Loading checks the featurizer spec when one is expected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo_core.errors import FeaturizerMismatch, ZooError


def save_model(path: str | Path, model, spec: dict[str, Any], meta: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s weights with ``spec`` and ``meta`` to ``path`` (safetensors)."""
    from safetensors.torch import save_model as _save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(model, str(path), metadata={"zoo_spec": json.dumps(spec, sort_keys=True),
                                      "zoo_meta": json.dumps(meta or {}, sort_keys=True, default=str)})
    return path


MAX_HEADER_BYTES = 100_000_000


def safetensors_metadata(path: str | Path) -> dict[str, str]:
    """The ``__metadata__`` strings of a safetensors file, read from its JSON header: no tensor is loaded and torch
    is not imported (the format: an 8-byte little-endian header length, then the header)."""
    with open(path, "rb") as f:
        head = f.read(8)
        size = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 0 < size <= MAX_HEADER_BYTES:
            raise ZooError(f"{path}: not a safetensors file (no valid header length)")
        try:
            header = json.loads(f.read(size))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ZooError(f"{path}: not a safetensors file (header: {error})") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def read_metadata(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(spec, meta) of a weight file, without loading tensors."""
    raw = safetensors_metadata(path)
    if "zoo_spec" not in raw:
        raise ZooError(f"{path}: not a zoo weight file (no 'zoo_spec' metadata)")
    return json.loads(raw["zoo_spec"]), json.loads(raw.get("zoo_meta", "{}"))


BACKBONE_KIND = "pretrained-backbone"


def is_pretrained_backbone(meta: dict[str, Any]) -> bool:
    """True for the output of a pretrainer (``kind`` = :data:`BACKBONE_KIND`; older files: ``pretrain_params``
    without ``training``): a 2D backbone whose prediction head was never trained."""
    return meta.get("kind") == BACKBONE_KIND or ("pretrain_params" in meta and "training" not in meta)


def check_featurizer(expected: dict[str, Any], found: dict[str, Any], where: str) -> None:
    """Raise FeaturizerMismatch naming every key where the two featurizer specs differ."""
    keys = sorted(set(expected) | set(found))
    diffs = [f"{k}: weights have {found.get(k)!r}, requested {expected.get(k)!r}" for k in keys
             if expected.get(k) != found.get(k)]
    if diffs:
        raise FeaturizerMismatch(f"{where}: featurizer mismatch; " + "; ".join(diffs))


def installed_featurizer_spec(saved: dict[str, Any]) -> dict[str, Any]:
    """The installed featurizer's spec for the name and hydrogen mode of ``saved`` (a weight file's featurizer)."""
    from zoo_core.chem.resolve import featurizer_spec
    from zoo_core.errors import RegistryError

    try:
        return featurizer_spec(saved["name"], bool(saved.get("explicit_h")))
    except RegistryError as error:
        raise FeaturizerMismatch(f"the weights need featurizer {saved.get('name')!r}, which is not installed "
                                 f"({error})") from None


def load_model(path: str | Path, expected_featurizer: dict[str, Any] | None = None, device: str = "cpu",
               check_installed: bool = False, for_prediction: bool = False):
    """Rebuild the model of a weight file and load its weights; returns (model in eval mode, spec, meta).

    ``expected_featurizer``: refuse (FeaturizerMismatch naming every difference) unless the file's featurizer spec
    equals it. ``check_installed``: the same against the installed featurizer of that name and hydrogen mode, i.e.
    refuse weights whose inputs this installation would featurize differently. ``for_prediction``: refuse a
    pretrained backbone (its head is untrained, so its predictions mean nothing), saying how to fine-tune it.
    """
    from safetensors.torch import load_model as _load

    from zoo_core.models import build_model

    spec, meta = read_metadata(path)
    if for_prediction and is_pretrained_backbone(meta):
        raise ZooError(f"{path}: a pretrained backbone ({meta.get('pretrainer')}, untrained prediction head), not "
                       f"a trained model; fine-tune it first: zoo run --encoder {spec.get('pair_model')} "
                       f"--dataset DATASET --pretrained-weights {path}")
    if expected_featurizer is not None:
        check_featurizer(expected_featurizer, spec["featurizer"], str(path))
    if check_installed:
        check_featurizer(installed_featurizer_spec(spec["featurizer"]), spec["featurizer"], str(path))
    model = build_model(spec)
    _load(model, str(path), strict=True, device=device)
    model.to(device)  # load_state_dict copies into the parameters where they are
    model.eval()
    return model, spec, meta
