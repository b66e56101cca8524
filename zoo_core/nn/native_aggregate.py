"""Native CPU kernels for SchNet's tabulated filter aggregation (``zoo pretrain --compile`` on CPU).

The expression is :func:`zoo_core.nn.schnet.tabulated_aggregate` and its gradient: per edge e (src → dst) the
filter ``w_e = lerp(T[lo_e], T[lo_e + 1], frac_e)`` (torch.lerp's formula), ``out[dst] += x[src] ⊙ w_e``; backward
``grad_x[src] += g[dst] ⊙ w_e``, ``grad_T[lo + 1] += g[dst] ⊙ x[src] · frac`` over all edges, then
``grad_T[lo] += g[dst] ⊙ x[src] · (1 − frac)``. Plain C loops over the edges in their order, vectorised over the
filters by the compiler, one thread, with no atomic adds: the scatters of inductor's CPU kernels (``torch.compile``,
the previous ``--compile``) are atomic read-modify-writes per element. The same bits as inductor's kernels on one
thread (same operations, same order, no FMA contraction: ``-ffp-contract=off``), 1.1-1.4x faster per 3DMRL step;
docs/DECISIONS.md, "Native aggregation kernels" (also why they stay on one thread).

The library is compiled on first use with the system C compiler (``$CC``, else cc, gcc or clang), ``-O3
-march=native`` (without ``-march=native`` where the compiler refuses it), into ``ZOO_HOME/kernels/``, named by a
hash of the source, the compiler and its flags and this CPU's model and instruction sets, so a home shared by
different machines never loads a library built for another CPU. Written to a temporary file and renamed, so
concurrent first uses are safe. Inputs are checked (device, dtype, shapes, index ranges) before the C code runs:
a bad index is an IndexError, never a write out of bounds.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

from zoo_core.errors import ZooError
from zoo_core.paths import zoo_home

SOURCE = r"""
#include <stdint.h>

/* acc[f] += a[f] * w[f], w = lerp(t0, t1, frac) with torch.lerp's formula:
   frac < 0.5 ? t0 + frac (t1 - t0) : t1 - (t1 - t0)(1 - frac). */
static inline void add_filtered(float* restrict acc, const float* restrict a, const float* restrict t0,
                                const float* restrict t1, float frac, int64_t width) {
    if (frac < 0.5f) { for (int64_t f = 0; f < width; ++f) acc[f] += a[f] * (t0[f] + frac * (t1[f] - t0[f])); }
    else { const float v = 1.0f - frac;
           for (int64_t f = 0; f < width; ++f) acc[f] += a[f] * (t1[f] - (t1[f] - t0[f]) * v); }
}

/* out[to_e] += a[from_e] * w_e: the forward (a = x, from = src, to = dst) and grad_x (a = grad, from = dst,
   to = src) */
void filtered_sum(const float* restrict a, const float* restrict table, const int64_t* from, const int64_t* to,
                  const int64_t* lo, const float* frac, float* restrict out, int64_t edges, int64_t width) {
    for (int64_t e = 0; e < edges; ++e) {
        const float* t0 = table + lo[e] * width;
        add_filtered(out + to[e] * width, a + from[e] * width, t0, t0 + width, frac[e], width);
    }
}

/* grad_table[lo_e + 1] += grad[dst_e] * x[src_e] * frac_e over all edges, then
   grad_table[lo_e] += grad[dst_e] * x[src_e] * (1 - frac_e) over all edges */
void table_gradient(const float* restrict grad, const float* restrict x, const int64_t* src, const int64_t* dst,
                    const int64_t* lo, const float* frac, float* restrict grad_table, int64_t edges, int64_t width) {
    for (int64_t e = 0; e < edges; ++e) {
        const float* restrict gd = grad + dst[e] * width;
        const float* restrict xs = x + src[e] * width;
        float* restrict acc = grad_table + (lo[e] + 1) * width;
        const float w = frac[e];
        for (int64_t f = 0; f < width; ++f) acc[f] += gd[f] * xs[f] * w;
    }
    for (int64_t e = 0; e < edges; ++e) {
        const float* restrict gd = grad + dst[e] * width;
        const float* restrict xs = x + src[e] * width;
        float* restrict acc = grad_table + lo[e] * width;
        const float v = 1.0f - frac[e];
        for (int64_t f = 0; f < width; ++f) acc[f] += gd[f] * xs[f] * v;
    }
}
"""
BASE_FLAGS = ["-O3", "-ffp-contract=off", "-fPIC", "-shared", "-std=c99"]
NATIVE_FLAGS = ["-march=native"]
_LIBRARY: dict = {}


def c_compiler() -> str:
    """``$CC``, else the first of cc, gcc, clang on the PATH; a ZooError naming the options when there is none."""
    chosen = os.environ.get("CC") or next((c for c in ("cc", "gcc", "clang") if shutil.which(c)), None)
    if not chosen:
        raise ZooError("--compile needs a C compiler for its native kernels (cc, gcc or clang on the PATH, or $CC); "
                       "install one or run without --compile")
    return chosen


def _cpu_identity() -> str:
    """This CPU's model and instruction-set flags (Linux: /proc/cpuinfo), else what the platform module says."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "\n".join(sorted({ln for ln in lines if ln.split(":")[0].strip() in ("model name", "flags",
                                                                                    "Features")}))
    except OSError:
        return f"{platform.machine()} {platform.processor()}"


def _compile(compiler: str, flags: list[str], target: Path) -> subprocess.CompletedProcess:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
    os.close(fd)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        source = Path(work) / "native_aggregate.c"
        source.write_text(SOURCE)
        done = subprocess.run([compiler, *flags, str(source), "-o", tmp], capture_output=True, text=True)
    if done.returncode == 0:
        os.replace(tmp, target)
    else:
        os.unlink(tmp)
    return done


def library() -> ctypes.CDLL:
    """The compiled kernels, built into ``ZOO_HOME/kernels`` on first use (module doc), loaded once per process."""
    if "lib" not in _LIBRARY:
        compiler = c_compiler()
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout
        errors = []
        for flags in (BASE_FLAGS + NATIVE_FLAGS, BASE_FLAGS):
            key = hashlib.sha256("\0".join([SOURCE, compiler, version, *flags, _cpu_identity()]).encode())
            target = zoo_home() / "kernels" / f"native_aggregate-{key.hexdigest()[:20]}.so"
            if not target.exists():
                done = _compile(compiler, flags, target)
                if done.returncode != 0:
                    errors.append(f"{compiler} {' '.join(flags)}: {done.stderr.strip()[-500:]}")
                    continue
            lib = ctypes.CDLL(str(target))
            pointer, size = ctypes.c_void_p, ctypes.c_int64
            for function in (lib.filtered_sum, lib.table_gradient):
                function.argtypes = [pointer] * 7 + [size] * 2
                function.restype = None
            _LIBRARY["lib"] = lib
            break
        else:
            raise ZooError("--compile could not build its native kernels:\n" + "\n".join(errors))
    return _LIBRARY["lib"]


def supports(x: torch.Tensor, table: torch.Tensor) -> bool:
    """True when the native kernels apply: CPU float32 features and table (else the caller uses torch.compile)."""
    return (x.device.type == "cpu" and table.device.type == "cpu" and x.dtype == torch.float32
            and table.dtype == torch.float32)


def _checked(x, table, src, dst, lo, frac):
    """Contiguous inputs of the kernels' types, every index inside its tensor (IndexError otherwise)."""
    if not supports(x, table):
        raise TypeError(f"the native kernels take CPU float32 x and table, not {x.dtype} on {x.device} and "
                        f"{table.dtype} on {table.device}")
    if x.dim() != 2 or table.dim() != 2 or x.shape[1] != table.shape[1]:
        raise ValueError(f"x {tuple(x.shape)} and table {tuple(table.shape)} must be [N, F] and [K, F]")
    edges = src.shape[0]
    src, dst, lo = (t.reshape(-1).to(torch.int64).contiguous() for t in (src, dst, lo))
    frac = frac.reshape(-1).to(torch.float32).contiguous()
    if not (dst.shape[0] == lo.shape[0] == frac.shape[0] == edges):
        raise ValueError(f"src, dst, lo and frac must have one entry per edge ({edges})")
    if edges:
        bounds = (("src", src, x.shape[0]), ("dst", dst, x.shape[0]), ("lo", lo, table.shape[0] - 1))
        for name, index, bound in bounds:
            low, high = int(index.min()), int(index.max())
            if low < 0 or high >= bound:
                raise IndexError(f"{name} holds {low}..{high}, outside 0..{bound - 1}")
    return x.contiguous(), table.contiguous(), src, dst, lo, frac


def _address(t: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


def _run(function, *tensors: torch.Tensor, edges: int) -> None:
    function(*map(_address, tensors), edges, tensors[-1].shape[1])


def forward(x, table, src, dst, lo, frac) -> torch.Tensor:
    """``out[i] = Σ_{e: dst_e = i} x[src_e] ⊙ lerp(table[lo_e], table[lo_e + 1], frac_e)`` ([N, F])."""
    x, table, src, dst, lo, frac = _checked(x, table, src, dst, lo, frac)
    out = torch.zeros_like(x)
    _run(library().filtered_sum, x, table, src, dst, lo, frac, out, edges=src.shape[0])
    return out


def backward(grad, x, table, src, dst, lo, frac) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients (for x, for the table) of :func:`forward` given ``grad`` = d loss / d out."""
    x, table, src, dst, lo, frac = _checked(x, table, src, dst, lo, frac)
    grad = grad.to(torch.float32).contiguous()
    if grad.shape != x.shape:
        raise ValueError(f"grad {tuple(grad.shape)} must have the shape of x {tuple(x.shape)}")
    grad_x, grad_table = torch.zeros_like(x), torch.zeros_like(table)
    _run(library().filtered_sum, grad, table, dst, src, lo, frac, grad_x, edges=src.shape[0])
    _run(library().table_gradient, grad, x, src, dst, lo, frac, grad_table, edges=src.shape[0])
    return grad_x, grad_table
