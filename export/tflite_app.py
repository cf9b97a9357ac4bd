"""Edit a face on-device with a LiteRT model, naming the expression or attributes.

    python -m export.tflite_app --model stargan.tflite --input face.jpg --expression happy --output out.png
    python -m export.tflite_app --model stargan.tflite --input face.jpg --target "Blond_Hair,Male=0" \\
        --output out.png

The label layout, image size and normalization come from the metadata embedded in the
.tflite file (or the sidecar JSON next to it), so domains are named, never indexed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from stargan_tf.labels import LabelLayout
from stargan_tf.photo_io import Box, PhotoError
from stargan_tf.translate import IMAGE_SUFFIXES, TargetError, Translator, save_image

SIGNATURE = "translate"
EXPECTED_NORMALIZATION = {"input": {"scale": 1 / 127.5, "offset": -1.0}, "output": {"scale": 127.5, "offset": 127.5}}


class ModelError(ValueError):
    """A .tflite file that cannot be used (one line for the user)."""


def load_metadata(model: str | Path) -> dict[str, Any]:
    """The embedded metadata, else the sidecar `<model>.json`."""
    from export.tflite import read_metadata

    model = Path(model)
    if not model.is_file():
        raise ModelError(f"{model}: no such file")
    try:
        return read_metadata(model)
    except ValueError as err:
        sidecar = model.with_suffix(".json")
        if sidecar.is_file():
            try:
                return json.loads(sidecar.read_text())
            except ValueError:
                raise ModelError(f"{sidecar}: not valid JSON") from None
        raise ModelError(f"{model}: {err}") from None


class LiteRTGenerator:
    """The .tflite `translate` signature behind the generator's call convention: G((images, labels))."""

    def __init__(self, model: str | Path, metadata: dict[str, Any], threads: int = 2) -> None:
        from ai_edge_litert.interpreter import Interpreter

        try:
            self.interpreter = Interpreter(model_path=str(model), num_threads=threads)
            self.runner = self.interpreter.get_signature_runner(SIGNATURE)
        except (ValueError, RuntimeError) as err:
            raise ModelError(f"{model}: cannot load ({str(err).splitlines()[0]})") from None
        details = self.runner.get_input_details()
        if set(details) != {"image", "labels"}:
            raise ModelError(f"{model}: the {SIGNATURE} signature takes {sorted(details)}, expected image and labels")
        size, n_c = int(metadata["image_size"]), int(metadata["label_dim"])
        if tuple(details["image"]["shape"]) != (1, size, size, 3) or tuple(details["labels"]["shape"]) != (1, n_c):
            raise ModelError(f"{model}: input shapes do not match its metadata")

    def __call__(self, inputs: tuple[np.ndarray, np.ndarray], training: bool = False) -> np.ndarray:
        images, labels = (np.asarray(a, np.float32) for a in inputs)
        # The model has a static batch of 1 (what mobile GPU delegates need): one face at a time.
        return np.concatenate([self.runner(image=images[i: i + 1], labels=labels[i: i + 1])["image"]
                               for i in range(len(images))])


def expression_target(layout: LabelLayout, name: str) -> dict[str, float]:
    """{expression: 1} for a member of a categorical group, matched ignoring case."""
    expressions = [n for d in layout.datasets for g in d.groups if g.kind == "categorical" for n in g.names]
    if not expressions:
        raise TargetError(f"this model has no expressions (its domains: {', '.join(layout.domain_names)}); "
                          "use --target")
    matches = [n for n in expressions if n.lower() == name.strip().lower()]
    if not matches:
        raise TargetError(f"unknown expression {name!r} (valid: {', '.join(expressions)})")
    return {matches[0]: 1.0}


def build_translator(model: str | Path, threads: int = 2) -> tuple[Translator, dict[str, Any]]:
    metadata = load_metadata(model)
    try:
        layout = LabelLayout.from_dict(metadata["layout"])
        normalization = {k: metadata["normalization"][k] for k in ("input", "output")}
        size = int(metadata["image_size"])
    except (KeyError, TypeError, ValueError) as err:
        raise ModelError(f"{model}: incomplete metadata ({err})") from None
    if any(abs(normalization[k][f] - EXPECTED_NORMALIZATION[k][f]) > 1e-6
           for k in normalization for f in ("scale", "offset")):
        raise ModelError(f"{model}: unsupported input normalization {normalization}")
    return Translator(LiteRTGenerator(model, metadata, threads), layout, size), metadata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.tflite_app",
                                     description="Translate a photo on-device with a StarGAN LiteRT model.")
    parser.add_argument("--model", required=True, help="a .tflite file from python -m export.tflite")
    parser.add_argument("--input", required=True, help="photo (JPEG, PNG, WebP, BMP, TIFF)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--expression", help="an expression of the model, e.g. happy")
    what.add_argument("--target", help="attributes by name, e.g. 'Blond_Hair,Male=0'")
    parser.add_argument("--source", help="the photo's own attributes, kept where the target names nothing")
    parser.add_argument("--output", required=True, help="output image (.png, .jpg, .webp, .bmp)")
    parser.add_argument("--box", help="face region x,y,width,height (default: the centered square)")
    parser.add_argument("--paste-back", action="store_true", help="return the whole photo with the face replaced")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    args = parser.parse_args(argv)
    output = Path(args.output)
    try:
        if output.suffix.lower() not in IMAGE_SUFFIXES:
            raise TargetError(f"--output must end in one of {', '.join(IMAGE_SUFFIXES)}")
        if args.threads < 1:
            raise TargetError("--threads must be at least 1")
        box = Box.parse(args.box) if args.box else None
        translator, metadata = build_translator(args.model, args.threads)
        target = expression_target(translator.layout, args.expression) if args.expression else args.target
        image = translator.translate(args.input, target, args.source, box, args.paste_back)
        save_image(image, output)
    except (TargetError, PhotoError, ModelError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot write {output}: {err}", file=sys.stderr)
        return 2
    print(f"wrote {output} ({metadata.get('name')} version {metadata.get('model_version')}, "
          f"{metadata.get('quantization', 'none')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
