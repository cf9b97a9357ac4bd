"""tf.data plumbing shared by every dataset: preprocessing and training batches."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from stargan_tf.labels import LabelLayout


class DataError(ValueError):
    """A dataset problem the user must fix (missing files, bad labels); reported in one line."""


@dataclasses.dataclass
class DataSource:
    """What training needs from a dataset.

    `examples` yields single (image uint8 [H, W, 3], full label vector [n_c])
    pairs (file-backed datasets permute their file list on every pass);
    `sample_images`/`sample_labels` are held-out faces (never trained on) for
    the sample grids. A joint source (several datasets, mask vector) keeps
    each dataset's own source in `parts`: training alternates between them.
    """

    layout: LabelLayout
    examples: tf.data.Dataset
    num_examples: int
    sample_images: np.ndarray  # uint8 [N, H, W, 3]
    sample_labels: np.ndarray  # float32 [N, n_c]
    parts: tuple[DataSource, ...] = ()


def dataset_root(directory: str, what: str, flag: str, key: str) -> Path:
    """The configured data directory, or a one-line DataError naming the flag or the missing path."""
    if not directory:
        raise DataError(f"no {what}: pass {flag} DIR (or set {key})")
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise DataError(f"{what} not found: {root}")
    return root


def joint_source(parts: list[DataSource], num_samples: int) -> DataSource:
    """One source over several datasets; sample faces are taken from each of them in turn."""
    layout = parts[0].layout
    share = [num_samples // len(parts) + (i < num_samples % len(parts)) for i in range(len(parts))]
    share = [max(s, 1) for s in share]
    examples = parts[0].examples
    for part in parts[1:]:
        examples = examples.concatenate(part.examples)
    return DataSource(
        layout=layout,
        examples=examples,
        num_examples=sum(p.num_examples for p in parts),
        sample_images=np.concatenate([p.sample_images[:n] for p, n in zip(parts, share, strict=True)]),
        sample_labels=np.concatenate([p.sample_labels[:n] for p, n in zip(parts, share, strict=True)]),
        parts=tuple(parts),
    )


def to_model_range(images: tf.Tensor) -> tf.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def from_uint8(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1], on the host (numpy)."""
    return np.asarray(images, np.float32) / 127.5 - 1.0


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
    dataset_steps: list[int] | None = None,
) -> tf.data.Dataset:
    """Endless batches of ([B, n_critic, H, W, 3] in [-1, 1], [B, n_critic, n_c]).

    Each of a step's n_critic discriminator updates gets its own B images.
    The critic axis is second so a distribution strategy splits along B and
    every replica still sees n_critic groups. A joint source yields whole
    steps of one dataset, alternating datasets step by step (paper Sec. 3.2),
    or `dataset_steps[i]` consecutive steps of dataset i in turn, so every
    batch carries a single mask and the classification loss sees one known
    label set at a time.
    """
    if source.parts:
        per_dataset = [training_batches(part, batch_size, n_critic, seed + i, shuffle_buffer, flip)
                       for i, part in enumerate(source.parts)]
        steps = dataset_steps or [1] * len(per_dataset)
        if len(steps) != len(per_dataset) or min(steps) < 1:
            raise ValueError(f"dataset_steps must give each of the {len(per_dataset)} datasets >= 1 step, "
                             f"got {steps}")
        rounds = np.repeat(np.arange(len(per_dataset), dtype=np.int64), steps)
        order = tf.data.Dataset.from_tensor_slices(rounds).repeat()
        return tf.data.Dataset.choose_from_datasets(per_dataset, order).prefetch(tf.data.AUTOTUNE)

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
