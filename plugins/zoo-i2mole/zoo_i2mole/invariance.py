"""I2Mole's invariance loss over the codebook's environments (METHODS §9.1 "Invariant learning", §9.3 item 5;
EERM / V-REx style, Wu et al. 2022):

    logits_m = head([s_IB ; env_m])  for every code m = 1..M
    L_inv = mean_m R_m + Var_m R_m,  R_m = task_loss(logits_m, y)     (population variance over the M risks)

The codes enter detached: the codebook is learnt by L_vq only, and L_inv trains the rationale readout and the head
to predict the same label whatever environment is attached (docs/DECISIONS.md, issue 35).
"""

from __future__ import annotations

from typing import Callable

import torch


def environment_risks(head, s_ib: torch.Tensor, codes: torch.Tensor, y: torch.Tensor,
                      task_loss: Callable) -> torch.Tensor:
    """[M] task losses of the head on [s_IB ; env_m] for each code (``task_loss`` masks NaN labels)."""
    b, m = s_ib.shape[0], codes.shape[0]
    x = torch.cat([s_ib.unsqueeze(1).expand(b, m, -1), codes.detach().unsqueeze(0).expand(b, m, -1)], dim=-1)
    logits = head(x)                                                   # [B, M, n_tasks]
    return torch.stack([task_loss(logits[:, k], y) for k in range(m)])


def invariance_loss(risks: torch.Tensor) -> torch.Tensor:
    """mean + population variance of the per-environment risks."""
    return risks.mean() + risks.var(unbiased=False)
