"""bench probe: the ridge probe's fitting and λ choice, and its BENCHMARKS.md section."""

import json

import numpy as np

from bench.pretrain_bench import ridge_probe
from bench.render import render_markdown


def _folds(n, k=5):
    rows = np.random.default_rng(0).permutation(n)
    parts = np.array_split(rows, k)
    out = []
    for i in range(k):
        held = parts[i]
        out.append((np.concatenate([parts[j] for j in range(k) if j != i]), held[: len(held) // 2],
                    held[len(held) // 2:]))
    return out


def test_ridge_probe_recovers_a_linear_target_and_not_noise():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6)) * np.array([1, 10, 0.1, 1, 1, 5])  # scales differ: standardisation matters
    y = x @ np.array([0.5, -0.1, 3.0, 0.0, 1.0, 0.2]) + 3.0
    fit = ridge_probe(x, y, _folds(300))
    assert fit["mean"] < 0.01 and len(fit["folds"]) == 5 and set(fit["lambda"]) <= {0.01, 0.1}
    noise = rng.normal(size=300)
    assert ridge_probe(x, noise, _folds(300))["mean"] > 0.8 * noise.std()


def test_ridge_probe_picks_lambda_on_validation():
    """With more features than training rows the least-squares fit interpolates noise; validation picks a large λ."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 80))
    y = x[:, 0] + rng.normal(scale=0.5, size=60)
    fit = ridge_probe(x, y, _folds(60), lambdas=(1e-6, 30.0))
    assert fit["lambda"].count(30.0) >= 4


def test_probe_records_render_their_own_section(tmp_path):
    arm = {"mean": 1.0, "folds": [1.0] * 5, "lambda": [1.0] * 5}
    record = {"kind": "probe", "model": "cigin(mpnn)", "dataset": "compsol", "metric": "rmse",
              "backbone": "1d12a986d998abd9305610d7.safetensors", "pretrainer": "3dmrl",
              "pair_set": "combisolv-product", "transductive": True, "pretrain_epochs": 10, "pretrain_pairs": 7194,
              "pretrain_lr": 1e-4, "pretrain_loss": [6.43, 2.58],
              "spaces": {"pair_emb": {"random init": arm, "pretrained": dict(arm, mean=0.9), "dims": 448,
                                      "improvement_pct": 10.0},
                         "z": {"random init": arm, "pretrained": dict(arm, mean=1.1), "dims": 64,
                               "improvement_pct": -10.0}},
              "command": "python bench/run_bench.py probe", "date": "2026-12-01", "machine": "2 cores"}
    (tmp_path / "probe.json").write_text(json.dumps([record]))
    text = render_markdown(tmp_path)
    section = text[text.index("## Linear probe"):]
    rows = [line for line in section.splitlines() if line.startswith("| cigin(mpnn)")]
    assert len(rows) == 2
    first = [c.strip() for c in rows[0].strip("|").split("|")]
    assert first[1] == "compsol" and "(**TRANSDUCTIVE**)" in first[2] and "10 epochs × 7,194 pairs" in first[2]
    assert first[3] == "6.43 → 2.58" and first[4] == "`pair_emb` (448)" and first[5:8] == ["1.000", "0.900", "+10.0 %"]
    assert rows[1].split("|")[8].strip() == "-10.0 %"
    assert "## Accuracy" not in text  # a probe record is not an accuracy row


def test_a_pretraining_checkpoint_probes_as_its_backbone(tmp_path):
    """load_backbone reads the backbone inside a checkpoint (spec, pair-set meta and epochs from its metadata):
    after the last epoch it is the saved backbone, weight for weight."""
    import torch

    from bench.pretrain_bench import load_backbone
    from zoo_core.models import model_spec
    from zoo_core.plugins import get_catalog
    from zoo_core.testing import PAIRS

    spec = model_spec("cigin")
    get_catalog().get("pretrainers", "3dmrl").load().pretrain(spec, PAIRS, epochs=1, batch_size=4, lr=1e-3, seed=0, out=str(tmp_path / "b.safetensors"),
             params={"n_interactions": 2}, workers=1, progress=False, meta={"pair_set": {"pair_set": "tiny"}},
             checkpoint=str(tmp_path / ".k.checkpoint.safetensors"))
    saved, spec_b, meta_b = load_backbone(str(tmp_path / "b.safetensors"))
    inner, spec_c, meta_c = load_backbone(str(tmp_path / ".k.checkpoint.safetensors"))
    assert spec_c == spec_b == spec
    assert (meta_c["epochs"], meta_c["pretrain_pairs"], meta_c["lr"], meta_c["pair_set"]) == \
        (1, len(PAIRS), 1e-3, {"pair_set": "tiny"})
    assert all(torch.equal(a, b) for a, b in zip(saved.state_dict().values(), inner.state_dict().values()))
