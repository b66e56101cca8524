"""The per-step learning-rate schedules (``--lr-schedule cosine|noam``, zoo_core.train.lr_schedule): cosine is
torch's CosineAnnealingLR stepped per epoch, noam is chemprop v2's warm-up then exponential decay, the trainer
applies them step by step, and the run configuration checks them in one line."""

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from zoo_core.errors import UsageError
from zoo_core.train.config import resolve_config
from zoo_core.train.lr_schedule import StepSchedule, step_schedule, steps_per_epoch


def test_cosine_is_torchs_cosine_annealing_stepped_per_epoch():
    epochs, per_epoch, lr, min_lr = 7, 3, 1e-3, 1e-5
    schedule = StepSchedule("cosine", lr, epochs, per_epoch, min_lr)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    torch_cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=min_lr)
    for epoch in range(1, epochs + 1):
        expected = opt.param_groups[0]["lr"]
        for i in range(per_epoch):  # constant within an epoch
            assert schedule.at(schedule.first_step(epoch) + i) == pytest.approx(expected, rel=1e-9)
        opt.step()
        torch_cosine.step()
    assert schedule.at(0) == lr and schedule.at(10**6) == schedule.at(epochs * per_epoch - 1)


def test_noam_warms_up_linearly_then_decays_exponentially_to_a_tenth():
    lr, epochs, per_epoch, warmup = 1e-3, 10, 5, 2
    s = StepSchedule("noam", lr, epochs, per_epoch, warmup_epochs=warmup)
    rates = np.array([s.at(k) for k in range(epochs * per_epoch)])
    w = warmup * per_epoch
    assert rates[0] == pytest.approx(lr / 10) and rates[w] == pytest.approx(lr) and rates[-1] == pytest.approx(lr / 10)
    np.testing.assert_allclose(np.diff(rates[: w + 1]), (lr - lr / 10) / w)  # linear warm-up
    ratios = rates[w + 1:] / rates[w:-1]
    np.testing.assert_allclose(ratios, (0.1) ** (1 / (epochs * per_epoch - 1 - w)))  # one constant factor per step
    assert StepSchedule("noam", lr, 1, 1).at(0) == pytest.approx(lr)  # a one-step run: no room to warm up


def test_plateau_has_no_step_schedule_and_steps_count_the_short_batch():
    assert step_schedule("plateau", 1e-3, 10, 100, 16) is None
    assert steps_per_epoch(100, 16) == 7 and steps_per_epoch(96, 16) == 6 and steps_per_epoch(0, 16) == 1
    with pytest.raises(ValueError, match="cosine, noam"):
        StepSchedule("linear", 1e-3, 10, 1)


def test_the_trainer_sets_each_steps_rate():
    """train_epoch sets the optimiser's rate before every step from the schedule: the rates the optimiser saw
    over two epochs are the schedule's first steps."""
    from test_trainer import Data, Model

    from zoo_core.train.optim import Adam
    from zoo_core.train.trainer import train_epoch

    model, data = Model(), Data()
    opt = Adam(model.parameters(), lr=1.0)
    seen, step = [], opt.step

    def recording_step():
        seen.append(opt.lr)
        step()

    opt.step = recording_step
    schedule = step_schedule("noam", 1e-2, 4, 48, 16, warmup_epochs=1)
    for epoch in (1, 2):
        train_epoch(model, opt, data, np.arange(48), 16, torch.nn.functional.mse_loss, np.random.default_rng(0),
                    schedule=schedule, epoch=epoch)
    assert seen == pytest.approx([schedule.at(k) for k in range(6)])


def test_a_fold_on_a_step_schedule_records_no_plateau_drops(tmp_path):
    from test_trainer import _fold

    plateau_like = _fold(tmp_path / "p", lr_schedule="plateau")[0]
    cosine = _fold(tmp_path / "c", lr_schedule="cosine")[0]
    assert cosine.lr_steps == [] and not math.isnan(float(cosine.test["rmse"]))
    assert not np.array_equal(cosine.test_pred, plateau_like.test_pred)  # the schedule changed the training


def test_the_run_config_checks_the_schedule():
    from zoo_core.train.run import train_config

    assert resolve_config({"encoder": "mpnn", "dataset": "freesolv"})["lr_schedule"] == "plateau"
    noam = resolve_config({"encoder": "mpnn", "dataset": "freesolv", "lr_schedule": "noam", "warmup_epochs": 3})
    assert (train_config(noam).lr_schedule, train_config(noam).warmup_epochs) == ("noam", 3)
    with pytest.raises(UsageError, match="one of plateau, cosine, noam"):
        resolve_config({"encoder": "mpnn", "dataset": "freesolv", "lr_schedule": "linear"})
    with pytest.raises(UsageError, match="warmup_epochs"):
        resolve_config({"encoder": "mpnn", "dataset": "freesolv", "lr_schedule": "noam", "warmup_epochs": -1})
    with pytest.raises(UsageError, match="give one of them"):
        resolve_config({"encoder": "mpnn", "dataset": "freesolv", "full_data": True, "epochs": 5,
                        "lr_steps": "3:1e-4", "lr_schedule": "cosine"})


def test_zoo_run_refuses_an_unknown_schedule_in_one_line():
    from zoo_cli.main import app

    r = CliRunner().invoke(app, ["run", "--encoder", "mpnn", "--dataset", "freesolv", "--lr-schedule", "step"])
    assert r.exit_code == 2
    assert len(r.output.strip().splitlines()) == 1 and "--lr-schedule must be one of" in r.output


def test_a_full_data_run_anneals_over_its_own_epochs(monkeypatch):
    """zoo run --full-data with a cosine schedule: the last epoch trains at the schedule's last rate."""
    from test_trainer import Data, Model

    from zoo_core.train.full_data import train_all
    from zoo_core.train.optim import Adam
    from zoo_core.train.trainer import TrainConfig

    rates = []
    original = Adam.step

    def recording_step(self):
        rates.append(self.lr)
        original(self)

    monkeypatch.setattr(Adam, "step", recording_step)
    cfg = TrainConfig(epochs=4, lr=1e-2, batch_size=16, lr_schedule="cosine", min_lr=0.0)
    train_all(Model(), Data(), np.arange(64), cfg, "regression", seed=0)
    per_epoch = [rates[i * 4] for i in range(4)]
    assert per_epoch == pytest.approx([1e-2 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)])
