"""A trained run as a LiteRT (.tflite) model for on-device translation.

    python -m export.tflite --run-dir RUN --out stargan.tflite --quantize none|float16|dynamic|int8

The generator goes through a SavedModel with one static batch-1 signature, `translate`
(inputs `image` float32[1, S, S, 3] in [-1, 1] and `labels` float32[1, n_c], output `image`),
and is converted with builtin ops only. The model metadata (label layout, image size,
normalization, version) is embedded in the file as the metadata buffer `stargan_tf` and
written next to it as `<out>.json`.

Quantization: float16 weights; dynamic-range int8 weights; or full int8 weights and
activations calibrated on training faces (float input and output are kept, so every
variant is called the same way).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from export.saved_model import ExportError, load_run, model_metadata, training_step
from stargan_tf.labels import LabelLayout

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
METADATA_NAME = "stargan_tf"
SIGNATURE = "translate"


def write_static_saved_model(generator: Any, image_size: int, label_dim: int, directory: str | Path) -> None:
    """A SavedModel whose only signature is the static batch-1 `translate` the converter reads."""
    import keras
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, image_size, image_size, 3], tf.float32, name="image"),
                                  tf.TensorSpec([1, label_dim], tf.float32, name="labels")])
    def translate(image: tf.Tensor, labels: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"image": tf.cast(generator((image, labels), training=False), tf.float32)}

    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint(SIGNATURE, translate)
    archive.write_out(str(directory), verbose=False)


def calibration_faces(run_dir: str | Path, layout: LabelLayout, image_size: int, count: int,
                      photos: str | Path | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 faces [count, S, S, 3] and labels [count, n_c] for int8 calibration.

    Faces come from the run's training data (or a folder of photos); labels are random valid
    targets, since at inference the labels are targets rather than the faces' own attributes.
    """
    rng = np.random.default_rng(seed)
    if photos is not None:
        from stargan_tf.photo_io import PhotoError, crop_and_resize, list_photos, load_photo

        faces = []
        try:
            for path in list_photos([photos])[:count]:
                faces.append(crop_and_resize(load_photo(path), image_size)[0])
        except PhotoError as err:
            raise ExportError(f"calibration photos: {err}") from None
        images = np.stack(faces)
    else:
        from stargan_tf.config import ConfigError, load_config
        from stargan_tf.data.pipeline import DataError
        from stargan_tf.data.sources import load_source

        try:
            config = load_config(Path(run_dir) / "config.yaml")
            source = load_source(config, log=lambda *_: None)
            images = np.stack([image for image, _ in source.examples.take(count).as_numpy_iterator()])
        except (ConfigError, DataError, OSError) as err:
            raise ExportError(f"cannot read the training data for int8 calibration ({err}); "
                              "pass --calibration-photos DIR") from None
    if len(images) == 0:
        raise ExportError("no calibration faces")
    datasets = rng.integers(0, len(layout.datasets), size=len(images))
    labels = np.concatenate([layout.sample_targets(rng, 1, int(d)) for d in datasets])
    return images.astype(np.uint8), labels


def convert(saved_model_dir: str | Path, quantize: str,
            representative: Callable[[], Iterator[dict[str, np.ndarray]]] | None = None) -> bytes:
    """TFLite flatbuffer bytes of the `translate` signature, builtin ops only."""
    import tensorflow as tf

    if quantize not in QUANTIZATIONS:
        raise ExportError(f"--quantize {quantize!r}: choose one of {', '.join(QUANTIZATIONS)}")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[SIGNATURE])
    # The ai-edge-litert runtime has no Flex delegate: anything not builtin must fail here, not on the device.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        if representative is None:
            raise ExportError("int8 quantization needs calibration faces")
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with warnings.catch_warnings():
        # int8 calibration runs the converter's own tf.lite.Interpreter, which warns about itself.
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        return converter.convert()


def embed_metadata(model: bytes, metadata: dict[str, Any]) -> bytes:
    """The model with `metadata` (JSON) added as the metadata buffer METADATA_NAME (replacing an old one)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    tree = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    tree.metadata = [m for m in (tree.metadata or []) if m.name not in (METADATA_NAME, METADATA_NAME.encode())]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(metadata).encode("utf-8"), np.uint8)
    tree.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(tree.buffers) - 1
    tree.metadata.append(entry)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(tree))


def read_metadata(model: str | Path | bytes) -> dict[str, Any]:
    """The embedded metadata of a .tflite file (path or bytes); ValueError if it has none."""
    from ai_edge_litert import schema_py_generated as schema

    data = Path(model).read_bytes() if isinstance(model, (str, Path)) else bytes(model)
    try:
        root = schema.Model.GetRootAs(data, 0)
        for i in range(root.MetadataLength()):
            entry = root.Metadata(i)
            if entry.Name() == METADATA_NAME.encode():
                return json.loads(root.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode("utf-8"))
    except Exception as err:  # a truncated or foreign file: flatbuffers fails in many ways
        raise ValueError(f"not a readable .tflite model ({type(err).__name__})") from None
    raise ValueError("the model carries no stargan_tf metadata (export it with python -m export.tflite)")


def export_tflite(run_dir: str | Path, out: str | Path, quantize: str = "none", version: int = 1,
                  calibration_count: int = 64, calibration_photos: str | Path | None = None) -> Path:
    """Writes the .tflite file and its sidecar JSON; returns the .tflite path."""
    if quantize not in QUANTIZATIONS:
        raise ExportError(f"--quantize {quantize!r}: choose one of {', '.join(QUANTIZATIONS)}")
    if calibration_count < 1:
        raise ExportError("--calibration-samples must be at least 1")
    out = Path(out)
    if out.suffix != ".tflite":
        raise ExportError(f"--out must end in .tflite, got {out.name}")
    generator, layout, size = load_run(run_dir)
    metadata = model_metadata(layout, size, out.stem, version, training_step(run_dir))
    metadata["quantization"] = quantize
    representative = None
    if quantize == "int8":
        faces, labels = calibration_faces(run_dir, layout, size, calibration_count, calibration_photos)

        def representative() -> Iterator[dict[str, np.ndarray]]:
            # Keys must equal the signature's input names.
            for face, label in zip(faces, labels, strict=True):
                yield {"image": face[None].astype(np.float32) / 127.5 - 1.0, "labels": label[None]}

    with tempfile.TemporaryDirectory(prefix="stargan-tflite-") as tmp:
        write_static_saved_model(generator, size, layout.label_dim, tmp)
        model = embed_metadata(convert(tmp, quantize, representative), metadata)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(model)
    out.with_suffix(".json").write_text(json.dumps(metadata, indent=2))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.tflite",
                                     description="Export a run's generator as a LiteRT (.tflite) model.")
    parser.add_argument("--run-dir", required=True, help="run directory (train.py or convert_official output)")
    parser.add_argument("--out", required=True, help="output file, e.g. stargan.tflite (+ stargan.json)")
    parser.add_argument("--quantize", default="none", choices=QUANTIZATIONS,
                        help="none (float32), float16, dynamic (int8 weights) or int8 (weights and activations)")
    parser.add_argument("--version", type=int, default=1, help="model version recorded in the metadata")
    parser.add_argument("--calibration-samples", type=int, default=64, help="faces for int8 calibration")
    parser.add_argument("--calibration-photos", help="folder of face photos for int8 calibration "
                                                     "(default: the run's training data)")
    args = parser.parse_args(argv)
    try:
        out = export_tflite(args.run_dir, args.out, args.quantize, args.version, args.calibration_samples,
                            args.calibration_photos)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot write {args.out}: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # the converter reports op or shape problems as various exception types
        print(f"error: conversion failed: {str(err).splitlines()[0] if str(err) else type(err).__name__}",
              file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {args.quantize}) and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
