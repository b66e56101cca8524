"""SchNet's tabulated filters (zoo_core.nn.schnet, ``filter_table``) agree with the per-edge filters."""

import os
import subprocess
import sys

import pytest
import torch

from zoo_core.nn.schnet import SchNet


def _systems(seed=0):
    g = torch.Generator().manual_seed(seed)
    counts = torch.tensor([7, 12, 30])
    pos = torch.randn(int(counts.sum()), 3, generator=g, dtype=torch.float64) * 1.8
    z = torch.randint(0, 5, (int(counts.sum()),), generator=g)
    return z, pos, counts


def _exact_and_tabulated(filter_table: int, **kwargs):
    """Two float64 SchNets with the same weights: per-edge filters, and filters from a ``filter_table`` table."""
    torch.manual_seed(0)
    exact = SchNet(num_atom_types=5, **kwargs).double()
    table = SchNet(num_atom_types=5, filter_table=filter_table, **kwargs).double()
    table.load_state_dict(exact.state_dict())
    return exact, table


def test_tabulated_filters_match_exact_outputs_and_gradients():
    z, pos, counts = _systems()
    exact, table = _exact_and_tabulated(4096, max_neighbors=32)
    out_e, out_t = exact(z, pos, counts), table(z, pos, counts)
    scale = out_e.abs().max()
    assert (out_e - out_t).abs().max() / scale < 1e-4
    out_e.pow(2).sum().backward()
    out_t.pow(2).sum().backward()
    for (name, pe), pt in zip(exact.named_parameters(), table.parameters()):
        if pe.grad is None:
            continue
        err = (pe.grad - pt.grad).abs().max() / pe.grad.abs().max().clamp(min=1e-12)
        assert err < 1e-3, name


def test_a_coarse_table_is_measurably_different():
    """The check above can fail: a 3-point table is far from the exact filters."""
    z, pos, counts = _systems(1)
    exact, coarse = _exact_and_tabulated(3)
    assert (exact(z, pos, counts) - coarse(z, pos, counts)).abs().max() > 1e-3


def _table_case(seed, n=40, e=3000, k=64, f=6):
    from zoo_core.nn.schnet import FilterTable, GaussianSmearing

    g = torch.Generator().manual_seed(seed)
    dist = torch.rand(e, generator=g, dtype=torch.float64) * 5.0
    table = FilterTable(dist, 5.0, k, GaussianSmearing(0.0, 5.0, 8).double())
    edge_index = torch.stack([torch.randint(0, n, (e,), generator=g), torch.randint(0, n, (e,), generator=g)])
    x = torch.randn(n, f, generator=g, dtype=torch.float64, requires_grad=True)
    values = torch.randn(k, f, generator=g, dtype=torch.float64, requires_grad=True)
    return table, edge_index, x, values


def test_fused_aggregate_equals_lookup_gather_and_sum(monkeypatch):
    """The chunked fused path gives the unfused expression's values and gradients (several chunks)."""
    from zoo_core.nn import schnet
    from zoo_core.nn.segment import segment_sum

    monkeypatch.setattr(schnet, "EDGE_CHUNK", 700)  # 3000 edges -> 5 chunks, the last one partial
    table, edge_index, x, values = _table_case(0)
    fused = table.aggregate(x, values, edge_index)
    ref = segment_sum(x[edge_index[0]] * table.lookup(values), edge_index[1], x.shape[0])
    torch.testing.assert_close(fused, ref, rtol=1e-12, atol=1e-12)
    w = torch.randn(ref.shape, dtype=torch.float64)
    g_fused = torch.autograd.grad((fused * w).sum(), (x, values))
    g_ref = torch.autograd.grad((ref * w).sum(), (x, values))
    for a, b in zip(g_fused, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    small = _table_case(1, n=5, e=30, k=6, f=2)
    assert torch.autograd.gradcheck(lambda a, b: small[0].aggregate(a, b, small[1]), (small[2], small[3]))


def test_position_gradients_flow_through_the_table():
    """Distances that need gradients take the unfused lookup, so d(out)/d(pos) is not silently zero."""
    z, pos, counts = _systems(2)
    exact, table = _exact_and_tabulated(4096)
    grads = []
    for model in (exact, table):
        p = pos.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(model(z, p, counts).sum(), p)[0])
    assert grads[0].abs().max() > 0
    assert (grads[0] - grads[1]).abs().max() / grads[0].abs().max() < 1e-2


def test_gaussian_smearing_has_no_subnormal_tails_and_stays_exact_where_it_matters():
    """The far tails are cut to 0 (subnormal floats are ~20x slower on x86); what remains equals the formula."""
    from zoo_core.nn.schnet import GaussianSmearing

    for dtype in (torch.float32, torch.float64):
        smearing = GaussianSmearing(0.0, 5.0, 50).to(dtype)
        dist = torch.linspace(0.0, 5.0, 4096, dtype=dtype)
        rbf = smearing(dist)
        exact = torch.exp(smearing.coeff * (dist.view(-1, 1) - smearing.offset.view(1, -1)) ** 2)
        tiny = torch.finfo(dtype).tiny
        assert not ((rbf > 0) & (rbf < tiny)).any()
        assert ((exact > 0) & (exact < tiny)).any()  # the untruncated formula does produce subnormals
        kept = rbf > 0
        assert torch.equal(rbf[kept], exact[kept])
        assert (exact[~kept] < torch.finfo(dtype).eps ** 2).all()
        assert (rbf.max(dim=1).values > 0.88).all()  # every distance keeps a near-1 Gaussian


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_kernels_match_the_chunked_aggregate(tmp_path, monkeypatch, dtype):
    """``compiled=True`` gives the chunked path's values and gradients, on two edge counts (dynamic shapes): the
    native C kernels for float32 on CPU, torch.compile (inductor) for float64; and a whole SchNet with compiled
    kernels matches the eager one."""
    from zoo_core.nn import schnet

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    for seed, e in ((0, 3000), (1, 1700)):
        table, edge_index, x, values = _table_case(seed, e=e)
        x, values = x.detach().to(dtype).requires_grad_(), values.detach().to(dtype).requires_grad_()
        table.frac, w = table.frac.to(dtype), torch.randn(x.shape[0], values.shape[1], dtype=dtype)
        outs, grads = [], []
        for compiled in (False, True):
            table.compiled = compiled
            out = table.aggregate(x, values, edge_index)
            outs.append(out)
            grads.append(torch.autograd.grad((out * w).sum(), (x, values)))
        torch.testing.assert_close(outs[1], outs[0], rtol=tol, atol=tol)
        for a, b in zip(grads[1], grads[0]):
            torch.testing.assert_close(a, b, rtol=tol, atol=tol)
    inductor_ran = (tmp_path / "inductor").is_dir() and any((tmp_path / "inductor").iterdir())
    assert inductor_ran == (dtype == torch.float64)  # float32 on CPU never reaches torch.compile
    z, pos, counts = _systems(3)
    torch.manual_seed(0)
    model = SchNet(num_atom_types=5, filter_table=512, max_neighbors=32).to(dtype)
    eager = model(z, pos.to(dtype), counts)
    model.compiled_kernels = True
    torch.testing.assert_close(model(z, pos.to(dtype), counts), eager, rtol=tol, atol=tol)
    assert schnet._COMPILED  # the compiled path did run


@pytest.mark.parametrize("inductor_imported_first", [False, True])
def test_compiled_kernels_cache_in_the_zoo_home_and_nowhere_else(tmp_path, inductor_imported_first):
    """In a fresh process (as `zoo pretrain --compile` runs), inductor's cache folder is ZOO_HOME/inductor and
    nothing lands in the temp folder, also when another import of torch._inductor came first (it sets the variable
    to its /tmp default); precompiled headers are off. A folder the user chose is kept."""
    code = ("import os, sys\n"
            + ("import torch._inductor.config\n" if inductor_imported_first else "")
            + "from zoo_core.nn.schnet import inductor_aggregate_kernels\n"
            "inductor_aggregate_kernels()\n"
            "import torch._inductor.config as c\n"
            "from torch._inductor.runtime.cache_dir_utils import cache_dir\n"
            "print(cache_dir(), c.cpp_cache_precompile_headers)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHINDUCTOR_")}
    env.update(ZOO_HOME=str(tmp_path / "home"), TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [str(tmp_path / "home" / "inductor"), "False"]
    if not inductor_imported_first:
        assert not list((tmp_path / "tmp").glob("torchinductor_*"))  # nothing created under the temp folder
    chosen = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**env, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "mine")})
    assert chosen.stdout.split()[0] == str(tmp_path / "mine")


def test_compiled_kernels_without_a_compiler_is_a_clear_error(monkeypatch):
    """--compile without a C compiler (the native kernels) or a C++ one (torch.compile) is a ZooError saying so."""
    import shutil

    from zoo_core.errors import ZooError
    from zoo_core.nn import native_aggregate, schnet

    monkeypatch.setattr(schnet, "_COMPILED", {})
    monkeypatch.setattr(schnet, "_INDUCTOR", {})
    monkeypatch.setattr(native_aggregate, "_LIBRARY", {})
    for name in ("CC", "CXX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ZooError, match="needs a C compiler"):
        schnet.compiled_aggregate_kernels()
    with pytest.raises(ZooError, match="needs a C[+][+] compiler"):
        schnet.inductor_aggregate_kernels()
