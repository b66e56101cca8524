"""zoo_core.cache and `zoo cache`: areas and sizes, pretrained backbones and checkpoints, clearing."""

import json
import os
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from zoo_cli.main import app
from zoo_core import cache
from zoo_core.errors import ZooError
from zoo_core.models import build_model, model_spec
from zoo_core.train.checkpoint import save_checkpoint
from zoo_core.train.pretraining import _exclusive
from zoo_core.weights import save_model

runner = CliRunner()


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A cache with featurized chunks, one finished backbone, an unfinished pretraining checkpoint (saved half-way
    through its 5th epoch) and a finished one."""
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    (tmp_path / "features" / "mrl56-v1-H").mkdir(parents=True)
    (tmp_path / "features" / "mrl56-v1-H" / "chunk-0.safetensors").write_bytes(b"x" * 1000)
    spec = model_spec("cigin")
    save_model(tmp_path / "pretrained" / "aaaa.safetensors", build_model(spec), spec,
               {"pretrainer": "3dmrl", "epochs": 10, "pretrain_pairs": 7194, "lr": 1e-4,
                "pair_set": {"pair_set": "combisolv-product", "transductive": True}})
    history = [{"epoch": e, "loss": 1.0 / e, "pairs": 7194, "seconds": 100.0 + e} for e in range(1, 5)]
    save_checkpoint(tmp_path / "pretrained" / ".bbbb.checkpoint.safetensors", {"w": torch.zeros(3)},
                    {"fingerprint": "f", "epoch": 4, "epochs": 100, "history": history, "spec": spec,
                     "meta": {"pair_set": {"pair_set": "combisolv-product", "transductive": True}},
                     "epoch_rows": 3597, "epoch_sums": {"loss": 700.0}, "epoch_seconds": 51.25})
    save_checkpoint(tmp_path / "pretrained" / ".dddd.checkpoint.safetensors", {"w": torch.zeros(3)},
                    {"fingerprint": "g", "epoch": 10, "epochs": 10, "history": []})
    return tmp_path


def test_usage_counts_files_and_bytes(home):
    rows = {r["area"]: r for r in cache.usage()}
    assert list(rows) == list(cache.AREAS)
    assert (rows["features"]["files"], rows["features"]["bytes"]) == (1, 1000)
    assert rows["pretrained"]["files"] == 3 and rows["weights"]["files"] == 0


def test_pretrained_lists_backbones_and_unfinished_checkpoints(home):
    listed = cache.pretrained()
    rows = {r["key"]: r for r in listed}
    assert sorted(r["key"] for r in listed) == ["aaaa", "bbbb", "dddd"]  # each entry once
    assert rows["aaaa"]["status"] == "done" and rows["aaaa"]["model"] == "cigin(mpnn)"
    assert (rows["aaaa"]["pair_set"], rows["aaaa"]["transductive"], rows["aaaa"]["epochs"], rows["aaaa"]["pairs"]) \
        == ("combisolv-product", True, 10, 7194)
    assert (rows["bbbb"]["status"], rows["bbbb"]["epochs_done"], rows["bbbb"]["epochs"]) == ("unfinished", 4, 100)
    # what the header says of the run: mean seconds of the last epochs, the time left at that pace
    assert (rows["bbbb"]["model"], rows["bbbb"]["pair_set"], rows["bbbb"]["pairs"], rows["bbbb"]["loss"]) \
        == ("cigin(mpnn)", "combisolv-product", 7194, 0.25)
    assert rows["bbbb"]["seconds_per_epoch"] == pytest.approx(102.5)
    assert rows["bbbb"]["next_epoch_pairs"] == 3597  # saved within epoch 5: its seconds so far are not left
    assert rows["bbbb"]["seconds_left"] == pytest.approx(96 * 102.5 - 51.25)
    assert (rows["dddd"]["status"], rows["dddd"]["epochs_done"]) == ("checkpoint", 10)  # finished: extendable
    assert rows["dddd"]["model"] is None and rows["dddd"]["seconds_left"] is None  # an older, bare header
    assert rows["dddd"]["next_epoch_pairs"] == 0


def test_a_checkpoint_whose_pretraining_holds_its_lock_is_listed_as_running(home):
    with _exclusive(home / "pretrained" / ".bbbb.lock"):
        rows = {r["key"]: r for r in cache.pretrained()}
        out = runner.invoke(app, ["cache", "list"])
    assert rows["bbbb"]["status"] == "running" and rows["dddd"]["status"] == "checkpoint"
    assert "bbbb  RUNNING: 4/100 epochs done + 3,597 pairs of epoch 5 of cigin(mpnn) on combisolv-product, " \
           "TRANSDUCTIVE, 7,194 pairs; loss 0.25, 102 s/epoch, about 2.7 h left" in out.output
    after = {r["key"]: r["status"] for r in cache.pretrained()}
    assert after["bbbb"] == "unfinished"  # the lock is released: the same command resumes it


def test_cache_list_reads_headers_without_torch(home):
    code = ("import sys\nfrom zoo_cli.main import main\nsys.argv=['zoo', 'cache', 'list']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', sorted(m for m in ('torch', 'dgl', 'rdkit') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, ZOO_HOME=str(home)))
    assert "HEAVY []" in out.stdout, out.stdout[-500:] + out.stderr[-500:]
    assert "cigin(mpnn) 3dmrl on combisolv-product, TRANSDUCTIVE: 10 epochs x 7,194 pairs" in out.stdout
    assert "bbbb  UNFINISHED: 4/100 epochs + 3,597 pairs of epoch 5 of cigin(mpnn) on combisolv-product, " \
           "TRANSDUCTIVE, 7,194 pairs; loss 0.25, 102 s/epoch, about 2.7 h left (the same command resumes it)" \
        in out.stdout
    assert "dddd  checkpoint after 10 epochs (a longer run of the same settings continues from it)" in out.stdout


def test_clear_removes_one_area_and_refuses_what_it_must(home):
    with pytest.raises(ZooError, match="unknown cache area"):
        cache.clear("everything")
    with _exclusive(home / "pretrained" / ".cccc.lock"):  # a pretraining in progress holds its lock
        with pytest.raises(ZooError, match="a pretraining is running"):
            cache.clear("pretrained")
    assert (home / "pretrained" / "aaaa.safetensors").exists()
    assert cache.clear("features") == {"area": "features", "path": str(home / "features"), "files": 1,
                                       "bytes": 1000}
    assert not (home / "features").exists() and (home / "pretrained").exists()
    r = runner.invoke(app, ["cache", "clear", "pretrained"], input="n\n")
    assert r.exit_code == 1 and (home / "pretrained" / "aaaa.safetensors").exists()
    r = runner.invoke(app, ["cache", "clear", "pretrained", "--yes"])
    assert r.exit_code == 0 and "removed 4 files" in r.stdout and not (home / "pretrained").exists()
    r = runner.invoke(app, ["cache", "list", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["pretrained"] == []


def test_clear_single_pretrained_entries_by_key(home):
    with pytest.raises(ZooError, match="matches no entry"):
        cache.remove_pretrained(["zzzz"])
    with pytest.raises(ZooError, match="matches no entry"):
        cache.remove_pretrained(["aaaa", "zzzz"])  # nothing deleted unless every key resolves
    assert (home / "pretrained" / "aaaa.safetensors").exists()
    with _exclusive(home / "pretrained" / ".cccc.lock"):
        with pytest.raises(ZooError, match="a pretraining is running"):
            cache.remove_pretrained(["aaaa"])
    removed = cache.remove_pretrained(["aa", "bbbb"])  # a unique prefix, and a checkpoint's key
    assert removed["keys"] == ["aaaa.safetensors", ".bbbb.checkpoint.safetensors"] and removed["files"] == 2
    assert sorted(r["key"] for r in cache.pretrained()) == ["dddd"]
    r = runner.invoke(app, ["cache", "clear", "features", "--key", "dddd", "--yes"])
    assert r.exit_code == 1 and "use it with `zoo cache clear pretrained`" in r.output
    r = runner.invoke(app, ["cache", "clear", "pretrained", "--key", "dd", "--yes"])
    assert r.exit_code == 0 and "removed 1 files" in r.stdout and cache.pretrained() == []
    assert (home / "features").exists()  # the rest of the cache is untouched
