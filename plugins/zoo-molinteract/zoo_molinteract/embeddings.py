"""OGB's AtomEncoder and BondEncoder (METHODS §1.6): one embedding table per categorical column of ``ogb9``,
summed. Xavier-uniform initialised, as OGB's."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from zoo_molinteract.ogb_features import ATOM_DIMS, BOND_DIMS


class CategoricalEncoder(nn.Module):
    """Σ_k Emb_k(x[:, k]) over the columns of an integer-valued feature matrix (stored as floats)."""

    def __init__(self, dims: Sequence[int], hidden: int):
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(n, hidden) for n in dims)
        for table in self.tables:
            nn.init.xavier_uniform_(table.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idx = x.long()
        out = self.tables[0](idx[:, 0])
        for k in range(1, len(self.tables)):
            out = out + self.tables[k](idx[:, k])
        return out


def atom_encoder(hidden: int) -> CategoricalEncoder:
    return CategoricalEncoder(ATOM_DIMS, hidden)


def bond_encoder(hidden: int) -> CategoricalEncoder:
    return CategoricalEncoder(BOND_DIMS, hidden)
