"""Joint training with the mask vector, per-dataset losses, TFRecord shards, and CLI runs on files."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from stargan_tf.config import load_config
from stargan_tf.data import sources
from stargan_tf.data.pipeline import training_batches
from stargan_tf.data.synthetic_writer import main as write_main
from stargan_tf.losses import classification_loss
from stargan_tf.trainer import LOSS_NAMES, build_stargan
from tests.conftest import ROOT

TINY_BOTH = ROOT / "configs" / "tiny_both.yaml"


@pytest.fixture(scope="module")
def joint():
    config = load_config(TINY_BOTH)
    return config, sources.load_source(config)


def test_joint_labels_are_padded_with_zeros_and_carry_the_mask(joint):
    config, source = joint
    layout = source.layout
    assert [d.name for d in layout.datasets] == ["synthetic", "rafd"]
    assert (layout.num_domains, layout.label_dim) == (13, 15)
    for index, part in enumerate(source.parts):
        labels = np.stack([label for _, label in part.examples.as_numpy_iterator()])
        own = slice(0, 5) if index == 0 else slice(5, 13)
        other = slice(5, 13) if index == 0 else slice(0, 5)
        assert np.all(labels[:, other] == 0) and np.all(labels[:, own].sum(axis=1) >= (index == 1))
        np.testing.assert_array_equal(labels[:, 13:], np.eye(2)[[index] * len(labels)])
    # Sample faces come from both datasets, so grids show each dataset translated to every domain.
    assert sorted(source.sample_labels[:, 13:].argmax(axis=1)) == [0, 0, 1, 1]
    columns = layout.grid_targets(source.sample_labels)
    assert [name for name, _ in columns] == list(layout.domain_names)


def test_steps_alternate_between_datasets_and_each_step_holds_one(joint):
    config, source = joint
    batches = training_batches(source, 4, 2, seed=0, shuffle_buffer=16)
    for step, (images, labels) in enumerate(batches.take(6)):
        masks = labels.numpy()[:, :, 13:].reshape(-1, 2)
        assert images.shape == (4, 2, 32, 32, 3)
        np.testing.assert_array_equal(masks, np.eye(2)[[step % 2] * 8])


def test_dataset_steps_give_each_dataset_its_run_of_consecutive_steps(joint):
    _, source = joint
    batches = training_batches(source, 4, 1, seed=0, shuffle_buffer=16, dataset_steps=[1, 3])
    owners = [int(labels.numpy()[0, 0, 13:].argmax()) for _, labels in batches.take(9)]
    assert owners == [0, 1, 1, 1, 0, 1, 1, 1, 0]
    with pytest.raises(ValueError, match="dataset_steps"):
        training_batches(source, 4, 1, dataset_steps=[1, 0])


def test_training_takes_its_dataset_steps_from_the_config(monkeypatch, tmp_path):
    import stargan_tf.run

    class Stop(Exception):
        pass

    def spy(*args, **kwargs):
        raise Stop(kwargs.get("dataset_steps"))

    monkeypatch.setattr(stargan_tf.run, "training_batches", spy)
    config = load_config(TINY_BOTH, ["data.dataset_steps=1,3"])
    with pytest.raises(Stop, match=r"\[1, 3\]"):
        stargan_tf.run.train(config, tmp_path / "run", log=lambda *_: None)


def test_classification_loss_ignores_the_unknown_dataset(joint):
    layout = joint[1].layout
    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(size=(6, 13)), tf.float32)
    labels = layout.unify(np.eye(5)[rng.integers(0, 3, 6)].astype(np.float32), 0)
    scrambled = labels.copy()
    scrambled[:, 5:13] = np.eye(8)[rng.integers(0, 8, 6)]  # garbage in the unknown RaFD slice
    groups = layout.group_slices()
    a = classification_loss(logits, labels[:, :13], groups, labels[:, 13:])
    b = classification_loss(logits, scrambled[:, :13], groups, scrambled[:, 13:])
    np.testing.assert_allclose(float(a), float(b), rtol=1e-6)


def test_joint_steps_report_losses_per_dataset(joint):
    config, source = joint
    model = build_stargan(config, source.layout)
    batches = iter(training_batches(source, config.train.batch_size, config.train.n_critic))
    first = model.train_step(next(batches))
    assert set(first) == set(LOSS_NAMES) | {f"{d}/{n}" for d in ("synthetic", "rafd") for n in LOSS_NAMES}
    # After one synthetic step the RaFD trackers are still empty; after a RaFD step both are filled.
    assert float(model.dataset_trackers["rafd/d_loss"].count) == 0
    np.testing.assert_allclose(float(first["synthetic/d_cls"]), float(first["d_cls"]), rtol=1e-6)
    second = model.train_step(next(batches))
    assert float(model.dataset_trackers["rafd/d_loss"].count) == 1
    assert all(np.isfinite(float(v)) for v in second.values())
    # RaFD's softmax cross-entropy starts near ln 8; synthetic's sum of 5 sigmoid terms near 5 ln 2.
    assert abs(float(second["rafd/d_cls"]) - np.log(8)) < 1.0
    assert abs(float(second["synthetic/d_cls"]) - 5 * np.log(2)) < 1.5


def test_single_dataset_runs_keep_the_plain_loss_names(tiny_config):
    model = build_stargan(tiny_config, sources.layout_for(tiny_config))
    assert model.dataset_trackers == {} and len(model.metrics) == len(LOSS_NAMES)


def test_tfrecord_shards_hold_the_same_images_and_are_reused(tmp_path, capsys):
    write_main(["--format", "folder", "--out", str(tmp_path / "data"), "--num", "20", "--size", "36"])
    overrides = ["data.dataset=folder", f"data.folder.dir={tmp_path / 'data'}"]
    config = load_config(ROOT / "configs" / "tiny.yaml", overrides)
    direct = sorted(map(bytes, (x.tobytes() for x, _ in sources.load_source(config).examples.as_numpy_iterator())))
    cached_config = load_config(ROOT / "configs" / "tiny.yaml", overrides + [f"data.tfrecord_dir={tmp_path / 'tfr'}"])
    logs = []
    first = sources.load_source(cached_config, log=logs.append)
    from_shards = sorted(x.tobytes() for x, _ in first.examples.as_numpy_iterator())
    assert from_shards == direct  # PNG shards are lossless
    assert len(logs) == 1 and "Writing 18" in logs[0]
    sources.load_source(cached_config, log=logs.append)
    assert len(logs) == 1  # unchanged settings: shards reused
    resized = load_config(ROOT / "configs" / "tiny.yaml", overrides + [f"data.tfrecord_dir={tmp_path / 'tfr'}",
                                                                         "model.image_size=16",
                                                                         "model.d_repeat_num=3"])
    sources.load_source(resized, log=logs.append)
    assert len(logs) == 2  # a different image size rewrites them


def test_cli_trains_jointly_on_celeba_and_rafd_files(tmp_path):
    write_main(["--format", "celeba", "--out", str(tmp_path / "celeba"), "--num", "40", "--size", "44x54"])
    write_main(["--format", "rafd", "--out", str(tmp_path / "rafd"), "--num", "16", "--size", "40"])
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--dataset", "both", "--celeba-dir", str(tmp_path / "celeba"),
         "--rafd-dir", str(tmp_path / "rafd"), "--config", str(ROOT / "configs" / "tiny.yaml"), "--steps", "4",
         "--run-dir", str(tmp_path / "run"), "--set", "train.log_every=2"],
        capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "run" / "checkpoints" / "ckpt-4.index").exists()
    assert '"mask": [\n    "celeba",\n    "rafd"\n  ]' in (tmp_path / "run" / "labels.json").read_text()
