"""Data-parallel training (issue 38, part 2): two gloo ranks on localhost take one optimizer step (and a short
epoch: uneven shares, a batch smaller than the world) that equals the single-process step on the union of their
batches, in float64, for CIGIN, CGIB, CGIB_cont (in-batch contrastive negatives gathered across ranks, gates and
noise drawn as the union batch's, batch-norm statistics of the union) and 3DMRL pretraining (contrastive loss
gathered across ranks, force loss a mean over the union's copy atoms, shares balanced on VIE atoms); shares
cover each batch in order, balancing each row's work when it is given; and only rank 0 writes files."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from zoo_core.models import model_spec
from zoo_core.testing import PAIRS, float64_batch, make_dataset

WORLD = 2
PAIR_MODELS = ("cigin", "cgib", "cgib_cont")
# Adam moves every parameter by ~lr = 1e-2 in its first step; one whose gradient is zero in exact arithmetic (the bias
# before CGIB's batch norm) moves by lr * (rounding noise ~1e-16) / eps (1e-8), different in the two runs
TOL = {"rtol": 1e-9, "atol": 1e-8}


class _DoubleData:
    """A dataset whose batches are float64 (the zoo's are float32)."""

    def __init__(self, data):
        self.data = data

    def batch(self, rows):
        return float64_batch(self.data.batch(rows))

    def batches(self, rows, batch_size, shuffle=False, generator=None):
        for batch in self.data.batches(rows, batch_size, shuffle, generator):
            yield float64_batch(batch)


def train_pair_model(pair_model: str, batch_size: int) -> dict[str, torch.Tensor]:
    """One epoch of ``train_epoch`` over the 7 test pairs (one step when ``batch_size`` >= 7), float64, Adam."""
    from zoo_core.models import build_model
    from zoo_core.train.optim import Adam
    from zoo_core.train.trainer import task_loss_fn, train_epoch

    spec = model_spec("mpnn", pair_model=pair_model)
    torch.manual_seed(0)
    model = build_model(spec).double()
    opt = Adam(model.parameters(), lr=1e-2)
    train_epoch(model, opt, _DoubleData(make_dataset(spec)), np.arange(len(PAIRS)), batch_size,
                task_loss_fn("regression"), np.random.default_rng(0))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _three_dmrl():
    from zoo_3dmrl.pretrainer import ThreeDMRL

    class DoubleThreeDMRL(ThreeDMRL):
        """3DMRL in float64: the backbone and auxiliary modules doubled before Adam is built, batches doubled."""

        def aux_modules(self, model):
            model.double()
            return super().aux_modules(model).double()

        def to_device(self, batch, device):
            pair_batch, vie = batch
            return float64_batch(pair_batch), vie.to(dtype=torch.float64)
    return DoubleThreeDMRL


def pretrain_3dmrl(batch_size: int, out: str | None = None, checkpoint: str | None = None) -> tuple[dict, list]:
    """3DMRL pretraining of cigin on the 7 test pairs for one epoch (one step when ``batch_size`` >= 7)."""
    model, history = _three_dmrl().pretrain(model_spec("cigin", explicit_h=True), PAIRS, epochs=1,
                                            batch_size=batch_size, lr=1e-3, seed=3, params={"n_interactions": 2},
                                            workers=1, use_cache=False, progress=False, out=out,
                                            checkpoint=checkpoint)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, history


CASES = [*((m, 8) for m in PAIR_MODELS), *((m, 3) for m in PAIR_MODELS), ("3dmrl", 8), ("3dmrl", 3)]


def _case(name: str, batch_size: int, tmp: Path | None = None):
    if name == "3dmrl":
        out = str(tmp / f"backbone-{batch_size}.safetensors") if tmp else None
        ckpt = str(tmp / f"ckpt-{batch_size}.safetensors") if tmp else None
        return pretrain_3dmrl(batch_size, out, ckpt)
    return train_pair_model(name, batch_size), None


# Batches whose shares the two ranks report: (rows, each row's work or None)
SHARDED = {"balanced": (np.arange(10, 18), [10, 1, 1, 1, 1, 1, 1, 1]), "even": (np.arange(7), None),
           "one row": (np.array([5]), [3])}


def _shares() -> dict[str, tuple]:
    """This rank's share of each batch of :data:`SHARDED` (rows, offset, total, sharded, weight)."""
    from zoo_core.train.distributed import shard_rows

    got = {}
    for name, (rows, work) in SHARDED.items():
        cost = None if work is None else (lambda r, w=np.array(work): w[np.searchsorted(rows, r)])
        share = shard_rows(rows, cost)
        got[name] = (share.rows.tolist(), share.offset, share.total, share.sharded, share.weight)
    return got


def _rank(rank: int, port: int, tmp: str) -> None:
    """One rank: join the gloo group, run every case, rank 0 saves what it got."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        got = {f"{name}-{bs}": _case(name, bs, Path(tmp) / f"rank{rank}") for name, bs in CASES}
        got["shares"] = _shares()
        torch.save(got, Path(tmp) / f"got-{rank}.pt")
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(WORLD))   # as torchrun sets them: `zoo run` joins
        (Path(tmp) / f"run-{rank}.out").write_text(_zoo_run(Path(tmp) / "runs"))
    finally:
        dist.destroy_process_group()


RUN = ["run", "--encoder", "mpnn", "--dataset", "freesolv", "--folds", "5", "--only-fold", "0", "--epochs", "2",
       "--threads", "1", "--json", "-q"]


def _zoo_run(output: Path) -> str:
    from typer.testing import CliRunner

    from zoo_cli.main import app

    result = CliRunner().invoke(app, RUN + ["--output", str(output)])
    assert result.exit_code == 0, result.output
    return result.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    mp.spawn(_rank, args=(_free_port(), str(tmp)), nprocs=WORLD, join=True)
    return tmp, [torch.load(tmp / f"got-{r}.pt") for r in range(WORLD)]


def _assert_same_state(got: dict, want: dict, what: str) -> None:
    assert got.keys() == want.keys()
    for key in want:
        assert got[key].dtype == want[key].dtype, f"{what} {key}: {got[key].dtype}"
        assert torch.allclose(got[key], want[key], **TOL), \
            f"{what} {key}: max |diff| {(got[key] - want[key]).abs().max():.3g}"


@pytest.mark.parametrize("name,batch_size", CASES)
def test_two_ranks_take_the_union_batch_step(two_ranks, name, batch_size):
    """batch 8: one step, shares of 4 and 3 pairs (3DMRL's balanced on VIE atoms: 3 and 4); batch 3: shares 2/1 (3DMRL
    1/2), 2/1 and a one-pair batch run whole."""
    _, got = two_ranks
    want, history = _case(name, batch_size)
    moved = [k for k, v in want.items() if v.is_floating_point()]
    assert moved and want[moved[0]].dtype == torch.float64
    for rank in range(WORLD):
        _assert_same_state(got[rank][f"{name}-{batch_size}"][0], want, f"{name} batch {batch_size} rank {rank}:")
    if history is not None:   # the logged losses are the union batch's
        logged = got[0][f"{name}-{batch_size}"][1]
        for k in ("loss", "contrastive", "force"):
            assert logged[0][k] == pytest.approx(history[0][k], rel=1e-9)


def test_shares_cover_the_batch_in_order(two_ranks):
    """Each batch's shares, in rank order, are the batch; offsets are where they start; weights sum to one. With
    each row's work given, the cut balances it (row 0 alone weighs 10 of 17); without, sizes 4 and 3; a batch of
    one row is run whole, rank 0's weight counting."""
    _, got = two_ranks
    for name, (rows, _) in SHARDED.items():
        shares = [got[r]["shares"][name] for r in range(WORLD)]
        if len(rows) < WORLD:
            assert [s[3:] for s in shares] == [(False, 1.0), (False, 0.0)]
            continue
        assert np.array_equal(np.concatenate([s[0] for s in shares]), rows)
        assert [s[1] for s in shares] == [0, len(shares[0][0])]
        assert all(s[2] == len(rows) and s[3] for s in shares)
        assert sum(s[4] for s in shares) == pytest.approx(1.0)
    assert [len(got[r]["shares"]["balanced"][0]) for r in range(WORLD)] == [1, 7]
    assert [len(got[r]["shares"]["even"][0]) for r in range(WORLD)] == [4, 3]


def test_balanced_cuts_are_contiguous_non_empty_and_as_even_as_a_cut_can_be():
    from zoo_core.train.distributed import balanced_cuts, even_cuts

    rng = np.random.default_rng(0)
    for n in range(2, 40):
        work = rng.integers(1, 300, n).astype(float)
        for size in range(2, min(n, 5) + 1):
            cuts = balanced_cuts(work, size)
            assert cuts[0] == 0 and cuts[-1] == n and np.all(np.diff(cuts) >= 1), (n, size, cuts)
            assert len(cuts) == size + 1
        c = balanced_cuts(work, 2)[1]
        larger = max(work[:c].sum(), work[c:].sum())
        assert larger == min(max(work[:k].sum(), work[k:].sum()) for k in range(1, n))
    assert list(even_cuts(7, 2)) == [0, 4, 7] and list(even_cuts(8, 3)) == [0, 3, 6, 8]
    assert list(balanced_cuts(np.ones(8), 2)) == [0, 4, 8]
    assert list(balanced_cuts(np.array([0.0, 0.0, 0.0, 9.0]), 3)) == [0, 1, 2, 4]   # no part left empty


@pytest.mark.parametrize("role_order", ["given", "larger"])
def test_3dmrl_row_cost_is_each_rows_vie_atoms(role_order):
    """What 3DMRL's shares are balanced on is the VIE each row builds, whatever the draw (epochs 0 and 1)."""
    from zoo_3dmrl.pretrainer import PretrainData

    data = PretrainData(model_spec("cigin", explicit_h=True), PAIRS, seed=3, workers=1, use_cache=False,
                        progress=False, role_order=role_order, n_targets=2)
    rows = np.arange(len(data))[::-1]
    for epoch in (0, 1):
        assert list(data.row_cost(rows)) == [data.vie(int(r), epoch).n_atoms for r in rows]
    assert len(set(data.row_cost(rows))) > 1


def test_the_step_is_not_the_local_one(two_ranks):
    """Honesty check: the union step differs from a step on one rank's share alone."""
    _, got = two_ranks
    torch.manual_seed(0)
    alone = train_pair_model("cgib_cont", 4)   # the first batch of 4 rows, then 3: not the one-step result
    ddp = got[0]["cgib_cont-8"][0]
    assert any(not torch.allclose(alone[k], ddp[k], **TOL) for k in ddp if ddp[k].is_floating_point())


def test_only_rank_zero_writes(two_ranks):
    tmp, _ = two_ranks
    assert sorted(p.name for p in (tmp / "rank0").iterdir()) == [
        "backbone-3.safetensors", "backbone-8.safetensors", "ckpt-3.safetensors", "ckpt-8.safetensors"]
    assert not (tmp / "rank1").exists()


def test_zoo_run_on_two_ranks_writes_one_run_directory(two_ranks, tmp_path):
    """`zoo run` under two ranks: rank 0 alone reports and writes one run directory, whose fold equals the
    single-process fold up to float32 rounding; rank 1 prints nothing."""
    tmp, _ = two_ranks
    assert (tmp / "run-1.out").read_text() == ""
    (run_dir,) = (tmp / "runs").iterdir()
    assert json.loads((tmp / "run-0.out").read_text())["run_dir"] == str(run_dir)
    assert {p.name for p in run_dir.iterdir()} == {"config.yaml", "folds", "metrics.json", "model.safetensors",
                                                  "predictions.csv"}
    single = Path(json.loads(_zoo_run(tmp_path))["run_dir"])
    got, want = (json.loads((d / "folds" / "r0-f0.json").read_text()) for d in (run_dir, single))
    assert got["best_epoch"] == want["best_epoch"]
    for split in ("valid", "test"):
        for metric, value in want[split].items():
            assert got[split][metric] == pytest.approx(value, rel=1e-4), (split, metric)


def test_a_checkpoint_resumes_only_under_its_world_size(two_ranks):
    from zoo_core.errors import ZooError
    from zoo_core.train.checkpoint import checkpoint_meta, load_checkpoint

    tmp, _ = two_ranks
    path = tmp / "rank0" / "ckpt-8.safetensors"
    meta = checkpoint_meta(path)
    assert meta["world_size"] == WORLD
    with pytest.raises(ZooError, match=r"saved by 2 process\(es\); resume it with --nproc 2 \(this run has 1\)"):
        load_checkpoint(path, meta["fingerprint"])


def test_torchrun_command_drops_nproc():
    from zoo_cli.launch import torchrun_command

    cmd = torchrun_command(2, ["run", "--nproc", "2", "-e", "mpnn", "--nproc=2", "--epochs", "1"])
    assert cmd[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    assert cmd[5:] == ["-m", "zoo_cli.main", "run", "-e", "mpnn", "--epochs", "1"]
