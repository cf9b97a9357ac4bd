"""End-to-end training on the tiny config: artifacts, resume, failure handling, CLI errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from stargan_tf import trainer
from stargan_tf.checkpoints import load_generator, read_layout
from stargan_tf.run import TrainingFailed, train
from tests.conftest import ROOT

TINY = str(ROOT / "configs" / "tiny.yaml")


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_cli_trains_writes_artifacts_and_resumes(tmp_path):
    run_dir = tmp_path / "run"
    first = run_cli("--dataset", "synthetic", "--config", TINY, "--steps", "20", "--run-dir", str(run_dir))
    assert first.returncode == 0, first.stderr[-2000:]
    assert (run_dir / "config.yaml").exists() and (run_dir / "labels.json").exists()
    assert (run_dir / "checkpoints" / "ckpt-20.index").exists()
    assert (run_dir / "generator.keras").exists()
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == ["step_000010.png", "step_000020.png"]
    assert list((run_dir / "logs").glob("events.out.tfevents.*"))
    losses = [line for line in first.stdout.splitlines() if line.startswith("step ")]
    assert losses and all("nan" not in line and "inf" not in line for line in losses)

    second = run_cli("--dataset", "synthetic", "--config", TINY, "--steps", "40", "--run-dir", str(run_dir))
    assert second.returncode == 0, second.stderr[-2000:]
    assert "Resuming" in second.stdout and "at step 20" in second.stdout
    assert "step 25 " in second.stdout and "step 5 " not in second.stdout
    assert (run_dir / "checkpoints" / "ckpt-40.index").exists()
    timing = json.loads((run_dir / "timing.json").read_text())
    assert timing["steps"] == 40 and [t["steps"] for t in timing["sessions"]] == [20, 20]
    assert timing["seconds"] == pytest.approx(sum(t["seconds"] for t in timing["sessions"]), abs=0.05)


def test_resume_restores_weights_optimizer_state_and_step(tmp_path, tiny_config):
    result = train(tiny_config, tmp_path, log=lambda *_: None, verbose=0)
    assert result.final_step == 20
    from stargan_tf.data.sources import load_source

    model = trainer.build_stargan(tiny_config, load_source(tiny_config).layout)
    from stargan_tf.checkpoints import TrainingCheckpoint

    checkpoint = TrainingCheckpoint(model, tmp_path / "checkpoints")
    assert checkpoint.restore_latest() == 20
    assert int(model.d_optimizer.iterations) == 20 * tiny_config.train.n_critic
    # Adam's moments came back (not re-created as zeros).
    moments = [v for v in model.g_optimizer.variables if "momentum" in v.path]
    assert moments and any(float(tf.reduce_max(tf.abs(v))) > 0 for v in moments)
    saved_g = load_generator(tmp_path)
    x = np.zeros((1, 32, 32, 3), "float32")
    c = np.ones((1, read_layout(tmp_path).label_dim), "float32")
    np.testing.assert_allclose(np.asarray(saved_g((x, c))), np.asarray(model.generator((x, c))), atol=1e-6)


def test_weight_average_is_checkpointed_restored_and_exported(tmp_path, tiny_config):
    tiny_config.train.g_ema_decay = 0.5
    train(tiny_config, tmp_path, log=lambda *_: None, verbose=0)
    from stargan_tf.checkpoints import TrainingCheckpoint
    from stargan_tf.data.sources import load_source

    model = trainer.build_stargan(tiny_config, load_source(tiny_config).layout)
    assert TrainingCheckpoint(model, tmp_path / "checkpoints").restore_latest() == 20
    x = np.linspace(-1, 1, 32 * 32 * 3, dtype="float32").reshape(1, 32, 32, 3)
    c = np.ones((1, read_layout(tmp_path).label_dim), "float32")
    exported = np.asarray(load_generator(tmp_path)((x, c)))
    # generator.keras is the average, restored along with the rest, and differs from the raw G.
    np.testing.assert_allclose(exported, np.asarray(model.generator_average((x, c))), atol=1e-6)
    assert np.abs(exported - np.asarray(model.generator((x, c)))).max() > 1e-4


def test_an_interrupted_checkpoint_write_leaves_the_last_good_one(tmp_path, tiny_config):
    tiny_config.train.num_steps = 10
    train(tiny_config, tmp_path, log=lambda *_: None, verbose=0)
    # What a kill in the middle of writing step 20 leaves behind: files, but no index update.
    (tmp_path / "checkpoints" / "ckpt-20.index").write_bytes(b"\x00truncated")
    (tmp_path / "checkpoints" / "ckpt-20.data-00000-of-00001").write_bytes(b"")
    tiny_config.train.num_steps = 20
    messages = []
    result = train(tiny_config, tmp_path, log=messages.append, verbose=0)
    assert result.start_step == 10 and result.final_step == 20
    assert any("at step 10" in m for m in messages)


def test_saved_steps_are_the_indexed_checkpoints_and_any_one_restores(tmp_path, tiny_config):
    train(tiny_config, tmp_path, log=lambda *_: None, verbose=0)
    # A write killed before the index was updated is not a saved step.
    (tmp_path / "checkpoints" / "ckpt-30.index").write_bytes(b"\x00truncated")
    from stargan_tf.checkpoints import TrainingCheckpoint
    from stargan_tf.data.sources import load_source

    model = trainer.build_stargan(tiny_config, load_source(tiny_config).layout)
    checkpoint = TrainingCheckpoint(model, tmp_path / "checkpoints")
    assert checkpoint.saved_steps() == [10, 20]
    checkpoint.restore(10)
    assert int(model.step.numpy()) == 10
    checkpoint.restore(20)
    assert int(model.step.numpy()) == 20
    with pytest.raises(ValueError, match="no checkpoint at step 30"):
        checkpoint.restore(30)


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path, tiny_config, monkeypatch):
    tiny_config.train.num_steps = 10
    train(tiny_config, tmp_path, log=lambda *_: None, verbose=0)
    before = (tmp_path / "generator.keras").read_bytes()
    monkeypatch.setattr(trainer, "reconstruction_loss", lambda x, y: tf.constant(float("nan")))
    tiny_config.train.num_steps = 20
    with pytest.raises(TrainingFailed, match=r"non-finite loss g_\w+=nan at step 11; .*ckpt-10"):
        train(tiny_config, tmp_path, log=lambda *_: None, verbose=0)
    assert not (tmp_path / "checkpoints" / "ckpt-20.index").exists()
    assert (tmp_path / "generator.keras").read_bytes() == before


def test_deterministic_runs_replay_bit_exactly(tmp_path):
    # Without --deterministic, two such runs differ in nearly every weight after 10 steps on CPU.
    args = [sys.executable, str(ROOT / "train.py"), "--config", TINY, "--steps", "10", "--deterministic"]
    runs = [subprocess.Popen([*args, "--run-dir", str(tmp_path / name)], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-2000:]
    first, second = (tf.train.load_checkpoint(str(tmp_path / name / "checkpoints" / "ckpt-10")) for name in "ab")
    names = [n for n in first.get_variable_to_shape_map() if "OBJECT_GRAPH" not in n]
    assert len(names) > 50
    assert [n for n in names if not np.array_equal(first.get_tensor(n), second.get_tensor(n))] == []


def test_cli_summary_prints_the_paper_parameter_counts():
    out = run_cli("--dataset", "celeba", "--summary")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "G = 8,430,528" in out.stdout and "D = 44,762,048" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "model.g_conv_dims=3"], "unknown config key model.g_conv_dims"),
        (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["--config", "missing.yaml"], "config file not found"),
        (["--set", "data.attributes=Bald"], "synthetic faces have no attribute 'Bald'"),
        (["--resume", "--run-dir", "/nonexistent/run"], "--resume: no checkpoint"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args, message):
    out = run_cli(*args) if "--resume" in args else run_cli(*args, "--summary")
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: ")


def test_changing_the_model_of_an_existing_run_is_refused(tmp_path, tiny_config):
    tiny_config.train.num_steps = 2
    train(tiny_config, tmp_path, log=lambda *_: None, verbose=0)
    out = run_cli("--config", TINY, "--run-dir", str(tmp_path), "--set", "model.g_conv_dim=16")
    assert out.returncode == 2 and "different model settings (model.g_conv_dim)" in out.stderr
    out = run_cli("--config", TINY, "--run-dir", str(tmp_path), "--set", "train.g_ema_decay=0.99")
    assert out.returncode == 2 and "train.g_ema_decay off; it cannot be turned on" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_run_saved_before_an_option_existed_resumes_with_its_default(tmp_path, tiny_config):
    import yaml

    from stargan_tf.config import ConfigError
    from stargan_tf.run import check_resumable

    saved = tiny_config.to_dict()
    del saved["model"]["d_projection"]  # a config.yaml written before the option was added
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    check_resumable(tiny_config, tmp_path)  # the default (off) is what that run was trained with
    tiny_config.model.d_projection = True
    with pytest.raises(ConfigError, match=r"different model settings \(model.d_projection\)"):
        check_resumable(tiny_config, tmp_path)
    saved["model"]["from_the_future"] = 1
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    with pytest.raises(ConfigError, match="config.yaml this version cannot read"):
        check_resumable(tiny_config, tmp_path)
