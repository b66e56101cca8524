"""CGIB and CGIB_cont (Lee et al., ICML 2023; METHODS §6): a conditional graph information bottleneck on the
solute (molecule A) over the CIGIN interaction of METHODS §5.2.

Backbone (same as the 3DMRL/CGIB CIGIN): two separate encoders -> Ĥ = row-L2-normalise(H) -> per-pair cosine
map I = Ĥ¹Ĥ²ᵀ (zoo_core.nn.interaction, padded per pair) -> h¹ = [Ĥ¹ ; IĤ²], h² = [Ĥ² ; IᵀĤ¹] (2d) -> Set2Set per
molecule (4d each) -> f = MLP 8d->256->128->n_tasks. Xavier-uniform init of every Linear, zero biases.

Bottleneck on h¹ (zoo_core.nn.bottleneck, where the exact KL formulas are written out; ``kl_form`` "graph" is the
paper's bound on the pooled subgraph, "node" the per-atom KL of earlier zoo versions):
    p_i = MLP_c(h¹_i),  MLP_c = Linear(2d->d) -> BatchNorm1d(d) -> ReLU -> Linear(d->1)
    λ_i = relaxed Bernoulli gate of p_i (τ_g = 1);  z_i = μ̃_i + ε_i ⊙ (1 − λ_i) σ_G
    s¹ = Set2Set_A(z),  s² = Set2Set_B(h²)
    conditional term: CGIB       L_cond = MSE(s², W s¹), W = Linear(4d->4d)
                      CGIB_cont  L_cond = in-batch contrastive loss of (s¹_i, s²_i), cosine similarity,
                                 temperature τ (1.0), positive excluded from the denominator (zoo_core.nn.contrastive)
Training loss (``training_loss``; the original's two passes):
    L = ℓ(f([Set2Set_A(h¹) ; s²]), y) + ℓ(f([s¹ ; s²]), y) + β·KL + β·L_cond,   β = 1.0 (MI default)
The returned PairOutput has the full-path prediction and ``aux_losses`` = {task_ib, kl, cond} (β already
applied), so ``loss == task_loss(out.pred, y) + Σ out.aux_losses``. The original runs the whole model twice;
everything before the gate is deterministic, so by default the encoders, interaction and s² are computed once
and shared by both terms (identical values and gradients, about half the cost). ``separate_passes=True``
recomputes them for the bottleneck pass (matters only for encoders with dropout).

Inference (``forward``) uses the full, non-bottleneck path. In eval mode ``explain['atom_importance_a']`` is
σ(p_i) (the paper's interpretation); the map's row sums stay available as ``map_importance_a``.
``legacy=True``: uniform noise ε ~ U[0,1) and the original code's simplified KL (METHODS §6.1 item 5, §10 item 12).
DDI: ``shared=true`` (the original's siamese encoder and one Set2Set) and ``symmetric=true`` (implies shared): pair
embedding [s¹ + s² ; s¹ ⊙ s²], so f(a, b) = f(b, a), and the bottleneck runs on both molecules (each conditioned on
the other; the two sides' task_ib, kl and cond averaged), so the training objective is symmetric too.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo_core.nn.base import EncoderFactory, PairOutput, encode, graph_segments
from zoo_core.nn.contrastive import info_nce
from zoo_core.nn.interaction import InteractionPairModel, InteractionResult, pair_interaction
from zoo_core.nn.mlp import xavier_init
from zoo_core.nn.bottleneck import KL_FORMS, inject_noise
from zoo_core.train.distributed import on_union_rows


class CGIB(InteractionPairModel):
    """CGIB (conditional term: predict the solvent embedding from the compressed solute subgraph, MSE)."""

    conditional = "mse"

    def __init__(self, encoder_factory: EncoderFactory, n_tasks: int = 1, beta: float = 1.0, legacy: bool = False,
                 gate_temperature: float = 1.0, mlp_hidden: Sequence[int] = (256, 128), projector_dim: int = 64,
                 set2set_steps: int = 2, separate_passes: bool = False, kl_sd_floor: float = 0.0,
                 kl_form: str = "graph", shared: bool | None = None, symmetric: bool = False):
        super().__init__(encoder_factory, n_tasks, mlp_hidden, set2set_steps, shared, symmetric)
        if kl_form not in KL_FORMS:  # refused at construction, not at the first training step
            raise ValueError(f"kl_form must be 'graph' (the paper's bound) or 'node', got {kl_form!r}")
        self.kl_sd_floor, self.kl_form = float(kl_sd_floor), kl_form
        self.beta, self.legacy = float(beta), bool(legacy)
        self.gate_temperature, self.separate_passes = float(gate_temperature), bool(separate_passes)
        d = self.enc_a.out_dim
        self.compressor = nn.Sequential(nn.Linear(2 * d, d), nn.BatchNorm1d(d), nn.ReLU(), nn.Linear(d, 1))
        if self.conditional == "mse":
            self.solvent_predictor = nn.Linear(4 * d, 4 * d)
        self.projector = nn.Linear(self.pair_dim, projector_dim)
        xavier_init(self)

    # -- pieces ------------------------------------------------------------------------------------------
    def _interact(self, batch) -> tuple[InteractionResult, torch.Tensor, torch.Tensor, int]:
        ids_a, counts_a, n = graph_segments(batch.g_a)
        ids_b, counts_b, _ = graph_segments(batch.g_b)
        inter = pair_interaction(encode(self.enc_a, batch.g_a), counts_a, encode(self.enc_b, batch.g_b), counts_b,
                                 kind="cosine", ids_a=ids_a, ids_b=ids_b)
        return inter, ids_a, ids_b, n

    def keep_logits(self, h: torch.Tensor) -> torch.Tensor:
        """p_i = MLP_c(h_i), [N]. A single node in training mode is normalised with the running statistics
        (BatchNorm cannot estimate batch statistics from one value). In a sharded data-parallel step the batch
        statistics are the union batch's (zoo_core.train.distributed.on_union_rows)."""
        lin1, _, act, lin2 = self.compressor
        return lin2(act(on_union_rows(self._batch_norm, lin1(h)))).view(-1)

    def _batch_norm(self, x: torch.Tensor) -> torch.Tensor:
        bn = self.compressor[1]
        if self.training and x.shape[0] < 2:
            return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        return bn(x)

    def conditional_loss(self, s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.solvent_predictor(s1), s2)

    # -- interface ---------------------------------------------------------------------------------------
    def _bottleneck_terms(self, h, ids, counts, s_other, n, y, task_loss, side_a: bool):
        """Gate, noise and the three bottleneck terms of one molecule, conditioned on the other's readout."""
        logits = self.keep_logits(h)
        bott = inject_noise(h, logits, ids, counts, self.gate_temperature, self.legacy, self.kl_sd_floor, self.kl_form)
        s = (self.set2set_a if side_a else self.set2set_b)(bott.z, ids, n)
        pair = self.pair_embedding(s, s_other) if side_a else self.pair_embedding(s_other, s)
        terms = {"task_ib": task_loss(self.head(pair), y), "kl": self.beta * bott.kl,
                 "cond": self.beta * self.conditional_loss(s, s_other)}
        return terms, bott, logits

    def forward(self, batch) -> PairOutput:
        inter, ids_a, ids_b, n = self._interact(batch)
        s_b = self.set2set_b(inter.h_b, ids_b, n)
        pair = self.pair_embedding(self.set2set_a(inter.h_a, ids_a, n), s_b)
        explain = inter.explain()
        explain["map_importance_a"] = explain["atom_importance_a"]
        if not self.training:  # training-mode BatchNorm would update its running statistics here
            with torch.no_grad():
                explain["atom_importance_a"] = torch.sigmoid(self.keep_logits(inter.h_a))
        return PairOutput(pred=self.head(pair), h_a=inter.h_a, h_b=inter.h_b, pair_emb=pair, explain=explain)

    def training_loss(self, batch, task_loss) -> tuple[torch.Tensor, PairOutput]:
        """Full path + bottleneck on A (conditioned on B); with ``symmetric`` also on B (conditioned on A) and
        each bottleneck term is the mean of the two sides."""
        inter, ids_a, ids_b, n = self._interact(batch)
        s_a, s_b = self.set2set_a(inter.h_a, ids_a, n), self.set2set_b(inter.h_b, ids_b, n)
        pair = self.pair_embedding(s_a, s_b)
        pred = self.head(pair)
        if self.separate_passes:
            inter2, ids_a, ids_b, n = self._interact(batch)
            s_a2, s_b2 = self.set2set_a(inter2.h_a, ids_a, n), self.set2set_b(inter2.h_b, ids_b, n)
        else:
            inter2, s_a2, s_b2 = inter, s_a, s_b
        aux, bott, logits = self._bottleneck_terms(inter2.h_a, ids_a, inter2.counts_a, s_b2, n, batch.y,
                                                   task_loss, True)
        if self.symmetric:
            aux_b = self._bottleneck_terms(inter2.h_b, ids_b, inter2.counts_b, s_a2, n, batch.y, task_loss,
                                           False)[0]
            aux = {k: 0.5 * (v + aux_b[k]) for k, v in aux.items()}
        loss = task_loss(pred, batch.y) + sum(aux.values())
        explain = inter.explain()
        explain.update(map_importance_a=explain["atom_importance_a"], atom_importance_a=torch.sigmoid(logits.detach()),
                       gate=bott.gate.detach(), preserve_rate=bott.preserve_rate)
        return loss, PairOutput(pred=pred, h_a=inter.h_a, h_b=inter.h_b, pair_emb=pair, aux_losses=aux,
                                explain=explain)


class CGIBCont(CGIB):
    """CGIB_cont: the conditional term is an in-batch contrastive loss between s¹_i and s²_i (temperature τ)."""

    conditional = "contrastive"

    def __init__(self, encoder_factory: EncoderFactory, n_tasks: int = 1, tau: float = 1.0, **params):
        super().__init__(encoder_factory, n_tasks=n_tasks, **params)
        self.tau = float(tau)

    def conditional_loss(self, s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
        return info_nce(s1, s2, tau=self.tau, exclude_positive=True)
