"""MolInteract's predictive pretraining (Soga et al.; METHODS §8.2) on the core's pretraining loop
(zoo_core.train.pretrainer): each tower predicts the other modality's quantities from its own block states,

    L = Σ_k w_k · L_k,   L_k = loss_k(head_k(combine_k(states of block b_k at the task's atoms)), label_k),

with the tasks of a profile (zoo_molinteract.pretrain_tasks: ``shipped`` = distance + angle from the 2D tower,
bond existence + bond type from the 3D tower; ``paper`` adds dihedral bins, shortest-path distance, centrality
rank), weights w_k = 1 (``weights`` overrides some), blocks b_k from ``blocks`` ([0, 1]: the first task of a tower
reads block 1's post-interaction states, the second block 2's). Heads: MLP(in → in → LayerNorm → ReLU → out),
discarded after pretraining. The task head of the molecule model and the final pooled output get no loss, so the
backbone is saved for one task and its head is not loaded at fine-tuning (``pretrains_head = False``).

Molecules: the examples given (``zoo pretrain`` and ``zoo run``: the training split's molecules, never validation
or test ones); geometry: the dataset's own positions when the caller passes them (QM9's DFT), else the core's
seeded ETKDG conformers. Only the blocks the heads read are run (the later ones would get no gradient).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo_core.train.distributed import sharded, union_mean
from zoo_core.train.pretrainer import Pretrainer
from zoo_molinteract.pretrain_data import PretrainBatch, PretrainData
from zoo_molinteract.pretrain_tasks import TASKS, profile_tasks, task_blocks

DEFAULTS: dict[str, Any] = {"profile": "shipped", "blocks": [0, 1], "sampled_pairs": 25, "negatives": 50,
                            "dihedral_bins": 18, "max_spd": 63, "centrality_tie": 0.01, "weights": None}
ENCODERS = ("molinteract",)   # the encoder implementation whose block states the heads read (gin is one)


def task_head(width: int, outputs: int) -> nn.Sequential:
    """MolInteract's pretraining head: Linear(in, in) → LayerNorm → ReLU → Linear(in, out)."""
    return nn.Sequential(nn.Linear(width, width), nn.LayerNorm(width), nn.ReLU(), nn.Linear(width, outputs))


class TaskHeads(nn.Module):
    """One head per task over d-wide atom states (a concatenated tuple is arity × d wide)."""

    def __init__(self, hidden: int, tasks: tuple[str, ...], cfg: dict):
        super().__init__()
        self.heads = nn.ModuleDict({
            name: task_head(hidden * (TASKS[name].arity if TASKS[name].combine == "cat" else 1),
                            TASKS[name].outputs(cfg)) for name in tasks})


def tuple_embedding(states: torch.Tensor, index: torch.Tensor, combine: str) -> torch.Tensor:
    """[M, d] sum or [M, arity · d] concatenation of the states of each row's atoms."""
    gathered = states[index]
    return gathered.sum(1) if combine == "sum" else gathered.reshape(index.shape[0], -1)


def task_loss(kind: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean MSE, BCE-with-logits or cross-entropy over the task's examples (the union batch's under torchrun;
    zero, still in the graph, when the batch has none)."""
    if kind == "mse":
        values = (out.squeeze(-1) - target) ** 2
    elif kind == "bce":
        values = F.binary_cross_entropy_with_logits(out.squeeze(-1), target, reduction="none")
    else:
        values = F.cross_entropy(out, target, reduction="none")
    return union_mean(values) if values.numel() or sharded() else out.sum() * 0.0


class MolInteractPretraining(Pretrainer):
    """MolInteract pretraining (module doc); ``params`` override :data:`DEFAULTS`."""

    name = "molinteract"
    target = "molecule"
    defaults = DEFAULTS
    pretrains_head = False

    def __init__(self, params: dict | None = None):
        super().__init__(params)
        profile_tasks(self.params["profile"], "both")   # an unknown profile fails now
        unknown = set(self.params["weights"] or {}) - set(TASKS)
        if unknown:
            raise ValueError(f"molinteract pretraining weights: unknown task(s) {', '.join(sorted(unknown))} "
                             f"(tasks: {', '.join(TASKS)})")
        self.tasks: tuple[str, ...] = ()
        self.blocks: dict[str, int] = {}

    def prepare(self, spec, examples, seed, workers=None, use_cache=True, progress=True, positions=None):
        if spec["encoder_impl"] not in ENCODERS:
            raise ValueError(f"molinteract pretraining reads the molinteract encoder's block states; "
                             f"{spec['encoder']!r} is not one")
        params = spec["encoder_params"]
        self.tasks = profile_tasks(self.params["profile"], str(params.get("towers", "both")))
        self.blocks = task_blocks(self.tasks, list(self.params["blocks"]))
        if max(self.blocks.values()) >= int(params["layers"]):
            raise ValueError(f"molinteract pretraining: blocks {self.params['blocks']} need more than the encoder's "
                             f"{params['layers']} layers")
        self.parts = ("loss", *self.tasks)
        return PretrainData(spec, examples, seed, self.tasks, self.params, positions, workers, use_cache, progress)

    def aux_modules(self, model) -> TaskHeads:
        return TaskHeads(model.encoder.hidden, self.tasks, self.params)

    def loss(self, model, aux: TaskHeads, batch: PretrainBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """L = Σ_k w_k · L_k (module doc)."""
        states = model.encoder.block_states(batch.mol.g, depth=max(self.blocks.values()) + 1)
        weights = self.params["weights"] or {}
        total, parts = None, {}
        for name in self.tasks:
            task = TASKS[name]
            tower = states.states_2d if task.tower == "2d" else states.states_3d
            emb = tuple_embedding(tower[self.blocks[name]], batch.index[name], task.combine)
            value = task_loss(task.loss, aux.heads[name](emb), batch.target[name])
            term = float(weights.get(name, 1.0)) * value
            total = term if total is None else total + term
            parts[name] = float(value.detach())
        parts["loss"] = float(total.detach())
        return total, parts

    def metadata(self, data: PretrainData) -> dict:
        out = {"pretrain_tasks": list(self.tasks), "task_blocks": self.blocks, "geometry": data.geometry}
        stats = data.geometry_stats
        if data.geometry == "etkdg":
            out["conformers"] = {k: stats[k] for k in ("embedded", "from_cache", "seconds")}
        return out
