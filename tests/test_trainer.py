"""zoo_core.train.trainer on a small regression: linear-probe-then-fine-tune (``freeze_backbone_epochs``) and
continuing an interrupted fold from its checkpoint (zoo_core.train.fold_checkpoint)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from zoo_core.errors import ZooError
from zoo_core.train.run import resolve_config
from zoo_core.train.trainer import TrainConfig, train_fold


class Batch(SimpleNamespace):
    def to(self, device):
        return self


class Data:
    """Rows of x -> y = sum(x); batches as the trainer expects them (``index``, ``y``)."""

    def __init__(self, n=64):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x.sum(1, keepdim=True)

    def batches(self, rows, batch_size, shuffle=False, generator=None):
        rows = np.asarray(rows)
        if shuffle:
            rows = generator.permutation(rows)
        for i in range(0, len(rows), batch_size):
            r = torch.as_tensor(rows[i:i + batch_size])
            yield Batch(index=r, x=self.x[r], y=self.y[r])


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Linear(4, 8)
        self.head = torch.nn.Linear(8, 1)

    def forward(self, batch):
        return SimpleNamespace(pred=self.head(torch.tanh(self.body(batch.x))), aux_losses={})


def _fit(freeze: int, epochs: int = 6):
    model, data, snapshots = Model(), Data(), {}

    def progress(epoch, val, best):
        snapshots[epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    cfg = TrainConfig(epochs=epochs, lr=1e-2, batch_size=16, patience=100, freeze_backbone_epochs=freeze)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    rows = np.arange(64)
    train_fold(model, data, rows[:48], rows[48:56], rows[56:], cfg, "regression", seed=0, progress=progress)
    return model, start, snapshots


def test_frozen_stage_updates_only_the_head_then_everything_trains():
    model, start, snaps = _fit(freeze=3)
    for epoch in (1, 2, 3):
        assert torch.equal(snaps[epoch]["body.weight"], start["body.weight"]), epoch
        assert not torch.equal(snaps[epoch]["head.weight"], start["head.weight"]), epoch
    assert not torch.equal(snaps[4]["body.weight"], snaps[3]["body.weight"])  # stage 2 trains the backbone
    assert all(p.requires_grad for p in model.parameters())  # released afterwards


def test_stage_one_longer_than_the_run_still_releases_the_backbone():
    model, start, snaps = _fit(freeze=5, epochs=3)
    assert torch.equal(snaps[3]["body.weight"], start["body.weight"])
    assert all(p.requires_grad for p in model.parameters())


def test_zero_is_the_papers_protocol():
    _, start, snaps = _fit(freeze=0)
    assert not torch.equal(snaps[1]["body.weight"], start["body.weight"])


def test_a_model_without_a_head_is_refused():
    class Headless(Model):
        def __init__(self):
            super().__init__()
            del self.head
            self.out = torch.nn.Linear(8, 1)

    with pytest.raises(ZooError, match="needs a model with a `head`"):
        train_fold(Headless(), Data(), np.arange(8), np.arange(8, 12), np.arange(12, 16),
                   TrainConfig(epochs=2, freeze_backbone_epochs=1), "regression", seed=0)


@pytest.mark.parametrize("value", [-1, 500, 2.5, True])
def test_config_rejects_bad_freeze_values(value):
    with pytest.raises(ZooError, match="freeze_backbone_epochs must be an integer"):
        resolve_config({"encoder": "cigin", "dataset": "freesolv", "epochs": 500, "freeze_backbone_epochs": value})


class NoisyModel(Model):
    """Dropout draws from torch's generator every training step: continuing must restore that stream too."""

    def forward(self, batch):
        h = torch.nn.functional.dropout(torch.tanh(self.body(batch.x)), 0.3, self.training)
        return SimpleNamespace(pred=self.head(h), aux_losses={})


class Interrupted(Exception):
    pass


def _fold(tmp_path, stop_after=None, freeze=0, rows=np.arange(64), key="", **settings):
    """Train 8 epochs with a checkpoint saved after every epoch; ``stop_after`` aborts during that epoch's
    progress report, i.e. after the checkpoint of the epoch before it."""
    def progress(epoch, val, best):
        if epoch == stop_after:
            raise Interrupted

    model = NoisyModel()
    cfg = TrainConfig(epochs=8, lr=1e-2, batch_size=16, patience=100, freeze_backbone_epochs=freeze, **settings)
    result = train_fold(model, Data(), rows[:48], rows[48:56], rows[56:], cfg, "regression", seed=0,
                        progress=progress, checkpoint=tmp_path / "fold.safetensors", checkpoint_key=key,
                        checkpoint_seconds=0.0)
    return result, model


@pytest.mark.parametrize("freeze, stop_after, schedule", [(0, 5, "plateau"), (3, 4, "plateau"), (3, 6, "plateau"),
                                                         (0, 5, "cosine"), (0, 2, "noam")])
def test_an_interrupted_fold_continues_to_the_same_end(tmp_path, freeze, stop_after, schedule):
    # (3, 4): saved at the last frozen epoch; (3, 6): saved inside stage 2 (the optimizer spans every parameter);
    # cosine and noam set each step's rate from the step alone, so a resumed fold lands on the same rates
    whole, whole_model = _fold(tmp_path / "a", freeze=freeze, lr_schedule=schedule)
    with pytest.raises(Interrupted):
        _fold(tmp_path / "b", stop_after=stop_after, freeze=freeze, lr_schedule=schedule)
    assert (tmp_path / "b" / "fold.safetensors").exists()
    torch.manual_seed(123)  # the caller's generator state does not matter: the checkpoint carries it
    resumed, resumed_model = _fold(tmp_path / "b", freeze=freeze, lr_schedule=schedule)
    assert (resumed.best_epoch, resumed.epochs_run) == (whole.best_epoch, whole.epochs_run)
    np.testing.assert_array_equal(resumed.test_pred, whole.test_pred)
    for name, value in whole_model.state_dict().items():
        assert torch.equal(resumed_model.state_dict()[name], value), name
    assert not (tmp_path / "b" / "fold.safetensors").exists()  # removed once the fold ends
    assert all(p.requires_grad for p in resumed_model.parameters())


def test_a_checkpoint_of_another_fold_is_refused(tmp_path):
    with pytest.raises(Interrupted):
        _fold(tmp_path, stop_after=3)
    with pytest.raises(ZooError, match="checkpoint of another run"):
        _fold(tmp_path, rows=np.arange(64)[::-1].copy())
    with pytest.raises(ZooError, match="checkpoint of another run"):
        _fold(tmp_path, key="another model")


def test_a_setting_added_later_at_its_default_keeps_old_checkpoints_resumable():
    """A fold checkpoint written before ``loss`` existed fingerprints the settings without it: at its default
    ("mse") the fingerprint is the old one; any other value is another run."""
    from dataclasses import asdict

    from zoo_core.train.checkpoint import fingerprint
    from zoo_core.train.fold_checkpoint import FoldCheckpoint

    rows = (np.arange(4), np.arange(4, 6), np.arange(6, 8))
    cfg = TrainConfig(epochs=8)
    old_settings = {k: v for k, v in asdict(cfg).items() if k not in ("loss", "lr_schedule", "warmup_epochs")}
    digests = [FoldCheckpoint.__init__.__globals__["_rows_digest"](r) for r in rows]
    written_before = fingerprint("fold", old_settings, "regression", 0, digests, "")
    assert FoldCheckpoint("x", cfg, "regression", 0, rows).fingerprint == written_before
    assert FoldCheckpoint("x", TrainConfig(epochs=8, loss="l1"), "regression", 0, rows).fingerprint != written_before
    cosine = TrainConfig(epochs=8, lr_schedule="cosine")
    assert FoldCheckpoint("x", cosine, "regression", 0, rows).fingerprint != written_before
