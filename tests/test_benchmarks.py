"""The training benchmarks that build their own loops seed them as training does."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

BENCHMARKS = {
    "paired_bound": ["--config", str(ROOT / "configs" / "tiny_both.yaml"), "--steps", "4", "--eval-every", "2"],
    "d_classifier_speed": ["--config", str(ROOT / "configs" / "tiny.yaml"), "--steps", "4", "--eval-every", "2"],
}


def curves(tmp_path, runs: dict[str, list[str]]) -> dict[str, list[dict]]:
    """Runs the benchmark command lines side by side; each run's curve without its timings."""
    procs = {}
    for name, args in runs.items():
        command = [sys.executable, "-m", *args, "--num", "4", "--out", str(tmp_path / f"{name}.json")]
        procs[name] = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for proc in procs.values():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    loaded = {name: json.loads((tmp_path / f"{name}.json").read_text())["curve"] for name in runs}
    return {name: [{k: v for k, v in point.items() if k != "seconds"} for point in curve]
            for name, curve in loaded.items()}


@pytest.mark.parametrize("benchmark", sorted(BENCHMARKS))
def test_benchmark_replays_its_seed_and_follows_train_seed(tmp_path, benchmark):
    args = [f"benchmarks.{benchmark}", *BENCHMARKS[benchmark], "--set", "train.deterministic=true"]
    result = curves(tmp_path, {"a": args, "b": args, "seed1": [*args, "--set", "train.seed=1"]})
    assert len(result["a"]) == 2
    assert result["a"] == result["b"]
    # Other initial weights: the same faces give other losses, so train.seed reaches the networks.
    assert result["a"] != result["seed1"]
