"""zoo_core.train.optim reproduces torch.optim.Adam and ReduceLROnPlateau step for step."""

import subprocess
import sys

import pytest
import torch

from zoo_core.train.optim import Adam, ReduceLROnPlateau


def _model(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_adam_matches_torch(weight_decay):
    ours, ref = _model(0), _model(0)
    # freeze one bias in both: a parameter without grad must be skipped identically
    ours[2].bias.requires_grad_(False), ref[2].bias.requires_grad_(False)
    opt = Adam(ours.parameters(), lr=3e-2, weight_decay=weight_decay)
    opt_ref = torch.optim.Adam([p for p in ref.parameters() if p.requires_grad], lr=3e-2, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(1)
    for step in range(25):
        x = torch.randn(16, 5, generator=g, dtype=torch.float64)
        y = torch.randn(16, 1, generator=g, dtype=torch.float64)
        for m, o in ((ours, opt), (ref, opt_ref)):
            o.zero_grad()
            torch.nn.functional.mse_loss(m(x), y).backward()
            o.step()
        if step == 10:  # an lr change between steps (what the plateau schedule does)
            opt.lr = 3e-3
            opt_ref.param_groups[0]["lr"] = 3e-3
    for a, b in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert not torch.equal(ours[0].weight, _model(0)[0].weight)  # it did train


def test_plateau_matches_torch():
    opt = Adam([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    ref_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    ours = ReduceLROnPlateau(opt, factor=0.1, patience=2, min_lr=1e-3)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(ref_opt, mode="min", factor=0.1, patience=2, min_lr=1e-3)
    values = [5, 4, 4, 4, 4, 3.99999, 3.9, 3.9, 3.9, 3.9, 3.9, 3.9, 3.9, 3.9, 3.9, 3.9, 1, 2, 2, 2, 2, 2]
    lrs, ref_lrs = [], []
    for v in values:
        ours.step(v), ref.step(v)
        lrs.append(opt.lr), ref_lrs.append(ref_opt.param_groups[0]["lr"])
    assert lrs == pytest.approx(ref_lrs)
    assert min(lrs) == pytest.approx(1e-3) and lrs[0] == 1.0


def test_adam_does_not_import_dynamo():
    code = ("import sys, torch\nfrom zoo_core.train.optim import Adam\n"
            "m = torch.nn.Linear(2, 1); o = Adam(m.parameters()); m(torch.ones(1, 2)).sum().backward(); o.step()\n"
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_adam_state_round_trip_continues_identically():
    """A checkpointed Adam (moments + step count) continues exactly as the one that never stopped."""
    model = _model(0)
    opt = Adam(model.parameters(), lr=3e-2)
    g = torch.Generator().manual_seed(2)
    batches = [(torch.randn(8, 5, generator=g, dtype=torch.float64), torch.randn(8, 1, generator=g,
                                                                              dtype=torch.float64)) for _ in range(4)]

    def step(m, o, xy):
        o.zero_grad()
        torch.nn.functional.mse_loss(m(xy[0]), xy[1]).backward()
        o.step()

    for xy in batches[:2]:
        step(model, opt, xy)
    saved = {k: v.clone() for k, v in opt.state_tensors().items()}
    resumed = _model(1)
    resumed.load_state_dict(model.state_dict())
    opt2 = Adam(resumed.parameters(), lr=3e-2)
    opt2.load_state_tensors(saved)
    assert opt2.steps == 2
    for xy in batches[2:]:
        step(model, opt, xy)
        step(resumed, opt2, xy)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), resumed.parameters()))
    with pytest.raises(ValueError, match="another parameter list"):
        Adam(list(model.parameters())[:2]).load_state_tensors(saved)
