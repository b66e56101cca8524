"""Pair models on DDI (issue 35, part 3): the `shared` (siamese) and `symmetric` pair params of late_fusion, CIGIN,
CGIB and CGIB_cont, and I2Mole's symmetry by construction: f(a, b) = f(b, a)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo_core.errors import ZooError
from zoo_core.models import build_model, model_spec
from zoo_core.testing import PAIRS, check_all, make_dataset
from zoo_core.train.trainer import model_loss, task_loss_fn

MODELS = ["late_fusion", "cigin", "cgib", "cgib_cont"]
SWAPPED = [(b, a) for a, b in PAIRS]


def predictions(spec, pairs, seed=0):
    torch.manual_seed(seed)
    model = build_model(spec)
    model.eval()
    with torch.no_grad():
        return model(make_dataset(spec, pairs).batch(np.arange(len(pairs)))).pred


def ddi_spec(name, **params):
    return model_spec("mpnn" if name == "late_fusion" else name, pair_model=name if name == "late_fusion" else None,
                      featurizer="chemprop133", task="classification", pair_params=params)


@pytest.mark.parametrize("name", MODELS + ["i2mole"])
def test_symmetric_models_give_f_ab_equal_f_ba(name):
    spec = ddi_spec(name) if name == "i2mole" else ddi_spec(name, symmetric=True)
    a, b = predictions(spec, PAIRS), predictions(spec, SWAPPED)
    assert torch.allclose(a, b, atol=1e-5), f"{name}: |f(a,b) - f(b,a)| = {(a - b).abs().max():.2e}"


@pytest.mark.parametrize("name", MODELS)
def test_without_the_option_the_order_matters(name):
    """The test above can fail: the default (separate encoders, concatenation) is not symmetric."""
    spec = ddi_spec(name)
    assert not torch.allclose(predictions(spec, PAIRS), predictions(spec, SWAPPED), atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_shared_encoder_is_one_set_of_weights(name):
    torch.manual_seed(0)
    shared, separate = build_model(ddi_spec(name, shared=True)), build_model(ddi_spec(name))
    assert shared.enc_a is shared.enc_b and shared.set2set_b is shared.set2set_a
    n_shared = sum(p.numel() for p in shared.parameters())
    n_separate = sum(p.numel() for p in separate.parameters())
    assert n_shared < n_separate
    assert set(separate.state_dict()) == set(build_model(ddi_spec(name, shared=False)).state_dict())


def test_symmetric_needs_the_shared_encoder():
    with pytest.raises(ZooError, match="shared"):
        build_model(ddi_spec("cigin", symmetric=True, shared=False))


@pytest.mark.parametrize("name", ["cgib", "cgib_cont"])
def test_symmetric_cgib_trains_a_bottleneck_on_both_molecules(name):
    spec = ddi_spec(name, symmetric=True)
    torch.manual_seed(0)
    model = build_model(spec)
    model.train()
    data = make_dataset(spec)
    batch = data.batch(np.arange(len(data)))
    batch.y = (batch.y > 0).float()
    loss, out = model_loss(model, batch, task_loss_fn("classification"))
    assert set(out.aux_losses) == {"task_ib", "kl", "cond"} and torch.isfinite(loss)
    loss.backward()
    assert model.compressor[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["late_fusion", "cgib"])
def test_symmetric_models_pass_the_conformance_kit(name):
    check_all(ddi_spec(name, symmetric=True) | {"task": "regression"})
