"""End to end: a tiny joint synthetic model, a tiny judge, and `python -m stargan_tf.evaluate`."""

import json
import subprocess
import sys

import numpy as np
import pytest

from stargan_tf import evaluate
from stargan_tf.config import load_config
from stargan_tf.metrics import fid
from stargan_tf.metrics.classifier import load_classifier
from tests.conftest import ROOT

TINY = ["train.num_steps=4", "train.checkpoint_every=4", "train.sample_every=4", "train.log_every=2"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from stargan_tf.run import train

    run_dir = tmp_path_factory.mktemp("eval") / "run"
    config = load_config(ROOT / "configs" / "tiny_both.yaml", TINY)
    train(config, run_dir, log=lambda *_: None, verbose=0)
    judge = evaluate.train_judge(config, run_dir / "eval" / "classifier.keras", steps=6, batch_size=8, width=4,
                                 num=4, log=lambda *_: None)
    return run_dir, config, judge


def test_train_judge_reports_held_out_accuracy(tiny_run):
    run_dir, config, judge = tiny_run
    assert (run_dir / "eval" / "classifier.keras").is_file()
    assert judge["held_out_images"] == 8  # 4 per dataset
    assert set(judge["accuracy"]) <= set(config.data.attributes) | {"angry", "contemptuous", "disgusted",
                                                                       "fearful", "happy", "neutral", "sad",
                                                                       "surprised"}
    assert 0.0 <= judge["accuracy_min"] <= judge["accuracy_mean"] <= 1.0


def test_evaluate_run_writes_metrics_table_grid_and_scalars(tiny_run):
    run_dir, config, _ = tiny_run
    weights = np.random.default_rng(0).normal(size=(3, 8))
    # A test-built random feature map: its distances must never be labelled FID/KID.
    extractor = fid.FeatureExtractor(lambda images: images.mean(axis=(1, 2)) @ weights, "random")
    lines = []
    metrics = evaluate.evaluate_run(run_dir, config, num=3, extractor=extractor, log=lines.append)
    saved = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert saved["step"] == 4 and saved["num_images"] == 6
    assert set(saved["per_domain"]) == set(saved["domains"]) and len(saved["domains"]) == 13
    for key in ("target_accuracy_mean", "target_accuracy_min", "classifier_real_accuracy_mean", "kept_accuracy",
                "reconstruction_l1", "gt_l1", "baseline_l1", "gt_l1_ratio", "gt_psnr", "identity_psnr",
                "frechet_distance[random]", "kernel_distance[random]"):
        assert saved[key] is not None, key
    assert not any(key.startswith(("fid", "kid")) for key in saved)
    assert 0.0 <= metrics["target_accuracy_mean"] <= 1.0 and metrics["reconstruction_l1"] > 0.0
    table = (run_dir / "eval" / "metrics.md").read_text()
    assert "| happy |" in table and "ground-truth L1" in table and table.rstrip("\n") in lines
    assert (run_dir / "eval" / "grid.png").is_file()
    assert list((run_dir / "logs" / "eval").glob("events.out.tfevents.*"))


def test_gt_regions_split_the_evaluations_ground_truth_error(tiny_run, tmp_path, capsys):
    from benchmarks import gt_regions
    from stargan_tf.checkpoints import load_generator, read_layout
    from stargan_tf.metrics.ground_truth import eval_set
    from stargan_tf.metrics.translation import evaluate_translations, generator_translate

    run_dir, config, _ = tiny_run
    expected = evaluate_translations(generator_translate(load_generator(run_dir)), read_layout(run_dir),
                                     eval_set(config, 3), log=lambda *_: None)
    assert gt_regions.main(["--run-dir", str(run_dir), "--num", "3", "--out", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert "| all |" in capsys.readouterr().out
    for domain, row in result["targets"].items():
        for kind, key in (("gt", "gt_l1"), ("baseline", "baseline_l1")):
            shares = [row[f"{region}_{kind}"] for region in gt_regions.REGIONS]
            assert min(shares) >= 0.0
            assert sum(shares) == pytest.approx(expected["per_domain"][domain][key], rel=1e-5), (domain, kind)
            assert 0.0 <= row[f"border_{kind}"] <= row[f"unchanged_{kind}"] + 1e-9
    overall = result["all"]
    assert overall["ratio"] == pytest.approx(expected["gt_l1_ratio"], rel=1e-5)
    # Each dataset's total is the count-weighted mean of its targets' rows; together they make up "all".
    layout = read_layout(run_dir)
    datasets = result["datasets"]
    assert set(datasets) == {d.name for d in layout.datasets}
    assert sum(total["count"] for total in datasets.values()) == overall["count"]
    for name, total in datasets.items():
        mine = {d: row for d, row in result["targets"].items() if layout.datasets[layout.dataset_of(d)].name == name}
        for key in ("eye_band_gt", "unchanged_baseline", "border_gt"):
            weighted = sum(row[key] * row["count"] for row in mine.values()) / total["count"]
            assert total[key] == pytest.approx(weighted, rel=1e-5), (name, key)
    # What the truth leaves alone, the input matches to within the change threshold.
    assert overall["unchanged_baseline"] < overall["eye_band_baseline"] + overall["below_eyes_baseline"]


def test_gt_regions_refuses_a_directory_without_a_run(tmp_path, capsys):
    from benchmarks import gt_regions

    with pytest.raises(SystemExit) as exit_info:
        gt_regions.main(["--run-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a trained run directory" in err and err.count("\n") == 1


def test_cli_evaluates_and_notes_missing_fid_weights(tiny_run, capsys):
    run_dir, _, _ = tiny_run
    assert evaluate.main(["--run-dir", str(run_dir), "--num", "2"]) == 0
    out = capsys.readouterr().out
    assert "target-attribute accuracy" in out and "pass --inception-weights" in out


@pytest.mark.parametrize("argv, message", [
    ([], "--run-dir RUN is required"),
    (["--run-dir", "nowhere"], "not a run directory"),
    (["--run-dir", "RUN", "--inception-weights", "missing.h5"], "InceptionV3 weights file not found"),
    (["--run-dir", "RUN", "--classifier", "missing.keras"], "classifier file not found"),
    (["--run-dir", "RUN", "--classifier", "RUN/generator.keras"], "is not a judging classifier"),
    (["--run-dir", "RUN", "--num", "1"], "--num must be >= 2"),
    (["--run-dir", "RUN", "--dataset", "synthetic"], "other labels than the run"),
    (["train-classifier"], "give --out PATH"),
    (["train-classifier", "--run-dir", "RUN", "--out", "judge.h5"], "--out must end in .keras"),
])
def test_cli_bad_input_is_one_line_error(tiny_run, capsys, argv, message):
    run_dir, _, _ = tiny_run
    argv = [a.replace("RUN", str(run_dir)) for a in argv]
    assert evaluate.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_deterministic_judges_replay_bit_exactly(tmp_path):
    # In subprocesses: the deterministic kernels cannot be turned off again in this process. Without
    # train.deterministic, two such judges differ after 10 steps on CPU (held-out accuracy 0.555 and 0.505).
    args = [sys.executable, "-m", "stargan_tf.evaluate", "train-classifier", "--config",
            str(ROOT / "configs" / "tiny.yaml"), "--set", "train.deterministic=true", "--steps", "10",
            "--width", "8", "--num", "8"]
    runs = [subprocess.Popen([*args, "--out", str(tmp_path / f"{name}.keras")], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for name in "ab"]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-2000:]
    first, second = (load_classifier(tmp_path / f"{name}.keras") for name in "ab")
    assert len(first.weights) > 10
    assert [w.path for w, v in zip(first.weights, second.weights, strict=True)
            if not np.array_equal(np.asarray(w), np.asarray(v))] == []
