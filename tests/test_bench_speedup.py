"""bench/speedup_bench.py without timing: the interleaving, the record's medians and ratios, each side's
environment, and the BENCHMARKS section."""

import json
from pathlib import Path

from bench import speedup_bench
from bench.render import render_markdown


def _run(pairs_per_s, peak=0.4):
    return {"pairs": 256, "seconds": 256 / pairs_per_s, "pairs_per_s": pairs_per_s,
            "pairs_per_cpu_s": pairs_per_s / 2, "peak_rss_gb": peak}


def test_sides_alternate_which_goes_first(monkeypatch):
    monkeypatch.setattr(speedup_bench.os, "getloadavg", lambda: (1.5, 0, 0))
    order = []
    runs = speedup_bench.interleaved(3, lambda side: order.append(side) or _run(100.0))
    assert order == ["baseline", "current", "current", "baseline", "baseline", "current"]
    assert [r["load_average_before"] for r in runs["current"]] == [1.5] * 3


def test_record_holds_medians_and_ratios():
    runs = {"baseline": [_run(100, 0.50), _run(80, 0.48), _run(120, 0.49)],
            "current": [_run(150, 0.40), _run(200, 0.41), _run(160, 0.39)]}
    record = speedup_bench.speedup_record("attentivefp", runs, 1.5)
    assert record["median_pairs_per_s"] == {"baseline": 100, "current": 160}
    assert record["ratio"] == 1.6 and record["fastest_ratio"] == 200 / 120 and record["cpu_ratio"] == 1.6
    assert record["median_peak_rss_gb"] == {"baseline": 0.49, "current": 0.40}
    assert record["target_ratio"] == 1.5 and record["meets_target"] is True
    assert speedup_bench.speedup_record("cigin", {**runs, "current": [_run(120, 0.4)] * 3}, 1.3)["meets_target"] is False
    assert speedup_bench.speedup_record("cigin", runs, None)["meets_target"] is None


def test_each_side_runs_its_own_tree(tmp_path):
    for name in ("zoo-mpnn", "zoo-cigin"):
        (tmp_path / "plugins" / name).mkdir(parents=True)
    env = speedup_bench.side_env(tmp_path, tmp_path / "home")
    assert env["PYTHONPATH"].split(":") == [str(tmp_path), str(tmp_path / "plugins" / "zoo-cigin"),
                                            str(tmp_path / "plugins" / "zoo-mpnn")]
    assert env["ZOO_HOME"] == str(tmp_path / "home")
    disabled = set(env["ZOO_DISABLE_PLUGINS"].split(","))
    assert "zoo-attentivefp" in disabled and not disabled & {"zoo-core", "zoo-mpnn", "zoo-cigin"}


def test_child_code_is_python_for_both_model_forms():
    class Args:
        dataset, threads, batch_size = "compsol", 2, 256
    for model in ("cigin", "mpnn@cigin"):
        compile(speedup_bench.child_code(model, Args, 1, 3), "<child>", "exec")
    assert "model_spec('mpnn', 'cigin'" in speedup_bench.child_code("mpnn@cigin", Args, 1, 3)


def test_speedup_records_render(tmp_path: Path):
    runs = {"baseline": [_run(100, 0.5)], "current": [_run(160, 0.4)]}
    record = {**speedup_bench.speedup_record("attentivefp", runs, 1.5), "dataset": "compsol",
              "baseline_commit": "c3140af" * 6,
              "git_commit": "abcdef12" * 5, "git_dirty": False, "command": "speedup", "machine": "m", "date": "d",
              "settings": {"threads": 2, "batch_size": 256, "steps": 12, "warmup_steps": 2, "rounds": 1}}
    record["runs"]["baseline"][0]["load_average_before"] = record["runs"]["current"][0]["load_average_before"] = 0.5
    (tmp_path / "speedup.json").write_text(json.dumps([record]))
    text = render_markdown(tmp_path)
    assert "## Speed-up against a baseline commit" in text
    assert ("| attentivefp | compsol | `c3140afc` | `abcdef12` | 100.0 | 160.0 | 1.60x (fastest 1.60x) | ≥ 1.5x | "
            "1.60x | 0.500 / 0.400 | yes |") in text
