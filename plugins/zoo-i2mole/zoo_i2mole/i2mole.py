"""I2Mole (Du et al., ICLR 2026; METHODS §9): interaction-aware invariant molecular relational learning, as the
faithful choices of METHODS §9.3 over any zoo encoder.

    h_a, h_b = Enc(G_a), Enc(G_b)                       one (siamese) encoder: the intra-molecular layers
    h_a, h_b = CrossAttention(h_a, h_b) × cross_layers   top-x % inter-molecular attention (cross_attention.py)
    merged pair graph: the atoms of both molecules, one node set per pair
    λ = gate(p), p_i = σ(FC(h_i)) + ρ_i/N                rationale keep probability (rationale.py)
    s_env = Linear(Set2Set_env((1 − λ) h))               environment readout, width d
    q = VQ(s_env)                                        M = 10 codes, δ = 0.25, straight-through (codebook.py)
    z = λ h + (1 − λ) q                                  noise injection from the assigned code (or VGIB Gaussian)
    s_IB = Set2Set(z);  ŷ = head([s_IB ; q])             head: MLP 3d -> 256 -> 128 -> n_tasks
    L = L_inv + L_pre + β L_MI + γ L_vq,  β = γ = 1e-4   (invariance.py; L_pre = task_loss(ŷ, y))

Inference uses the same path with λ = p and the assigned code. Every readout is over the merged node set and the
cross attention treats both molecules alike, so f(a, b) = f(b, a) by construction.
``training_loss`` returns ``aux_losses`` {inv, mi, vq} (weights applied), ``loss = task_loss(pred, y) + Σ aux``.

Ablations (the paper's Table): ``vq=false`` no codebook: no L_vq and no L_inv (no environments), the head reads
[s_IB ; s_env] and the noise is VGIB Gaussian; ``cross=false`` no inter-molecular attention (ρ = 0, no kept
edges); ``gib=false`` no gate, noise or L_MI (λ = 1, z = h) and the environment readout reads the whole h.
``explain``: ``atom_importance_a/_b`` = p_i (the rationale), ``interaction_map`` = kept α' of both directions
(A→B plus B→A transposed, 0 where masked), ``kept_edges`` (bool, either direction), ``environment`` (code index).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from zoo_core.nn.base import EncoderFactory, PairModel, PairOutput, encode, graph_segments
from zoo_core.nn.bottleneck import KL_FORMS
from zoo_core.nn.interaction import Padding
from zoo_core.nn.mlp import MLP, xavier_init
from zoo_core.nn.set2set import Set2Set
from zoo_i2mole.codebook import Codebook
from zoo_i2mole.cross_attention import CrossAttention, pair_maps, size_groups
from zoo_i2mole.invariance import environment_risks, invariance_loss
from zoo_i2mole.rationale import NOISES, gate, inject_noise, keep_probability


class I2Mole(PairModel):
    """I2Mole over any encoder (see the module docstring for the parameters' meaning)."""

    def __init__(self, encoder_factory: EncoderFactory, n_tasks: int = 1, top_fraction: float = 0.1,
                 cross: bool = True, cross_layers: int = 1, att_dim: int | None = None, renormalize: bool = False,
                 mix: Sequence[float] | None = None, gib: bool = True, noise: str = "code", kl_form: str = "node",
                 gate_temperature: float = 1.0, vq: bool = True, n_codes: int = 10, commitment: float = 0.25,
                 code_restart: bool = True, code_update: str = "ema", beta: float = 1e-4, gamma: float = 1e-4,
                 mlp_hidden: Sequence[int] = (256, 128), set2set_steps: int = 2, dropout: float = 0.0):
        super().__init__()
        if noise not in NOISES:
            raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")
        if kl_form not in KL_FORMS:
            raise ValueError(f"kl_form must be one of {KL_FORMS}, got {kl_form!r}")
        self.enc = encoder_factory()
        d = self.enc.out_dim
        self.cross_layers = nn.ModuleList(
            [CrossAttention(d, att_dim, top_fraction, renormalize, mix) for _ in range(cross_layers if cross else 0)])
        self.gib, self.vq, self.kl_form = bool(gib), bool(vq), kl_form
        self.noise = noise if self.vq else "gaussian"
        self.beta, self.gamma, self.gate_temperature = float(beta), float(gamma), float(gate_temperature)
        self.rationale = MLP([d, max(1, d // 2), 1])                      # p_i = σ(FC(h_i))
        self.readout, self.env_readout = Set2Set(d, set2set_steps), Set2Set(d, set2set_steps)
        self.env_proj = nn.Linear(2 * d, d)
        self.pair_dim = 3 * d
        self.head = MLP([self.pair_dim, *mlp_hidden, n_tasks], dropout=dropout)
        xavier_init(self)  # every Linear (the zoo's 3DMRL/CGIB convention); the codebook keeps its own init
        self.codebook = Codebook(n_codes, d, commitment, code_restart, code_update) if self.vq else None

    # -- pieces ------------------------------------------------------------------------------------------
    def _interact(self, batch):
        """Siamese encoding and the cross-attention rounds: (h_a, h_b, pad_a, pad_b, last round or None)."""
        (ids_a, counts_a, _), (ids_b, counts_b, _) = graph_segments(batch.g_a), graph_segments(batch.g_b)
        pad_a, pad_b = Padding.from_counts(counts_a, ids_a), Padding.from_counts(counts_b, ids_b)
        h_a, h_b, last = encode(self.enc, batch.g_a), encode(self.enc, batch.g_b), None
        groups = size_groups(pad_a, pad_b) if self.cross_layers else None
        for layer in self.cross_layers:
            last = layer(h_a, pad_a, h_b, pad_b, groups)
            h_a, h_b = last[0].h, last[1].h
        return h_a, h_b, pad_a, pad_b, last

    def _explain(self, p, h, pad_a, pad_b, last, index) -> dict:
        n_a = pad_a.ids.shape[0]
        if last is not None:
            imap, kept = pair_maps(*last)
        else:
            imap = h.new_zeros(pad_a.batch_size, pad_a.n_max, pad_b.n_max)
            kept = imap.bool()
        if p is None:  # no rationale gate: the kept attention of each atom
            p = torch.cat([pad_a.unpad(imap.sum(2)), pad_b.unpad(imap.sum(1))])
        kind = "rationale keep probability p_i" if self.gib else "kept cross attention (sum over the partner)"
        return {"interaction_map": imap, "kept_edges": kept, "counts_a": pad_a.counts, "counts_b": pad_b.counts,
                "atom_importance_a": p[:n_a].detach(), "atom_importance_b": p[n_a:].detach(),
                "importance_kind_a": kind, "importance_kind_b": kind, "environment": index}

    # -- interface ---------------------------------------------------------------------------------------
    def forward(self, batch) -> PairOutput:
        h_a, h_b, pad_a, pad_b, last = self._interact(batch)
        n = pad_a.batch_size
        h, ids = torch.cat([h_a, h_b]), torch.cat([pad_a.ids, pad_b.ids])
        counts = pad_a.counts + pad_b.counts
        p = lam = None
        if self.gib:
            relation = (torch.cat([last[0].relation, last[1].relation]) if last is not None else h.new_zeros(len(h)))
            p = keep_probability(self.rationale(h).view(-1), relation, counts[ids])
            lam = gate(p, self.gate_temperature, self.training)
        env_in = h if lam is None else (1.0 - lam).unsqueeze(-1) * h
        s_env = self.env_proj(self.env_readout(env_in, ids, n))
        quant = self.codebook(s_env) if self.vq else None
        q = s_env if quant is None else quant.q
        aux = {} if quant is None else {"vq": self.gamma * quant.loss}
        z = h
        if self.gib:
            z, kl = inject_noise(h, lam, ids, counts, q if self.noise == "code" else None, self.training,
                                 self.kl_form)
            if kl is not None:
                aux["mi"] = self.beta * kl
        pair = torch.cat([self.readout(z, ids, n), q], dim=-1)
        explain = self._explain(p, h, pad_a, pad_b, last, None if quant is None else quant.index)
        return PairOutput(pred=self.head(pair), h_a=h_a, h_b=h_b, pair_emb=pair, aux_losses=aux, explain=explain)

    def training_loss(self, batch, task_loss) -> tuple[torch.Tensor, PairOutput]:
        """L = L_pre + L_inv + β L_MI + γ L_vq (METHODS §9.3 item 5)."""
        out = self(batch)
        if self.codebook is not None:
            s_ib = out.pair_emb[:, :self.readout.out_dim]
            out.aux_losses["inv"] = invariance_loss(
                environment_risks(self.head, s_ib, self.codebook.codes, batch.y, task_loss))
        return task_loss(out.pred, batch.y) + sum(out.aux_losses.values()), out
