"""I2Mole's graph information bottleneck on the merged pair graph (METHODS §9.1 "GIB", §9.3 item 3).

Over the atoms of both molecules of a pair (after the inter-molecular attention):

    p_i = clip(σ(FC(h_i)) + ρ_i / N, 1e-6, 1 − 1e-6)    ρ_i = mean α' over atom i's kept relation edges, N = the
                                                         pair's atom count (one reading of the paper's "p_k/N")
    λ_i = concrete Bernoulli sample of p_i, τ = 1 (training; zoo_core.nn.gate); λ_i = p_i in eval mode
    z_i = λ_i h_i + (1 − λ_i) ε_i

Noise ε (``noise``): "code" (default; the paper: the codebook supplies the noise) ε_i = q_b, the straight-through
code of the pair's environment; "gaussian" (VGIB) ε_i = μ_G + ε ⊙ σ_G with ε ~ N(0, I) in training and 0 in eval,
μ_G, σ_G the per-pair mean and unbiased std of the detached h. The environment subgraph is (1 − λ_i) h_i.

L_MI is the VGIB KL of the gated features against N(μ_G, σ_G²) whichever noise is injected (it measures how much
of h passes the gate): ``kl_form="node"`` (§9.3 item 3, with the log term)
½ Σ_i mean_d [σ̃²/σ² + (μ̃ − μ)²/σ² − log(σ̃²/σ²) − 1], σ̃ = (1 − λ)σ_G + 1e-7, μ̃ − μ = λ(h − μ_G), mean over
pairs; ``kl_form="graph"`` VGIB's bound on the pooled subgraph (zoo_core.nn.bottleneck.graph_kl).
"""

from __future__ import annotations

import torch

from zoo_core.nn.bottleneck import KL_FORMS, gaussian_kl, graph_kl
from zoo_core.nn.gate import relaxed_bernoulli_gate
from zoo_core.nn.segment import segment_mean, segment_std

NOISES = ("code", "gaussian")


def keep_probability(fc_logits: torch.Tensor, relation: torch.Tensor, n_atoms: torch.Tensor) -> torch.Tensor:
    """p_i = σ(FC(h_i)) + ρ_i / N, clipped to (1e-6, 1 − 1e-6); all arguments [N]."""
    p = torch.sigmoid(fc_logits) + relation / n_atoms.to(fc_logits.dtype)
    return p.clamp(1e-6, 1.0 - 1e-6)


def gate(p: torch.Tensor, temperature: float, training: bool) -> torch.Tensor:
    """λ: a relaxed Bernoulli sample of p in training, p itself in eval mode."""
    if not training:
        return p
    return relaxed_bernoulli_gate(torch.log(p) - torch.log1p(-p), temperature)


def inject_noise(h: torch.Tensor, lam: torch.Tensor, ids: torch.Tensor, counts: torch.Tensor,
                 code: torch.Tensor | None, training: bool, kl_form: str = "node"):
    """(z [N, D], L_MI or None in eval mode); ``code`` [B, D] is the code noise, None for Gaussian noise."""
    if kl_form not in KL_FORMS:
        raise ValueError(f"kl_form must be one of {KL_FORMS}, got {kl_form!r}")
    lam = lam.view(-1, 1)
    static = h.detach()
    mu = segment_mean(static, ids, counts)[ids]
    sd = segment_std(static, ids, counts)[ids]
    if code is not None:
        z = lam * h + (1.0 - lam) * code[ids]
    else:
        eps = torch.randn_like(h) if training else torch.zeros_like(h)
        z = lam * h + (1.0 - lam) * (mu + eps * sd)
    if not training:
        return z, None
    mean_diff = lam * (h - mu)
    if kl_form == "node":
        return z, gaussian_kl(mean_diff, (1.0 - lam) * sd, sd, ids, int(counts.shape[0]))
    return z, graph_kl(lam, mean_diff, sd, ids, counts)
