"""Data-parallel training on torch.distributed (``torchrun``; ``zoo run/pretrain --nproc N``): issue 38, part 2.

Every rank holds the whole model and the same optimizer; the seeded permutation of an epoch is the single
process's, and each global batch of it is cut into contiguous shares, one per rank (:func:`shard_rows`), so the
union of the shares of one step is that step's single-process batch. The cuts balance the shares' work when the
data says what each row costs (``row_cost``, e.g. 3DMRL's VIE atoms), else their rows. A step is exactly the
single-process step on the union batch (up to float rounding):

* each rank's loss is multiplied by its share of the rows (``n_r / N``) before backward, and the gradients are
  summed over ranks (:func:`backward`): losses that are means over rows add up to the mean over the union batch,
  also when the last batch splits unevenly. A mean over other items (atoms, labelled cells) is
  :func:`union_mean`; a batch with fewer rows than ranks is run whole by every rank, rank 0's gradient counting;
* what couples the rows of a batch sees the union batch: in-batch contrastive negatives and batch-norm
  statistics through :func:`gather_rows` / :func:`on_union_rows` (all-gather with gradient: the backward sums
  every rank's gradient and keeps this rank's rows), random draws through :func:`draw_rows` (every rank draws the
  union batch's numbers from the shared generator state, in the single process's order, and keeps its rows), so
  the torch generators of all ranks stay equal to the single process's;
* outside a sharded step (one process, validation, prediction) every function here is the plain operation.

Only rank 0 writes (run directory, checkpoints, caches, logs); the other ranks read what it wrote (a shared file
system across machines). docs/DECISIONS.md "Issue 38: data-parallel training" has the reasons.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

if TYPE_CHECKING:   # torch is imported where used: light commands import this module without it
    import torch

_STEP: "Share | None" = None   # the sharded step being trained on this rank, if any


def _dist():
    """torch.distributed when a process group is up, else None (without importing torch: no group without it)."""
    if "torch" not in sys.modules:
        return None
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def launched_by_torchrun() -> bool:
    """Is this process one rank of several that torchrun (or another launcher setting its variables) started?"""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_from_env(device: str = "cpu") -> bool:
    """Join the process group that torchrun's variables describe (gloo on the CPU, NCCL on CUDA, each rank on GPU
    ``LOCAL_RANK``); True when this process is one of several ranks."""
    if _dist() is not None:
        return world_size() > 1
    if not launched_by_torchrun():
        return False
    import torch.distributed as dist

    import torch

    cuda = str(device).startswith("cuda")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")
    return True


def world_size() -> int:
    dist = _dist()
    return dist.get_world_size() if dist is not None else 1


def rank() -> int:
    dist = _dist()
    return dist.get_rank() if dist is not None else 0


def is_main() -> bool:
    """Rank 0, the one that writes (always true in one process)."""
    return rank() == 0


def _device() -> torch.device:
    """Where collectives' tensors live: the rank's GPU under NCCL, else the CPU."""
    import torch

    dist = _dist()
    if dist is not None and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# -- sharding and the gradient step -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    """This rank's rows of one global batch of ``total`` rows: ``rows`` = batch[offset : offset + len(rows)].
    ``sharded`` False: one process, or a batch with fewer rows than ranks, which every rank runs whole."""

    rows: np.ndarray
    offset: int
    total: int
    sharded: bool

    @property
    def weight(self) -> float:
        """The factor of this rank's loss: its share of the rows (rank 0 alone counts in an unsharded step)."""
        if self.sharded:
            return len(self.rows) / self.total
        return 1.0 if is_main() else 0.0


UNSHARDED = Share(np.zeros(0, dtype=np.int64), 0, 0, False)   # a step of one process


def shard_rows(rows: np.ndarray, cost: Callable[[np.ndarray], np.ndarray] | None = None) -> Share:
    """This rank's contiguous share of a global batch. ``cost`` (rows -> each row's work, the same numbers on every
    rank; e.g. a data view's ``row_cost``): the cuts balance the shares' work (:func:`balanced_cuts`); without it
    the shares' sizes differ by at most one, the first ranks larger (:func:`even_cuts`)."""
    rows = np.asarray(rows)
    n, size, r = len(rows), world_size(), rank()
    if size == 1 or n < size:
        return Share(rows, 0, n, False)
    cuts = balanced_cuts(np.asarray(cost(rows), dtype=np.float64), size) if cost is not None else even_cuts(n, size)
    return Share(rows[cuts[r]:cuts[r + 1]], int(cuts[r]), n, True)


def even_cuts(n: int, size: int) -> np.ndarray:
    """Boundaries ``0 = c_0 < ... < c_size = n`` of ``size`` contiguous parts of ``n`` >= ``size`` rows whose sizes
    differ by at most one, the first parts larger (rank r's part is ``c_r:c_r+1``)."""
    base, extra = divmod(n, size)
    return np.array([r * base + min(r, extra) for r in range(size + 1)])


def balanced_cuts(work: np.ndarray, size: int) -> np.ndarray:
    """Boundaries ``0 = c_0 < ... < c_size = len(work)`` of ``size`` contiguous, non-empty parts whose summed
    ``work`` is as even as a contiguous cut allows: ``c_r`` is the prefix whose work is nearest ``r / size`` of the
    total (for two parts: the cut that minimises the larger part's work)."""
    n = len(work)
    prefix = np.concatenate([[0.0], np.cumsum(work)])
    cuts = [0]
    for r in range(1, size):
        lo, hi = cuts[-1] + 1, n - (size - r)   # every part keeps at least one row
        target = prefix[-1] * r / size
        cuts.append(lo + int(np.argmin(np.abs(prefix[lo:hi + 1] - target))))
    return np.array(cuts + [n])


@contextmanager
def step(share: Share):
    """Mark the code inside as the training step of ``share`` (what the functions below consult)."""
    global _STEP
    _STEP = share if share.sharded else None
    try:
        yield
    finally:
        _STEP = None


def sharded() -> bool:
    """Inside a sharded training step (then the batch's coupled operations see the union batch)?"""
    return _STEP is not None


def backward(loss: torch.Tensor, share: Share, params: Iterable[torch.nn.Parameter]) -> None:
    """``loss.backward()``; with several ranks the loss weighted by the share's rows, then the gradients summed
    over ranks, so every rank holds the union batch's gradient."""
    if world_size() == 1:
        loss.backward()
        return
    (loss * share.weight).backward()
    all_reduce_gradients(params)


def all_reduce_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Sum the gradients over ranks in one flat all-reduce; a parameter no rank gave a gradient keeps none (so
    the optimizer leaves its moments alone, as in one process)."""
    import torch

    params = list(params)
    if not params:
        return
    grads = [p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), dtype=p.dtype, device=p.device)
             for p in params]
    has = torch.tensor([p.grad is not None for p in params], dtype=grads[0].dtype, device=grads[0].device)
    flat = torch.cat(grads + [has])
    _dist().all_reduce(flat)
    offset = 0
    for p, reached in zip(params, flat[-len(params):].tolist()):
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone() if reached else None
        offset += n


def union_parts(parts: dict[str, float], share: Share) -> dict[str, float]:
    """The union batch's values of a step's logged loss parts (each rank's weighted by its share, summed)."""
    if world_size() == 1:
        return parts
    import torch

    values = torch.tensor([float(v) * share.weight for v in parts.values()], dtype=torch.float64, device=_device())
    _dist().all_reduce(values)
    return dict(zip(parts, values.tolist()))


# -- what couples the rows of a batch ---------------------------------------------------------------------------


def row_counts(n: int) -> list[int]:
    """Every rank's number of rows (``n`` here), in rank order."""
    import torch

    dist = _dist()
    counts = [torch.zeros(1, dtype=torch.int64, device=_device()) for _ in range(world_size())]
    dist.all_gather(counts, torch.tensor([n], dtype=torch.int64, device=_device()))
    return [int(c) for c in counts]


@lru_cache(maxsize=None)
def _gather_function():
    import torch

    class GatherRows(torch.autograd.Function):
        """All ranks' rows in rank order; the backward sums the gradient over ranks, returns this rank's rows."""

        @staticmethod
        def forward(ctx, x: torch.Tensor, counts: list[int], offset: int) -> torch.Tensor:
            dist, most = _dist(), max(counts)
            padded = x.new_zeros((most, *x.shape[1:]))
            padded[:x.shape[0]] = x
            parts = [torch.empty_like(padded) for _ in counts]
            dist.all_gather(parts, padded.contiguous())
            ctx.rows = (offset, x.shape[0])
            return torch.cat([part[:n] for part, n in zip(parts, counts)])

        @staticmethod
        def backward(ctx, grad: torch.Tensor):
            grad = grad.contiguous().clone()
            _dist().all_reduce(grad)
            offset, n = ctx.rows
            return grad[offset:offset + n], None, None
    return GatherRows


def gather_rows(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(the union batch's rows of ``x`` [n, ...] with gradient, where this rank's rows start); (x, 0) outside a
    sharded step."""
    if not sharded():
        return x, 0
    counts = row_counts(x.shape[0])
    offset = sum(counts[:rank()])
    return _gather_function().apply(x, counts, offset), offset


def on_union_rows(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``fn`` (row-coupled, e.g. training-mode batch norm) applied to the union batch's rows of ``x``; this rank's
    rows of the result. ``fn(x)`` outside a sharded step."""
    if not sharded():
        return fn(x)
    union, offset = gather_rows(x)
    return fn(union)[offset:offset + x.shape[0]]


def draw_rows(draw: Callable[[int], torch.Tensor], n: int) -> torch.Tensor:
    """``draw(n)`` (random rows from torch's generator); in a sharded step every rank draws the union batch's rows,
    as the single process does, and keeps its own."""
    if not sharded():
        return draw(n)
    counts = row_counts(n)
    offset = sum(counts[:rank()])
    return draw(sum(counts))[offset:offset + n]


def union_mean(values: torch.Tensor) -> torch.Tensor:
    """``values.mean()``; in a sharded step the sum of this rank's values over the union batch's count, scaled by
    total / own rows (undoing the step's row weight): the mean over atoms or labelled cells of the union batch."""
    if not sharded():
        return values.mean()
    count = sum(row_counts(values.numel()))
    return values.sum() * (_STEP.total / len(_STEP.rows)) / max(count, 1)


# -- agreement between ranks ------------------------------------------------------------------------------------


def from_main(value: Callable[[], Any]) -> Any:
    """``value()`` computed on rank 0 (the others wait), the same object on every rank."""
    if world_size() == 1:
        return value()
    box = [value() if is_main() else None]
    _dist().broadcast_object_list(box, src=0)
    return box[0]


def main_first(value: Callable[[], Any]) -> Any:
    """``value()`` on every rank, rank 0 first (it fills the caches, which the others then read)."""
    if is_main():
        result = value()
        barrier()
        return result
    barrier()
    return value()


def barrier() -> None:
    if world_size() > 1:
        _dist().barrier()


def check_world_size(meta: dict, path) -> None:
    """Refuse a checkpoint saved under another number of processes (its steps' shares would differ)."""
    from zoo_core.errors import ZooError

    saved = int(meta.get("world_size", 1))
    if saved != world_size():
        raise ZooError(f"{path}: saved by {saved} process(es); resume it with --nproc {saved} "
                       f"(this run has {world_size()})")
