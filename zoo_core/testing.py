"""Conformance kit for encoders and pair models (for the zoo's own tests and for plugin authors' CI).

Each check builds the model from a spec on a handful of real molecule pairs (including bond-free molecules:
water, sodium, HCl) and raises AssertionError with a clear message when a property fails:

* forward: predictions have shape [B, n_tasks] and are finite;
* backward: the loss reaches the encoders' parameters with finite gradients;
* permutation invariance: renumbering the atoms of every molecule leaves predictions unchanged;
* batch equals single: predicting pairs together equals predicting them one at a time;
* batch-order independence: shuffling the pairs of a batch permutes the predictions and nothing else;
* no leakage across pairs: changing one pair's molecule leaves the other pairs' predictions unchanged;
* save/load round trip: a safetensors round trip reproduces predictions;
* repeats encoded once: a batch whose sides repeat molecules gives the same loss, predictions and gradients
  whether the repeats are encoded once (``g.unique``, zoo_core.nn.base.encode) or each time.

Use ``conformance_cases()`` to parametrize over every registered model, ``check_all(spec)`` to run them all.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

PAIRS = [("CCO", "O"), ("c1ccccc1", "CCCCCCCCO"), ("[Na+]", "O"), ("Cl", "CCO"),
         ("CC(=O)[O-]", "CS(C)=O"), ("C[C@H](N)C(=O)O", "ClCCl"), ("N#Cc1ccc(O)cc1", "C1CCOC1")]
ATOL = 1e-5


MOLECULES = [a for a, _ in PAIRS] + ["CCCCCCCCO"]


def is_molecule_model(spec_or_name) -> bool:
    """Does this model (a spec, or a pair-models entry name) take one molecule per row?"""
    from zoo_core.models import roles_of

    return roles_of(spec_or_name) == 1


def conformance_spec(pair_model: str, encoder: str, **kwargs) -> dict:
    """The model spec of a conformance case (a molecule model gets a one-role spec)."""
    from zoo_core.models import model_spec

    return model_spec(encoder, pair_model=pair_model, roles=1 if is_molecule_model(pair_model) else 2, **kwargs)


def conformance_cases() -> list[tuple[str, str]]:
    """(pair model, encoder) for each available pair model with its default encoder, late_fusion over every
    available encoder, and the molecule model over every available encoder."""
    from zoo_core.plugins import get_catalog
    from zoo_core.registry import get_registry

    reg, cat = get_registry(), get_catalog()
    enc_ok = {n for n, e in reg.sections["encoders"].items() if e["impl"] in cat.implementations["encoders"]}
    cases = []
    for name, entry in sorted(reg.sections["pair_models"].items()):
        if entry["impl"] in cat.implementations["pair_models"] and entry.get("default_encoder") in enc_ok:
            cases.append((name, entry["default_encoder"]))
    for over_every in ("late_fusion", "molecule"):
        if over_every in reg.sections["pair_models"] and reg.sections["pair_models"][over_every]["impl"] in \
                cat.implementations["pair_models"]:
            cases += [(over_every, e) for e in sorted(enc_ok) if (over_every, e) not in cases]
    return cases


def make_dataset(spec: dict, pairs=PAIRS, molecules=None):
    """A PairDataset of ``pairs`` (or, for a molecule model, a MolDataset of ``molecules``) featurized as ``spec``
    says (no disk cache), targets spread over [-1, 1] (one column per task)."""
    from zoo_core.data.molecules import MolDataset
    from zoo_core.data.pairs import PairDataset
    from zoo_core.data.table import MolTable, PairTable

    feat = spec["featurizer"]
    n_tasks = int(spec.get("n_tasks", 1))
    if is_molecule_model(spec):
        mols = list(molecules or MOLECULES)
        y = np.linspace(-1, 1, len(mols) * n_tasks).reshape(len(mols), n_tasks)
        table = MolTable("conformance", ("molecule",), mols, y, np.arange(1, len(mols) + 1),
                         targets=tuple(f"t{i}" for i in range(n_tasks)))
        data = MolDataset.from_table(table, feat["name"], feat["explicit_h"], use_cache=False, progress=False)
    else:
        y = np.linspace(-1, 1, len(pairs) * n_tasks).reshape(len(pairs), n_tasks)
        table = PairTable("conformance", ("a", "b"), [a for a, _ in pairs], [b for _, b in pairs],
                          y if n_tasks > 1 else y[:, 0], np.arange(1, len(pairs) + 1),
                          targets=tuple(f"t{i}" for i in range(n_tasks)) if n_tasks > 1 else ("target",))
        data = PairDataset.from_table(table, feat["name"], feat["explicit_h"], use_cache=False, progress=False)
    _add_positions(spec, data)
    return data


def _add_positions(spec: dict, data) -> None:
    """Seeded ETKDG positions (zoo_core.chem.conformers) for an encoder that requires 3D, as ``zoo run`` gives."""
    from zoo_core.train.run import requires_3d

    if requires_3d(spec):
        from zoo_core.chem.positions import store_positions

        data.store.pos = store_positions(data.store, spec["featurizer"]["explicit_h"], workers=1,
                                         progress=False)[0].float()


def build(spec: dict, seed: int = 0):
    from zoo_core.models import build_model

    torch.manual_seed(seed)
    model = build_model(spec)
    model.eval()
    return model


def _pred(model, dataset, rows) -> torch.Tensor:
    with torch.no_grad():
        return model(dataset.batch(np.asarray(rows))).pred


def check_forward(spec: dict) -> None:
    model, data = build(spec), make_dataset(spec)
    pred = _pred(model, data, range(len(data)))
    assert pred.shape == (len(data), spec["n_tasks"]), f"pred shape {tuple(pred.shape)}"
    assert torch.isfinite(pred).all(), "non-finite predictions"


def check_backward(spec: dict) -> None:
    from zoo_core.train.trainer import model_loss, task_loss_fn

    model, data = build(spec), make_dataset(spec)
    model.train()
    loss, _ = model_loss(model, data.batch(np.arange(len(data))), task_loss_fn(spec["task"]))
    assert torch.isfinite(loss), "non-finite loss"
    loss.backward()
    reached = [n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad[:5]}"
    enc = [n for n in reached if "enc" in n]
    assert enc, "the loss does not reach any encoder parameter"


def _permuted(data, seed: int = 1):
    """A copy of the dataset's molecule store with every molecule's atoms renumbered."""
    import copy

    from zoo_core.data.store import MolStore

    store = data.store
    rng = np.random.default_rng(seed)
    xs, ans, eis, eas, ps = [], [], [], [], []
    for m in range(len(store)):
        n0, n1 = int(store.node_ptr[m]), int(store.node_ptr[m + 1])
        e0, e1 = int(store.edge_ptr[m]), int(store.edge_ptr[m + 1])
        perm = torch.as_tensor(rng.permutation(n1 - n0))          # new position i holds old atom perm[i]
        inverse = torch.empty_like(perm)
        inverse[perm] = torch.arange(len(perm))
        if store.pos is not None:
            ps.append(store.pos[n0:n1][perm])
        xs.append(store.x[n0:n1][perm])
        ans.append(store.atomic_num[n0:n1][perm])
        eorder = torch.as_tensor(rng.permutation(e1 - e0))
        eis.append(inverse[store.edge_index[:, e0:e1]][:, eorder])
        eas.append(store.edge_attr[e0:e1][eorder])
    new = MolStore(store.smiles, torch.cat(xs), torch.cat(eis, 1), torch.cat(eas), torch.cat(ans),
                   store.node_ptr, store.edge_ptr, pos=torch.cat(ps) if ps else None)
    out = copy.copy(data)
    out.store = new
    return out


def check_permutation_invariance(spec: dict) -> None:
    model, data = build(spec), make_dataset(spec)
    rows = np.arange(len(data))
    a, b = _pred(model, data, rows), _pred(model, _permuted(data), rows)
    assert torch.allclose(a, b, atol=ATOL, rtol=1e-4), f"atom renumbering changed predictions by {(a - b).abs().max():.2e}"


def check_batch_equals_single(spec: dict) -> None:
    model, data = build(spec), make_dataset(spec)
    together = _pred(model, data, np.arange(len(data)))
    single = torch.cat([_pred(model, data, [i]) for i in range(len(data))])
    assert torch.allclose(together, single, atol=ATOL, rtol=1e-4), \
        f"batched and single predictions differ by {(together - single).abs().max():.2e}"
    order = np.random.default_rng(0).permutation(len(data))
    shuffled = _pred(model, data, order)
    assert torch.allclose(shuffled, together[order], atol=ATOL, rtol=1e-4), "batch order changed predictions"


def check_no_leakage_across_pairs(spec: dict) -> None:
    """Changing pair 1's molecule B (to a bigger one, so padded sizes change) leaves every other pair's prediction
    unchanged and changes pair 1's."""
    model = build(spec)
    changed = [PAIRS[0], (PAIRS[1][0], "CCCCCCCCCCCCCCCCO")] + PAIRS[2:]
    changed_mols = [MOLECULES[0], "CCCCCCCCCCCCCCCCO"] + MOLECULES[2:]
    n = len(MOLECULES) if is_molecule_model(spec) else len(PAIRS)
    before = _pred(model, make_dataset(spec, PAIRS, MOLECULES), np.arange(n))
    after = _pred(model, make_dataset(spec, changed, changed_mols), np.arange(n))
    others = [0] + list(range(2, n))
    assert torch.allclose(before[others], after[others], atol=1e-6, rtol=0), \
        f"changing pair 1 moved other pairs' predictions by {(before[others] - after[others]).abs().max():.2e}"
    assert not torch.allclose(before[1], after[1], atol=1e-6), "changing pair 1's molecule B did not change it"


def check_save_load(spec: dict) -> None:
    from zoo_core.weights import load_model, save_model

    model, data = build(spec, seed=3), make_dataset(spec)
    before = _pred(model, data, np.arange(len(data)))
    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(Path(tmp) / "m.safetensors", model, spec, {"dataset": "conformance"})
        loaded, spec2, meta = load_model(path)
    assert spec2 == spec and meta["dataset"] == "conformance", "spec/metadata did not round-trip"
    after = _pred(loaded, data, np.arange(len(data)))
    assert torch.allclose(before, after, atol=1e-6), "weights did not round-trip"


REPEATED = PAIRS + [(a, b) for (a, _), (_, b) in zip(PAIRS, PAIRS[1:] + PAIRS[:1])]  # each molecule twice a side


def _each_copy_encoded(batch):
    """The same batch without its sides' ``unique`` graphs, so every copy of a molecule is encoded."""
    import copy

    out = copy.copy(batch)
    for side in ("g_a", "g_b"):
        g = copy.copy(getattr(batch, side))
        g.unique = g.node_source = g.graph_source = None
        setattr(out, side, g)
    return out


def float64_batch(batch):
    """The batch with its float tensors (node and edge features, positions, targets) in float64."""
    import copy

    def graph(g):
        g = copy.copy(g)
        g.ndata = {k: v.double() if v.is_floating_point() else v for k, v in g.ndata.items()}
        g.edata = {k: v.double() if v.is_floating_point() else v for k, v in g.edata.items()}
        g.unique = None if g.unique is None else graph(g.unique)
        return g

    out = copy.copy(batch)
    out.g_a, out.g_b, out.y = graph(batch.g_a), graph(batch.g_b), batch.y.double()
    return out


def _loss_and_grads(model, batch, loss_fn) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """One training-mode loss and its gradients, on a copy of ``model`` (a training pass may update state:
    I2Mole's codebook)."""
    import copy

    from zoo_core.train.trainer import model_loss

    model = copy.deepcopy(model)
    torch.manual_seed(7)  # gates, noise and codebook draws come after the encoders: the same in both passes
    loss, out = model_loss(model, batch, loss_fn)
    loss.backward()
    return loss.detach(), out.pred.detach(), {n: p.grad.clone() for n, p in model.named_parameters()
                                              if p.grad is not None}


def check_repeats_encoded_once(spec: dict) -> None:
    from zoo_core.train.trainer import task_loss_fn

    if is_molecule_model(spec):
        return
    model, data = build(spec).double(), make_dataset(spec, REPEATED)
    batch = float64_batch(data.batch(np.arange(len(data))))
    assert batch.g_a.unique is not None and batch.g_b.unique is not None, "repeated molecules were not shared"
    model.train()
    once = _loss_and_grads(model, batch, task_loss_fn(spec["task"]))
    each = _loss_and_grads(model, _each_copy_encoded(batch), task_loss_fn(spec["task"]))
    assert torch.allclose(once[0], each[0], rtol=1e-10, atol=1e-12), f"loss {once[0]:.12g} vs {each[0]:.12g}"
    assert torch.allclose(once[1], each[1], rtol=1e-10, atol=1e-12), "predictions differ when repeats are shared"
    assert once[2].keys() == each[2].keys(), "different parameters receive gradient"
    worst = max(float((once[2][n] - each[2][n]).abs().max()) for n in each[2])
    assert worst < 1e-10, f"gradients differ by up to {worst:.2e} when repeats are shared"


def overfit_tiny_set(spec: dict, pairs=PAIRS, steps: int = 150, lr: float = 1e-3, seed: int = 0) -> tuple[float, float]:
    """Train on ``pairs`` with the model's own training loss; return the eval-mode MSE before and after."""
    from zoo_core.train.optim import Adam
    from zoo_core.train.trainer import task_loss_fn

    torch.manual_seed(seed)
    model, data = build(spec, seed), make_dataset(spec, pairs)
    batch = data.batch(np.arange(len(data)))
    loss_fn = task_loss_fn(spec["task"])
    opt = Adam(model.parameters(), lr=lr)
    with torch.no_grad():
        start = loss_fn(model(batch).pred, batch.y).item()
    train_steps(model, batch, loss_fn, opt, steps)
    with torch.no_grad():
        end = loss_fn(model(batch).pred, batch.y).item()
    return start, end


def train_steps(model, batch, loss_fn, opt, steps: int) -> None:
    """``steps`` optimiser steps of the model's own training loss on one batch; leaves the model in eval mode."""
    from zoo_core.train.trainer import model_loss

    model.train()
    for _ in range(steps):
        opt.zero_grad()
        loss, _ = model_loss(model, batch, loss_fn)
        loss.backward()
        opt.step()
    model.eval()


CHECKS = [check_forward, check_backward, check_permutation_invariance, check_batch_equals_single,
          check_no_leakage_across_pairs, check_save_load, check_repeats_encoded_once]


def check_all(spec: dict) -> None:
    """Run every conformance check on a model spec (see zoo_core.models.model_spec)."""
    for check in CHECKS:
        check(spec)
