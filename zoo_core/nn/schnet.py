"""SchNet 3D encoder in plain torch (METHODS §7.2; shared by 3DMRL and MolInteract).

PyG-style SchNet: atom-type embedding -> ``n_interactions`` continuous-filter convolution blocks with a residual
``h = h + block(h)`` -> per-atom head Linear -> shifted softplus -> Linear. Each block: filter network
Linear(n_gaussians -> filters) -> ssp -> Linear(filters -> filters), multiplied by the cosine cutoff
C(d) = ½(cos(πd/cutoff) + 1); CFConv = Linear(hidden -> filters, no bias), Σ_j x_j ⊙ W_ij, Linear(filters -> hidden);
then ssp and Linear(hidden -> hidden). Distances are expanded on ``n_gaussians`` Gaussians on [0, cutoff].

The radius graph is computed here, without torch_cluster: all ordered pairs (i, j), i != j, inside each segment
(molecule or VIE system) with ‖x_i − x_j‖ < cutoff. ``max_neighbors`` (default None = uncapped) keeps the
``max_neighbors`` *nearest* neighbours of each atom (torch_cluster keeps the first ones it finds, which depends
on atom order; nearest is order-independent). Each atom's candidates are a padded row of its segment's atoms
(segments of similar size padded together), in blocks of at most ``RADIUS_BLOCK`` candidates, so memory stays
bounded even beside one very large segment.

Tabulated filters (``filter_table=K``, an engineering option, off by default): the filter W(d)·C(d) of a block is a
function of the distance alone, so it is evaluated on K evenly spaced distances in [0, cutoff] and linearly
interpolated per edge. That replaces two per-edge matmuls and a softplus ([E, 50] -> [E, 128] -> [E, 128], the
bulk of a VIE batch's cost) by a [K, ...] evaluation and a gather; gradients reach the filter weights through the
table. The interpolation error is O(h²·|f''|) with h = cutoff/(K−1) (about 1e-5 relative for K = 4096; tested).
With a table, the interpolation, the product with x_j and the sum over neighbours run fused, over chunks of
``EDGE_CHUNK`` edges (:class:`_TabulatedAggregate`): the per-edge [E, filters] tensors never exist whole, so the
work stays in cache (a memory-bound chain of gathers and products over ~10⁵ edges × 128 filters otherwise), and
backward recomputes them per chunk instead of keeping them (7x faster on a 100k-edge block, docs/DECISIONS.md).
``SchNet.compiled_kernels = True`` (opt-in; ``zoo pretrain --compile``) runs the same expression and its gradient
as compiled loops over the edges with no per-edge temporaries: on CPU float32 the native C kernels of
:mod:`zoo_core.nn.native_aggregate` (needs a C compiler; the same bits as inductor's kernels on one thread; the
kernels 2.4-3x faster, a 3DMRL step 1.1-1.4x), elsewhere two ``torch.compile`` kernels (inductor, dynamic
shapes); docs/DECISIONS.md, "Compiled filter kernels" and "Native aggregation kernels".

Everything depends on coordinates only through distances, so the per-atom output is invariant to rotations and
translations of each segment and equivariant to atom renumbering; :func:`masked_mean` is the 3DMRL readout
(mean over solute atoms only).
"""

from __future__ import annotations

import itertools
import math
import os

import torch
from torch import nn
from torch.nn import functional as F

from zoo_core.nn import native_aggregate
from zoo_core.nn.segment import segment_ids, segment_sum


class ShiftedSoftplus(nn.Module):
    """ssp(x) = softplus(x) − log 2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(x) - math.log(2.0)


def _nearest_first(dist: torch.Tensor, k: int) -> torch.Tensor:
    """Column indices of the ``k`` smallest entries of each row of ``dist`` (>= 0 or inf), ascending, ties by column:
    a stable sort's first ``k``. For float32, ``topk`` of unique int64 keys (the distance's bits, which order like
    the non-negative floats, then the column), ~2.5x faster than sorting the rows."""
    width = dist.shape[1]
    if dist.dtype != torch.float32:
        return torch.sort(dist, dim=1, stable=True).indices[:, :k]
    shift = max(1, (width - 1).bit_length())
    key = (dist.view(torch.int32).to(torch.int64) << shift) + torch.arange(width, device=dist.device)
    return torch.topk(key, k, dim=1, largest=False, sorted=True).indices


RADIUS_BLOCK = 1 << 22  # candidate pairs per block of target atoms ([rows, block width]): ~150 MB of temporaries


def _similar_size_runs(counts: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs [g0, g1) of segments padded together to the run's largest size: a run grows while the
    padded candidates (atoms × largest) stay within 1.25x its Σ n_g² (+ 4,096), so a VIE batch of 80-470-atom
    systems is not padded to its largest system, and a batch of small molecules needs only a few runs."""
    runs, g0, rows, width, square = [], 0, 0, 0, 0
    for g, c in enumerate(counts):
        if g > g0 and (rows + c) * max(width, c) > 1.25 * (square + c * c) + 4096:
            runs.append((g0, g))
            g0, rows, width, square = g, 0, 0, 0
        rows, width, square = rows + c, max(width, c), square + c * c
    return runs + [(g0, len(counts))]


def radius_graph(pos: torch.Tensor, counts: torch.Tensor, cutoff: float,
                 max_neighbors: int | None = None) -> torch.Tensor:
    """Edges [2, E] (row 0 = source j, row 1 = target i) between distinct atoms of the same segment closer
    than ``cutoff``. ``counts`` [G] are the atoms per segment, ``pos`` [Σ counts, 3] is segment-contiguous.

    Order: by target i, then by source j or, with ``max_neighbors``, by distance (ties by j). Each target's
    candidates are a row of a padded block (its segment's atoms in order; segments of similar size share a block,
    :func:`_similar_size_runs`), so the cap is a row-wise choice of the nearest (:func:`_nearest_first`) instead of
    two sorts of every close pair; blocks hold at most ``RADIUS_BLOCK`` candidates, which bounds the memory."""
    n = int(pos.shape[0])
    if n == 0:
        return torch.zeros(2, 0, dtype=torch.long, device=pos.device)
    sizes = counts.to(torch.long).tolist()
    starts = [0, *itertools.accumulate(sizes)]                            # segment g holds atoms starts[g]:starts[g+1]
    pos, counts = pos.detach(), counts.to(torch.long).to(pos.device)
    seg = segment_ids(counts)
    first = torch.tensor(starts[:-1], dtype=torch.long, device=pos.device)[seg]  # each target's segment
    size = counts[seg]
    src_parts, dst_parts = [], []
    for g0, g1 in _similar_size_runs(sizes):
        width = max(sizes[g0:g1])
        if width < 2:
            continue
        col = torch.arange(width, device=pos.device)
        step = max(1, RADIUS_BLOCK // width)
        for lo in range(starts[g0], starts[g1], step):
            target = torch.arange(lo, min(starts[g1], lo + step), device=pos.device)
            partner = first[target, None] + col                                     # [rows, width]
            valid = (col < size[target, None]) & (partner != target[:, None])
            partner = torch.where(valid, partner, target[:, None])                   # padding: a valid index
            diff = pos.index_select(0, partner.reshape(-1)).view(len(target), width, 3) - pos[target, None, :]
            dist = diff.reshape(-1, 3).norm(dim=-1).view(len(target), width)
            close = valid & (dist < cutoff)
            if max_neighbors is not None:
                order = _nearest_first(dist.masked_fill(~close, math.inf), min(max_neighbors, width))
                partner, close = partner.gather(1, order), close.gather(1, order)
            src_parts.append(partner[close])
            dst_parts.append(target[:, None].expand_as(partner)[close])
    if not src_parts:
        return torch.zeros(2, 0, dtype=torch.long, device=pos.device)
    return torch.stack([torch.cat(src_parts), torch.cat(dst_parts)])


class GaussianSmearing(nn.Module):
    """exp(−½ (d − μ_k)² / Δ²) with μ_k = linspace(start, stop, n), Δ the spacing (PyG).

    Values below eps² of the dtype (1.4e-14 in float32, |d − μ_k| > 8 Δ) are set to 0. Some distance always has
    a Gaussian above 0.88 (the nearest centre is within Δ/2), so this is far below rounding; without it the
    far tails are subnormal numbers, and x86 CPUs multiply those ~20x slower: the filter network's weight
    gradient on a 4,096-point filter table took 30 ms instead of 1.6 ms (docs/DECISIONS.md).
    """

    def __init__(self, start: float = 0.0, stop: float = 5.0, n: int = 50):
        super().__init__()
        offset = torch.linspace(start, stop, n)
        self.coeff = -0.5 / float(offset[1] - offset[0]) ** 2
        self.register_buffer("offset", offset)

    def forward(self, dist: torch.Tensor) -> torch.Tensor:
        rbf = torch.exp(self.coeff * (dist.view(-1, 1) - self.offset.view(1, -1)) ** 2)
        return rbf.masked_fill(rbf < torch.finfo(rbf.dtype).eps ** 2, 0.0)


EDGE_CHUNK = 1024  # edges per fused chunk: 1024 × 128 float32 = 0.5 MB per temporary (measured best of 256..16384)


def tabulated_aggregate(x, table, src, dst, lo, frac):
    """The definition of :class:`_TabulatedAggregate`'s output, unchunked: what the compiled kernel fuses, and the
    differentiable path when the distances (``frac``) need gradients."""
    w = torch.lerp(table[lo], table[lo + 1], frac)
    return segment_sum(x[src] * w, dst, x.shape[0])


def tabulated_aggregate_backward(grad, x, table, src, dst, lo, frac):
    """Gradients (for x, for the table) of :func:`tabulated_aggregate`, unchunked."""
    g = grad[dst]
    grad_x = torch.zeros_like(x).index_add_(0, src, g * torch.lerp(table[lo], table[lo + 1], frac))
    gw = g * x[src]
    grad_table = torch.zeros_like(table).index_add_(0, lo + 1, gw * frac).index_add_(0, lo, gw * (1 - frac))
    return grad_x, grad_table


_COMPILED: dict = {}
_INDUCTOR: dict = {}


def _inductor_cache_in_zoo_home() -> None:
    """Point TORCHINDUCTOR_CACHE_DIR at ``ZOO_HOME/inductor`` unless the user chose a folder. Importing any part of
    ``torch._inductor`` sets the variable to torch's default (/tmp/torchinductor_<user>) and creates that folder, so
    this runs before the import, and once it has happened a value equal to torch's default counts as unset."""
    import sys

    from zoo_core.paths import zoo_home

    chosen = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if chosen is not None and "torch._inductor" in sys.modules:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir

        chosen = None if os.path.abspath(chosen) == os.path.abspath(default_cache_dir()) else chosen
    if chosen is None:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(zoo_home() / "inductor")


def inductor_aggregate_kernels() -> dict:
    """``torch.compile`` (inductor, ``dynamic=True``) of :func:`tabulated_aggregate` and its backward, built once
    per process: ``--compile``'s kernels off the CPU or for float64 (on CPU float32 the native ones run,
    :func:`compiled_aggregate_kernels`). Inductor's on-disk cache goes to the zoo cache's ``inductor`` area unless
    TORCHINDUCTOR_CACHE_DIR is set, and its precompiled C++ headers, which it would write to
    /tmp/torchinductor_<user> whatever that variable says, are off unless TORCHINDUCTOR_CPP_CACHE_PRECOMPILE_HEADERS
    is set: the zoo writes nowhere else. The first call of a process compiles (~20 s cold, a few s from that
    cache)."""
    if not _INDUCTOR:
        import shutil

        from zoo_core.errors import ZooError

        if not (os.environ.get("CXX") or any(shutil.which(c) for c in ("g++", "clang++", "c++"))):
            raise ZooError("--compile needs a C++ compiler for torch.compile (g++ or clang++ on the PATH, or $CXX); "
                           "install one or run without --compile")
        _inductor_cache_in_zoo_home()
        import torch._inductor.config as inductor_config

        if "TORCHINDUCTOR_CPP_CACHE_PRECOMPILE_HEADERS" not in os.environ:
            inductor_config.cpp_cache_precompile_headers = False
        _INDUCTOR["forward"] = torch.compile(tabulated_aggregate, dynamic=True)
        _INDUCTOR["backward"] = torch.compile(tabulated_aggregate_backward, dynamic=True)
    return _INDUCTOR


def _compiled_forward(x, table, src, dst, lo, frac):
    if native_aggregate.supports(x, table):
        return native_aggregate.forward(x, table, src, dst, lo, frac)
    return inductor_aggregate_kernels()["forward"](x, table, src, dst, lo, frac)


def _compiled_backward(grad, x, table, src, dst, lo, frac):
    if native_aggregate.supports(x, table):
        return native_aggregate.backward(grad, x, table, src, dst, lo, frac)
    return inductor_aggregate_kernels()["backward"](grad, x, table, src, dst, lo, frac)


def compiled_aggregate_kernels() -> dict:
    """``--compile``'s forward and backward of :func:`tabulated_aggregate`: on CPU float32 tensors the native C
    kernels of :mod:`zoo_core.nn.native_aggregate` (built on the first call, a ZooError without a C compiler), else
    :func:`inductor_aggregate_kernels` (compiled at their first use)."""
    if not _COMPILED:
        native_aggregate.library()
        _COMPILED.update(forward=_compiled_forward, backward=_compiled_backward)
    return _COMPILED


class _TabulatedAggregate(torch.autograd.Function):
    """out_i = Σ_{e: dst_e = i} x[src_e] ⊙ lerp(T[lo_e], T[lo_e + 1], frac_e), chunk by chunk over the edges.

    Backward gives autograd's gradients of that expression (for x: Σ over edges of grad[dst] ⊙ w into src; for
    the table: grad[dst] ⊙ x[src] split between rows lo and lo + 1 by the interpolation weights), recomputing the
    per-edge filters per chunk. Single-order only (nothing in the zoo differentiates through it twice).

    The per-chunk temporaries are allocated once per call and filled with ``out=`` / in-place ops (fresh 0.5 MB
    tensors per chunk cost ~16 % of the forward + backward); the arithmetic is the same, so are the results."""

    @staticmethod
    def _buffers(x, table, edges: int, count: int) -> list:
        rows = min(EDGE_CHUNK, edges)
        return [x.new_empty(rows, table.shape[1]) for _ in range(count)]

    @staticmethod
    def _filters(table, lo_p, hi_p, frac_p, w, spare):
        """w = lerp(table[lo], table[lo + 1], frac) for one chunk, into ``w`` (``spare``: scratch)."""
        torch.index_select(table, 0, lo_p, out=w)
        torch.index_select(table, 0, hi_p, out=spare)
        return w.lerp_(spare, frac_p)

    @staticmethod
    def forward(ctx, x, table, src, dst, lo, frac, compiled=False):
        ctx.save_for_backward(x, table, src, dst, lo, frac)
        ctx.compiled = compiled
        if compiled:
            return compiled_aggregate_kernels()["forward"](x, table, src, dst, lo, frac)
        out = x.new_zeros(x.shape[0], table.shape[1])
        w_buf, spare_buf, x_buf = _TabulatedAggregate._buffers(x, table, src.shape[0], 3)
        hi = lo + 1
        for s in range(0, src.shape[0], EDGE_CHUNK):
            part, m = slice(s, s + EDGE_CHUNK), min(EDGE_CHUNK, src.shape[0] - s)
            w = _TabulatedAggregate._filters(table, lo[part], hi[part], frac[part], w_buf[:m], spare_buf[:m])
            out.index_add_(0, dst[part], torch.index_select(x, 0, src[part], out=x_buf[:m]).mul_(w))
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, table, src, dst, lo, frac = ctx.saved_tensors
        if ctx.compiled:
            grad_x, grad_table = compiled_aggregate_kernels()["backward"](grad.contiguous(), x, table, src, dst, lo,
                                                                         frac)
            return (grad_x if ctx.needs_input_grad[0] else None, grad_table if ctx.needs_input_grad[1] else None,
                    None, None, None, None, None)
        grad_x = torch.zeros_like(x) if ctx.needs_input_grad[0] else None
        grad_table = torch.zeros_like(table) if ctx.needs_input_grad[1] else None
        g_buf, w_buf, spare_buf, x_buf = _TabulatedAggregate._buffers(x, table, src.shape[0], 4)
        hi = lo + 1
        for s in range(0, src.shape[0], EDGE_CHUNK):
            part, m = slice(s, s + EDGE_CHUNK), min(EDGE_CHUNK, src.shape[0] - s)
            frac_p = frac[part]
            g = torch.index_select(grad, 0, dst[part], out=g_buf[:m])
            if grad_x is not None:
                w = _TabulatedAggregate._filters(table, lo[part], hi[part], frac_p, w_buf[:m], spare_buf[:m])
                grad_x.index_add_(0, src[part], w.mul_(g))
            if grad_table is not None:
                gw = g.mul_(torch.index_select(x, 0, src[part], out=x_buf[:m]))
                grad_table.index_add_(0, hi[part], torch.mul(gw, frac_p, out=spare_buf[:m]))
                grad_table.index_add_(0, lo[part], gw.mul_(1 - frac_p))
        return grad_x, grad_table, None, None, None, None, None


class CFConv(nn.Module):
    """Continuous-filter convolution (PyG ``CFConv``): sum aggregation of x_j ⊙ W(d_ij) · C(d_ij)."""

    def __init__(self, hidden: int, filters: int, n_gaussians: int, cutoff: float):
        super().__init__()
        self.filter_net = nn.Sequential(nn.Linear(n_gaussians, filters), ShiftedSoftplus(), nn.Linear(filters, filters))
        self.lin1 = nn.Linear(hidden, filters, bias=False)
        self.lin2 = nn.Linear(filters, hidden)
        self.cutoff = cutoff

    def filters(self, dist: torch.Tensor, rbf: torch.Tensor) -> torch.Tensor:
        """W(d)·C(d) [E, filters] for distances ``dist`` with Gaussian expansion ``rbf``."""
        c = 0.5 * (torch.cos(dist * math.pi / self.cutoff) + 1.0)
        return self.filter_net(rbf) * c.view(-1, 1)

    def forward(self, h, edge_index, dist, rbf, table: "FilterTable | None" = None):
        x = self.lin1(h)
        if table is not None:
            return self.lin2(table.aggregate(x, self.filters(table.grid, table.grid_rbf), edge_index))
        msg = x[edge_index[0]] * self.filters(dist, rbf)
        return self.lin2(segment_sum(msg, edge_index[1], h.shape[0]))


class InteractionBlock(nn.Module):
    """CFConv -> ssp -> Linear (the residual is added by :class:`SchNet`)."""

    def __init__(self, hidden: int, filters: int, n_gaussians: int, cutoff: float):
        super().__init__()
        self.conv = CFConv(hidden, filters, n_gaussians, cutoff)
        self.act = ShiftedSoftplus()
        self.lin = nn.Linear(hidden, hidden)

    def forward(self, h, edge_index, dist, rbf, table=None):
        return self.lin(self.act(self.conv(h, edge_index, dist, rbf, table)))


class FilterTable:
    """Linear interpolation of per-distance functions tabulated on ``size`` points of [0, cutoff]."""

    def __init__(self, dist: torch.Tensor, cutoff: float, size: int, smearing: "GaussianSmearing",
                 compiled: bool = False):
        if size < 2:
            raise ValueError("filter_table needs at least 2 points")
        self.grid = torch.linspace(0.0, cutoff, size, dtype=dist.dtype, device=dist.device)
        self.grid_rbf = smearing(self.grid)
        t = (dist / (cutoff / (size - 1))).clamp(0, size - 1)
        self.lo = t.floor().long().clamp(max=size - 2)
        self.frac = (t - self.lo.to(t.dtype)).unsqueeze(1)
        self.compiled = compiled

    def lookup(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` [size, F] on the grid -> [E, F] at the edge distances."""
        lo, hi = values.index_select(0, self.lo), values.index_select(0, self.lo + 1)
        return torch.lerp(lo, hi, self.frac)

    def aggregate(self, x: torch.Tensor, values: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """Σ_{j→i} x_j ⊙ lookup(values)_ji per target atom i ([N, F]), fused (:class:`_TabulatedAggregate`;
        compiled kernels when ``compiled``). When the distances need gradients (forces from positions) the unfused
        lookup keeps d/d(dist)."""
        if self.frac.requires_grad:
            return tabulated_aggregate(x, values, edge_index[0], edge_index[1], self.lo, self.frac)
        return _TabulatedAggregate.apply(x, values, edge_index[0], edge_index[1], self.lo, self.frac, self.compiled)


class SchNet(nn.Module):
    """Per-atom SchNet features ``[N, out_dim]`` of one or more segments (molecules / VIE systems).

    ``forward(z, pos, counts)``: ``z`` [N] atom-type tokens in [0, num_atom_types), ``pos`` [N, 3], ``counts`` [G]
    atoms per segment (segments contiguous). 3DMRL's defaults: hidden 64, 128 filters, 50 Gaussians, cutoff 5 Å,
    6 blocks; the 3DMRL script caps the radius graph at 32 neighbours (pass ``max_neighbors=32``).
    ``filter_table=K`` interpolates the filters from K tabulated distances (module doc); None computes them per edge.
    ``compiled_kernels`` (attribute, default False): run the tabulated aggregation as compiled kernels (module doc);
    an execution setting like the device, not part of the weights.
    """

    def __init__(self, hidden: int = 64, filters: int = 128, n_interactions: int = 6, n_gaussians: int = 50,
                 cutoff: float = 5.0, num_atom_types: int = 100, out_dim: int | None = None,
                 max_neighbors: int | None = None, filter_table: int | None = None):
        super().__init__()
        self.hidden, self.cutoff, self.max_neighbors = hidden, float(cutoff), max_neighbors
        self.filter_table = filter_table
        self.compiled_kernels = False
        self.out_dim = out_dim or hidden
        self.embedding = nn.Embedding(num_atom_types, hidden)
        self.smearing = GaussianSmearing(0.0, cutoff, n_gaussians)
        self.interactions = nn.ModuleList(
            InteractionBlock(hidden, filters, n_gaussians, cutoff) for _ in range(n_interactions))
        self.head = nn.Sequential(nn.Linear(hidden, hidden), ShiftedSoftplus(), nn.Linear(hidden, self.out_dim))

    def forward(self, z: torch.Tensor, pos: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        edge_index = radius_graph(pos, counts, self.cutoff, self.max_neighbors)
        dist = (pos[edge_index[0]] - pos[edge_index[1]]).norm(dim=-1)
        if self.filter_table:
            rbf, table = None, FilterTable(dist, self.cutoff, self.filter_table, self.smearing, self.compiled_kernels)
        else:
            rbf, table = self.smearing(dist), None
        h = self.embedding(z)
        for block in self.interactions:
            h = h + block(h, edge_index, dist, rbf, table)
        return self.head(h)


def masked_mean(h: torch.Tensor, counts: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of the rows of ``h`` per segment over the rows where ``mask`` is true ([G, d]; 0 for a segment with
    no selected row). 3DMRL's z_3D is ``masked_mean(schnet(...), counts, is_solute)``."""
    counts = counts.to(torch.long).to(h.device)
    ids = segment_ids(counts)
    if mask is None:
        mask = torch.ones(h.shape[0], dtype=torch.bool, device=h.device)
    m = mask.to(h.dtype).view(-1, 1)
    total = segment_sum(h * m, ids, len(counts))
    n = segment_sum(m, ids, len(counts)).clamp(min=1.0)
    return total / n
