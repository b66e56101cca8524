"""The VGIB-style noise-injection bottleneck (CGIB, METHODS §6.1 items 2-5; reused by I2Mole, §9.3 item 3).

Given post-interaction solute node features h_i (2d wide), keep-logits p_i and graph membership:

    λ_i  = σ((log u − log(1−u) + p_i) / τ_g),  u ~ U(1e-4, 1 − 1e-4)        (zoo_core.nn.gate)
    μ_G, σ_G = per-graph mean and unbiased std of the DETACHED h (a 1-atom molecule has σ_G = 0, not NaN:
               the sum of squares is divided by max(n − 1, 1), as torch_scatter's scatter_std does)
    μ̃_i = λ_i h_i + (1 − λ_i) μ_G,   noise scale (1 − λ_i) σ_G,   z_i = μ̃_i + ε_i ⊙ (1 − λ_i) σ_G

Paper formulation (default, ``kl_form="graph"``): ε ~ N(0, I) and the bound of CGIB's compression term that the
paper takes from VGIB (Yu et al. 2022): the KL between the SUM-pooled noisy graph, N(Σλh + Σ(1−λ)μ_G, A σ_G²),
and the all-noise graph N(n μ_G, n σ_G²), per dimension d,

    KL_bd = ½ [ A_b/n_b + B_bd²/n_b − log(A_b/n_b) − 1 ]  =  −½ log A + A/(2n) + B²/(2n) + const,
    A_b = Σ_{i∈G_b} (1 − λ_i)²,   B_bd = Σ_{i∈G_b} λ_i (h_id − μ_G,d) / σ_G,d,   KL = mean over graphs and d,

a true KL (≥ 0; 0 when every atom is replaced by noise). Its log term acts on the graph's TOTAL kept noise: keeping
k of n atoms with λ = 1 (and the mean unchanged, B = 0) costs ½(−log(1 − k/n) − k/n) per dimension.
``kl_form="node"`` is the per-atom Gaussian KL the zoo used before session 7, KL = mean_b ½ Σ_{i∈G_b} mean_d [σ̃²/σ² + (μ̃ − μ_G)²/σ² − log(σ̃²/σ²) − 1] with
σ̃ = (1 − λ_i) σ_G + 1e-7: its log term charges every kept atom ~16 nats per dimension, so training drives every
gate to 0 (measured: preserve rate 0.0 on Abraham) and the "subgraph" is empty; kept to reproduce those records.
For a 1-atom molecule (σ_G = 0, h = μ_G) B = 0. ``legacy=True`` reproduces the original code (METHODS §6.1 item 5,
§10 item 12): ε ~ U[0, 1) (``rand_like``) and the simplified KL without the log term,

    KL_b = ½ Σ_i mean_d(((1 − λ_i) σ_G)² / (σ_G + 1e-7)²) + Σ_i ((μ̃_i − μ_G)/(σ_G + 1e-7))²   ([B, 2d]),
    KL = mean over graphs and dimensions (the first term broadcast over dimensions).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from zoo_core.nn.gate import relaxed_bernoulli_gate
from zoo_core.nn.segment import segment_mean, segment_std, segment_sum
from zoo_core.train.distributed import draw_rows

EPS = 1e-7
KL_FORMS = ("graph", "node")  # the paper's bound on the pooled subgraph; the per-atom KL of earlier zoo versions


@dataclass
class Bottleneck:
    z: torch.Tensor         # [N, 2d] noisy node features (the compressed subgraph)
    kl: torch.Tensor        # scalar compression term
    gate: torch.Tensor      # [N] λ
    preserve_rate: torch.Tensor  # fraction of atoms with σ(p) > 0.5 (the code's logged statistic)


def gaussian_kl(mean_diff: torch.Tensor, noise_sd: torch.Tensor, sd: torch.Tensor, ids: torch.Tensor,
                n_graphs: int, eps: float = EPS) -> torch.Tensor:
    """Paper KL (see module docstring) from per-node rows [N, D] of μ̃ − μ_G, (1 − λ)σ_G and σ_G; mean over graphs."""
    var_ratio = ((noise_sd + eps) / (sd + eps)) ** 2
    term = var_ratio + (mean_diff / (sd + eps)) ** 2 - torch.log(var_ratio) - 1.0
    return segment_sum(0.5 * term.mean(dim=1), ids, n_graphs).mean()


def graph_kl(lam: torch.Tensor, mean_diff: torch.Tensor, sd: torch.Tensor, ids: torch.Tensor, counts: torch.Tensor,
             eps: float = EPS) -> torch.Tensor:
    """Paper KL (VGIB bound, see module docstring) from λ [N, 1], per-node rows [N, D] of μ̃ − μ_G = λ(h − μ_G) and
    σ_G, and the atom counts of the graphs; mean over graphs and dimensions."""
    n = counts.clamp(min=1).to(lam.dtype).view(-1, 1)
    a = segment_sum((1.0 - lam) ** 2, ids, len(counts)) / n + eps                  # A/n, [B, 1]
    b2 = segment_sum(mean_diff / (sd + eps), ids, len(counts)) ** 2 / n            # B²/n, [B, D]
    return (0.5 * (a + b2 - torch.log(a) - 1.0)).mean()


def legacy_kl(mean_diff: torch.Tensor, noise_sd: torch.Tensor, sd: torch.Tensor, ids: torch.Tensor,
              n_graphs: int, eps: float = EPS) -> torch.Tensor:
    """The original code's simplified KL (see module docstring); arguments as :func:`gaussian_kl`."""
    first = 0.5 * segment_sum((noise_sd ** 2 / (sd + eps) ** 2).mean(dim=1), ids, n_graphs).view(-1, 1)
    second = segment_sum((mean_diff / (sd + eps)) ** 2, ids, n_graphs)
    return (first + second).mean()


def inject_noise(h: torch.Tensor, logits: torch.Tensor, ids: torch.Tensor, counts: torch.Tensor,
                 temperature: float = 1.0, legacy: bool = False, sd_floor: float = 0.0,
                 kl_form: str = "graph") -> Bottleneck:
    """Gate, noise injection and KL for node features ``h`` [N, D] with keep-logits ``logits`` [N]; ``kl_form``
    "graph" (paper) or "node" (see the module docstring; ``legacy`` overrides both).

    ``sd_floor`` > 0 computes the KL against N(μ_G, max(σ_G, floor)²) (the noise itself still uses σ_G): a
    dimension that is (nearly) constant over a molecule has σ_G → 0 and a KL gradient ∝ 1/σ_G², which can drive
    the encoder into a dead state (observed: FreeSolv fold 3, seed 0, both KL forms). 0 = the paper / original."""
    n_graphs = int(counts.shape[0])
    lam = relaxed_bernoulli_gate(logits, temperature).view(-1, 1)
    static = h.detach()
    mu = segment_mean(static, ids, counts)[ids]
    sd = segment_std(static, ids, counts)[ids]
    mean_diff = lam * (h - mu)          # μ̃ − μ_G, written so that h = μ_G (one atom) gives exactly 0
    noise_sd = (1.0 - lam) * sd
    draw = torch.rand if legacy else torch.randn   # the union batch's rows in a sharded data-parallel step
    eps = draw_rows(lambda n: draw((n, *h.shape[1:]), dtype=h.dtype, device=h.device), h.shape[0])
    z = mu + mean_diff + eps * noise_sd  # = λ h + (1 − λ) μ_G + ε ⊙ (1 − λ) σ_G
    sd_kl = sd.clamp(min=sd_floor) if sd_floor > 0 else sd
    if legacy or kl_form == "node":
        kl = (legacy_kl if legacy else gaussian_kl)(mean_diff, (1.0 - lam) * sd_kl, sd_kl, ids, n_graphs)
    elif kl_form == "graph":
        kl = graph_kl(lam, mean_diff, sd_kl, ids, counts)
    else:
        raise ValueError(f"kl_form must be one of {KL_FORMS}, got {kl_form!r}")
    preserve = (torch.sigmoid(logits.detach()) > 0.5).float().mean()
    return Bottleneck(z, kl, lam.view(-1), preserve)
