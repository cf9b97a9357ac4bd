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


def test_paired_bound_saves_the_evaluated_generator_as_a_run(tmp_path, capsys):
    from benchmarks import gt_regions, paired_bound

    save_dir = tmp_path / "bound"
    args = ["--config", str(ROOT / "configs" / "tiny_both.yaml"), "--steps", "3", "--eval-every", "3",
            "--num", "3", "--set", "train.deterministic=true", "--save-dir", str(save_dir)]
    assert paired_bound.main([*args, "--out", str(tmp_path / "bound.json")]) == 0
    bound = json.loads((tmp_path / "bound.json").read_text())["curve"][-1]
    assert gt_regions.main(["--run-dir", str(save_dir), "--num", "3", "--out", str(tmp_path / "r.json")]) == 0
    # The same held-out pairs and translations: the saved G is the one the bound evaluated.
    regions = json.loads((tmp_path / "r.json").read_text())["all"]
    assert regions["ratio"] == pytest.approx(bound["gt_l1_ratio"], abs=1e-4)
    # --relative trains on L1 / do-nothing L1: the same seed and faces, another loss.
    relative = [*args[:-1], str(tmp_path / "relative"), "--relative", "--out", str(tmp_path / "relative.json")]
    assert paired_bound.main(relative) == 0
    result = json.loads((tmp_path / "relative.json").read_text())
    assert result["loss"] == "L1 / do-nothing L1"
    assert result["curve"][-1]["train_loss"] > 2 * bound["train_loss"]  # the do-nothing L1 of a batch is well below 0.5
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:  # never overwrites a run, and refuses before training
        paired_bound.main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --save-dir") and "already holds a run" in err and "\n" not in err


def test_checkpoint_generator_writes_either_g_of_any_saved_step(tmp_path, capsys):
    import shutil

    import numpy as np

    from benchmarks import checkpoint_generator
    from stargan_tf.checkpoints import CONFIG_FILE, load_generator, read_layout
    from stargan_tf.config import load_config, save_config
    from stargan_tf.run import train

    config = load_config(ROOT / "configs" / "tiny.yaml", ["train.g_ema_decay=0.9", "train.deterministic=true"])
    run_dir = tmp_path / "run"
    result = train(config, run_dir, log=lambda *_: None, verbose=0)

    def weights_of(directory):
        return load_generator(directory).get_weights()

    def same(a, b):
        return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))

    written = {}
    for step, weights in ((20, "average"), (20, "raw"), (10, "average")):
        out = tmp_path / f"{weights}{step}"
        assert checkpoint_generator.main(["--run-dir", str(run_dir), "--step", str(step), "--weights", weights,
                                          "--out-dir", str(out)]) == 0
        assert read_layout(out).to_dict() == read_layout(run_dir).to_dict()
        assert json.loads((out / "source.json").read_text())["step"] == step
        written[weights, step] = weights_of(out)
    # The last step's average is what training exported; raw is the G that was training.
    assert same(written["average", 20], weights_of(run_dir))
    assert same(written["raw", 20], result.model.generator.get_weights())
    assert not same(written["raw", 20], written["average", 20])
    assert not same(written["average", 10], written["average", 20])
    # Without --weights a run with an average gives the average.
    assert checkpoint_generator.main(["--run-dir", str(run_dir), "--step", "10", "--out-dir",
                                      str(tmp_path / "default")]) == 0
    assert same(weights_of(tmp_path / "default"), written["average", 10])

    plain = tmp_path / "plain"
    shutil.copytree(run_dir, plain)
    save_config(load_config(plain / CONFIG_FILE, ["train.g_ema_decay=0"]), plain / CONFIG_FILE)
    (plain / "checkpoints" / "ckpt-10.data-00000-of-00001").write_bytes(b"not a checkpoint")
    (tmp_path / "file").write_text("")
    capsys.readouterr()
    for argv, message in (
        (["--run-dir", str(plain), "--step", "10", "--out-dir", str(tmp_path / "z")], "cannot restore"),
        (["--run-dir", str(run_dir), "--step", "20", "--out-dir", str(tmp_path / "file")], "is a file"),
        (["--run-dir", str(run_dir), "--step", "15", "--out-dir", str(tmp_path / "x")], "saved: 10, 20"),
        (["--run-dir", str(run_dir), "--step", "20", "--out-dir", str(tmp_path / "raw20")], "already holds a run"),
        (["--run-dir", str(plain), "--step", "20", "--weights", "average", "--out-dir", str(tmp_path / "y")],
         "without a weight average"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            checkpoint_generator.main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and "\n" not in err
    assert not any((tmp_path / name).exists() for name in ("x", "y", "z"))
