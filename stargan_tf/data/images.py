"""Image files -> training examples: checking, cropping, decoding and the train/test split.

Every on-disk loader (CelebA, RaFD, AffectNet, custom folders) turns its
annotations into `ImageRecord`s and hands them to `records_to_source`, so all
of them share the same robustness rules and the same fast tf.data decoding.

Bad files are found before training starts, by reading each file's header
and tail (cheap: no pixel decoding): missing, empty, non-image and truncated
files are skipped and named once, or are an error in strict mode. Decoding
then runs in parallel inside tf.data with TensorFlow's native decoders; only
formats TensorFlow cannot read correctly (CMYK JPEG, TIFF, 16-bit gray,
...) go through PIL.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import sys
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from stargan_tf.data.pipeline import DataError, DataSource
from stargan_tf.labels import LabelLayout

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
# Formats and modes TensorFlow's decode_image reads correctly; anything else is decoded with PIL.
_TF_FORMATS = {"JPEG", "PNG", "BMP", "GIF", "WEBP"}
_TF_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "PA"}
_MAX_NAMED = 20  # file names listed in the one-time skip report


@dataclasses.dataclass
class ImageRecord:
    """One annotated image: its path, its own dataset's labels and an optional face box."""

    path: str
    labels: np.ndarray  # float32 [len(dataset labels)]
    box: tuple[int, int, int, int] | None = None  # (x, y, width, height) in pixels; None = center crop
    test: bool | None = None  # fixed split (CelebA's partition); None = decided by the random split


@dataclasses.dataclass
class _Checked:
    record: ImageRecord
    width: int
    height: int
    use_pil: bool


def check_image(path: str) -> tuple[int, int, bool] | str:
    """(width, height, needs PIL) for a readable image, or why it is not one."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            if size == 0:
                return "empty file"
            handle.seek(max(size - 1024, 0))
            tail = handle.read()
        with Image.open(path) as image:
            fmt, mode, (width, height) = image.format, image.mode, image.size
    except FileNotFoundError:
        return "missing"
    except UnidentifiedImageError:
        return "not an image"
    except (OSError, ValueError, SyntaxError) as err:  # PIL raises SyntaxError on some broken headers
        return f"unreadable ({err})"
    # A cut-off download keeps a valid header; the end-of-image marker is then missing.
    if fmt == "JPEG" and b"\xff\xd9" not in tail:
        return "truncated JPEG"
    if fmt == "PNG" and b"IEND" not in tail:
        return "truncated PNG"
    if width < 1 or height < 1:
        return "empty image"
    return width, height, fmt not in _TF_FORMATS or mode not in _TF_MODES


def check_records(records: Sequence[ImageRecord], what: str, strict: bool, log=None) -> list[_Checked]:
    """Keeps the readable images; reports the others once (or raises in strict mode)."""
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:  # header reads are I/O bound
        results = list(pool.map(check_image, [r.path for r in records]))
    kept, bad = [], []
    for record, result in zip(records, results, strict=True):
        if isinstance(result, str):
            if strict:
                raise DataError(f"{what}: {record.path}: {result} (data.strict is on)")
            bad.append(f"{record.path} ({result})")
        else:
            kept.append(_Checked(record, *result))
    if bad:
        more = f" ... and {len(bad) - _MAX_NAMED} more" if len(bad) > _MAX_NAMED else ""
        log(f"warning: {what}: skipped {len(bad)} of {len(records)} files: "
            + ", ".join(bad[:_MAX_NAMED]) + more)
    if not kept:
        raise DataError(f"{what}: none of the {len(records)} image files could be read")
    return kept


def crop_box(width: int, height: int, crop_size: int, box: tuple[int, int, int, int] | None) -> list[int]:
    """[y, x, h, w] of the region to keep, clipped to the image.

    A face box is widened to a square around its center (the model's input
    is square); without one, a centered crop_size square (0 = largest).
    """
    if box is not None:
        x, y, w, h = box
        side = max(w, h, 1)
        cx, cy = x + w / 2, y + h / 2
    else:
        side = crop_size if crop_size > 0 else min(width, height)
        cx, cy = width / 2, height / 2
    side = min(side, width, height)
    left = int(round(min(max(cx - side / 2, 0), width - side)))
    top = int(round(min(max(cy - side / 2, 0), height - side)))
    return [top, left, int(side), int(side)]


def pil_decode(path: bytes | str) -> np.ndarray:
    """Any PIL-readable image as uint8 RGB [H, W, 3] (CMYK, 16-bit, TIFF, ...)."""
    with Image.open(path.decode() if isinstance(path, bytes) else path) as image:
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16/32-bit gray: PIL's convert("RGB") clips at 255; scale to 8 bits instead.
            values = np.asarray(image, np.float64)
            peak = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
            gray = np.clip(np.rint(values / peak * 255.0), 0, 255).astype(np.uint8)
            return np.repeat(gray[..., None], 3, axis=2)
        if image.mode == "F":
            return np.repeat(np.clip(np.asarray(image), 0, 255).astype(np.uint8)[..., None], 3, axis=2)
        return np.asarray(image.convert("RGB"), np.uint8)


def decode_examples(paths: Sequence[str], labels: np.ndarray, boxes: np.ndarray, use_pil: np.ndarray,
                    image_size: int, parallel: int = 0, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """(uint8 [S, S, 3], label) pairs: decode, crop the box, resize (antialiased) to image_size.

    With `shuffle_seed` the file list is permuted anew on every pass before
    decoding: a full shuffle of cheap strings, which a bounded buffer of
    decoded images (later in the pipeline) cannot give on a sorted list.
    """

    def load(path: tf.Tensor, label: tf.Tensor, box: tf.Tensor, pil: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        def with_tf() -> tf.Tensor:
            return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)

        def with_pil() -> tf.Tensor:
            image = tf.numpy_function(pil_decode, [path], tf.uint8, stateful=False)
            return tf.reshape(image, [tf.shape(image)[0], tf.shape(image)[1], 3])

        image = tf.cond(pil, with_pil, with_tf)
        image = image[box[0]: box[0] + box[2], box[1]: box[1] + box[3]]
        image = tf.image.resize(image, (image_size, image_size), antialias=True)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
        return tf.ensure_shape(image, (image_size, image_size, 3)), label

    dataset = tf.data.Dataset.from_tensor_slices((
        tf.constant(list(paths), tf.string), np.asarray(labels, np.float32),
        np.asarray(boxes, np.int32).reshape(-1, 4), np.asarray(use_pil, bool),
    ))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(paths), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.map(load, num_parallel_calls=parallel or tf.data.AUTOTUNE, deterministic=True)


def held_out_count(n: int, test_size: int) -> int:
    """Held-out images: test_size, but at most 10% of a small dataset (and at least 1)."""
    if n < 2:
        raise DataError(f"a dataset needs at least 2 images (one to train on, one held out), found {n}")
    return max(1, min(test_size, n // 10))


def records_to_source(records: Sequence[ImageRecord], layout: LabelLayout, index: int, what: str,
                      image_size: int, crop_size: int, test_size: int, num_samples: int,
                      strict: bool = False, seed: int = 0, parallel: int = 0) -> DataSource:
    """Checks the files, splits train/test and builds the DataSource of dataset `index` of `layout`."""
    if not records:
        raise DataError(f"{what}: no images found")
    checked = check_records(records, what, strict)
    train = [c for c in checked if c.record.test is False]
    test = [c for c in checked if c.record.test is True]
    if len(train) + len(test) == len(checked) and (not train or not test):
        # A tiny subset of a partitioned dataset can miss a split entirely.
        print(f"warning: {what}: the partition file leaves no {'training' if not train else 'test'} "
              "images; holding out a random subset instead", file=sys.stderr)
    if not train or not test or len(train) + len(test) != len(checked):
        # A fixed seed, so the held-out images are the same in every run and on resume.
        order = np.random.default_rng([seed, 2018]).permutation(len(checked))
        cut = held_out_count(len(checked), test_size)
        test = [checked[i] for i in sorted(order[:cut])]
        train = [checked[i] for i in sorted(order[cut:])]

    def dataset(items: list[_Checked], shuffle: bool) -> tf.data.Dataset:
        labels = layout.unify(np.stack([c.record.labels for c in items]).astype(np.float32), index)
        boxes = np.array([crop_box(c.width, c.height, crop_size, c.record.box) for c in items], np.int32)
        return decode_examples([c.record.path for c in items], labels, boxes,
                               np.array([c.use_pil for c in items]), image_size, parallel,
                               shuffle_seed=seed if shuffle else None)

    samples = list(dataset(test[:max(num_samples, 1)], shuffle=False).as_numpy_iterator())
    examples = dataset(train, shuffle=True)
    if not strict:
        # Damage inside otherwise well-formed files only shows when decoding: drop that image
        # (TensorFlow logs a warning) rather than stop a long run.
        examples = examples.ignore_errors(log_warning=True)
    return DataSource(
        layout=layout,
        examples=examples,
        num_examples=len(train),
        sample_images=np.stack([image for image, _ in samples]),
        sample_labels=np.stack([label for _, label in samples]),
    )
