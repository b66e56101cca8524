"""SchNet's tabulated filters (zoo_core.nn.schnet, ``filter_table``) agree with the per-edge filters."""

import torch

from zoo_core.nn.schnet import SchNet


def _systems(seed=0):
    g = torch.Generator().manual_seed(seed)
    counts = torch.tensor([7, 12, 30])
    pos = torch.randn(int(counts.sum()), 3, generator=g, dtype=torch.float64) * 1.8
    z = torch.randint(0, 5, (int(counts.sum()),), generator=g)
    return z, pos, counts


def test_tabulated_filters_match_exact_outputs_and_gradients():
    z, pos, counts = _systems()
    torch.manual_seed(0)
    exact = SchNet(num_atom_types=5, max_neighbors=32).double()
    table = SchNet(num_atom_types=5, max_neighbors=32, filter_table=4096).double()
    table.load_state_dict(exact.state_dict())
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
    torch.manual_seed(0)
    exact = SchNet(num_atom_types=5).double()
    coarse = SchNet(num_atom_types=5, filter_table=3).double()
    coarse.load_state_dict(exact.state_dict())
    assert (exact(z, pos, counts) - coarse(z, pos, counts)).abs().max() > 1e-3
