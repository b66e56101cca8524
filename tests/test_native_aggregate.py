"""The native C kernels of SchNet's tabulated aggregation (zoo_core.nn.native_aggregate)."""

import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
import torch

from zoo_core.nn import native_aggregate


def _case(seed=0, n=37, e=2500, k=200, f=19):
    """Random edges (frac on both sides of 0.5, repeated targets and table rows), features and table."""
    g = torch.Generator().manual_seed(seed)
    src, dst = torch.randint(0, n, (e,), generator=g), torch.randint(0, n, (e,), generator=g)
    lo = torch.randint(0, k - 1, (e,), generator=g)
    frac = torch.rand(e, 1, generator=g)
    x, table = torch.randn(n, f, generator=g), torch.randn(k, f, generator=g)
    return x, table, src, dst, lo, frac


def _lerp(a, b, w):
    """torch.lerp's formula in float32 numpy."""
    return np.where(w < 0.5, a + w * (b - a), b - (b - a) * (np.float32(1) - w)).astype(np.float32)


def _sequential_reference(x, table, src, dst, lo, frac, grad):
    """The kernels' arithmetic in numpy: float32 products, sums in edge order (np.add.at is unbuffered and ordered),
    the table's ``lo + 1`` rows over all edges before its ``lo`` rows."""
    x, table, grad = x.numpy(), table.numpy(), grad.numpy()
    src, dst, lo, w = src.numpy(), dst.numpy(), lo.numpy(), frac.numpy().reshape(-1, 1)
    filt = _lerp(table[lo], table[lo + 1], w)
    out = np.zeros_like(x)
    np.add.at(out, dst, x[src] * filt)
    grad_x, grad_table = np.zeros_like(x), np.zeros_like(table)
    np.add.at(grad_x, src, grad[dst] * filt)
    np.add.at(grad_table, lo + 1, grad[dst] * x[src] * w)
    np.add.at(grad_table, lo, grad[dst] * x[src] * (np.float32(1) - w))
    return out, grad_x, grad_table


@pytest.mark.parametrize("seed", [0, 1])
def test_kernels_give_the_sequential_arithmetic_bit_for_bit(seed):
    x, table, src, dst, lo, frac = _case(seed)
    grad = torch.randn_like(x)
    out = native_aggregate.forward(x, table, src, dst, lo, frac)
    grad_x, grad_table = native_aggregate.backward(grad, x, table, src, dst, lo, frac)
    ref = _sequential_reference(x, table, src, dst, lo, frac, grad)
    for mine, theirs in zip((out, grad_x, grad_table), ref):
        assert np.array_equal(mine.numpy(), theirs)
    assert out.abs().sum() > 0 and grad_table.abs().sum() > 0


def test_kernels_accept_no_edges_and_strided_inputs():
    x, table, src, dst, lo, frac = _case(2)
    none = torch.zeros(0, dtype=torch.long)
    assert torch.equal(native_aggregate.forward(x, table, none, none, none, frac[:0]), torch.zeros_like(x))
    wide = torch.randn(x.shape[0], 2 * x.shape[1])
    strided = wide[:, ::2]  # not contiguous
    assert torch.equal(native_aggregate.forward(strided, table, src, dst, lo, frac),
                       native_aggregate.forward(strided.contiguous(), table, src, dst, lo, frac))


@pytest.mark.parametrize("field,value,error", [
    ("src", 37, IndexError), ("dst", -1, IndexError), ("lo", 199, IndexError), ("frac", None, ValueError)])
def test_bad_inputs_are_refused_before_the_c_code_runs(field, value, error):
    x, table, src, dst, lo, frac = _case(3)
    args = {"src": src, "dst": dst, "lo": lo, "frac": frac}
    if value is None:
        args[field] = args[field][:-1]
    else:
        args[field] = args[field].clone()
        args[field][5] = value
    with pytest.raises(error, match=field if error is IndexError else "one entry per edge"):
        native_aggregate.forward(x, table, args["src"], args["dst"], args["lo"], args["frac"])


def test_only_cpu_float32_goes_native():
    x, table, src, dst, lo, frac = _case(4)
    assert native_aggregate.supports(x, table)
    assert not native_aggregate.supports(x.double(), table.double())
    assert not native_aggregate.supports(x.to(torch.bfloat16), table.to(torch.bfloat16))
    with pytest.raises(TypeError, match="CPU float32"):
        native_aggregate.forward(x.double(), table.double(), src, dst, lo, frac)


def _fresh_build(env_extra: dict, home) -> subprocess.CompletedProcess:
    code = ("from zoo_core.nn import native_aggregate as n, schnet\n"
            "schnet.compiled_aggregate_kernels()\n"
            "print(n.library()._name)\n")
    env = {**os.environ, "ZOO_HOME": str(home), **env_extra}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_library_is_built_once_into_the_zoo_home_and_reused(tmp_path):
    """A fresh process builds the library into ZOO_HOME/kernels; the next one loads that file without a compiler
    run (a $CC that fails would stop a build); nothing is left beside it."""
    first = _fresh_build({}, tmp_path / "home")
    assert first.returncode == 0, first.stderr[-2000:]
    built = first.stdout.strip()
    assert os.path.dirname(built) == str(tmp_path / "home" / "kernels") and os.path.exists(built)
    failing = tmp_path / "failing-cc"
    failing.write_text("#!/bin/sh\nexit 1\n")
    failing.chmod(failing.stat().st_mode | stat.S_IEXEC)
    again = _fresh_build({"CC": str(failing)}, tmp_path / "home")
    assert again.returncode != 0  # a different compiler is a different library: it must be built, and cannot be
    assert "could not build its native kernels" in again.stderr
    same = _fresh_build({}, tmp_path / "home")
    assert same.returncode == 0 and same.stdout.strip() == built
    assert sorted(p.name for p in (tmp_path / "home" / "kernels").iterdir()) == [os.path.basename(built)]


def test_a_compiler_refusing_march_native_falls_back_to_portable_flags(tmp_path):
    real = next(shutil.which(c) for c in ("cc", "gcc", "clang") if shutil.which(c))
    picky = tmp_path / "picky-cc"
    picky.write_text(f'#!/bin/sh\nfor a in "$@"; do [ "$a" = "-march=native" ] && exit 1; done\nexec {real} "$@"\n')
    picky.chmod(picky.stat().st_mode | stat.S_IEXEC)
    done = _fresh_build({"CC": str(picky)}, tmp_path / "home")
    assert done.returncode == 0, done.stderr[-2000:]
    assert os.path.exists(done.stdout.strip())
