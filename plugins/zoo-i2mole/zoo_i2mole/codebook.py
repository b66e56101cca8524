"""I2Mole's environment codebook: vector quantisation (van den Oord et al. 2017) with M codes
(METHODS §9.1 "Environment codebook", §9.3 item 4).

    m* = argmin_m ‖s_env − env_m‖²,   q = s_env + sg[env_m* − s_env]          (straight-through)
    L_vq = ‖sg[s_env] − env_m*‖² + δ ‖s_env − sg[env_m*]‖²,   δ = 0.25           (mean over pairs and dimensions)

Where the paper is silent (docs/DECISIONS.md, issue 35):
* ``update="ema"`` (default): each code assigned in a training batch moves toward the mean of its readouts,
  code ← 0.8 code + 0.2 mean (online k-means, the EMA update of van den Oord et al. and the default of
  vector_quantize_pytorch, which the snapshot used; decay 0.8 as there). The first L_vq term then only reports
  the distance: with the paper's γ = 1e-4 a gradient-learnt codebook moves 10⁴ times slower than the readouts it
  quantises, and all pairs fell onto one code within five steps on the test set (``update="loss"`` keeps that
  behaviour: the codes are parameters learnt by γ L_vq alone).
* The codes start uniform in ±1/M and, at the first training step, are set to that batch's readouts (data init);
  in training, a code whose usage (moving average of its assignment frequency, decay 0.99) falls below 1/(10 M)
  is restarted at a random readout of the batch (``restart=False`` turns both off). Eval mode changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

UPDATES = ("ema", "loss")  # how the codes learn: moving averages of their readouts, or the L_vq gradient


@dataclass
class Quantised:
    q: torch.Tensor        # [B, D] straight-through quantised vector (value = the assigned code)
    index: torch.Tensor    # [B] assigned code
    loss: torch.Tensor     # scalar L_vq (δ applied)


class Codebook(nn.Module):
    """M codes of width D; see the module docstring."""

    def __init__(self, n_codes: int, dim: int, commitment: float = 0.25, restart: bool = True,
                 update: str = "ema", ema_decay: float = 0.8, usage_decay: float = 0.99):
        super().__init__()
        if n_codes < 1:
            raise ValueError(f"n_codes must be at least 1, got {n_codes}")
        if update not in UPDATES:
            raise ValueError(f"code update must be one of {UPDATES}, got {update!r}")
        self.codes = nn.Parameter(torch.empty(n_codes, dim).uniform_(-1.0 / n_codes, 1.0 / n_codes),
                                  requires_grad=update == "loss")
        self.register_buffer("usage", torch.full((n_codes,), 1.0 / n_codes))
        self.register_buffer("initialised", torch.zeros(()))
        self.commitment, self.restart, self.update = float(commitment), bool(restart), update
        self.ema_decay, self.usage_decay = float(ema_decay), float(usage_decay)

    @property
    def n_codes(self) -> int:
        return int(self.codes.shape[0])

    def assign(self, s: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code of each row of ``s`` [B, D]."""
        with torch.no_grad():
            d = (s * s).sum(1, keepdim=True) - 2 * s @ self.codes.t() + (self.codes * self.codes).sum(1)
            return d.argmin(1)

    @torch.no_grad()
    def _maintain(self, s: torch.Tensor) -> None:
        """Data init at the first training step; restart of dead codes (before this step's assignment)."""
        if s.shape[0] == 0:
            return
        if not bool(self.initialised):
            dead = torch.ones(self.n_codes, dtype=torch.bool, device=s.device)
            self.initialised.fill_(1.0)
        else:
            dead = self.usage < 0.1 / self.n_codes
        if bool(dead.any()):
            pick = torch.randint(0, s.shape[0], (int(dead.sum()),), device=s.device)
            jitter = 1e-3 * s.detach().std().clamp(min=1e-6) * torch.randn_like(s[pick])
            self.codes[dead] = s[pick] + jitter
            self.usage[dead] = 1.0 / self.n_codes

    def forward(self, s: torch.Tensor) -> Quantised:
        if self.training and self.restart:
            self._maintain(s.detach())
        index = self.assign(s)
        code = self.codes[index]
        loss = ((code - s.detach()) ** 2).mean() + self.commitment * ((s - code.detach()) ** 2).mean()
        if self.training:
            self._track(s.detach(), index)
        return Quantised(s + (code - s).detach(), index, loss)

    @torch.no_grad()
    def _track(self, s: torch.Tensor, index: torch.Tensor) -> None:
        """Usage EMA; with ``update="ema"`` each assigned code moves toward the mean of its readouts."""
        counts = torch.bincount(index, minlength=self.n_codes).to(s.dtype)
        self.usage.mul_(self.usage_decay).add_((1.0 - self.usage_decay) * counts / max(len(index), 1))
        if self.update == "ema":
            sums = torch.zeros_like(self.codes).index_add_(0, index, s)
            hit = counts > 0
            means = sums[hit] / counts[hit].unsqueeze(1)
            self.codes[hit] = self.ema_decay * self.codes[hit] + (1.0 - self.ema_decay) * means
