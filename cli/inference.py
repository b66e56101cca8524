"""The model behind ``zoo predict`` and ``zoo explain``: a run directory or a weights name/file."""

from __future__ import annotations

from pathlib import Path

from zoo_core.errors import UsageError


def load_for_inference(run: Path | None, weights: str | None, device: str = "cpu"):
    """(model, spec, meta) of a run directory or a weights name/file, the model on ``device``; weights whose
    featurizer differs from the installed one are refused with the differences named."""
    from zoo_core.weights import load_model

    if run is not None:
        path = run / "model.safetensors"
        if not path.exists():
            raise UsageError(f"{run}: no model.safetensors (is this a `zoo run` directory?)")
        return load_model(path, check_installed=True, for_prediction=True, device=device)
    from zoo_core.hub import weights_path

    return load_model(weights_path(weights), check_installed=True, for_prediction=True, device=device)
