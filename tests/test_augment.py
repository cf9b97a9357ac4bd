import numpy as np
import pytest
import tensorflow as tf

from stargan_tf.augment import random_translation


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
    tf.random.set_seed(3)
    out = random_translation(images, 0.125).numpy()
    shifts = [shift_of(images[i].numpy(), out[i], limit=2) for i in range(32)]
    assert all(abs(dy) <= 2 and abs(dx) <= 2 for dy, dx in shifts)
    assert len(set(shifts)) > 5  # not one offset for the whole batch
    tf.random.set_seed(3)
    again = random_translation(images, 0.125).numpy()
    np.testing.assert_array_equal(out, again)


def test_gradient_reaches_the_input():
    images = numbered_images(n=4, size=8)
    with tf.GradientTape() as tape:
        tape.watch(images)
        out = random_translation(images, 0.25)
        total = tf.reduce_sum(out)
    grad = tape.gradient(total, images).numpy()
    # Each output pixel copies exactly one input pixel: the gradient counts how often each was copied.
    assert grad.sum() == pytest.approx(out.numpy().size)
    assert grad.min() >= 0 and np.all(grad == np.round(grad))

