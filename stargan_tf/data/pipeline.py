"""tf.data plumbing shared by every dataset: preprocessing and training batches."""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from stargan_tf.labels import LabelLayout


class DataError(ValueError):
    """A dataset problem the user must fix (missing files, bad labels); reported in one line."""


@dataclasses.dataclass
class DataSource:
    """What training needs from a dataset.

    `examples` yields single (image uint8 [H, W, 3], full label vector [n_c])
    pairs in a fixed order; `sample_images`/`sample_labels` are held-out faces
    (never trained on) for the sample grids.
    """

    layout: LabelLayout
    examples: tf.data.Dataset
    num_examples: int
    sample_images: np.ndarray  # uint8 [N, H, W, 3]
    sample_labels: np.ndarray  # float32 [N, n_c]


def to_model_range(images: tf.Tensor) -> tf.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def to_uint8(images: np.ndarray | tf.Tensor) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], rounding to nearest."""
    images = np.asarray(images, np.float32)
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def training_batches(
    source: DataSource,
    batch_size: int,
    n_critic: int,
    seed: int = 0,
    shuffle_buffer: int = 4_096,
    flip: bool = True,
) -> tf.data.Dataset:
    """Endless batches of ([B, n_critic, H, W, 3] in [-1, 1], [B, n_critic, n_c]).

    Each of a step's n_critic discriminator updates gets its own B images.
    The critic axis is second so a distribution strategy splits along B and
    every replica still sees n_critic groups.
    """

    def augment(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = to_model_range(image)
        if flip:
            image = tf.image.random_flip_left_right(image)
        return image, label

    dataset = source.examples
    if shuffle_buffer > 1:
        dataset = dataset.shuffle(min(shuffle_buffer, max(source.num_examples, 1)), seed=seed,
                                  reshuffle_each_iteration=True)
    dataset = dataset.repeat().map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(n_critic, drop_remainder=True).batch(batch_size, drop_remainder=True)
    options = tf.data.Options()
    options.deterministic = True
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
