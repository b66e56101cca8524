"""The regression loss option (``--loss mse|l1``): L1 is the mean absolute error over labelled cells, QM9's entry
defaults to it (its papers train on MAE, METHODS §8.3), every other dataset keeps MSE, and classification refuses
it with one line."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from zoo_core.errors import UsageError, ZooError
from zoo_core.train.config import resolve_config
from zoo_core.train.trainer import TrainConfig, task_loss_fn, targets_scaler_and_loss


def test_l1_is_the_mean_absolute_error_over_labelled_cells():
    pred = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    y = torch.tensor([[0.0, 4.0], [0.5, float("nan")]])
    l1 = task_loss_fn("regression", regression_loss="l1")
    assert float(l1(pred, y)) == pytest.approx((1.0 + 2.0 + 0.5) / 3)
    assert float(task_loss_fn("regression")(pred, y)) == pytest.approx((1.0 + 4.0 + 0.25) / 3)
    full = torch.tensor([[0.0, 4.0], [0.5, 0.0]])
    assert float(l1(pred, full)) == pytest.approx(4.5 / 4)


def test_classification_refuses_l1():
    with pytest.raises(ZooError, match="classification on BCE"):
        task_loss_fn("classification", regression_loss="l1")


def test_the_run_config_chooses_the_loss_the_trainer_uses():
    from zoo_core.train.run import train_config

    assert resolve_config({"encoder": "molinteract", "dataset": "qm9"})["loss"] == "l1"
    assert resolve_config({"encoder": "molinteract", "dataset": "qm9", "loss": "mse"})["loss"] == "mse"
    freesolv = resolve_config({"encoder": "mpnn", "dataset": "freesolv"})
    assert freesolv["loss"] == "mse" and train_config(freesolv).loss == "mse"
    l1 = resolve_config({"encoder": "mpnn", "dataset": "freesolv", "loss": "l1"})
    assert train_config(l1).loss == "l1"
    assert resolve_config({"encoder": "gin", "dataset": "tox21"})["loss"] is None
    with pytest.raises(UsageError, match="one of mse, l1"):
        resolve_config({"encoder": "mpnn", "dataset": "freesolv", "loss": "huber"})


def test_the_fold_trains_on_the_configured_loss():
    """train_fold's loss comes from TrainConfig.loss: the same predictions give the L1 value under l1."""
    from zoo_core.data.molecules import MolDataset
    from zoo_core.data.table import MolTable

    smiles = ["CCO", "CCCO", "CCN", "CCCl"]
    table = MolTable("toy", ("molecule",), smiles, np.array([[1.0], [2.0], [3.0], [5.0]]), np.arange(2, 6))
    data = MolDataset.from_table(table, "mrl56", False, use_cache=False, progress=False)
    pred, y = torch.zeros(4, 1), data.y
    for name, expected in (("l1", 11.0 / 4), ("mse", 39.0 / 4)):
        _, _, loss = targets_scaler_and_loss(torch.nn.Linear(1, 1), data, np.arange(4), TrainConfig(loss=name),
                                             "regression", "cpu")
        assert float(loss(pred, y)) == pytest.approx(expected)


def test_zoo_run_refuses_l1_for_a_classification_set_in_one_line():
    from zoo_cli.main import app

    r = CliRunner().invoke(app, ["run", "--encoder", "gin", "--dataset", "tox21", "--loss", "l1"])
    assert r.exit_code == 2
    message = r.output.strip()
    assert "--loss l1 applies to regression; tox21 is a classification dataset (trained on BCE)" in message
    assert len(message.splitlines()) == 1
