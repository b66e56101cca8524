"""In-batch contrastive loss with cosine similarity (CGIB_cont §6.1 item 7; 3DMRL §7.3).

With c_ij = cos(q_i, k_j) and S_ij = exp(c_ij / τ), pairs (q_i, k_i) are positives and every other k_j of the
batch is a negative:

    exclude_positive=True  (CGIB_cont, 3DMRL; the default):  L = −mean_i log( S_ii / (Σ_j S_ij − S_ii) )
    exclude_positive=False (standard InfoNCE / NT-Xent):     L = −mean_i log( S_ii / Σ_j S_ij )

The two differ only by a monotone transformation (METHODS §11). Computed in log space (logsumexp), so a
small τ does not overflow. With the positive excluded and a batch of one pair there is no negative: the
original code returns −inf there; this returns 0 (no contrastive signal).
"""

from __future__ import annotations

import torch

from zoo_core.nn.mlp import l2_normalize
from zoo_core.train.distributed import gather_rows


def info_nce(query: torch.Tensor, keys: torch.Tensor, tau: float = 1.0, exclude_positive: bool = True) -> torch.Tensor:
    """Contrastive loss of ``query`` [B, k] against ``keys`` [B, k] (row i of each is a positive pair).

    One direction (query -> keys); a symmetric loss is ``info_nce(a, b) + info_nce(b, a)``. In a sharded
    data-parallel step (zoo_core.train.distributed) the keys are the union batch's, so this rank's queries meet
    every rank's negatives; the loss is the mean over this rank's queries.
    """
    if query.shape != keys.shape or query.dim() != 2:
        raise ValueError(f"query {tuple(query.shape)} and keys {tuple(keys.shape)} must both be [B, k]")
    keys, offset = gather_rows(keys)   # a sharded training step: the union batch's keys (the negatives)
    n = keys.shape[0]
    logits = l2_normalize(query) @ l2_normalize(keys).t() / tau
    positive = logits.diagonal(offset)
    if exclude_positive:
        if n < 2:
            return logits.sum() * 0.0
        own = torch.zeros(logits.shape, dtype=torch.bool, device=logits.device)
        own.diagonal(offset).fill_(True)
        logits = logits.masked_fill(own, float("-inf"))
    return (torch.logsumexp(logits, dim=1) - positive).mean()
