import numpy as np
import pytest
import tensorflow as tf

from stargan_tf.augment import random_translation
from stargan_tf.data.pipeline import training_batches
from stargan_tf.data.sources import load_source
from stargan_tf.trainer import build_stargan


def numbered_images(n: int = 6, size: int = 16) -> tf.Tensor:
    # Every pixel of every image holds a different value, so each output pixel says where it came from.
    return tf.reshape(tf.range(n * size * size * 3, dtype=tf.float32), (n, size, size, 3))


def shift_of(original: np.ndarray, shifted: np.ndarray, limit: int) -> tuple[int, int]:
    size = original.shape[0]
    for dy in range(-limit, limit + 1):
        for dx in range(-limit, limit + 1):
            rows = np.clip(np.arange(size) - dy, 0, size - 1)
            cols = np.clip(np.arange(size) - dx, 0, size - 1)
            if np.array_equal(original[rows][:, cols], shifted):
                return dy, dx
    raise AssertionError("output is not a border-repeating shift of the input within the limit")


def test_zero_fraction_is_the_identity():
    images = numbered_images()
    assert random_translation(images, 0.0) is images


def test_each_image_is_shifted_by_its_own_bounded_offset():
    images = numbered_images(n=32, size=16)
    out = random_translation(images, 0.125, seed=tf.constant([3, 4])).numpy()
    shifts = [shift_of(images[i].numpy(), out[i], limit=2) for i in range(32)]
    assert all(abs(dy) <= 2 and abs(dx) <= 2 for dy, dx in shifts)
    assert len(set(shifts)) > 5  # not one offset for the whole batch
    again = random_translation(images, 0.125, seed=tf.constant([3, 4])).numpy()
    np.testing.assert_array_equal(out, again)


def test_gradient_reaches_the_input():
    images = numbered_images(n=4, size=8)
    with tf.GradientTape() as tape:
        tape.watch(images)
        out = random_translation(images, 0.25, seed=tf.constant([1, 2]))
        total = tf.reduce_sum(out)
    grad = tape.gradient(total, images).numpy()
    # Each output pixel copies exactly one input pixel: the gradient counts how often each was copied.
    assert grad.sum() == pytest.approx(out.numpy().size)
    assert grad.min() >= 0 and np.all(grad == np.round(grad))


def test_a_training_step_with_translation_runs_and_changes_both_networks(tiny_config):
    tiny_config.train.d_translation = 0.125
    source = load_source(tiny_config)
    model = build_stargan(tiny_config, source.layout)
    before_g = [w.numpy().copy() for w in model.generator.trainable_weights]
    before_d = [w.numpy().copy() for w in model.discriminator.trainable_weights]
    batch = next(iter(training_batches(source, tiny_config.train.batch_size, tiny_config.train.n_critic)))
    logs = model.train_step(batch)
    assert all(np.isfinite(float(v)) for v in logs.values())
    for before, network in ((before_g, model.generator), (before_d, model.discriminator)):
        after = [w.numpy() for w in network.trainable_weights]
        assert any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))
