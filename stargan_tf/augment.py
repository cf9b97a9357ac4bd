"""Differentiable augmentation of the discriminator's inputs (DiffAugment, Zhao et al. 2020).

With a few thousand training images D learns shortcuts that G can satisfy
with small, unrealistic changes. Showing D every image (real and generated,
in D's and in G's update alike) at a random offset makes those shortcuts
position-dependent and useless, while the gradient still reaches G through
the shift. Translation keeps every label valid, which colour or cutout
augmentation would not (hair colour, a covered mouth).
"""

from __future__ import annotations

import tensorflow as tf


def random_translation(images: tf.Tensor, fraction: float) -> tf.Tensor:
    """Shifts each image by its own random offset of up to `fraction` of its side, in whole pixels.

    Pixels shifted in from outside repeat the border (no black bands for D to
    spot). Differentiable with respect to `images`. A no-op when `fraction` is 0.
    """
    if fraction <= 0:
        return images
    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    max_shift = tf.maximum(tf.cast(tf.round(tf.cast(h, tf.float32) * fraction), tf.int32), 1)
    shifts = tf.random.uniform((n, 2), -max_shift, max_shift + 1, dtype=tf.int32)
    rows = tf.clip_by_value(tf.range(h)[None, :] - shifts[:, :1], 0, h - 1)  # [N, H]
    cols = tf.clip_by_value(tf.range(w)[None, :] - shifts[:, 1:], 0, w - 1)  # [N, W]
    images = tf.gather(images, rows, axis=1, batch_dims=1)
    return tf.gather(images, cols, axis=2, batch_dims=1)
