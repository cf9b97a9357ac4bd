"""Translate your own photos with a trained (or converted) generator.

    python -m stargan_tf.translate --run-dir RUN --input photo.jpg --target "Blond_Hair,Male=0" --output out.png
    python -m stargan_tf.translate --run-dir RUN --input photos/ --grid --output grid.png
    python -m stargan_tf.translate --run-dir RUN --input photo.jpg --interpolate "Black_Hair..Blond_Hair" \\
        --frames 8 --output morph.gif

Targets name domains of the run's label layout: `Blond_Hair` sets an
attribute (value 1), `Male=0` clears one, `Young=0.5` or `Blond_Hair=1.5`
set an intensity. Attributes not named keep their source values, which come
from `--source` ("Black_Hair,Young"); attributes named nowhere are off (0).
Only G is loaded, never D.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from stargan_tf.data.pipeline import from_uint8, to_uint8
from stargan_tf.labels import LabelLayout
from stargan_tf.photo_io import (
    DEFAULT_MAX_PIXELS,
    Box,
    PhotoError,
    crop_and_resize,
    list_photos,
    load_photo,
    to_rgb_array,
)
from stargan_tf.photo_io import paste_back as paste_face

TargetSpec = str | Mapping[str, float] | None
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


class TargetError(ValueError):
    """A target or source specification that does not fit the model's labels (one line for the user)."""


# -- target specifications ---------------------------------------------------

def parse_values(text: str) -> dict[str, float]:
    """'Blond_Hair,Male=0,Young=0.5' -> {'Blond_Hair': 1.0, 'Male': 0.0, 'Young': 0.5} (names unchecked)."""
    values: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, raw = item.partition("=")
        name = name.strip()
        try:
            value = float(raw) if raw.strip() else 1.0
        except ValueError:
            raise TargetError(f"{name}={raw.strip()}: the value must be a number, e.g. {name}=0.5") from None
        if not math.isfinite(value):
            raise TargetError(f"{name}: the value must be a finite number")
        if name in values:
            raise TargetError(f"{name} is named twice")
        values[name] = value
    return values


def resolve(layout: LabelLayout, spec: TargetSpec) -> dict[str, float]:
    """Validated {domain name: value}; names match exactly or, failing that, ignoring case."""
    raw = parse_values(spec) if isinstance(spec, str) else dict(spec or {})
    by_lower: dict[str, list[str]] = {}
    for name in layout.domain_names:
        by_lower.setdefault(name.lower(), []).append(name)
    values: dict[str, float] = {}
    for name, value in raw.items():
        if name not in layout.domain_names:
            matches = by_lower.get(str(name).lower(), [])
            if len(matches) != 1:
                raise TargetError(f"unknown attribute {name!r} (valid: {', '.join(layout.domain_names)})")
            name = matches[0]
        if name in values:
            raise TargetError(f"{name} is named twice")
        values[name] = float(value)
    for dataset in layout.datasets:
        for group in dataset.groups:
            on = [n for n in group.names if values.get(n, 0.0) > 0]
            if group.kind != "binary" and len(on) > 1:
                what = "hair colors" if all(n.endswith("_Hair") for n in group.names) else "one group"
                raise TargetError(f"{' and '.join(on)} are {what}; a face has at most one, pick one of "
                                  f"{', '.join(group.names)}")
    datasets = {layout.dataset_of(n) for n in values}
    if len(datasets) > 1:
        names = ", ".join(layout.datasets[i].name for i in sorted(datasets))
        raise TargetError(f"the names belong to different datasets ({names}); one label uses one dataset")
    return values


def build_target(layout: LabelLayout, target: TargetSpec, source: TargetSpec = None) -> np.ndarray:
    """The generator label [n_c] for `target`, keeping the `source` values of attributes not named.

    For a joint model the mask follows the target's dataset; moving to another
    dataset drops the source's labels, since the model only reads the masked part.
    """
    target_values, source_values = resolve(layout, target), resolve(layout, source)
    base = layout.encode(source_values)
    if layout.has_mask:
        source_set = {layout.dataset_of(n) for n in source_values} or {0}
        target_set = {layout.dataset_of(n) for n in target_values} or source_set
        if target_set != source_set:
            base = np.zeros(layout.label_dim, np.float32)
        (index,) = target_set
        base[layout.num_domains:] = 0.0
        base[layout.num_domains + index] = 1.0
    return layout.encode(target_values, base)


def parse_interpolation(text: str) -> tuple[str, str]:
    """'A..B' -> (A, B); either side may be empty, meaning the source labels."""
    if text.count("..") != 1:
        raise TargetError(f"--interpolate expects START..END, e.g. 'Black_Hair..Blond_Hair', got {text!r}")
    start, end = text.split("..")
    return start.strip(), end.strip()


def interpolation_labels(layout: LabelLayout, start: TargetSpec, end: TargetSpec, frames: int,
                         source: TargetSpec = None) -> np.ndarray:
    """[frames, n_c] labels moving linearly from `start` to `end` (both ends included)."""
    if frames < 2:
        raise TargetError("--frames must be at least 2")
    a, b = build_target(layout, start, source), build_target(layout, end, source)
    if layout.has_mask and not np.array_equal(a[layout.num_domains:], b[layout.num_domains:]):
        raise TargetError("both ends of an interpolation must use the same dataset's labels")
    t = np.linspace(0.0, 1.0, frames, dtype=np.float32)[:, None]
    return (1.0 - t) * a[None] + t * b[None]


# -- the model -----------------------------------------------------------------

class Translator:
    """A generator with its label layout: photos in, translated uint8 images out."""

    def __init__(self, generator: Any, layout: LabelLayout, image_size: int,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.generator = generator
        self.layout = layout
        self.image_size = image_size
        self.max_pixels = max_pixels

    @classmethod
    def from_run_dir(cls, run_dir: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Translator:
        """Loads generator.keras, labels.json and the image size from config.yaml (never D)."""
        import yaml

        from stargan_tf.checkpoints import CONFIG_FILE, GENERATOR_FILE, LABELS_FILE, load_generator, read_layout

        run_dir = Path(run_dir)
        for name in (GENERATOR_FILE, LABELS_FILE, CONFIG_FILE):
            if not (run_dir / name).is_file():
                raise FileNotFoundError(f"{run_dir}: no {name} (train a model or convert official weights first)")
        config = yaml.safe_load((run_dir / CONFIG_FILE).read_text()) or {}
        image_size = int(config.get("model", {}).get("image_size", 128))
        return cls(load_generator(run_dir), read_layout(run_dir), image_size, max_pixels)

    def photo(self, image: str | Path | Image.Image | np.ndarray) -> np.ndarray:
        """An RGB uint8 array from a path, a PIL image or an array (grayscale or RGBA arrays too)."""
        if isinstance(image, (str, Path)):
            return load_photo(image, self.max_pixels)
        if isinstance(image, Image.Image):
            from PIL import ImageOps

            return to_rgb_array(ImageOps.exif_transpose(image))
        array = np.asarray(image)
        if array.dtype != np.uint8:
            raise PhotoError(f"image arrays must be uint8 in [0, 255], got {array.dtype}")
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=2)
        if array.ndim != 3 or array.shape[2] not in (3, 4):
            raise PhotoError(f"expected an [H, W, 3] image array, got shape {array.shape}")
        return to_rgb_array(Image.fromarray(array))

    def run(self, faces: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """G on model-size uint8 faces [N, S, S, 3] with labels [N, n_c] (or one [n_c] for all)."""
        faces = np.asarray(faces, np.uint8)
        labels = np.asarray(labels, np.float32)
        if labels.ndim == 1:
            labels = np.repeat(labels[None], len(faces), axis=0)
        y = self.generator((from_uint8(faces), labels), training=False)
        return to_uint8(y)

    def translate(self, image: Any, target: TargetSpec, source: TargetSpec = None, box: Box | None = None,
                  paste_back: bool = False) -> np.ndarray:
        """The face (center square or `box`) translated to `target`, uint8 [S, S, 3];
        with `paste_back=True`, the whole photo at its own resolution with the face replaced."""
        label = build_target(self.layout, target, source)
        photo = self.photo(image)
        face, used = crop_and_resize(photo, self.image_size, box)
        out = self.run(face[None], label)[0]
        return paste_face(photo, out, used) if paste_back else out

    def columns(self, image: Any, targets: list[TargetSpec], source: TargetSpec = None,
                box: Box | None = None) -> list[tuple[str, np.ndarray]]:
        """[('input', face), (title, translated face), ...] for several targets (one grid row)."""
        labels = np.stack([build_target(self.layout, t, source) for t in targets])
        face, _ = crop_and_resize(self.photo(image), self.image_size, box)
        outs = self.run(np.repeat(face[None], len(labels), axis=0), labels)
        titles = [t if isinstance(t, str) else ",".join(f"{k}={v:g}" for k, v in (t or {}).items()) for t in targets]
        return [("input", face)] + list(zip(titles, outs, strict=True))

    def domain_columns(self, image: Any, source: TargetSpec = None,
                       box: Box | None = None) -> list[tuple[str, np.ndarray]]:
        """The sample-grid row: the face translated to every domain (flip / pick one, keep the rest)."""
        base = build_target(self.layout, None, source)
        columns = self.layout.grid_targets(base[None])
        face, _ = crop_and_resize(self.photo(image), self.image_size, box)
        outs = self.run(np.repeat(face[None], len(columns), axis=0), np.concatenate([c for _, c in columns]))
        return [("input", face)] + [(title, out) for (title, _), out in zip(columns, outs, strict=True)]

    def interpolate(self, image: Any, start: TargetSpec, end: TargetSpec, frames: int = 8,
                    source: TargetSpec = None, box: Box | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(face, frames [F, S, S, 3]) moving the labels linearly from `start` to `end`."""
        labels = interpolation_labels(self.layout, start, end, frames, source)
        face, _ = crop_and_resize(self.photo(image), self.image_size, box)
        return face, self.run(np.repeat(face[None], frames, axis=0), labels)


# -- command line ----------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m stargan_tf.translate",
        description="Translate photos with a trained StarGAN generator. Attributes not named in a target "
                    "are taken from --source, else off.")
    parser.add_argument("--run-dir", required=True, help="run directory (train.py or convert_official output)")
    parser.add_argument("--input", required=True, nargs="+", help="photo files and/or folders of photos")
    parser.add_argument("--output", required=True,
                        help="output file; a folder when one --target is applied to several photos")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--target", action="append", metavar="SPEC",
                      help="e.g. 'Blond_Hair,Male=0' or 'happy'; repeat for a grid with one column per target")
    mode.add_argument("--grid", action="store_true", help="one column per domain of the model")
    mode.add_argument("--interpolate", metavar="A..B", help="e.g. 'Black_Hair..Blond_Hair' or '..Young=0'")
    parser.add_argument("--source", metavar="SPEC", help="the photo's own attributes, e.g. 'Black_Hair,Young'")
    parser.add_argument("--frames", type=int, default=8, help="interpolation frames (default 8)")
    parser.add_argument("--box", help="face region x,y,width,height in pixels (default: the center square)")
    parser.add_argument("--paste-back", action="store_true",
                        help="write the whole photo at its resolution with the face region replaced")
    parser.add_argument("--max-pixels", type=float, default=DEFAULT_MAX_PIXELS,
                        help="refuse larger images before decoding them (default 50e6)")
    return parser.parse_args(argv)


def output_paths(photos: list[Path], output: Path) -> list[Path]:
    """One output per photo in folder `output`, named after the photo (collisions numbered)."""
    taken: set[str] = set()
    paths = []
    for photo in photos:
        name, n = f"{photo.stem}.png", 1
        while name in taken:
            n += 1
            name = f"{photo.stem}_{n}.png"
        taken.add(name)
        paths.append(output / name)
    return paths


def save_image(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def save_gif(frames: list[np.ndarray], path: Path, ms_per_frame: int = 120) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pictures = [Image.fromarray(f) for f in frames]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=ms_per_frame, loop=0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from stargan_tf.grid import compose_grid

    try:
        box = Box.parse(args.box) if args.box else None
        output = Path(args.output)
        targets = args.target or []
        single = len(targets) == 1
        if args.paste_back and not single:
            raise TargetError("--paste-back works with a single --target")
        if args.max_pixels < 1:
            raise TargetError("--max-pixels must be positive")
        photos = list_photos(args.input)
        per_photo = single and (len(photos) > 1 or output.is_dir())
        if per_photo and output.exists() and not output.is_dir():
            raise TargetError(f"{output}: with several photos --output must be a folder")
        allowed = IMAGE_SUFFIXES + ((".gif",) if args.interpolate else ())
        if not per_photo and output.suffix.lower() not in allowed:
            raise TargetError(f"--output must end in one of {', '.join(allowed)}")
        translator = Translator.from_run_dir(args.run_dir, int(args.max_pixels))
        layout = translator.layout
        # Check every specification once up front, so a typo fails before any work.
        for spec in targets:
            build_target(layout, spec, args.source)
        if args.interpolate:
            start, end = parse_interpolation(args.interpolate)
            interpolation_labels(layout, start, end, args.frames, args.source)
    except (TargetError, PhotoError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # a corrupt generator.keras and the like: one line, no traceback
        print(f"error: cannot load the model in {args.run_dir}: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2

    failed = 0
    rows: list[list[tuple[str, np.ndarray]]] = []
    destinations = output_paths(photos, output) if per_photo else []
    for index, path in enumerate(photos):
        try:
            if single:
                image = translator.translate(path, targets[0], args.source, box, args.paste_back)
                if not per_photo:
                    save_image(image, output)
                    continue
                save_image(image, destinations[index])
            elif targets:
                rows.append(translator.columns(path, targets, args.source, box))
            elif args.grid:
                rows.append(translator.domain_columns(path, args.source, box))
            else:
                face, frames = translator.interpolate(path, start, end, args.frames, args.source, box)
                rows.append([("input", face)] + [(f"{t:.2f}", f) for t, f in
                                                 zip(np.linspace(0, 1, args.frames), frames, strict=True)])
        except (PhotoError, TargetError) as err:
            failed += 1
            message = str(err) if str(err).startswith(str(path)) else f"{path}: {err}"
            print(f"error: {message}", file=sys.stderr)
        except OSError as err:  # unwritable output
            print(f"error: cannot write the output: {err}", file=sys.stderr)
            return 2
    if rows:
        try:
            if args.interpolate and output.suffix.lower() == ".gif":
                # Each frame stacks all photos vertically; the input column is left out of the animation.
                save_gif([np.concatenate([row[k][1] for row in rows], axis=0) for k in range(1, len(rows[0]))],
                         output)
            else:
                save_image(compose_grid([(title, np.stack([row[j][1] for row in rows]))
                                         for j, (title, _) in enumerate(rows[0])]), output)
        except OSError as err:
            print(f"error: cannot write {output}: {err}", file=sys.stderr)
            return 2
    if failed:
        if len(photos) > 1:
            print(f"error: {failed} of {len(photos)} photos could not be translated", file=sys.stderr)
        return 2
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
