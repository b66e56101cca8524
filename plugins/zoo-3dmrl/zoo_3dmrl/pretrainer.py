"""3DMRL pretraining (Lee et al., NeurIPS 2025; METHODS §7) for any zoo pair model with a ``projector``.

Loss per batch of pairs (§7.3):

* contrastive: z_2D = ``model.projector(out.pair_emb)``, z_3D = SchNet over the VIE system, mean over solute atoms;
  ``info_nce(z2D, z3D, τ) + info_nce(z3D, z2D, τ)``, cosine similarity, τ = 0.2, positive excluded from the
  denominator (zoo_core.nn.contrastive). SchNet's output width is the projector's (64 by default).
* pseudo-force: a local-frame equivariant head (:class:`ForceHead`) on the solvent-copy atoms predicts a vector per
  atom; ``L_force = mean_k ‖f̂_k − f_k‖²``. Total ``L = L_cont + α · L_force``, α = 0.1.

Fixes and simplifications (documented; see also vie.py and conformers.py):

* The force head is optimised (the original leaves it out of the optimiser, §10 item 6);
  ``legacy_frozen_force_head=True`` reproduces that (the head stays at its random init, gradients still flow
  through it into the 2D model).
* Frames are built from positions centred on each system's solute centroid (§10 item 10), so the predicted
  forces are SE(3)-equivariant (rotation and translation of the whole system).
* Head widths come from the backbone (``model.node_dim``, else ``model.enc_a.out_dim``; §10 item 11), so
  late_fusion (mpnn, attentivefp), cigin, cgib and cgib_cont all work.
* **Simplified score network**: instead of 2 blocks × 2 TransformerConv layers with Gaussian-Fourier
  features, the head uses ``rounds`` (2) invariant mean-aggregation message-passing rounds (residual +
  LayerNorm) on the replicated solvent bonds, invariant edge geometry = MLP([c_k, c_l, ‖x_k − x_l‖, cos, sin])
  (c = the projected coordinates [e₁·x, |e₂·x|, e₃·x]), and an MLP (2h → 128 → 3) giving γ ∈ ℝ³ per edge; the
  vector message γ₁e₁ + γ₂e₂ + γ₃e₃ is mean-aggregated at the edge's target atom. The edge MLP has no BatchNorm.
* Roles (``role_order``): ``"given"`` (default) keeps each pair's dataset order, so molecule A, the
  solute/chromophore, is the 3D "solute" that the solvent copies surround, exactly the A the downstream model
  sees: 3DMRL's convention for molecular-interaction data (§7.1: "MI: chromophore/solute vs solvent"), whatever
  the sizes. ``"larger"`` makes the molecule with the larger conformer radius A (ties keep the given order), in
  the 2D model too: 3DMRL's DDI convention (§7.1, §10 item 19), for symmetric drug-drug pairs only.
* 3D atom tokens: the solute/solvent flag (``node_feature="flag"``, the 3DMRL scripts) or the element
  (``"element"``). Conformer H mode = the model spec's featurizer ``explicit_h`` (atoms must match the 2D graph).
* Single-atom solvents have no bonds, so their predicted force is 0 (as the original).

The loop (Adam, seeded shuffling, checkpoints, resume, the saved backbone) is the core's
(zoo_core.train.pretrainer); this module supplies the data view, the auxiliary modules and the loss. Only the 2D
backbone is saved: SchNet and the force head are discarded (§7.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from zoo_core.nn.contrastive import info_nce
from zoo_core.nn.mlp import MLP
from zoo_core.nn.schnet import SchNet, compiled_aggregate_kernels, masked_mean
from zoo_core.nn.segment import segment_ids, segment_sum
from zoo_core.train.distributed import sharded, union_mean
from zoo_core.train.pretrainer import Pretrainer

from zoo_3dmrl.vie import VIESystem, item_rng, make_vie, radius

DEFAULTS: dict[str, Any] = {
    "tau": 0.2, "alpha": 0.1, "cutoff": 5.0, "hidden": 64, "filters": 128, "n_interactions": 6, "n_gaussians": 50,
    "max_neighbors": 32, "force_hidden": 56, "force_rounds": 2, "node_feature": "flag", "n_targets": 5,
    "fixed_direction": False, "rotation": True, "min_radius": 1.0, "legacy_frozen_force_head": False,
    "role_order": "given", "filter_table": 4096,
}
ROLE_ORDERS = ("given", "larger")


# ---------------------------------------------------------------------------------------------------------------
# Batches


@dataclass
class VIEBatch:
    """Collated VIE systems (one per pair, in batch order); ``pos`` rows are system-contiguous."""

    z: torch.Tensor            # [N] atom tokens for SchNet
    pos: torch.Tensor          # [N, 3]
    counts: torch.Tensor       # [B] atoms per system
    is_solute: torch.Tensor    # [N] bool
    copy_index: torch.Tensor   # [M] row in ``pos`` of each copy atom
    copy_node_b: torch.Tensor  # [M] row in the batched solvent node embeddings (h_b) it copies
    copy_node_a: torch.Tensor  # [M] row in the batched solute node embeddings (h_a) of its target atom
    edge_index: torch.Tensor   # [2, E] replicated solvent bonds, indices into the M copy atoms
    force: torch.Tensor        # [M, 3] pseudo-force labels

    def to(self, device=None, dtype=None) -> "VIEBatch":
        def conv(t):
            return t.to(device=device, dtype=dtype) if t.is_floating_point() else t.to(device=device)
        return VIEBatch(*(conv(getattr(self, f)) for f in self.__dataclass_fields__))


def collate_vie(systems: list[VIESystem], tokens: list[np.ndarray], counts_a: np.ndarray,
                counts_b: np.ndarray) -> VIEBatch:
    """Collate VIE systems; ``tokens[i]`` holds system i's SchNet tokens, ``counts_a/b`` the 2D atom counts of
    the solutes/solvents (to index the batched node embeddings)."""
    off_a = np.concatenate([[0], np.cumsum(counts_a)[:-1]])
    off_b = np.concatenate([[0], np.cumsum(counts_b)[:-1]])
    off_sys = np.concatenate([[0], np.cumsum([s.n_atoms for s in systems])[:-1]])
    off_copy = np.concatenate([[0], np.cumsum([len(s.copy_atom) for s in systems])[:-1]])
    cat = np.concatenate
    return VIEBatch(
        z=torch.from_numpy(cat(tokens).astype(np.int64)),
        pos=torch.from_numpy(cat([s.pos for s in systems])).float(),
        counts=torch.tensor([s.n_atoms for s in systems], dtype=torch.long),
        is_solute=torch.from_numpy(cat([~s.is_solvent for s in systems])),
        copy_index=torch.from_numpy(cat([o + s.n_solute + np.arange(len(s.copy_atom)) for o, s in zip(off_sys, systems)])
                                    .astype(np.int64)),
        copy_node_b=torch.from_numpy(cat([o + s.copy_atom for o, s in zip(off_b, systems)]).astype(np.int64)),
        copy_node_a=torch.from_numpy(cat([o + s.copy_target for o, s in zip(off_a, systems)]).astype(np.int64)),
        edge_index=torch.from_numpy(cat([o + s.edge_index for o, s in zip(off_copy, systems)], axis=1).astype(np.int64)),
        force=torch.from_numpy(cat([s.force for s in systems])).float(),
    )


class PretrainData:
    """Pairs featurized for the spec's 2D model, one conformer per molecule, VIEs on demand.

    Molecule A is the 3D solute: the pair's first molecule (``role_order="given"``, MI data) or the one with the
    larger conformer radius (``"larger"``, DDI). ``batch(rows, epoch)`` -> (PairBatch, VIEBatch); the VIE of row
    r in epoch e uses ``item_rng(seed, e, r)``. ``row_cost(rows)``: each row's VIE atoms (data-parallel shares
    balance them).
    """

    def __init__(self, spec: dict, pairs: list[tuple[str, str]], seed: int = 0, workers: int | None = None,
                 use_cache: bool = True, progress: bool = True, n_targets: int = 5, fixed_direction: bool = False,
                 rotation: bool = True, min_radius: float = 1.0, node_feature: str = "flag",
                 role_order: str = "given"):
        from zoo_core.chem.featurizers import prepare_mol
        from zoo_core.chem.positions import store_positions
        from zoo_core.data.pairs import PairDataset
        from zoo_core.data.table import PairTable

        if node_feature not in ("flag", "element"):
            raise ValueError(f"node_feature must be 'flag' or 'element', not {node_feature!r}")
        if role_order not in ROLE_ORDERS:
            raise ValueError(f"role_order must be one of {ROLE_ORDERS}, not {role_order!r}")
        feat = spec["featurizer"]
        pairs = list(pairs)
        table = PairTable("pretraining", ("a", "b"), [a for a, _ in pairs], [b for _, b in pairs],
                          np.zeros(len(pairs)), np.arange(1, len(pairs) + 1))
        data = PairDataset.from_table(table, feat["name"], feat["explicit_h"], use_cache, progress)
        store = data.store
        pos, self.conformer_stats = store_positions(store, feat["explicit_h"], seed=seed, workers=workers,
                                                    use_cache=use_cache, progress=progress)
        ptr = store.node_ptr
        self.pos = [pos[int(ptr[m]):int(ptr[m + 1])].numpy() for m in range(len(store))]
        mols = (prepare_mol(smi, feat["explicit_h"])[1] for smi in store.smiles)
        self.in_ring = [np.array([a.IsInRing() for a in mol.GetAtoms()], dtype=bool) for mol in mols]
        self.role_order = role_order
        self.swapped = 0
        if role_order == "larger":
            radii = torch.tensor([radius(p) for p in self.pos], dtype=torch.float64)
            swap = radii[data.ids_b] > radii[data.ids_a]
            data.ids_a, data.ids_b = (torch.where(swap, data.ids_b, data.ids_a),
                                      torch.where(swap, data.ids_a, data.ids_b))
            self.swapped = int(swap.sum())
        self.data, self.store, self.seed = data, store, int(seed)
        self.vie_params = {"n_targets": n_targets, "fixed_direction": fixed_direction, "rotation": rotation,
                           "min_radius": min_radius}
        self.node_feature = node_feature
        self.vie_atoms = self._vie_atoms(n_targets)

    def _vie_atoms(self, n_targets: int) -> np.ndarray:
        """Atoms of each row's VIE, whatever the draw: the solute's, plus one solvent per target (``make_vie``: up
        to ``n_targets`` of the solute's non-ring atoms, all its atoms when it has none)."""
        atoms = np.diff(self.store.node_ptr.numpy())
        free = np.array([int((~ring).sum()) or len(ring) for ring in self.in_ring])
        a, b = self.data.ids_a.numpy(), self.data.ids_b.numpy()
        return atoms[a] + np.minimum(free[a], n_targets) * atoms[b]

    def row_cost(self, rows) -> np.ndarray:
        """Each row's VIE atoms, which its share of a step's work (SchNet, the force head) grows with: what
        data-parallel shares are balanced on (zoo_core.train.distributed.shard_rows)."""
        return self.vie_atoms[np.asarray(rows, dtype=np.int64)]

    def __len__(self) -> int:
        return len(self.data)

    def _edges(self, m: int) -> np.ndarray:
        e0, e1 = int(self.store.edge_ptr[m]), int(self.store.edge_ptr[m + 1])
        return self.store.edge_index[:, e0:e1].numpy()

    def _tokens(self, system: VIESystem, a: int, b: int) -> np.ndarray:
        if self.node_feature == "flag":
            return system.is_solvent.astype(np.int64)
        an = self.store.atomic_num
        za = an[int(self.store.node_ptr[a]):int(self.store.node_ptr[a + 1])].numpy()
        zb = an[int(self.store.node_ptr[b]):int(self.store.node_ptr[b + 1])].numpy()
        return np.concatenate([za, zb[system.copy_atom]])

    def vie(self, row: int, epoch: int) -> VIESystem:
        a, b = int(self.data.ids_a[row]), int(self.data.ids_b[row])
        return make_vie(self.pos[a], self.in_ring[a], self.pos[b], self._edges(b), item_rng(self.seed, epoch, row),
                        **self.vie_params)

    def batch(self, rows, epoch: int):
        rows = np.asarray(rows, dtype=np.int64)
        pair_batch = self.data.batch(rows)
        systems = [self.vie(int(r), epoch) for r in rows]
        ids_a, ids_b = self.data.ids_a[rows], self.data.ids_b[rows]
        ptr = self.store.node_ptr
        counts_a = (ptr[ids_a + 1] - ptr[ids_a]).numpy()
        counts_b = (ptr[ids_b + 1] - ptr[ids_b]).numpy()
        tokens = [self._tokens(s, int(a), int(b)) for s, a, b in zip(systems, ids_a, ids_b)]
        return pair_batch, collate_vie(systems, tokens, counts_a, counts_b)


# ---------------------------------------------------------------------------------------------------------------
# Modules


def backbone_node_dim(model) -> int:
    """Width of the post-interaction node embeddings a pair model returns in PairOutput.h_a / h_b."""
    width = getattr(model, "node_dim", None)
    if width is None:
        width = model.enc_a.out_dim
    return int(width)


def local_frames(x_k: torch.Tensor, x_l: torch.Tensor, eps: float = 1e-8):
    """MoleculeSDE-style ``coord2basis`` of (centred) edge end positions: e₁, e₂, e₃ [E, 3] each."""
    e1 = x_k - x_l
    e1 = e1 / (e1.norm(dim=-1, keepdim=True) + eps)
    e2 = torch.cross(x_k, x_l, dim=-1)
    e2 = e2 / (e2.norm(dim=-1, keepdim=True) + eps)
    e3 = torch.cross(e1, e2, dim=-1)
    return e1, e2, e3


class ForceHead(nn.Module):
    """Local-frame SE(3)-equivariant pseudo-force head on the solvent-copy atoms (simplified; module doc)."""

    def __init__(self, node_dim: int, hidden: int = 56, rounds: int = 2):
        super().__init__()
        act = nn.SiLU
        self.node_in = nn.Linear(2 * node_dim, hidden)
        self.edge_in = MLP([2 * node_dim, hidden, hidden], activation=act)
        self.geom = MLP([9, hidden, hidden], activation=act)
        self.rounds = nn.ModuleList(MLP([2 * hidden, hidden, hidden], activation=act) for _ in range(rounds))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(rounds))
        self.coeff = MLP([2 * hidden, 128, 3], activation=act)

    def forward(self, h_copy: torch.Tensor, h_target: torch.Tensor, pos: torch.Tensor,
                edge_index: torch.Tensor) -> torch.Tensor:
        """``h_copy`` [M, d] the 2D solvent-node embedding each copy atom copies, ``h_target`` [M, d] the 2D
        embedding of its target solute atom, ``pos`` [M, 3] centred positions, ``edge_index`` [2, E]
        (row 0 = source l, row 1 = target k). Returns predicted vectors [M, 3]."""
        m = h_copy.shape[0]
        src, dst = edge_index[0], edge_index[1]
        n = self.node_in(torch.cat([h_copy, h_target], dim=-1))
        if src.numel() == 0:
            return pos.new_zeros(m, 3)
        x_k, x_l = pos[dst], pos[src]
        e1, e2, e3 = local_frames(x_k, x_l)

        def proj(x):
            return torch.stack([(e1 * x).sum(-1), (e2 * x).sum(-1).abs(), (e3 * x).sum(-1)], dim=-1)

        c_k, c_l = proj(x_k), proj(x_l)
        norm = (c_k.norm(dim=-1) * c_l.norm(dim=-1)).clamp(min=1e-8)
        cos = (c_k * c_l).sum(-1) / norm
        sin = torch.cross(c_k, c_l, dim=-1).norm(dim=-1) / norm
        geom = torch.cat([c_k, c_l, (x_k - x_l).norm(dim=-1, keepdim=True), cos[:, None], sin[:, None]], dim=-1)
        edge = self.edge_in(torch.cat([h_copy[dst], h_copy[src]], dim=-1)) + self.geom(geom)
        deg = torch.bincount(dst, minlength=m).clamp(min=1).to(pos.dtype).view(-1, 1)
        for mlp, ln in zip(self.rounds, self.norms):
            msg = mlp(torch.cat([n[src], edge], dim=-1))
            n = ln(n + segment_sum(msg, dst, m) / deg)
        gamma = self.coeff(torch.cat([n[dst] + n[src], edge], dim=-1))
        vec = gamma[:, 0:1] * e1 + gamma[:, 1:2] * e2 + gamma[:, 2:3] * e3
        return segment_sum(vec, dst, m) / deg


class ThreeDMRLModules(nn.Module):
    """3DMRL's auxiliary modules for one 2D backbone ``model``: SchNet (3D encoder of the VIE, output width = the
    projector's) and the force head (widths from the backbone). The backbone is *not* a submodule."""

    def __init__(self, model, cutoff: float = 5.0, hidden: int = 64, filters: int = 128, n_interactions: int = 6,
                 n_gaussians: int = 50, max_neighbors: int | None = 32, force_hidden: int = 56, force_rounds: int = 2,
                 node_feature: str = "flag", filter_table: int | None = 4096):
        super().__init__()
        if not isinstance(getattr(model, "projector", None), nn.Linear):
            raise TypeError(f"{type(model).__name__} has no `projector` Linear (z_2D); 3DMRL needs one")
        self.schnet = SchNet(hidden=hidden, filters=filters, n_interactions=n_interactions, n_gaussians=n_gaussians,
                             cutoff=cutoff, num_atom_types=2 if node_feature == "flag" else 119,
                             out_dim=model.projector.out_features, max_neighbors=max_neighbors,
                             filter_table=filter_table)
        self.node_dim = backbone_node_dim(model)
        self.force_head = ForceHead(self.node_dim, force_hidden, force_rounds)

    def predict_forces(self, h_a: torch.Tensor, h_b: torch.Tensor, vie: VIEBatch) -> torch.Tensor:
        """Predicted pseudo-forces [M, 3] of the copy atoms; frames from positions centred on each system's
        solute centroid."""
        center = masked_mean(vie.pos, vie.counts, vie.is_solute)
        system = segment_ids(vie.counts.to(vie.pos.device))
        pos = vie.pos[vie.copy_index] - center[system[vie.copy_index]]
        return self.force_head(h_b[vie.copy_node_b], h_a[vie.copy_node_a], pos, vie.edge_index)


_MODULE_KEYS = ("cutoff", "hidden", "filters", "n_interactions", "n_gaussians", "max_neighbors", "force_hidden",
                "force_rounds", "node_feature", "filter_table")
_VIE_KEYS = ("n_targets", "fixed_direction", "rotation", "min_radius", "role_order")


class ThreeDMRL(Pretrainer):
    """3DMRL on the core's pretraining loop (zoo_core.train.pretrainer): data = :class:`PretrainData` (batches of
    (PairBatch, VIEBatch)), auxiliary modules = :class:`ThreeDMRLModules`, loss = §7.3 (module doc).
    ``ThreeDMRL.pretrain(spec, pairs, epochs, batch_size, lr, seed, out, params, ...)`` runs it; ``params``
    override :data:`DEFAULTS`."""

    name = "3dmrl"
    target = "pair"
    defaults = DEFAULTS
    parts = ("loss", "contrastive", "force")
    supports_compile = True

    def prepare(self, spec, examples, seed, workers=None, use_cache=True, progress=True) -> PretrainData:
        cfg = self.params
        return PretrainData(spec, examples, seed, workers, use_cache, progress, node_feature=cfg["node_feature"],
                            **{k: cfg[k] for k in _VIE_KEYS})

    def aux_modules(self, model) -> ThreeDMRLModules:
        return ThreeDMRLModules(model, **{k: self.params[k] for k in _MODULE_KEYS})

    def optimised_parameters(self, model, aux: ThreeDMRLModules) -> list[nn.Parameter]:
        """Backbone + SchNet (+ the force head unless ``legacy_frozen_force_head``)."""
        params = list(model.parameters()) + list(aux.schnet.parameters())
        if not self.params["legacy_frozen_force_head"]:
            params += list(aux.force_head.parameters())
        return params

    def check_compile(self) -> None:
        compiled_aggregate_kernels()  # no C++ compiler: a clear error now, not after the conformers

    def use_compiled(self, aux: ThreeDMRLModules) -> None:
        aux.schnet.compiled_kernels = True

    def loss(self, model, aux: ThreeDMRLModules, batch) -> tuple[torch.Tensor, dict[str, float]]:
        """L = info_nce(z2D, z3D, τ) + info_nce(z3D, z2D, τ) + α · mean_k ‖f̂_k − f_k‖² (§7.3)."""
        pair_batch, vie = batch
        out = model(pair_batch)
        if out.h_a is None or out.h_b is None or out.pair_emb is None:
            raise TypeError(f"{type(model).__name__} must return h_a, h_b and pair_emb for 3DMRL")
        if out.h_a.shape[-1] != aux.node_dim:
            raise ValueError(f"node embeddings are {out.h_a.shape[-1]}-d, the force head expects {aux.node_dim}")
        tau, alpha = float(self.params["tau"]), float(self.params["alpha"])
        z2d = model.projector(out.pair_emb)
        z3d = masked_mean(aux.schnet(vie.z, vie.pos, vie.counts), vie.counts, vie.is_solute)
        cont = info_nce(z2d, z3d, tau) + info_nce(z3d, z2d, tau)
        pred = aux.predict_forces(out.h_a, out.h_b, vie)
        squared = ((pred - vie.force) ** 2).sum(-1)   # data-parallel: the union batch's mean over copy atoms
        force = union_mean(squared) if pred.shape[0] or sharded() else cont * 0.0
        loss = cont + alpha * force
        return loss, {"loss": float(loss.detach()), "contrastive": float(cont.detach()),
                      "force": float(force.detach())}

    def metadata(self, data: PretrainData) -> dict:
        stats = data.conformer_stats
        return {"role_order": data.role_order, "swapped_pairs": data.swapped,
                "conformer_fallbacks": len(stats["fallback"]),
                "conformers": {k: stats[k] for k in ("embedded", "from_cache", "seconds")}}
