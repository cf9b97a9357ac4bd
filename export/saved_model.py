"""A trained run as a SavedModel in the layout TF Serving loads.

    python -m export.saved_model --run-dir RUN --out models/ [--name stargan] [--version N]

writes

    models/models.config                          model_config_list (other models in it are kept)
    models/stargan/<version>/saved_model.pb       + variables/, version = highest existing + 1
    models/stargan/<version>/assets.extra/tf_serving_warmup_requests

Signatures:
    serving_default  image_bytes string[batch] (JPEG/PNG/GIF/BMP/WebP), labels float32[batch, n_c]
                     -> image_bytes string[batch] (PNG); decode, center crop, resize, normalize in the graph
    translate        images float32[batch, S, S, 3] in [-1, 1], labels -> images float32 in [-1, 1]
    domains          keys string[batch] ("metadata", "layout", "image_size") -> values string[batch] (JSON)
Malformed requests fail inside the graph with INVALID_ARGUMENT.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import stargan_tf  # noqa: F401  (quiets TensorFlow's start-up logs before it is imported)
from stargan_tf.labels import LabelLayout
from stargan_tf.photo_io import MIN_SIZE

METADATA_FORMAT = "stargan-tf/1"
DOMAIN_KEYS = ("metadata", "layout", "image_size")
WARMUP_FILE = "tf_serving_warmup_requests"
CONFIG_NAME = "models.config"
SIGNATURES = ("serving_default", "translate", "domains")


class ExportError(ValueError):
    """A problem with the run directory or the output location (one line for the user)."""


def training_step(run_dir: str | Path) -> int | None:
    """The step of the run's newest checkpoint (None for converted weights without checkpoints)."""
    directory = Path(run_dir) / "checkpoints"
    index = directory / "checkpoint"
    if not index.is_file():
        return None
    match = re.search(r'model_checkpoint_path: ".*?ckpt-(\d+)"', index.read_text())
    return int(match.group(1)) if match else None


def model_metadata(layout: LabelLayout, image_size: int, name: str, version: int,
                   step: int | None = None) -> dict[str, Any]:
    """What a client needs besides the weights; embedded in every SavedModel and .tflite file."""
    return {
        "format": METADATA_FORMAT,
        "name": name,
        "model_version": version,
        "training_step": step,
        "image_size": image_size,
        "label_dim": layout.label_dim,
        "layout": layout.to_dict(),
        # pixel = uint8 RGB; model input = pixel * scale + offset, output pixel = model * scale + offset.
        "normalization": {"input": {"scale": 1 / 127.5, "offset": -1.0},
                          "output": {"scale": 127.5, "offset": 127.5}, "range": [-1.0, 1.0]},
        "preprocessing": "upright RGB photo, largest centered square, Lanczos resize to image_size",
    }


def load_run(run_dir: str | Path) -> tuple[Any, LabelLayout, int]:
    """(generator, layout, image size) of a run directory; ExportError when something is missing."""
    from stargan_tf.translate import Translator

    try:
        translator = Translator.from_run_dir(run_dir)
    except FileNotFoundError as err:
        raise ExportError(str(err)) from None
    except Exception as err:  # a corrupt generator.keras and the like
        raise ExportError(f"cannot load the model in {run_dir}: {str(err).splitlines()[0]}") from None
    if translator.generator.label_dim != translator.layout.label_dim:
        raise ExportError(f"{run_dir}: generator.keras takes {translator.generator.label_dim} labels but labels.json "
                          f"describes {translator.layout.label_dim}")
    return translator.generator, translator.layout, translator.image_size


# -- the graph -------------------------------------------------------------------

def build_archive(generator: Any, metadata: dict[str, Any]) -> Any:
    """An ExportArchive with the three serving signatures (dynamic batch, checks inside the graph)."""
    import keras
    import tensorflow as tf

    size, n_c = int(metadata["image_size"]), int(metadata["label_dim"])
    names = ", ".join(metadata["layout"]["domain_names"])
    values = tf.constant([json.dumps(metadata), json.dumps(metadata["layout"]), str(size)])
    known_keys = tf.constant(list(DOMAIN_KEYS))

    def check_labels(labels: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
        tf.debugging.assert_equal(tf.shape(labels)[1], n_c,
                                  message=f"labels must have {n_c} columns ({names})")
        tf.debugging.assert_equal(tf.shape(labels)[0], batch, message="labels need one row per image")
        labels = tf.debugging.check_numerics(labels, "labels must be finite numbers")
        return tf.ensure_shape(labels, [None, n_c])

    def check_batch(batch: tf.Tensor) -> None:
        tf.debugging.assert_greater(batch, 0, message="empty batch: send at least one image")

    def decode(data: tf.Tensor) -> tf.Tensor:
        # decode_image raises INVALID_ARGUMENT ("Unknown image file format") for anything undecodable.
        image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
        height, width = tf.shape(image)[0], tf.shape(image)[1]
        side = tf.minimum(height, width)
        tf.debugging.assert_greater_equal(side, MIN_SIZE, message=f"both image sides must be at least {MIN_SIZE} px")
        face = tf.image.crop_to_bounding_box(image, (height - side) // 2, (width - side) // 2, side, side)
        # Lanczos with antialiasing is what the Python path (Pillow LANCZOS) does; rounding to uint8
        # levels makes the graph see the same pixels as a client that resized the photo itself.
        face = tf.image.resize(face, [size, size], method="lanczos3", antialias=True)
        face = tf.round(tf.clip_by_value(face, 0.0, 255.0))
        return tf.ensure_shape(face / 127.5 - 1.0, [size, size, 3])

    def run(images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        return tf.cast(generator((images, labels), training=False), tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes"),
                                  tf.TensorSpec([None, None], tf.float32, name="labels")])
    def serve(image_bytes: tf.Tensor, labels: tf.Tensor) -> dict[str, tf.Tensor]:
        batch = tf.shape(image_bytes)[0]
        check_batch(batch)
        labels = check_labels(labels, batch)
        images = tf.map_fn(decode, image_bytes, fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))
        pixels = tf.cast(tf.clip_by_value(tf.round((run(images, labels) + 1.0) * 127.5), 0.0, 255.0), tf.uint8)
        return {"image_bytes": tf.map_fn(tf.io.encode_png, pixels, fn_output_signature=tf.string)}

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="images"),
                                  tf.TensorSpec([None, None], tf.float32, name="labels")])
    def translate(images: tf.Tensor, labels: tf.Tensor) -> dict[str, tf.Tensor]:
        batch = tf.shape(images)[0]
        check_batch(batch)
        tf.debugging.assert_equal(tf.shape(images)[1:3], [size, size],
                                  message=f"images must be {size}x{size} (crop and resize the faces first)")
        images = tf.ensure_shape(images, [None, size, size, 3])
        return {"images": run(images, check_labels(labels, batch))}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="keys")])
    def domains(keys: tf.Tensor) -> dict[str, tf.Tensor]:
        matches = tf.equal(keys[:, None], known_keys[None, :])
        tf.debugging.assert_equal(tf.reduce_all(tf.reduce_any(matches, axis=1)), True,
                                  message=f"unknown key (valid: {', '.join(DOMAIN_KEYS)})")
        return {"values": tf.gather(values, tf.argmax(tf.cast(matches, tf.int32), axis=1))}

    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint("serving_default", serve)
    archive.add_endpoint("translate", translate)
    archive.add_endpoint("domains", domains)
    return archive


# -- TF Serving layout ---------------------------------------------------------------

def warmup_requests(name: str, metadata: dict[str, Any]) -> list[Any]:
    """One PredictionLog per signature, so the server traces each before the first real request."""
    import tensorflow as tf
    from PIL import Image
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    size, n_c = int(metadata["image_size"]), int(metadata["label_dim"])
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    pixels = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (size, 1)), np.full((size, size), 128.0)], -1)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    labels = np.zeros((1, n_c), np.float32)
    inputs = {
        "serving_default": {"image_bytes": np.array([buffer.getvalue()], object), "labels": labels},
        "translate": {"images": pixels[None] / 127.5 - 1.0, "labels": labels},
        "domains": {"keys": np.array([b"metadata"], object)},
    }
    logs = []
    for signature, tensors in inputs.items():
        request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=name, signature_name=signature))
        for key, value in tensors.items():
            dtype = tf.string if value.dtype == object else tf.float32
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
        logs.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


def next_version(base: Path) -> int:
    versions = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()] if base.is_dir() else []
    return max(versions, default=0) + 1


def update_models_config(out: Path, name: str, base_path: str) -> Path:
    """Adds (or updates) `name` in out/models.config, keeping other models; parsed with the serving protos."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    path = out / CONFIG_NAME
    config = model_server_config_pb2.ModelServerConfig()
    if path.exists():
        try:
            text_format.Parse(path.read_text(), config)
        except text_format.ParseError as err:
            raise ExportError(f"{path} is not a valid model server config ({err}); move it away") from None
    entries = config.model_config_list.config
    entry = next((e for e in entries if e.name == name), None) or entries.add()
    entry.name, entry.base_path, entry.model_platform = name, base_path, "tensorflow"
    text = text_format.MessageToString(config)
    text_format.Parse(text, model_server_config_pb2.ModelServerConfig())  # what the server will read
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def export_saved_model(run_dir: str | Path, out: str | Path, name: str = "stargan", version: int | None = None,
                       serving_root: str = "/models") -> Path:
    """Writes out/<name>/<version>/ and out/models.config; returns the version directory."""
    import tensorflow as tf

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ExportError(f"--name {name!r}: use letters, digits, '_', '-' and '.' only")
    generator, layout, size = load_run(run_dir)
    out = Path(out)
    base = out / name
    if version is None:
        version = next_version(base)
    elif version < 1:
        raise ExportError("--version must be a positive integer")
    target = base / str(version)
    if target.exists():
        raise ExportError(f"{target} already exists; omit --version to take the next free one")
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ExportError(f"cannot create {base}: {err}") from None
    metadata = model_metadata(layout, size, name, version, training_step(run_dir))
    # A server polling `base` must never see a half-written version: build it under a
    # non-numeric name (which TF Serving ignores) and rename it into place at the end.
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=base))
    try:
        build_archive(generator, metadata).write_out(str(staging), verbose=False)
        (staging / "assets.extra").mkdir(exist_ok=True)
        with tf.io.TFRecordWriter(str(staging / "assets.extra" / WARMUP_FILE)) as writer:
            for log in warmup_requests(name, metadata):
                writer.write(log.SerializeToString())
        (staging / "assets.extra" / "metadata.json").write_text(json.dumps(metadata, indent=2))
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    update_models_config(out, name, f"{serving_root.rstrip('/')}/{name}")
    return target


def read_metadata(version_dir: str | Path) -> dict[str, Any]:
    """The metadata JSON of an exported version (as the `domains` signature returns it)."""
    return json.loads((Path(version_dir) / "assets.extra" / "metadata.json").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.saved_model",
                                     description="Export a run's generator as a SavedModel for TF Serving.")
    parser.add_argument("--run-dir", required=True, help="run directory (train.py or convert_official output)")
    parser.add_argument("--out", required=True, help="model base folder, e.g. models/ (mounted as /models)")
    parser.add_argument("--name", default="stargan", help="model name on the server (default stargan)")
    parser.add_argument("--version", type=int, help="version number (default: highest existing + 1)")
    parser.add_argument("--serving-root", default="/models",
                        help="where the server sees --out, for models.config's base_path (default /models, "
                             "the docker mount point)")
    args = parser.parse_args(argv)
    try:
        target = export_saved_model(args.run_dir, args.out, args.name, args.version, args.serving_root)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot write the export: {err}", file=sys.stderr)
        return 2
    print(f"wrote {target} (signatures: {', '.join(SIGNATURES)}) and {Path(args.out) / CONFIG_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
