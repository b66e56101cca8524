"""Target standardisation carried by the model: ``y' = (y - mean) / std`` per task, fitted on a fold's training rows.

A model built from a spec with ``scale_targets: true`` gets a :class:`TargetScaler` submodule (buffers ``mean`` and
``std``, so the fitted values travel in ``model.safetensors``) and a forward hook: in training mode the model predicts
standardised targets (the loss is computed there, as chemprop does); in eval mode the hook maps its predictions back
to the dataset's unit, so every consumer (metrics, ``zoo predict``, ``zoo explain``) sees original units.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn


class TargetScaler(nn.Module):
    """Per-task mean and standard deviation of the training targets (NaN labels ignored)."""

    def __init__(self, n_tasks: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_tasks))
        self.register_buffer("std", torch.ones(n_tasks))

    def fit(self, y: np.ndarray) -> "TargetScaler":
        """Set mean and std (ddof=0) from ``y`` [n, T]; a task with no spread (or no label) keeps std 1."""
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        mean, std = _nanmean(y), _nanstd(y)
        std = np.where((std > 0) & np.isfinite(std), std, 1.0)
        self.mean.copy_(torch.as_tensor(mean, dtype=self.mean.dtype))
        self.std.copy_(torch.as_tensor(std, dtype=self.std.dtype))
        return self

    def transform(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.mean.to(y.dtype)) / self.std.to(y.dtype)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std.to(z.dtype) + self.mean.to(z.dtype)

    def as_dict(self) -> dict[str, list[float]]:
        """The fitted values, for run records."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}


def _nanmean(y: np.ndarray) -> np.ndarray:
    counts = (~np.isnan(y)).sum(axis=0)
    return np.where(counts > 0, np.nansum(y, axis=0) / np.maximum(counts, 1), 0.0)


def _nanstd(y: np.ndarray) -> np.ndarray:
    counts = (~np.isnan(y)).sum(axis=0)
    centred = np.where(np.isnan(y), 0.0, y - _nanmean(y))
    return np.sqrt((centred ** 2).sum(axis=0) / np.maximum(counts, 1))


def _unscale_in_eval(model: nn.Module, inputs, output):
    if model.training:
        return output
    return dataclasses.replace(output, pred=model.target_scaler.inverse(output.pred))


def attach_target_scaler(model: nn.Module, n_tasks: int) -> nn.Module:
    """Give ``model`` an identity :class:`TargetScaler` and the eval-mode unscaling hook; returns the model."""
    model.target_scaler = TargetScaler(n_tasks)
    model.register_forward_hook(_unscale_in_eval)
    return model


def scaler_of(model: nn.Module) -> TargetScaler | None:
    """The model's target scaler, or None when it predicts raw targets."""
    scaler = getattr(model, "target_scaler", None)
    return scaler if isinstance(scaler, TargetScaler) else None
