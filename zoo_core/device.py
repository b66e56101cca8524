"""Where training and prediction run: ``--device auto|cpu|cuda`` (``cuda:N`` too) resolved to a torch device name.

``auto`` is ``cuda`` when ``torch.cuda.is_available()``, else ``cpu``. Batches are plain tensors
(:mod:`zoo_core.data.graph`), so every model runs on whatever device torch has, with PyPI's CPU-only DGL.
"""

from __future__ import annotations

from zoo_core.errors import UsageError

DEVICE_HELP = "auto (cuda when torch sees a GPU, else cpu), cpu, cuda or cuda:N"


def resolve_device(name: str | None) -> str:
    """``auto`` (or None) -> ``cuda``/``cpu``; ``cpu``, ``cuda``, ``cuda:N`` pass through when torch can use them
    (UsageError otherwise)."""
    import torch

    text = str(name or "auto").strip().lower()
    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind, _, index = text.partition(":")
    if kind == "cpu" and not index:
        return "cpu"
    if kind != "cuda" or (index and not index.isdigit()):
        raise UsageError(f"--device must be auto, cpu, cuda or cuda:N, got {name!r}")
    if not torch.cuda.is_available():
        raise UsageError(f"--device {name}: this torch sees no CUDA GPU (torch {torch.__version__}, CUDA build: "
                         f"{torch.version.cuda or 'no'}); use --device cpu or auto")
    if index and int(index) >= torch.cuda.device_count():
        raise UsageError(f"--device {name}: torch sees {torch.cuda.device_count()} GPU(s)")
    return text


def device_of(module) -> "torch.device":  # noqa: F821  (torch is imported lazily)
    """The device of a module's first parameter or buffer (cpu for one with neither)."""
    import itertools

    import torch

    first = next(itertools.chain(module.parameters(), module.buffers()), None)
    return torch.device("cpu") if first is None else first.device
