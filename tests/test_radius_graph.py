"""zoo_core.nn.schnet.radius_graph: the edges and their order, against a pair-by-pair definition."""

from __future__ import annotations

import pytest
import torch

from zoo_core.nn import schnet
from zoo_core.nn.schnet import radius_graph


def _by_definition(pos: torch.Tensor, counts: torch.Tensor, cutoff: float, max_neighbors: int | None):
    """Targets i ascending; for each, the sources j != i of its segment with d < cutoff, by j, or with a cap the
    ``max_neighbors`` nearest, by (d, j)."""
    src, dst, start = [], [], 0
    for c in counts.tolist():
        block = pos[start:start + c]
        d = (block[None, :, :] - block[:, None, :]).reshape(-1, 3).norm(dim=-1).view(c, c)  # d[i, j]
        for i in range(c):
            near = [j for j in range(c) if j != i and d[i, j] < cutoff]
            if max_neighbors is not None:
                near = sorted(near, key=lambda j: (float(d[i, j]), j))[:max_neighbors]
            src += [start + j for j in near]
            dst += [start + i] * len(near)
        start += c
    return torch.tensor([src, dst], dtype=torch.long).view(2, -1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("max_neighbors", [None, 1, 3, 8, 500])
def test_edges_and_order_match_the_definition_with_ties(dtype, max_neighbors):
    """Atoms on a half-Ångström grid, so many distances tie exactly: the cap keeps the nearest, ties by source."""
    g = torch.Generator().manual_seed(max_neighbors or 0)
    counts = torch.tensor([1, 12, 5, 30, 2])
    pos = (torch.round(torch.rand(int(counts.sum()), 3, generator=g) * 8) / 2).to(dtype)
    got = radius_graph(pos, counts, 2.5, max_neighbors)
    assert torch.equal(got, _by_definition(pos, counts, 2.5, max_neighbors))


def test_blocks_of_targets_give_the_same_edges(monkeypatch):
    """A small RADIUS_BLOCK splits the targets into many blocks (bounded memory); the edges do not change."""
    g = torch.Generator().manual_seed(1)
    counts = torch.tensor([3, 40, 2, 7])
    pos = torch.rand(int(counts.sum()), 3, generator=g) * 6
    whole = [radius_graph(pos, counts, 5.0, k) for k in (None, 4)]
    monkeypatch.setattr(schnet, "RADIUS_BLOCK", 50)  # one target row of the 40-atom segment per block
    assert all(torch.equal(w, radius_graph(pos, counts, 5.0, k)) for w, k in zip(whole, (None, 4)))


def test_no_atoms_no_edges():
    assert radius_graph(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), 5.0, 32).shape == (2, 0)


def test_similar_size_runs_cover_the_segments_in_order():
    """Runs are consecutive and cover every segment once; equal sizes share one run, and a run's padded candidates
    (atoms x largest) stay within 1.25x its pairs + 4,096, so a large system does not pad its small neighbours."""
    from zoo_core.nn.schnet import _similar_size_runs

    for counts in ([1, 12, 5, 30, 2], [100] * 48, [100, 100, 500, 100, 100, 90], [30, 400, 20, 500, 10], [3]):
        runs = _similar_size_runs(counts)
        assert [g for a, b in runs for g in range(a, b)] == list(range(len(counts)))
        for a, b in runs:
            part = counts[a:b]
            assert sum(part) * max(part) <= 1.25 * sum(c * c for c in part) + 4096
    assert _similar_size_runs([100] * 48) == [(0, 48)]
    assert len(_similar_size_runs([100, 100, 500, 100, 100, 90])) > 1
