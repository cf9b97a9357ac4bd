"""CelebA: the raw release on disk, or tensorflow_datasets' `celeb_a`.

Raw layout (the official "Align&Cropped Images" download):
    DIR/img_align_celeba/000001.jpg ...
    DIR/list_attr_celeba.txt       line 1: image count; line 2: the 40 attribute names;
                                   then "000001.jpg -1  1 ..." (one 1/-1 per attribute)
    DIR/list_eval_partition.txt    optional: "000001.jpg 0" (0 train, 1 validation, 2 test)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from stargan_tf.config import Config
from stargan_tf.data.images import ImageRecord, records_to_source
from stargan_tf.data.pipeline import DataError, DataSource, dataset_root
from stargan_tf.labels import LabelLayout

ATTR_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
IMAGE_DIR = "img_align_celeba"
TEST_PARTITION = "2"


def read_attribute_file(path: Path) -> tuple[list[str], list[tuple[str, list[int]]]]:
    """(attribute names, [(file name, [1/-1 values])]) with the format checked line by line."""
    if not path.is_file():
        raise DataError(f"CelebA attribute file not found: {path}")
    lines = [line.split() for line in path.read_text().splitlines()]
    if len(lines) < 2:
        raise DataError(f"{path}: expected a count line and an attribute-name line")
    names = lines[1]
    rows = []
    for number, fields in enumerate(lines[2:], start=3):
        if not fields:
            continue
        if len(fields) != len(names) + 1:
            raise DataError(f"{path} line {number}: {len(fields) - 1} values for {len(names)} attributes")
        try:
            values = [int(v) for v in fields[1:]]
        except ValueError:
            raise DataError(f"{path} line {number}: attribute values must be 1 or -1") from None
        rows.append((fields[0], values))
    if lines[0] and lines[0][0].isdigit() and int(lines[0][0]) != len(rows):
        raise DataError(f"{path}: line 1 announces {lines[0][0]} images but the file lists {len(rows)}")
    return names, rows


def select_columns(names: list[str], attributes: list[str], where: str) -> list[int]:
    """Column index of each selected attribute; an unknown one is an error listing the valid names."""
    for attribute in attributes:
        if attribute not in names:
            raise DataError(f"attribute {attribute!r} is not in {where} (valid: {', '.join(names)})")
    return [names.index(a) for a in attributes]


def read_partition(path: Path) -> dict[str, str]:
    partition = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DataError(f"{path} line {number}: expected 'FILE 0|1|2', got {line.strip()!r}")
        partition[fields[0]] = fields[1]
    return partition


def celeba_records(config: Config) -> list[ImageRecord]:
    """One record per annotated image; the official test partition when the partition file exists."""
    root = dataset_root(config.data.celeba.dir, "CelebA directory", "--celeba-dir", "data.celeba.dir")
    image_dir = root / IMAGE_DIR
    if not image_dir.is_dir():
        raise DataError(f"CelebA images not found: {image_dir} (unpack img_align_celeba.zip into {root})")
    names, rows = read_attribute_file(root / ATTR_FILE)
    if not rows:
        raise DataError(f"{root / ATTR_FILE} lists no images")
    columns = select_columns(names, list(config.data.attributes), str(root / ATTR_FILE))
    on_disk = {p.name for p in image_dir.iterdir()}
    if not any(name in on_disk for name, _ in rows):
        raise DataError(f"none of the images listed in {ATTR_FILE} is in {image_dir}")
    partition = read_partition(root / PARTITION_FILE) if (root / PARTITION_FILE).is_file() else None
    if partition is not None:
        missing = [name for name, _ in rows if name not in partition]
        if missing:
            raise DataError(f"{root / PARTITION_FILE} has no entry for {missing[0]} "
                            f"({len(missing)} images of {ATTR_FILE} are missing there)")
    records = []
    for name, values in rows:
        # Listed images missing on disk are reported (and skipped) by the file check.
        labels = (np.asarray([values[c] for c in columns], np.float32) > 0).astype(np.float32)
        test = None if partition is None else partition[name] == TEST_PARTITION
        records.append(ImageRecord(str(image_dir / name), labels, test=test))
    return records


def load_celeba(config: Config, layout: LabelLayout, index: int) -> DataSource:
    c = config.data
    if c.celeba.source == "tfds":
        return load_celeba_tfds(config, layout, index)
    return records_to_source(
        celeba_records(config), layout, index, "CelebA", config.model.image_size, c.celeba.crop_size,
        c.test_size, config.train.num_sample_faces, c.strict, config.train.seed, c.decode_threads,
    )


def load_celeba_tfds(config: Config, layout: LabelLayout, index: int) -> DataSource:
    """CelebA through tensorflow_datasets: the official train+validation split to train, test held out."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DataError("data.celeba.source is 'tfds' but tensorflow_datasets is not installed "
                        "(pip install tensorflow-datasets), or use the raw files with --celeba-dir") from None
    data_dir = config.data.celeba.tfds_dir or None
    try:
        builder = tfds.builder("celeb_a", data_dir=data_dir)
        builder.download_and_prepare()
        splits = builder.as_dataset(split=["train+validation", "test"], shuffle_files=False)
        num_train = builder.info.splits["train"].num_examples + builder.info.splits["validation"].num_examples
    except Exception as err:  # noqa: BLE001 - tfds raises many types (quota, checksum, network, missing data)
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise DataError(
            f"could not load CelebA with tensorflow_datasets ({type(err).__name__}: {first}). "
            "Its Google Drive download often fails on quota: download img_align_celeba.zip, "
            "list_attr_celeba.txt and list_eval_partition.txt yourself (see docs/datasets.md) "
            "and pass --celeba-dir DIR"
        ) from None
    attributes = list(config.data.attributes)
    names = list(builder.info.features["attributes"].keys())
    select_columns(names, attributes, "tfds celeb_a")
    size, crop = config.model.image_size, config.data.celeba.crop_size
    offset = layout.dataset_offsets()[index]
    label_template = layout.unify(np.zeros((1, len(attributes)), np.float32), index)[0]

    def convert(example: dict) -> tuple[tf.Tensor, tf.Tensor]:
        image = example["image"]
        height, width = tf.shape(image)[0], tf.shape(image)[1]
        side = tf.minimum(tf.minimum(height, width), crop) if crop > 0 else tf.minimum(height, width)
        image = tf.image.crop_to_bounding_box(image, (height - side) // 2, (width - side) // 2, side, side)
        image = tf.image.resize(image, (size, size), antialias=True)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
        own = tf.stack([tf.cast(example["attributes"][a], tf.float32) for a in attributes])
        label = tf.concat([label_template[:offset], own, label_template[offset + len(attributes):]], 0)
        return image, label

    train, test = (s.map(convert, num_parallel_calls=tf.data.AUTOTUNE) for s in splits)
    n = config.train.num_sample_faces
    samples = list(test.take(max(n, 1)).as_numpy_iterator())
    return DataSource(layout, train, num_train, np.stack([s[0] for s in samples]),
                      np.stack([s[1] for s in samples]))
