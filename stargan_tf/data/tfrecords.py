"""Decode a dataset once into TFRecord shards and train from those.

Decoding, cropping and resizing full-size JPEGs costs far more CPU than
reading a small pre-resized PNG, so for repeated runs (or slow disks) the
preprocessed training images are written once per dataset, with a manifest
describing what they were made from. A changed setting (image size, crop,
attributes, dataset directory, ...) makes the manifest differ and the shards
are rewritten.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import tensorflow as tf

from stargan_tf.data.pipeline import DataError, DataSource

MANIFEST = "manifest.json"
SHARD_SIZE = 2_000  # images per shard: enough shards to read in parallel, few enough files


def _serialize(image_png: bytes, label: list[float]) -> bytes:
    features = tf.train.Features(feature={
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_png])),
        "label": tf.train.Feature(float_list=tf.train.FloatList(value=label)),
    })
    return tf.train.Example(features=features).SerializeToString()


def write_shards(examples: tf.data.Dataset, directory: Path, key: dict[str, Any]) -> int:
    """Writes every example (uint8 image, label) as PNG records; returns how many."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    encoded = examples.map(lambda image, label: (tf.io.encode_png(image), label),
                           num_parallel_calls=tf.data.AUTOTUNE)
    count, writer = 0, None
    try:
        for png, label in encoded.as_numpy_iterator():
            if count % SHARD_SIZE == 0:
                if writer is not None:
                    writer.close()
                writer = tf.io.TFRecordWriter(str(directory / f"train-{count // SHARD_SIZE:05d}.tfrecord"))
            writer.write(_serialize(png, label.tolist()))
            count += 1
    finally:
        if writer is not None:
            writer.close()
    # The manifest is written last: an interrupted conversion is redone on the next run.
    (directory / MANIFEST).write_text(json.dumps({**key, "num_examples": count}, indent=2, sort_keys=True))
    return count


def read_shards(directory: Path, image_size: int, label_dim: int, seed: int = 0) -> tf.data.Dataset:
    """(uint8 [S, S, 3], float32 [n_c]) examples from the shards, read in parallel."""
    files = sorted(str(p) for p in directory.glob("train-*.tfrecord"))
    if not files:
        raise DataError(f"no TFRecord shards in {directory}")
    spec = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([label_dim], tf.float32)}

    def parse(record: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        example = tf.io.parse_single_example(record, spec)
        image = tf.io.decode_png(example["image"], channels=3)
        return tf.ensure_shape(image, (image_size, image_size, 3)), example["label"]

    shards = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    records = shards.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 8),
                                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return records.map(parse, num_parallel_calls=tf.data.AUTOTUNE)


def cached(source: DataSource, directory: str | Path, key: dict[str, Any], log=print) -> DataSource:
    """`source` with its training examples read from shards in `directory` (written if stale)."""
    directory = Path(directory).expanduser()
    manifest = directory / MANIFEST
    stored = json.loads(manifest.read_text()) if manifest.is_file() else None
    if stored is None or {k: v for k, v in stored.items() if k != "num_examples"} != json.loads(json.dumps(key)):
        log(f"Writing {source.num_examples} preprocessed training images to TFRecord shards in {directory}")
        count = write_shards(source.examples, directory, key)
    else:
        count = stored["num_examples"]
    size = int(source.sample_images.shape[1])
    examples = read_shards(directory, size, source.layout.label_dim, seed=int(key.get("seed", 0)))
    return DataSource(source.layout, examples, count, source.sample_images, source.sample_labels)
